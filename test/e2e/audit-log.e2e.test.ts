import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
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

/**
 * A rejection history that outlives Events: kube-apiserver runs with the audit policy the docs
 * ship (docs/audit-policy.yaml), the webhook refuses a write through it, and once the Event is
 * gone `audit --rejections --audit-log` still lists the refusal, with the user the API server
 * authenticated; while the Event is there the two are one refusal.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';
const POLICY = fileURLToPath(new URL('../../docs/audit-policy.yaml', import.meta.url));

interface Listed {
  readonly rejections: { secret: string; user: string; codes: string[]; source: string; verdict: string }[];
}

describe.skipIf(binaryPath === null)("the API server's audit log as the rejection history", () => {
  let cluster: TestCluster;
  let tls: TlsFixture;
  let webhook: WebhookProcess | undefined;
  const rejections = async (...flags: string[]): Promise<Listed['rejections']> => {
    const run = await runPluginAsync([
      ...['audit', '--rejections', '--kubeconfig', cluster.kubeconfigPath, '-o', 'json'],
      ...flags,
    ]);
    expect(run.status, run.stderr).toBe(0);
    return (JSON.parse(run.stdout) as Listed).rejections;
  };

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    cluster = await startCluster('audit-log', {
      ...(binaryPath === null ? {} : { binaryPath }),
      auditPolicyFile: POLICY,
    });
    await kubectl(cluster.kubeconfigPath, ['create', 'namespace', NAMESPACE]);
    tls = writeTlsFixture();
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
      extraArgs: ['--audit-interval', '0'],
    });
    await registerShippedWebhook(cluster.kubeconfigPath, webhook, tls, NAMESPACE);
  });

  afterAll(async () => {
    await stopWebhookProcess(webhook);
    rmSync(tls.dir, { recursive: true, force: true });
    await stopAllClusters();
  });

  it('lists a refusal from the log after its Event is gone, and once while both hold it', async () => {
    const auditLog = cluster.auditLogPath;
    if (auditLog === undefined) throw new Error('kube-testenv wrote no audit log');
    const exec = kubeconfigFixture('exec');
    const refused = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: 'istio-remote-secret-logged',
          namespace: NAMESPACE,
          labels: { 'istio/multiCluster': 'true' },
        },
        stringData: { logged: exec },
      }),
    });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('denied the request');
    const ours = (rows: Listed['rejections']) =>
      rows.filter((row) => row.secret === `${NAMESPACE}/istio-remote-secret-logged`);

    // The Event and the log record are one refusal: the log's, with the API server's user.
    await eventually(async () =>
      (await rejections()).some((row) => row.secret.endsWith('/istio-remote-secret-logged')),
    );
    const both = ours(await rejections('--audit-log', auditLog));
    expect(both).toHaveLength(1);
    expect(both[0]).toMatchObject({ source: 'audit-log', verdict: 'rejected', codes: ['exec'] });
    expect(both[0]?.user).not.toBe('');

    // The API server deletes Events after --event-ttl (an hour by default); here, at once.
    const deleted = await kubectl(cluster.kubeconfigPath, [
      ...['delete', 'events', '-n', NAMESPACE, '--field-selector', 'reason=RemoteSecretRejected'],
    ]);
    expect(deleted.status, deleted.stderr).toBe(0);
    expect(ours(await rejections())).toEqual([]);
    const fromLog = ours(await rejections('--audit-log', auditLog));
    expect(fromLog).toEqual(both);
    // And offline, from the file alone.
    expect(ours(await rejections('--audit-log', auditLog, '--no-events'))).toEqual(both);

    // Level Metadata: the log holds no Secret body, so no kubeconfig and no token.
    const text = readFileSync(auditLog, 'utf8');
    expect(text).toContain('istio-remote-secret-logged');
    expect(text).not.toContain(Buffer.from(exec).toString('base64').slice(0, 40));
    expect(text).not.toContain('"stringData"');
    process.stderr.write(`audit-log: ${String(text.split('\n').length - 1)} audit events in ${auditLog}\n`);
  });
});
