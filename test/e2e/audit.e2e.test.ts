import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
import { jwt, kubeconfigText } from '../../shared/audit/testdata/kubeconfigs.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { REPO_ROOT, runPluginAsync } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import {
  eventually,
  registerShippedWebhook,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';
import type { AuditDocument } from '../../cmd/render-audit.ts';

/**
 * `audit` on a real kube-apiserver: unsafe remote secrets are stored while no webhook runs (as
 * before it was installed), then audited page by page; with the webhook on, a refused apply
 * shows up in `audit --rejections`.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';
const LOCAL_CLUSTER_ID = 'primary';
// Tokens are read for their claims only; now + 1 day from the real clock keeps them valid.
const DAY_MS = 86_400_000;
const EXPIRED = jwt({ exp: Math.floor((Date.now() - DAY_MS) / 1000) });
const VALID = jwt({ exp: Math.floor((Date.now() + 300 * DAY_MS) / 1000) });

/** What `audit -o json` prints: the plugin's own type, so a new field cannot go unnoticed. */
type AuditJson = AuditDocument;

interface RejectionsJson {
  rejections: {
    time: string;
    user: string;
    operation: string;
    secret: string;
    clusters: string[];
    codes: string[];
  }[];
}

const plugin = runPluginAsync;

function remoteSecret(namespace: string, name: string, clusters: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'istio/multiCluster': 'true' } },
    stringData: clusters,
  });
}

describe.skipIf(binaryPath === null)('audit on a real API server', () => {
  let cluster: TestCluster;
  let tls: TlsFixture | undefined;
  let webhook: WebhookProcess | undefined;
  const audit = (...args: string[]) => plugin(['audit', '--kubeconfig', cluster.kubeconfigPath, ...args]);
  const byCluster = (report: AuditJson) =>
    Object.fromEntries(
      report.clusters.map((row) => [
        `${row.secret} ${row.cluster}`,
        { violations: row.violations.map((found) => found.code), risks: row.risks.map((note) => note.code) },
      ]),
    );

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    cluster = await startCluster('audit', binaryPath === null ? {} : { binaryPath });
    for (const namespace of [NAMESPACE, 'risky', 'team-b']) {
      const created = await kubectl(cluster.kubeconfigPath, ['create', 'namespace', namespace]);
      expect(created.status, created.stderr).toBe(0);
    }
    // No webhook yet: the API server stores whatever it is given.
    const secrets = [
      remoteSecret(NAMESPACE, 'a-exec', { east: kubeconfigText({ exec: true }) }),
      remoteSecret(NAMESPACE, 'b-token-file', { west: kubeconfigFixture('token-file') }),
      remoteSecret(NAMESPACE, 'c-local', { [LOCAL_CLUSTER_ID]: kubeconfigText({ token: VALID }) }),
      remoteSecret(NAMESPACE, 'd-clean', { north: kubeconfigText({ token: VALID }) }),
      remoteSecret(NAMESPACE, 'e-duplicate', { north: kubeconfigText({ token: VALID }) }),
      remoteSecret('risky', 'f-risky', {
        south: kubeconfigText({ token: EXPIRED, insecure: true, server: 'http://169.254.169.254' }),
      }),
      remoteSecret('team-b', 'g-auth-provider', { far: kubeconfigFixture('auth-provider') }),
    ];
    for (const secret of secrets) {
      const applied = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], { input: secret });
      expect(applied.status, applied.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    await stopWebhookProcess(webhook);
    if (tls !== undefined) rmSync(tls.dir, { recursive: true, force: true });
    await stopAllClusters();
  });

  it('finds every stored violation with its code, two secrets a page, and exits 1', async () => {
    const run = await audit('--local-cluster-id', LOCAL_CLUSTER_ID, '--limit', '2', '-o', 'json');
    expect(run.status, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as AuditJson;
    expect(report.kind).toBe('RemoteSecretAudit');
    expect(byCluster(report)).toEqual({
      'istio-system/a-exec east': { violations: ['exec'], risks: [] },
      'istio-system/b-token-file west': { violations: ['token-file'], risks: [] },
      'istio-system/c-local primary': { violations: ['local-cluster-id'], risks: [] },
      'istio-system/d-clean north': { violations: [], risks: [] },
      'istio-system/e-duplicate north': { violations: ['duplicate-cluster-id'], risks: [] },
    });
    expect(report.sharedClusterIds).toEqual([
      {
        namespace: 'istio-system',
        cluster: 'north',
        secrets: ['istio-system/d-clean', 'istio-system/e-duplicate'],
        usedNow: 'istio-system/d-clean',
        // Created in one apply, maybe in the same second: then which one istiod saw first is a guess.
        usedNowCertain: expect.any(Boolean) as boolean,
        usedAfterRestart: 'istio-system/d-clean',
        fix: 'kubectl delete secret -n istio-system e-duplicate && kubectl annotate secret -n istio-system d-clean kubectl-remote-secret/touched-at="$(date +%s)" --overwrite',
      },
    ]);
    expect(report.summary).toEqual({ secrets: 5, clusters: 5, violations: 4, risks: 0 });
  });

  it('notes risks without failing, unless --strict', async () => {
    const run = await audit('-n', 'risky');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('insecure-skip-tls-verify');
    for (const code of ['token-expired', 'plain-http-server', 'link-local-server']) {
      expect(run.stdout).toContain(code);
    }
    // The table names codes and paths; never the token itself.
    for (const part of EXPIRED.split('.')) expect(run.stdout + run.stderr).not.toContain(part);
    const strict = await audit('-n', 'risky', '--strict', '-o', 'yaml');
    expect(strict.status, strict.stderr).toBe(1);
    expect(strict.stdout).toContain('kind: RemoteSecretAudit');
  });

  it('audits every namespace with -A', async () => {
    const run = await audit('-A', '-o', 'json');
    expect(run.status, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as AuditJson;
    expect(report.summary.secrets).toBe(7);
    expect(byCluster(report)['team-b/g-auth-provider far']).toEqual({
      violations: ['auth-provider'],
      risks: [],
    });
  });

  it('lists the webhook’s rejection with who and what, newest first', async () => {
    tls = writeTlsFixture();
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'enforce',
      localClusterId: LOCAL_CLUSTER_ID,
      namespace: NAMESPACE,
    });
    await registerShippedWebhook(cluster.kubeconfigPath, webhook, tls, NAMESPACE);
    const whoami = await kubectl(cluster.kubeconfigPath, [
      'auth',
      'whoami',
      '-o',
      'jsonpath={.status.userInfo.username}',
    ]);
    expect(whoami.status, whoami.stderr).toBe(0);
    const refused = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: remoteSecret(NAMESPACE, 'refused', { central: kubeconfigText({ exec: true }) }),
    });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('denied the request');

    let listed: RejectionsJson = { rejections: [] };
    await eventually(async () => {
      const run = await audit('--rejections', '--since', '1h', '-o', 'json');
      if (run.status !== 0) return false;
      listed = JSON.parse(run.stdout) as RejectionsJson;
      return listed.rejections.some((rejection) => rejection.secret === `${NAMESPACE}/refused`);
    });
    expect(listed.rejections.find((rejection) => rejection.secret === `${NAMESPACE}/refused`)).toMatchObject({
      user: whoami.stdout,
      operation: 'CREATE',
      clusters: ['central'],
      codes: ['exec'],
    });
    const times = listed.rejections.map((rejection) => rejection.time);
    expect(times).toEqual([...times].sort().reverse());

    const table = await audit('--rejections');
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(
      /^TIME\s+USER\s+OPERATION\s+SECRET\s+CLUSTERS\s+CODES\s+COUNT\s+AUTHENTICATED$/m,
    );
    expect(table.stdout).toContain(`${NAMESPACE}/refused`);
  });
});
