import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { admissionReview, kubeconfigFixture, secretObject } from '../../shared/admission/testdata/reviews.ts';
import { kubeconfigText } from '../../shared/audit/testdata/kubeconfigs.ts';
import { send } from '../../webhook/testdata/client.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import { closedPort } from '../harness/ports.ts';
import {
  eventually,
  registerShippedWebhook,
  scrapeMetric,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
  type WebhookProcessOptions,
} from '../harness/webhook.ts';

/**
 * Leader election on a real kube-apiserver: of two webhook processes only the Lease holder runs
 * the background audit; SIGTERM releases the Lease and the other takes over at its next retry;
 * SIGKILL leaves it held, and a third takes over once it has not changed for the lease duration
 * (measured from the dead leader's last renew as well as from the kill).
 * A secret stored while nobody leads is found by the new leader, and announced once. Every
 * replica answers admission, directly and through the API server, with the leader's verdict;
 * with --probe-remotes on both, only the leader probes.
 * Uses bin/remote-secret-webhook: run `npm run build` first.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';
const LEASE_NAMESPACE = 'remote-secret-webhook';
const LEASE_NAME = 'remote-secret-webhook';
const REASON = 'RemoteSecretNonCompliant';
const LEASE_SECONDS = 15;
const RETRY_SECONDS = 2;

function remoteSecret(name: string, kubeconfig = kubeconfigText({ exec: true })): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE, labels: { 'istio/multiCluster': 'true' } },
    stringData: { [`${name}-cluster`]: kubeconfig },
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

  const metric = (webhook: WebhookProcess, name: string) => scrapeMetric(webhook, tls, name);
  const leads = async (webhook: WebhookProcess) =>
    Object.values(await metric(webhook, 'remote_secret_webhook_leader')).includes(1);
  const passes = async (webhook: WebhookProcess) =>
    (await metric(webhook, 'remote_secret_webhook_audit_runs_total'))['{result="ok"}'] ?? 0;

  async function start(
    auditIntervalSeconds = 1,
    more: { mode?: WebhookProcessOptions['mode']; extraArgs?: readonly string[] } = {},
  ): Promise<WebhookProcess> {
    const webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: more.mode ?? 'audit',
      localClusterId: 'primary',
      namespace: NAMESPACE,
      extraArgs: [
        ...['--audit-interval', String(auditIntervalSeconds)],
        ...['--leader-elect-namespace', LEASE_NAMESPACE],
        ...['--leader-elect-lease-duration', String(LEASE_SECONDS)],
        ...['--leader-elect-renew-deadline', '10'],
        ...['--leader-elect-retry-period', String(RETRY_SECONDS)],
        ...(more.extraArgs ?? []),
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

  it("a follower answers admission with the leader's verdict, directly and through the API server; only the leader probes remotes", async () => {
    // A pair of its own on another Lease, so the replicas left by the test above change nothing.
    // Its one allowed remote names a loopback port nothing listens on: without
    // --probe-allow-loopback a probe refuses it before dialing, so a round always ends unreachable.
    const port = await closedPort();
    const applied = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: remoteSecret('probed', kubeconfigText({ server: `https://127.0.0.1:${String(port)}` })),
    });
    expect(applied.status, applied.stderr).toBe(0);
    const options = {
      mode: 'enforce' as const,
      extraArgs: [
        ...['--leader-elect-lease-name', 'remote-secret-webhook-probes'],
        ...['--probe-remotes', '--probe-interval', '1'],
      ],
    };
    const first = await start(3600, options);
    const second = await start(3600, options);
    await eventually(async () => (await leads(first)) !== (await leads(second)));
    const [leader, follower] = (await leads(first)) ? [first, second] : [second, first];

    // The same review POSTed over TLS to each replica's /validate: the same answer from both.
    const reviews = [
      { kubeconfig: 'clean', allowed: true },
      { kubeconfig: 'exec', allowed: false },
    ];
    for (const { kubeconfig, allowed } of reviews) {
      const review = JSON.stringify(
        admissionReview({
          uid: `review-${kubeconfig}`,
          object: secretObject({
            name: `direct-${kubeconfig}`,
            data: { east: kubeconfigFixture(kubeconfig) },
          }),
        }),
      );
      const [fromLeader, fromFollower] = await Promise.all(
        [leader, follower].map((replica) => send(review, { port: replica.port, ca: tls.ca.certificatePem })),
      );
      expect(fromFollower?.status, fromFollower?.body).toBe(200);
      const answer = JSON.parse(fromFollower?.body ?? '') as {
        response: { uid: string; allowed: boolean; status?: { message?: string } };
      };
      expect(answer.response).toMatchObject({ uid: `review-${kubeconfig}`, allowed });
      if (!allowed) expect(answer.response.status?.message).toContain('exec');
      expect(answer).toEqual(JSON.parse(fromLeader?.body ?? ''));
    }

    // Through the API server, registered with the follower's address alone: a dry run of a secret
    // with exec is denied, one with a clean kubeconfig allowed, and the follower counts both.
    const answers = (replica: WebhookProcess) =>
      metric(replica, 'remote_secret_webhook_admission_requests_total');
    const ALLOWED = '{operation="CREATE",verdict="allowed"}';
    const REJECTED = '{operation="CREATE",verdict="rejected"}';
    await registerShippedWebhook(cluster.kubeconfigPath, follower, tls, NAMESPACE);
    const byLeader = await answers(leader);
    const byFollower = await answers(follower);
    try {
      const denied = await kubectl(cluster.kubeconfigPath, ['apply', '--dry-run=server', '-f', '-'], {
        input: remoteSecret('via-api-exec'),
      });
      expect(denied.status).not.toBe(0);
      expect(denied.stderr).toContain('denied the request');
      const allowed = await kubectl(cluster.kubeconfigPath, ['apply', '--dry-run=server', '-f', '-'], {
        input: remoteSecret('via-api-clean', kubeconfigFixture('clean')),
      });
      expect(allowed.status, allowed.stderr).toBe(0);
    } finally {
      const removed = await kubectl(cluster.kubeconfigPath, [
        ...['delete', 'validatingwebhookconfiguration', 'remote-secret-webhook'],
      ]);
      expect(removed.status, removed.stderr).toBe(0);
    }
    expect(await answers(follower)).toEqual({
      [ALLOWED]: (byFollower[ALLOWED] ?? 0) + 1,
      [REJECTED]: (byFollower[REJECTED] ?? 0) + 1,
    });
    expect(await answers(leader)).toEqual(byLeader);

    // Probe rounds every second, on the leader only: the follower publishes no result, logs no round.
    const rounds = async (replica: WebhookProcess) =>
      (await metric(replica, 'remote_secret_webhook_probe_runs_total'))['{result="ok"}'] ?? 0;
    await eventually(async () => (await rounds(leader)) >= 3);
    expect(await metric(leader, 'remote_secret_webhook_remote_probe_result')).toEqual({
      '{namespace="istio-system",secret="probed",cluster="probed-cluster",result="unreachable"}': 1,
    });
    expect(leader.output()).toContain('remote probes done');
    expect(await metric(follower, 'remote_secret_webhook_probe_runs_total')).toEqual({});
    expect(await metric(follower, 'remote_secret_webhook_remote_probe_result')).toEqual({});
    expect(follower.output()).not.toContain('remote probes');
    expect(Object.values(await metric(follower, 'remote_secret_webhook_leader'))).toEqual([0]);
  });
});
