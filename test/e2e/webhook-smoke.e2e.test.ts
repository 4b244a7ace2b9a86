import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { REPO_ROOT } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import {
  registerShippedWebhook,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * The smallest end-to-end check that kube-testenv calls validating webhooks: the product's own
 * webhook (bin/remote-secret-webhook, built from webhook/), registered with the shipped
 * ValidatingWebhookConfiguration, refuses a remote secret that runs a program and admits a clean
 * one, through the real kubectl. webhook.e2e.test.ts goes through every code and mode.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';
const WEBHOOK_NAME = 'remote-secrets.webhook.kubectl-remote-secret.io';

function remoteSecret(name: string, kubeconfig: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE, labels: { 'istio/multiCluster': 'true' } },
    stringData: { [name]: kubeconfig },
  });
}

describe.skipIf(binaryPath === null)('kube-testenv: the API server calls the product’s webhook', () => {
  let cluster: TestCluster;
  let tls: TlsFixture | undefined;
  let webhook: WebhookProcess | undefined;

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'bundle:webhook'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    tls = writeTlsFixture();
    cluster = await startCluster('webhook-smoke', binaryPath === null ? {} : { binaryPath });
    const namespace = await kubectl(cluster.kubeconfigPath, ['create', 'namespace', NAMESPACE]);
    expect(namespace.status, namespace.stderr).toBe(0);
    webhook = await startWebhookProcess({
      kubeconfigPath: cluster.kubeconfigPath,
      tls,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
    });
    await registerShippedWebhook(cluster.kubeconfigPath, webhook, tls, NAMESPACE);
  });

  afterAll(async () => {
    await stopWebhookProcess(webhook);
    if (tls !== undefined) rmSync(tls.dir, { recursive: true, force: true });
    await stopAllClusters();
  });

  it('kubectl apply of a remote secret with exec fails with the webhook’s message, and nothing is stored', async () => {
    const result = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: remoteSecret('east', kubeconfigFixture('exec')),
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`admission webhook "${WEBHOOK_NAME}" denied the request`);
    expect(result.stderr).toContain('exec at users[0].user.exec');
    const stored = await kubectl(cluster.kubeconfigPath, ['get', 'secret', 'east', '-n', NAMESPACE]);
    expect(stored.stderr).toContain('NotFound');
    expect(webhook?.output()).toContain('"verdict":"rejected"');
  });

  it('a clean remote secret passes the same webhook and is created', async () => {
    const result = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: remoteSecret('west', kubeconfigFixture('clean')),
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe('secret/west created');
  });
});
