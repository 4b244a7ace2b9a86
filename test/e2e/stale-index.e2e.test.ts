import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CoreV1Api, KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
import { send } from '../../webhook/testdata/client.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { REPO_ROOT } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.ts';
import {
  eventually,
  registerShippedWebhook,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * ADR 0003 on a real API server: the webhook loses its watch (a partition between it and the
 * API server, which still calls it), and past --index-max-staleness it refuses claims on new
 * cluster IDs as retryable, while updates that keep a secret's IDs and everything it can decide
 * without the index go on as before. kubectl retries the refusal and succeeds once the watch is
 * back.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';
const CLEAN = kubeconfigFixture('clean');

function remoteSecret(name: string, clusters: Record<string, string>): V1Secret {
  return JSON.parse(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: NAMESPACE, labels: { 'istio/multiCluster': 'true' } },
      stringData: clusters,
    }),
  ) as V1Secret;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(binaryPath === null)('the webhook with a stale cluster ID index', () => {
  let cluster: TestCluster;
  let proxy: TcpProxy;
  let tls: TlsFixture;
  let webhook: WebhookProcess | undefined;
  let dir: string;
  const apply = (secret: V1Secret) =>
    kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(secret) });
  const metrics = async () =>
    (await send(undefined, { port: webhook?.port ?? 0, ca: tls.ca.certificatePem, path: '/metrics' })).body;
  const unverifiedCount = async () =>
    Number(
      /^remote_secret_webhook_violations_total\{code="cluster-id-unverified"\} (\d+)$/m.exec(
        await metrics(),
      )?.[1] ?? 0,
    );

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    cluster = await startCluster('stale-index', binaryPath === null ? {} : { binaryPath });
    await kubectl(cluster.kubeconfigPath, ['create', 'namespace', NAMESPACE]);
    // The webhook reaches the API server through a relay the test can cut; the API server
    // reaches the webhook directly.
    proxy = await startTcpProxy(Number(new URL(cluster.server).port));
    const relayed = new KubeConfig();
    relayed.loadFromString(cluster.kubeConfig.exportConfig());
    const current = relayed.getCurrentCluster();
    if (current === null) throw new Error('the admin kubeconfig has no current cluster');
    relayed.clusters = relayed.clusters.map((entry) =>
      entry.name === current.name ? { ...entry, server: `https://127.0.0.1:${String(proxy.port)}` } : entry,
    );
    dir = mkdtempSync(join(tmpdir(), 'stale-index-'));
    const kubeconfigPath = join(dir, 'webhook.kubeconfig');
    writeFileSync(kubeconfigPath, relayed.exportConfig(), { mode: 0o600 });
    tls = writeTlsFixture();
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
      extraArgs: ['--index-max-staleness', '2', '--audit-interval', '0', '--no-events'],
    });
    await registerShippedWebhook(cluster.kubeconfigPath, webhook, tls, NAMESPACE);
  });

  afterAll(async () => {
    await stopWebhookProcess(webhook);
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(tls.dir, { recursive: true, force: true });
    await stopAllClusters();
  });

  it('refuses new claims as retryable while it cannot see, admits the rest, and recovers by itself', async () => {
    const stored = await apply(remoteSecret('istio-remote-secret-east', { east: CLEAN }));
    expect(stored.status, stored.stderr).toBe(0);
    await eventually(async () => (await metrics()).includes('remote_secret_webhook_index_secrets 1'));

    proxy.cut();
    await eventually(async () =>
      /^remote_secret_webhook_index_watch_up\{namespace="istio-system"\} 0$/m.test(await metrics()),
    );
    await sleep(2_500);
    // Still ready: it answers everything, and says why it refuses what it cannot check.
    expect(
      (await send(undefined, { port: webhook?.port ?? 0, ca: tls.ca.certificatePem, path: '/readyz' }))
        .status,
    ).toBe(200);

    // A new claim: 503 with Retry-After, which client-go retries; client-node does not.
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const refused = await core
      .createNamespacedSecret({
        namespace: NAMESPACE,
        body: remoteSecret('istio-remote-secret-north', { north: CLEAN }),
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(refused).toBeInstanceOf(ApiException);
    const exception = refused as ApiException<string>;
    expect(exception.code).toBe(503);
    expect(exception.headers['retry-after']).toBe('3');
    expect(exception.body).toContain(
      'nothing to fix: apply again once the webhook sees the API server again',
    );
    expect(exception.body).toContain('cluster-id-unverified at data.north');
    expect(await unverifiedCount()).toBe(1);

    // Rotating the stored secret's token keeps its cluster IDs: admitted.
    const rotated = await kubectl(cluster.kubeconfigPath, [
      ...['annotate', 'secret', '-n', NAMESPACE, 'istio-remote-secret-east', 'rotated=yes'],
    ]);
    expect(rotated.status, rotated.stderr).toBe(0);
    // What the index still knows is decided as before: a second claimant of "east" is a 403.
    const duplicate = await apply(remoteSecret('istio-remote-secret-east-copy', { east: CLEAN }));
    expect(duplicate.status).not.toBe(0);
    expect(duplicate.stderr).toContain('(Forbidden)');
    expect(duplicate.stderr).toContain('duplicate-cluster-id at data.east');

    // kubectl retries the 503; the watch comes back meanwhile, and the claim goes through.
    const retried = apply(remoteSecret('istio-remote-secret-north', { north: CLEAN }));
    await eventually(async () => (await unverifiedCount()) >= 2);
    proxy.restore();
    const result = await retried;
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('secret/istio-remote-secret-north created');
    expect(await metrics()).toMatch(/^remote_secret_webhook_index_watch_up\{namespace="istio-system"\} 1$/m);
    process.stderr.write(
      `stale index: ${String(await unverifiedCount())} refusals of cluster-id-unverified before kubectl's retry was admitted\n`,
    );
  });
});
