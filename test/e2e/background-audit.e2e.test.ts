import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
import { kubeconfigText } from '../../shared/audit/testdata/kubeconfigs.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { REPO_ROOT } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import { POLICY_REPORT_CRD } from '../harness/policy-report-crd.ts';
import {
  eventually,
  scrapeMetric,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * The webhook's background audit on a real kube-apiserver: unsafe remote secrets stored while no
 * webhook ran are found by the periodic pass (metrics, one Event each, PolicyReport); a secret
 * stored later, in audit mode, is found by a pass the informer started; a fix brings the gauge
 * down and a relapse is announced again.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';
const LOCAL_CLUSTER_ID = 'primary';
const REASON = 'RemoteSecretNonCompliant';
const EXEC = kubeconfigText({ exec: true });
const CLEAN = kubeconfigText();
const SHIPPED_CONFIGURATION = fileURLToPath(
  new URL('../../manifests/base/validatingwebhookconfiguration.yaml', import.meta.url),
);

function remoteSecret(name: string, clusters: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE, labels: { 'istio/multiCluster': 'true' } },
    stringData: clusters,
  });
}

interface EventJson {
  metadata: { name: string; annotations?: Record<string, string> };
  involvedObject: { kind: string; name: string; uid?: string };
  reason: string;
  type: string;
  message: string;
}

interface PolicyReportJson {
  summary: Record<string, number>;
  results: {
    policy: string;
    rule: string;
    result: string;
    resources: { kind: string; name: string; uid?: string }[];
    properties: Record<string, string>;
    timestamp: { seconds: number; nanos: number };
  }[];
}

describe.skipIf(binaryPath === null)('the background audit on a real API server', () => {
  let cluster: TestCluster;
  let tls: TlsFixture;
  let webhook: WebhookProcess | undefined;
  const apply = (manifest: string, ...flags: string[]) =>
    kubectl(cluster.kubeconfigPath, ['apply', ...flags, '-f', '-'], { input: manifest });

  /** Every sample of a metric, as `{labels}` -> value (`''` for a metric without labels). */
  async function metric(name: string): Promise<Record<string, number>> {
    if (webhook === undefined) throw new Error('no webhook');
    return scrapeMetric(webhook, tls, name);
  }
  const gauge = async (code: string) =>
    (await metric('remote_secret_webhook_noncompliant'))[`{code="${code}"}`];
  const passes = async () => (await metric('remote_secret_webhook_audit_runs_total'))['{result="ok"}'] ?? 0;

  async function nonCompliantEvents(): Promise<EventJson[]> {
    const listed = await kubectl(cluster.kubeconfigPath, [
      'get',
      'events',
      '-n',
      NAMESPACE,
      '--field-selector',
      `reason=${REASON}`,
      '-o',
      'json',
    ]);
    expect(listed.status, listed.stderr).toBe(0);
    return (JSON.parse(listed.stdout) as { items: EventJson[] }).items;
  }
  const eventsFor = async (name: string) =>
    (await nonCompliantEvents()).filter((event) => event.involvedObject.name === name);

  async function start(mode: 'audit' | 'enforce', ...extraArgs: string[]): Promise<WebhookProcess> {
    await stopWebhookProcess(webhook);
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode,
      localClusterId: LOCAL_CLUSTER_ID,
      namespace: NAMESPACE,
      extraArgs: ['--audit-page-size', '2', ...extraArgs],
    });
    return webhook;
  }

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'bundle:webhook'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    tls = writeTlsFixture();
    cluster = await startCluster('background-audit', binaryPath === null ? {} : { binaryPath });
    const created = await kubectl(cluster.kubeconfigPath, ['create', 'namespace', NAMESPACE]);
    expect(created.status, created.stderr).toBe(0);
    // No webhook yet: the API server stores whatever it is given.
    for (const secret of [
      remoteSecret('a-exec', { east: EXEC }),
      remoteSecret('b-token-file', { west: kubeconfigFixture('token-file') }),
      remoteSecret('c-local', { [LOCAL_CLUSTER_ID]: CLEAN }),
      remoteSecret('d-clean', { north: CLEAN }),
      remoteSecret('e-exec-twice', { south: EXEC, far: EXEC }),
    ]) {
      const applied = await apply(secret);
      expect(applied.status, applied.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    await stopWebhookProcess(webhook);
    rmSync(tls.dir, { recursive: true, force: true });
    await stopAllClusters();
  });

  it('counts the stored violations by code and writes one Event per unsafe secret, however many passes', async () => {
    // --policy-report before the CRD exists: one warning, and the audit goes on.
    await start('enforce', '--audit-interval', '1', '--policy-report');
    await eventually(async () => (await gauge('exec')) === 2);
    expect(await metric('remote_secret_webhook_noncompliant')).toEqual({
      '{code="exec"}': 2,
      '{code="token-file"}': 1,
      '{code="local-cluster-id"}': 1,
    });
    expect(await metric('remote_secret_webhook_noncompliant_secrets')).toEqual({ '': 4 });
    expect(await metric('remote_secret_webhook_audit_secrets')).toEqual({ '': 5 });
    // The informer's first list reconciled them; the periodic pass (every second here) agrees.
    await eventually(async () => (await passes()) >= 1);
    const lastRun = (await metric('remote_secret_webhook_audit_last_run_timestamp_seconds'))[''] ?? 0;
    expect(Math.abs(lastRun - Date.now() / 1000)).toBeLessThan(60);

    const before = await passes();
    await eventually(async () => (await passes()) >= before + 3);
    const events = await nonCompliantEvents();
    expect(events.map((event) => event.involvedObject.name).sort()).toEqual([
      'a-exec',
      'b-token-file',
      'c-local',
      'e-exec-twice',
    ]);
    const exec = events.find((event) => event.involvedObject.name === 'e-exec-twice');
    expect(exec).toMatchObject({ type: 'Warning', involvedObject: { kind: 'Secret' } });
    expect(exec?.involvedObject.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(exec?.message).toContain(
      'stored remote secret istio-system/e-exec-twice is non-compliant: 2 violations in 2 clusters: exec at far: users[0].user.exec; exec at south: users[0].user.exec; fix: re-create it',
    );
    expect(exec?.metadata.annotations).toMatchObject({
      'remote-secret-webhook/found-by': 'background-audit',
      'remote-secret-webhook/violation-codes': 'exec',
      'remote-secret-webhook/clusters': 'far,south',
    });

    const output = webhook?.output() ?? '';
    const lines = output.split('\n').filter((line) => line.includes('stored remote secret is non-compliant'));
    expect(lines).toHaveLength(4);
    expect(output.split('cannot write PolicyReports').length - 1).toBe(1);
    expect(output).toContain('the PolicyReport CRD (policyreports.wgpolicyk8s.io) is not installed');
    // Codes and paths only: no kubeconfig value reaches a log line or an Event.
    for (const text of [output, JSON.stringify(events)]) {
      expect(text).not.toContain('/bin/sh');
      expect(text).not.toContain('/var/run/secrets');
      expect(text).not.toContain('eyJ');
    }
  });

  it('writes a PolicyReport once the CRD is installed', async () => {
    const crd = await apply(JSON.stringify(POLICY_REPORT_CRD));
    expect(crd.status, crd.stderr).toBe(0);
    const established = await kubectl(cluster.kubeconfigPath, [
      'wait',
      '--for=condition=Established',
      'crd/policyreports.wgpolicyk8s.io',
      '--timeout=60s',
    ]);
    expect(established.status, established.stderr).toBe(0);
    let report: PolicyReportJson | undefined;
    await eventually(async () => {
      const got = await kubectl(cluster.kubeconfigPath, [
        'get',
        'policyreports.wgpolicyk8s.io',
        'remote-secret-audit',
        '-n',
        NAMESPACE,
        '-o',
        'json',
      ]);
      if (got.status !== 0) return false;
      report = JSON.parse(got.stdout) as PolicyReportJson;
      return true;
    });
    expect(report?.summary).toEqual({ pass: 1, fail: 5, warn: 0, error: 0, skip: 0 });
    const fails = report?.results.filter((result) => result.result === 'fail') ?? [];
    expect(fails.map((result) => `${result.resources[0]?.name ?? ''} ${result.rule}`).sort()).toEqual([
      'a-exec exec',
      'b-token-file token-file',
      'c-local local-cluster-id',
      'e-exec-twice exec',
      'e-exec-twice exec',
    ]);
    // Every field survived the CRD's structural pruning: the report matches the published schema.
    expect(fails[0]).toMatchObject({
      policy: 'remote-secret',
      properties: { cluster: expect.any(String), path: expect.any(String) },
      timestamp: { seconds: expect.any(Number), nanos: 0 },
      resources: [{ kind: 'Secret', uid: expect.any(String) }],
    });
    expect(webhook?.output()).toContain('PolicyReports are written again');
  });

  it('after a restart, in audit mode, writes no second Event, and reconciles a new unsafe secret alone, without a pass', async () => {
    // An hour between periodic passes: no pass runs in this test; the informer drives it all.
    // Without leader election: a new leader starts a pass at once (test/e2e/leader-election).
    await start('audit', '--audit-interval', '3600', '--no-leader-elect');
    await registerInAuditMode();
    // The informer's first list reconciles all five and announces the four again; the API server
    // already has each Event (409).
    await eventually(
      async () => (await metric('remote_secret_webhook_events_total'))['{result="exists"}'] === 4,
    );
    expect((await metric('remote_secret_webhook_events_total'))['{result="created"}']).toBeUndefined();
    expect(await nonCompliantEvents()).toHaveLength(4);
    const reconciles = async () => await metric('remote_secret_webhook_audit_reconciles_total');
    expect((await reconciles())['{result="decided"}']).toBe(5);

    const stored = await apply(remoteSecret('f-new', { central: EXEC }));
    expect(stored.status, stored.stderr).toBe(0);
    await eventually(async () => (await eventsFor('f-new')).length === 1, 15_000);
    expect(await gauge('exec')).toBe(3);
    // Only the secret that changed was decided: no pass, no list of every secret.
    expect(await passes()).toBe(0);
    expect((await reconciles())['{result="decided"}']).toBe(6);
    // Applying it again unchanged (kubectl apply: an annotation-only update) is skipped by hash.
    const again = await kubectl(cluster.kubeconfigPath, [
      'annotate',
      'secret',
      'f-new',
      '-n',
      NAMESPACE,
      'touched=yes',
    ]);
    expect(again.status, again.stderr).toBe(0);
    await eventually(async () => ((await reconciles())['{result="unchanged"}'] ?? 0) >= 1);
    expect((await reconciles())['{result="decided"}']).toBe(6);
  });

  it('brings the gauge down on a fix, and announces a relapse again', async () => {
    const fixed = await apply(remoteSecret('a-exec', { east: CLEAN }));
    expect(fixed.status, fixed.stderr).toBe(0);
    await eventually(async () => (await gauge('exec')) === 2, 15_000);
    for (const secret of [
      remoteSecret('e-exec-twice', { south: CLEAN, far: CLEAN }),
      remoteSecret('f-new', { central: CLEAN }),
    ]) {
      const result = await apply(secret);
      expect(result.status, result.stderr).toBe(0);
    }
    // A code no stored secret has any more stays exported, at 0.
    await eventually(async () => (await gauge('exec')) === 0, 15_000);
    expect(await metric('remote_secret_webhook_noncompliant_secrets')).toEqual({ '': 2 });

    const relapse = await apply(remoteSecret('a-exec', { east: EXEC }));
    expect(relapse.status, relapse.stderr).toBe(0);
    await eventually(async () => (await eventsFor('a-exec')).length === 2, 15_000);
    expect(await gauge('exec')).toBe(1);
  });

  /**
   * Register the shipped webhook, pointed at the local process. In audit mode it admits
   * everything, so wait until a server-side dry run shows up in its request counter.
   */
  async function registerInAuditMode(): Promise<void> {
    const port = webhook?.port ?? 0;
    const shipped = load(readFileSync(SHIPPED_CONFIGURATION, 'utf8')) as {
      webhooks: { clientConfig: unknown }[];
    };
    const registered = await apply(
      JSON.stringify({
        ...shipped,
        webhooks: shipped.webhooks.map((entry) => ({
          ...entry,
          clientConfig: {
            url: `https://127.0.0.1:${String(port)}/validate`,
            caBundle: Buffer.from(tls.ca.certificatePem).toString('base64'),
          },
        })),
      }),
    );
    expect(registered.status, registered.stderr).toBe(0);
    const requests = async () =>
      Object.values(await metric('remote_secret_webhook_admission_requests_total')).reduce(
        (sum, value) => sum + value,
        0,
      );
    await eventually(async () => {
      const before = await requests();
      await apply(remoteSecret('probe', { probe: EXEC }), '--dry-run=server');
      return (await requests()) > before;
    });
  }
});
