import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
import { send } from '../../webhook/testdata/client.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { REPO_ROOT, runPluginAsync } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import { runProcess } from '../harness/process.ts';
import {
  eventually,
  registerShippedWebhook,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';
import type { AuditDocument } from '../../cmd/render-audit.ts';

/**
 * A duplicate cluster ID stored before the webhook ran, on a real API server: the secret created
 * first ("z-first", though its name sorts last) stays updatable, the later one is refused and
 * reported by the background audit, and the command `audit` prints settles it without refusing
 * anything on the way.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';
const CLEAN = kubeconfigFixture('clean');

function remoteSecret(name: string, clusters: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE, labels: { 'istio/multiCluster': 'true' } },
    stringData: clusters,
  });
}

/** What `audit -o json` prints: the plugin's own type, so a new field cannot go unnoticed. */
type AuditJson = AuditDocument;

describe.skipIf(binaryPath === null)('a shared cluster ID on a real API server', () => {
  let cluster: TestCluster;
  let tls: TlsFixture | undefined;
  let webhook: WebhookProcess | undefined;
  const apply = (manifest: string) =>
    kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], { input: manifest });
  const annotate = (name: string, value: string) =>
    kubectl(cluster.kubeconfigPath, [
      'annotate',
      'secret',
      '-n',
      NAMESPACE,
      name,
      `touched=${value}`,
      '--overwrite',
    ]);
  const audit = async () => {
    const run = await runPluginAsync(['audit', '--kubeconfig', cluster.kubeconfigPath, '-o', 'json']);
    return { status: run.status, report: JSON.parse(run.stdout) as AuditJson };
  };

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    tls = writeTlsFixture();
    cluster = await startCluster('cluster-ids', binaryPath === null ? {} : { binaryPath });
    const created = await kubectl(cluster.kubeconfigPath, ['create', 'namespace', NAMESPACE]);
    expect(created.status, created.stderr).toBe(0);
    // No webhook yet: both are stored. creationTimestamp has whole seconds, so the second one is
    // created in a later second than the first.
    expect((await apply(remoteSecret('z-first', { east: CLEAN, west: CLEAN }))).status).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await apply(remoteSecret('a-second', { east: CLEAN }))).status).toBe(0);
    webhook = await startWebhookProcess({
      kubeconfigPath: cluster.kubeconfigPath,
      tls,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
      extraArgs: ['--audit-interval', '1'],
    });
    await registerShippedWebhook(cluster.kubeconfigPath, webhook, tls, NAMESPACE);
  });

  afterAll(async () => {
    await stopWebhookProcess(webhook);
    if (tls !== undefined) rmSync(tls.dir, { recursive: true, force: true });
    await stopAllClusters();
  });

  it('lets the secret created first be updated, and refuses an update of the later one', async () => {
    const first = await annotate('z-first', '1');
    expect(first.status, first.stderr).toBe(0);
    const second = await annotate('a-second', '1');
    expect(second.status).not.toBe(0);
    expect(second.stderr).toContain(
      'duplicate-cluster-id at data.east: cluster ID "east" is also claimed by secret istio-system/z-first, created earlier; istiod uses istio-system/z-first and ignores this one ("cluster has already been registered"), but after a restart it may take this one instead (usually the name that sorts first; not guaranteed)',
    );
  });

  it('the background audit and audit blame the later one, and audit prints the fix', async () => {
    const metrics = async () =>
      (
        await send(undefined, {
          port: webhook?.port ?? 0,
          ca: tls?.ca.certificatePem ?? '',
          path: '/metrics',
        })
      ).body;
    await eventually(async () =>
      (await metrics()).includes('remote_secret_webhook_noncompliant{code="duplicate-cluster-id"} 1'),
    );
    expect(webhook?.output()).toMatch(
      /"secret":"istio-system\/a-second"[^\n]*stored remote secret is non-compliant/,
    );
    expect(webhook?.output()).not.toMatch(
      /"secret":"istio-system\/z-first"[^\n]*stored remote secret is non-compliant/,
    );

    const { status, report } = await audit();
    expect(status).toBe(1);
    expect(report.sharedClusterIds).toEqual([
      {
        namespace: NAMESPACE,
        cluster: 'east',
        secrets: ['istio-system/z-first', 'istio-system/a-second'],
        usedNow: 'istio-system/z-first',
        usedNowCertain: true,
        usedAfterRestart: 'istio-system/a-second',
        fix: 'kubectl delete secret -n istio-system a-second && kubectl annotate secret -n istio-system z-first kubectl-remote-secret/touched-at="$(date +%s)" --overwrite',
      },
    ]);
  });

  it('the printed fix goes through the webhook, and leaves one claimant', async () => {
    const { report } = await audit();
    const fix = report.sharedClusterIds[0]?.fix ?? '';
    const run = await runProcess('sh', ['-c', fix], {
      env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath },
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('secret "a-second" deleted');
    expect(run.stdout).toContain('secret/z-first annotated');
    const after = await audit();
    expect(after.status).toBe(0);
    expect(after.report.sharedClusterIds).toEqual([]);
  });
});
