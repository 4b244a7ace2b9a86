import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigText } from '../../shared/audit/testdata/kubeconfigs.ts';
import { send } from '../../webhook/testdata/client.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import {
  eventually,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * Leader election on a real kube-apiserver: of two webhook processes only the Lease holder runs
 * the background audit; SIGTERM releases the Lease and the other takes over at its next retry;
 * SIGKILL leaves it held, and a third takes over once it has not changed for the lease duration
 * (measured from the dead leader's last renew as well as from the kill).
 * A secret stored while nobody leads is found by the new leader, and announced once.
 * Uses bin/remote-secret-webhook: run `npm run build` first.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';
const LEASE_NAMESPACE = 'remote-secret-webhook';
const LEASE_NAME = 'remote-secret-webhook';
const REASON = 'RemoteSecretNonCompliant';
const LEASE_SECONDS = 15;
const RETRY_SECONDS = 2;

function remoteSecret(name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE, labels: { 'istio/multiCluster': 'true' } },
    stringData: { [`${name}-cluster`]: kubeconfigText({ exec: true }) },
  });
}

interface EventJson {
  involvedObject: { name: string };
  count?: number;
}

interface LeaseJson {
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    leaseTransitions?: number;
    acquireTime?: string;
    renewTime?: string;
  };
}

describe.skipIf(binaryPath === null)('leader election between webhook replicas on a real API server', () => {
  let cluster: TestCluster;
  let tls: TlsFixture;
  const replicas: WebhookProcess[] = [];

  /** Every sample of a metric on one replica, as `{labels}` -> value. */
  async function metric(webhook: WebhookProcess, name: string): Promise<Record<string, number>> {
    const text = (await send(undefined, { port: webhook.port, ca: tls.ca.certificatePem, path: '/metrics' }))
      .body;
    const samples: Record<string, number> = {};
    for (const line of text.split('\n')) {
      const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
      if (match?.[1] === name) samples[match[2] ?? ''] = Number(match[3]);
    }
    return samples;
  }
  const leads = async (webhook: WebhookProcess) =>
    Object.values(await metric(webhook, 'remote_secret_webhook_leader')).includes(1);
  const passes = async (webhook: WebhookProcess) =>
    (await metric(webhook, 'remote_secret_webhook_audit_runs_total'))['{result="ok"}'] ?? 0;

  async function start(auditIntervalSeconds = 1): Promise<WebhookProcess> {
    const webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'audit',
      localClusterId: 'primary',
      namespace: NAMESPACE,
      extraArgs: [
        ...['--audit-interval', String(auditIntervalSeconds)],
        ...['--leader-elect-namespace', LEASE_NAMESPACE],
        ...['--leader-elect-lease-duration', String(LEASE_SECONDS)],
        ...['--leader-elect-renew-deadline', '10'],
        ...['--leader-elect-retry-period', String(RETRY_SECONDS)],
      ],
    });
    replicas.push(webhook);
    return webhook;
  }

  /** Milliseconds until `webhook` leads, polled every 50 ms. */
  async function timeUntilLeads(webhook: WebhookProcess, since: number): Promise<number> {
    const until = since + 60_000;
    while (!(await leads(webhook).catch(() => false))) {
      if (Date.now() > until) throw new Error('no takeover within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return Date.now() - since;
  }

  async function eventsFor(name: string): Promise<EventJson[]> {
    const listed = await kubectl(cluster.kubeconfigPath, [
      ...['get', 'events', '-n', NAMESPACE, '--field-selector', `reason=${REASON}`, '-o', 'json'],
    ]);
    expect(listed.status, listed.stderr).toBe(0);
    return (JSON.parse(listed.stdout) as { items: EventJson[] }).items.filter(
      (event) => event.involvedObject.name === name,
    );
  }

  async function lease(): Promise<LeaseJson> {
    const got = await kubectl(cluster.kubeconfigPath, [
      ...['get', 'leases.coordination.k8s.io', LEASE_NAME, '-n', LEASE_NAMESPACE, '-o', 'json'],
    ]);
    expect(got.status, got.stderr).toBe(0);
    return JSON.parse(got.stdout) as LeaseJson;
  }

  beforeAll(async () => {
    tls = writeTlsFixture();
    cluster = await startCluster('leader-election', binaryPath === null ? {} : { binaryPath });
    for (const namespace of [NAMESPACE, LEASE_NAMESPACE]) {
      const created = await kubectl(cluster.kubeconfigPath, ['create', 'namespace', namespace]);
      expect(created.status, created.stderr).toBe(0);
    }
    // Stored before any webhook runs.
    const applied = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: remoteSecret('a-exec'),
    });
    expect(applied.status, applied.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const webhook of replicas)
      if (webhook.exitCode === null && webhook.signalCode === null) await stopWebhookProcess(webhook);
    rmSync(tls.dir, { recursive: true, force: true });
    await stopAllClusters();
  });

  it('one leads and only it runs passes; SIGTERM hands over at once; SIGKILL at the first try after the Lease expires; nothing is lost or announced twice', async () => {
    const first = await start();
    const second = await start();
    await eventually(async () => (await leads(first)) !== (await leads(second)));
    const [leader, follower] = (await leads(first)) ? [first, second] : [second, first];
    expect(Object.values(await metric(follower, 'remote_secret_webhook_leader'))).toEqual([0]);

    // Passes every second, on the leader only.
    const before = await passes(leader);
    await eventually(async () => (await passes(leader)) >= before + 3);
    expect(await passes(follower)).toBe(0);
    await eventually(async () => (await eventsFor('a-exec')).length === 1);

    // SIGTERM: the leader releases the Lease during its drain; the follower takes it at its next try.
    const terminated = Date.now();
    const exited = new Promise((resolve) => leader.on('exit', resolve));
    leader.kill('SIGTERM');
    const sigtermMs = await timeUntilLeads(follower, terminated);
    expect(sigtermMs).toBeLessThan((LEASE_SECONDS * 1000) / 2);
    await exited;
    expect(leader.output()).toContain('released the leadership');
    const afterSigterm = await lease();
    expect(afterSigterm.spec.leaseTransitions).toBe(1);
    const followerPasses = await passes(follower);
    await eventually(async () => (await passes(follower)) >= followerPasses + 2);

    // A third replica joins as a follower, with an hour between passes: only the pass a new
    // leader starts at once can find what changed while nobody led. Then the leader is killed
    // without a chance to release.
    const third = await start(3600);
    expect(await leads(third)).toBe(false);
    const killed = Date.now();
    const gone = new Promise((resolve) => follower.on('exit', resolve));
    follower.kill('SIGKILL');
    await gone;
    // The dead leader's last renew: its Lease expires a lease duration after it.
    const lastRenew = Date.parse((await lease()).spec.renewTime ?? '');
    expect(Number.isNaN(lastRenew)).toBe(false);
    // Stored while nobody leads (the Lease still names the killed process).
    const applied = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: remoteSecret('f-exec'),
    });
    expect(applied.status, applied.stderr).toBe(0);
    expect(await passes(third)).toBe(0);
    const sigkillMs = await timeUntilLeads(third, killed);
    // It waited for the Lease to go unrenewed for its duration (on its own clock), no longer.
    expect(sigkillMs).toBeGreaterThan((LEASE_SECONDS - RETRY_SECONDS * 2) * 1000);
    expect(sigkillMs).toBeLessThan((LEASE_SECONDS + RETRY_SECONDS * 2.2 * 2) * 1000);
    // Measured from the last renew: never before the Lease expired, and at most two jittered
    // retries (each up to 2.2 retry periods) after: one to see the last renew, one to find it
    // still unchanged a lease duration later.
    const taken = await lease();
    expect(taken.spec.holderIdentity).not.toBe(afterSigterm.spec.holderIdentity);
    const afterExpiryMs = Date.parse(taken.spec.acquireTime ?? '') - (lastRenew + LEASE_SECONDS * 1000);
    expect(afterExpiryMs).toBeGreaterThanOrEqual(0);
    expect(afterExpiryMs).toBeLessThan(RETRY_SECONDS * 2.2 * 2 * 1000 + 500);
    process.stderr.write(
      `leader failover (lease ${String(LEASE_SECONDS)} s, retry ${String(RETRY_SECONDS)} s): after SIGTERM ${String(sigtermMs)} ms, after SIGKILL ${String(sigkillMs)} ms, ${String(afterExpiryMs)} ms after the killed leader's Lease expired (its last renew + ${String(LEASE_SECONDS)} s)\n`,
    );

    // The new leader's first pass finds the secret stored meanwhile (its informer saw it while
    // following, and dropped it): one Event; the one the first leader wrote is not written again.
    await eventually(async () => (await eventsFor('f-exec')).length === 1, 10_000);
    expect(await passes(third)).toBe(1);
    await eventually(
      async () => (await metric(third, 'remote_secret_webhook_events_total'))['{result="exists"}'] === 1,
    );
    expect((await eventsFor('f-exec')).map((event) => event.count ?? 1)).toEqual([1]);
    expect((await eventsFor('a-exec')).map((event) => event.count ?? 1)).toEqual([1]);
    expect((await lease()).spec).toMatchObject({ leaseTransitions: 2, leaseDurationSeconds: LEASE_SECONDS });
    expect(
      third
        .output()
        .split('\n')
        .filter((line) => line.includes('became the leader')),
    ).toHaveLength(1);
  });
});
