import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
import { send } from '../../webhook/testdata/client.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { REPO_ROOT } from '../cli.ts';
import { startCluster, stopAllClusters, type KeptTestCluster } from '../harness/cluster.ts';
import { kubeGet } from '../harness/https.ts';
import { kubectl } from '../harness/kubectl.ts';
import {
  eventually,
  registerShippedWebhook,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * The webhook across a real restart of its API server: kube-testenv stops etcd, kube-apiserver
 * and the controller manager, and starts them again over the etcd data it kept on disk, on the
 * same port. The webhook process runs throughout and must recover by itself: its watch, its
 * readiness and an index that follows what changed once the API server was back.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';
/** The retry delay to wait for before starting the API server again: the window it leaves. */
const RESTART_BEFORE_RETRY_MS = 16_000;

interface LogLine {
  readonly time: number;
  readonly level: number;
  readonly msg: string;
  readonly retryInMs?: number;
  readonly downForMs?: number;
  readonly retries?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function remoteSecret(name: string, clusterId: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE, labels: { 'istio/multiCluster': 'true' } },
    stringData: { [clusterId]: kubeconfigFixture('clean') },
  });
}

describe.skipIf(binaryPath === null)('the webhook across a restart of its API server', () => {
  let cluster: KeptTestCluster;
  let tls: TlsFixture | undefined;
  let webhook: WebhookProcess | undefined;
  const apply = (manifest: string, ...flags: string[]) =>
    kubectl(cluster.kubeconfigPath, ['apply', ...flags, '-f', '-'], { input: manifest });
  const get = (path: string) => {
    if (webhook === undefined || tls === undefined) throw new Error('no webhook');
    return send(undefined, { port: webhook.port, ca: tls.ca.certificatePem, path });
  };
  const gauge = async (name: string): Promise<number> => {
    const series = `${name}{namespace="${NAMESPACE}"} `;
    const line = (await get('/metrics')).body.split('\n').find((entry) => entry.startsWith(series));
    if (line === undefined) throw new Error(`no ${series}in /metrics`);
    return Number(line.slice(series.length));
  };
  const informerLines = (): LogLine[] =>
    (webhook?.output() ?? '')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine)
      .filter(({ msg }) => msg.startsWith('remote secret informer'));

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    cluster = await startCluster('restart', {
      ...(binaryPath === null ? {} : { binaryPath }),
      keepData: true,
    });
    const created = await kubectl(cluster.kubeconfigPath, ['create', 'namespace', NAMESPACE]);
    expect(created.status, created.stderr).toBe(0);
    tls = writeTlsFixture();
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
      extraArgs: ['--log-level', 'debug'],
    });
    await registerShippedWebhook(cluster.kubeconfigPath, webhook, tls, NAMESPACE);
  });

  afterAll(async () => {
    await stopWebhookProcess(webhook);
    if (tls !== undefined) rmSync(tls.dir, { recursive: true, force: true });
    await stopAllClusters();
  });

  // 240 s: 31 s of backoff plus a stop and a start of the control plane, on a loaded machine, can
  // come near the e2e project's default of 120 s.
  it('recovers its watch, readiness and index by itself', async () => {
    if (webhook === undefined) throw new Error('no webhook');
    const webhookPid = webhook.pid;
    // Before: "east" and "north" are held, and the index knows it.
    for (const [name, id] of [
      ['istio-remote-secret-east', 'east'],
      ['istio-remote-secret-north', 'north'],
    ] as const) {
      const stored = await apply(remoteSecret(name, id));
      expect(stored.status, stored.stderr).toBe(0);
    }
    await eventually(async () => {
      const copy = await apply(remoteSecret('istio-remote-secret-north-copy', 'north'), '--dry-run=server');
      return copy.stderr.includes('duplicate-cluster-id');
    });
    const before = await kubectl(cluster.kubeconfigPath, [
      ...['get', 'secret', '-n', NAMESPACE, 'istio-remote-secret-east'],
      ...['-o', 'jsonpath={.metadata.uid} {.metadata.resourceVersion}'],
    ]);
    expect(before.status, before.stderr).toBe(0);
    expect(await gauge('remote_secret_webhook_index_watch_up')).toBe(1);

    // The outage: the whole control plane stops; its etcd data stays on disk.
    const oldPid = cluster.pid;
    await cluster.stopKeepingData();
    const stoppedAt = Date.now();
    await eventually(async () => (await gauge('remote_secret_webhook_index_watch_up')) === 0, 15_000);
    const failingEarly = await gauge('remote_secret_webhook_index_watch_failing_seconds');
    // Start it again just after a failed retry that waits 16 s: the API server is then back well
    // before the webhook's next attempt, and what changes meanwhile must reach the index by the
    // list that attempt makes, not by a watch event.
    let nextRetryAt = 0;
    await eventually(async () => {
      const waiting = informerLines().find(({ retryInMs }) => (retryInMs ?? 0) >= RESTART_BEFORE_RETRY_MS);
      nextRetryAt = (waiting?.time ?? 0) + (waiting?.retryInMs ?? 0);
      return Promise.resolve(waiting !== undefined);
    }, 45_000);
    const failingLate = await gauge('remote_secret_webhook_index_watch_failing_seconds');
    expect(failingLate).toBeGreaterThan(failingEarly);
    expect(failingLate).toBeGreaterThanOrEqual(14);
    const readyDuringOutage = (await get('/readyz')).status;

    // The same cluster again: same server and kubeconfig (startAgain checks), a new supervisor,
    // and what was stored before read back from etcd's files.
    const restarting = cluster.startAgain();
    let apiServerBackAt = 0;
    while (apiServerBackAt === 0) {
      const readyz = await kubeGet(cluster.kubeConfig, '/readyz').catch(() => undefined);
      if (readyz?.status === 200) apiServerBackAt = Date.now();
      else await sleep(100);
    }
    const restartMs = await restarting;
    const backAt = Date.now();
    expect(cluster.pid).not.toBe(oldPid);
    // Change state at once, while the webhook still waits for its next retry: one holder goes, a
    // new one comes. The index must follow both once the watch is up.
    const deleted = await kubectl(cluster.kubeconfigPath, [
      ...['delete', 'secret', '-n', NAMESPACE, 'istio-remote-secret-north'],
    ]);
    expect(deleted.status, deleted.stderr).toBe(0);
    const west = await apply(remoteSecret('istio-remote-secret-west', 'west'));
    expect(west.status, west.stderr).toBe(0);
    const changedAt = Date.now();
    expect(changedAt, 'changed before the webhook retried').toBeLessThan(nextRetryAt);
    expect(await gauge('remote_secret_webhook_index_watch_up')).toBe(0);
    // Not asserted: within --index-max-staleness (30 s) of the first failure the stale index still
    // decides (a copy of "west" is admitted); past it the claim is refused as retryable and kubectl
    // retries until the watch is back (ADR 0003, test/e2e/stale-index.e2e.test.ts).
    const staleVerdict = await apply(
      remoteSecret('istio-remote-secret-west-copy', 'west'),
      '--dry-run=server',
    );
    const after = await kubectl(cluster.kubeconfigPath, [
      ...['get', 'secret', '-n', NAMESPACE, 'istio-remote-secret-east'],
      ...['-o', 'jsonpath={.metadata.uid} {.metadata.resourceVersion}'],
    ]);
    expect(after.stdout, 'the stored secret survived the restart unchanged').toBe(before.stdout);

    // The watch comes back by itself (the next retry of its backoff, at most 30 s away).
    await eventually(async () => (await gauge('remote_secret_webhook_index_watch_up')) === 1, 45_000);
    const upAt = Date.now();
    expect(await gauge('remote_secret_webhook_index_watch_failing_seconds')).toBe(0);
    expect((await get('/readyz')).status).toBe(200);
    const lines = informerLines();
    const said = JSON.stringify(lines);
    const warned = lines.filter(({ msg }) => msg.startsWith('remote secret informer failed'));
    const retried = lines.filter(({ msg }) => msg === 'remote secret informer still failing');
    const recovered = lines.filter(({ msg }) => msg === 'remote secret informer recovered');
    expect(warned, said).toHaveLength(1);
    expect(retried.length, said).toBeGreaterThanOrEqual(2);
    expect(recovered, said).toHaveLength(1);
    // `retries` counts the attempts after the first failure, the one that succeeded included.
    expect(recovered[0]?.retries, said).toBe(retried.length + 1);
    expect(recovered[0]?.time, said).toBeGreaterThanOrEqual(nextRetryAt);

    // The index is current: the holder stored before still holds "east", the one deleted after
    // the restart no longer holds "north", and the one created after it holds "west".
    const eastCopy = await apply(remoteSecret('istio-remote-secret-east-copy', 'east'));
    expect(eastCopy.status).not.toBe(0);
    expect(eastCopy.stderr).toMatch(
      /duplicate-cluster-id at data\.east: cluster ID "east" is also claimed by secret istio-system\/istio-remote-secret-east/,
    );
    const westCopy = await apply(remoteSecret('istio-remote-secret-west-copy', 'west'));
    expect(westCopy.status).not.toBe(0);
    expect(westCopy.stderr).toMatch(
      /cluster ID "west" is also claimed by secret istio-system\/istio-remote-secret-west/,
    );
    const northCopy = await apply(remoteSecret('istio-remote-secret-north-copy', 'north'));
    expect(northCopy.status, northCopy.stderr).toBe(0);

    // All of it without a restart of the webhook.
    expect(webhook.pid).toBe(webhookPid);
    expect(webhook.exitCode).toBeNull();
    expect(webhook.output()).not.toMatch(
      /remote-secret-webhook listening[\s\S]*remote-secret-webhook listening/,
    );

    const recoveredAt = recovered[0]?.time ?? upAt;
    process.stderr.write(
      `apiserver-restart: API server down ${String(apiServerBackAt - stoppedAt)} ms after the stop ` +
        `(startAgain ${String(restartMs)} ms, ready ${String(backAt - apiServerBackAt)} ms after its API server); ` +
        `watch back ${String(recoveredAt - apiServerBackAt)} ms after the API server ` +
        `(on /metrics ${String(upAt - apiServerBackAt)} ms), down ${String(recovered[0]?.downForMs)} ms in all, ` +
        `${String(retried.length + 1)} retries; /readyz during the outage ${String(readyDuringOutage)}; ` +
        `a copy of "west" while stale: ${staleVerdict.status === 0 ? 'admitted' : 'refused'}\n`,
    );
  }, 240_000);

  it('starts again only a kept cluster, under its own name, and says how to fix the rest', () => {
    // Each run refuses before it starts anything; with stdin watched, its empty stdin could end
    // the run first ("startup interrupted"), so it is not watched here.
    const run = (...args: string[]) =>
      spawnSync(binaryPath ?? '', ['cluster', '--exit-on-stdin-close=false', ...args], {
        encoding: 'utf8',
        input: '',
        timeout: 30_000,
      });
    const both = run('--dir', cluster.dir, '--keep-data', '--remove-dir');
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('--keep-data and --remove-dir cannot be used together');
    const otherName = run('--dir', cluster.dir, '--name', 'other', '--keep-data');
    expect(otherName.status).toBe(1);
    expect(otherName.stderr).toContain(`holds cluster "restart", not "other": pass --name restart`);
    const withoutFlag = run('--dir', cluster.dir, '--name', 'restart');
    expect(withoutFlag.status).toBe(1);
    expect(withoutFlag.stderr).toContain(
      'is not empty (to start a cluster kept there with --keep-data again',
    );
    const junk = mkdtempSync(join(tmpdir(), 'kube-testenv-junk-'));
    try {
      writeFileSync(join(junk, 'notes.txt'), 'not a cluster');
      const notKept = run('--dir', junk, '--keep-data');
      expect(notKept.status).toBe(1);
      expect(notKept.stderr).toContain('is not empty and is not a cluster kept with --keep-data');
      expect(notKept.stderr).toContain('pass an empty or new --dir');
    } finally {
      rmSync(junk, { recursive: true, force: true });
    }
  });
});
