import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
import { asModel } from '../../shared/kube/client.ts';
import { send } from '../../webhook/testdata/client.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import { startLoadBalancer, type LoadBalancer } from '../harness/load-balancer.ts';
import {
  eventually,
  registerShippedWebhook,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * A rolling restart of two webhook processes under steady load, through a real kube-apiserver:
 * the webhook's URL points at a TCP load balancer standing in for the Service and kube-proxy
 * (test/harness/load-balancer.ts), and each process drains on SIGTERM as in a cluster, with the
 * Deployment's shutdown delay (5 s) and timeout (25 s). The API server does not retry a failed
 * webhook call (a POST: client-go's rest client retries only answers with Retry-After, Go's
 * transport only requests it has not written), so every connection the webhook resets or closes
 * under a request is a failed write here.
 */
const binaryPath = inject('kubeTestenvBinary');
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const NAMESPACE = 'istio-system';
/** Writes per second of labelled Secrets, each one admitted (a clean kubeconfig, its own cluster ID). */
const WRITES_PER_SECOND = 20;

describe.skipIf(binaryPath === null)('a rolling restart of the webhook under load', () => {
  let cluster: TestCluster;
  let tls: TlsFixture;
  let balancer: LoadBalancer;
  const webhooks: WebhookProcess[] = [];

  const start = async (): Promise<WebhookProcess> => {
    const webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
      shutdownDelaySeconds: 5,
      extraArgs: ['--no-events', '--audit-interval', '0'],
    });
    webhooks.push(webhook);
    balancer.add(webhook.port);
    await eventually(() => Promise.resolve(balancer.ready().includes(webhook.port)));
    return webhook;
  };

  /** SIGTERM, as the kubelet sends it; resolves with the exit status once the process is gone. */
  const stop = async (webhook: WebhookProcess): Promise<number | null> => {
    const exited = new Promise<number | null>((resolve) => webhook.once('exit', resolve));
    webhook.kill('SIGTERM');
    const status = await exited;
    balancer.remove(webhook.port);
    return status;
  };

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'bundle:webhook'], { cwd: REPO, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    tls = writeTlsFixture();
    balancer = await startLoadBalancer({ ca: tls.ca.certificatePem, probeIntervalMs: 250 });
    cluster = await startCluster('webhook-rollout', binaryPath === null ? {} : { binaryPath });
    const created = await kubectl(cluster.kubeconfigPath, ['create', 'namespace', NAMESPACE]);
    expect(created.status, created.stderr).toBe(0);
    await start();
    await start();
    await registerShippedWebhook(cluster.kubeconfigPath, { port: balancer.port }, tls, NAMESPACE);
  });

  afterAll(async () => {
    await Promise.allSettled(webhooks.map((webhook) => stopWebhookProcess(webhook)));
    await balancer.close();
    rmSync(tls.dir, { recursive: true, force: true });
    await stopAllClusters();
  });

  it('loses no write while two processes are replaced one after the other', async () => {
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const failures: string[] = [];
    const writes: Promise<void>[] = [];
    let sent = 0;
    const write = async (index: number) => {
      const clusterId = `load-${String(index)}`;
      try {
        await core.createNamespacedSecret({
          namespace: NAMESPACE,
          body: asModel(V1Secret, {
            metadata: { name: `remote-${clusterId}`, labels: { 'istio/multiCluster': 'true' } },
            stringData: { [clusterId]: kubeconfigFixture('clean') },
          }),
        });
      } catch (error) {
        failures.push(`write ${String(index)}: ${error instanceof Error ? error.message : String(error)}`);
      }
    };
    // Open loop: a write every 1/rate s whatever the answers do, as independent clients would.
    const load = setInterval(() => {
      writes.push(write(sent));
      sent += 1;
    }, 1000 / WRITES_PER_SECOND);
    const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    const [first, second] = webhooks;
    if (first === undefined || second === undefined) throw new Error('two webhooks should be running');
    let firstStatus: number | null;
    let secondStatus: number | null;
    let third: WebhookProcess;
    let fourth: WebhookProcess;
    try {
      await settle(2000);
      third = await start();
      firstStatus = await stop(first);
      fourth = await start();
      secondStatus = await stop(second);
      await settle(2000);
      expect(balancer.ready().sort()).toEqual([third.port, fourth.port].sort());
    } finally {
      clearInterval(load);
    }
    await Promise.all(writes);
    const answered = async (webhook: WebhookProcess) => {
      const text = (
        await send(undefined, { port: webhook.port, ca: tls.ca.certificatePem, path: '/metrics' })
      ).body;
      return text
        .split('\n')
        .filter((line) => line.startsWith('remote_secret_webhook_admission_requests_total{'))
        .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
    };

    const stopped = (webhook: WebhookProcess) => {
      const line = webhook
        .output()
        .split('\n')
        .find((entry) => entry.includes('"msg":"stopped"'));
      return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>);
    };
    const firstReport = stopped(first);
    const secondReport = stopped(second);
    console.log(
      `rolling restart of 2 webhook processes under ${String(WRITES_PER_SECOND)} writes/s: ${String(sent)} writes through the API server, ${String(failures.length)} failed; drains: ${JSON.stringify(firstReport)}, ${JSON.stringify(secondReport)}`,
    );
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(10 * WRITES_PER_SECOND);
    expect([firstStatus, secondStatus]).toEqual([0, 0]);
    for (const report of [firstReport, secondReport]) {
      expect(report).toMatchObject({ clean: true, forciblyClosed: 0, requestsCutOff: 0 });
    }
    // The new processes took the load over. (Not necessarily both: the balancer, as kube-proxy,
    // picks a backend per connection, and the API server may send everything on one.)
    expect((await answered(third)) + (await answered(fourth))).toBeGreaterThan(0);
  });
});
