import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { send } from '../../webhook/testdata/client.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { REPO_ROOT } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import {
  eventually,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * The webhook's informer when its API server goes away: it retries with a doubling delay (as
 * client-go's reflector does) and says so once, not once per retry with a stack trace.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';

interface LogLine {
  readonly time: number;
  readonly level: number;
  readonly msg: string;
  readonly retryInMs?: number;
  readonly err?: unknown;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(binaryPath === null)('the webhook informer on a lost API server', () => {
  let cluster: TestCluster;
  let tls: TlsFixture | undefined;
  let webhook: WebhookProcess | undefined;

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    cluster = await startCluster('informer', binaryPath === null ? {} : { binaryPath });
  });

  afterAll(async () => {
    await stopWebhookProcess(webhook);
    if (tls !== undefined) rmSync(tls.dir, { recursive: true, force: true });
    await stopAllClusters();
  });

  it('backs off, doubling the delay, and logs the outage once', async () => {
    tls = writeTlsFixture();
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
      extraArgs: ['--log-level', 'debug', '--audit-interval', '0', '--no-events'],
    });
    // Ready means the index has synced (the list); the watch connects a moment after that.
    const { port } = webhook;
    const { certificatePem } = tls.ca;
    let before = '';
    await eventually(async () => {
      before = (await send(undefined, { port, ca: certificatePem, path: '/metrics' })).body;
      return /^remote_secret_webhook_index_watch_up\{namespace="istio-system"\} 1$/m.test(before);
    }, 10_000);
    expect(before).toMatch(
      /^remote_secret_webhook_index_watch_failing_seconds\{namespace="istio-system"\} 0$/m,
    );
    // While kube-testenv shuts down, its API server may hold a request open; once it is gone,
    // every call is refused at once, which is when a retry loop without backoff shows.
    await cluster.stop();
    await sleep(9_000);
    const lines = webhook
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine)
      .filter(({ msg }) => msg.startsWith('remote secret informer'));
    const said = JSON.stringify(lines);
    const failed = lines.filter(({ msg }) => msg.startsWith('remote secret informer failed'));
    const retries = lines.filter(({ msg }) => msg === 'remote secret informer still failing');
    expect(failed, said).toHaveLength(1);
    expect(failed[0]?.retryInMs).toBe(1000);
    expect(failed[0]?.err, 'no stack trace').toBeUndefined();
    // Each retry that failed again waits twice as long as the one before, up to 30 s...
    expect(
      retries.map(({ retryInMs }) => retryInMs),
      said,
    ).toEqual(retries.map((_, index) => Math.min(1000 * 2 ** (index + 1), 30_000)));
    // ...and did: a loop without backoff would have retried every second.
    expect(retries.length, said).toBeGreaterThanOrEqual(2);
    // /metrics says the index is stale, and for how long.
    const metrics = await send(undefined, {
      port: webhook.port,
      ca: tls.ca.certificatePem,
      path: '/metrics',
    });
    expect(metrics.body).toMatch(/^remote_secret_webhook_index_watch_up\{namespace="istio-system"\} 0$/m);
    const failing =
      /^remote_secret_webhook_index_watch_failing_seconds\{namespace="istio-system"\} ([\d.]+)$/m.exec(
        metrics.body,
      );
    expect(Number(failing?.[1])).toBeGreaterThanOrEqual(8);
    const attempts = [...failed, ...retries];
    for (let index = 1; index < attempts.length; index += 1) {
      const waited = (attempts[index]?.time ?? 0) - (attempts[index - 1]?.time ?? 0);
      expect(waited, said).toBeGreaterThanOrEqual((attempts[index - 1]?.retryInMs ?? 0) - 100);
    }
  });
});
