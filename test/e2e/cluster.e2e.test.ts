import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { waitForObject } from '../../shared/kube/wait.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { httpsGet } from '../harness/https.ts';
import { kubectl } from '../harness/kubectl.ts';

const binaryPath = inject('kubeTestenvBinary');

/** The token, ca.crt and namespace of a filled service-account token Secret, decoded. */
interface TokenSecretData {
  readonly token: string;
  readonly caCrt: string;
  readonly namespace: string;
}

function filledTokenSecret(object: unknown): TokenSecretData | undefined {
  if (typeof object !== 'object' || object === null || !('data' in object)) return undefined;
  const data = object.data;
  if (typeof data !== 'object' || data === null) return undefined;
  const decoded = (key: string): string | undefined => {
    const value = (data as Record<string, unknown>)[key];
    return typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : undefined;
  };
  const token = decoded('token');
  const caCrt = decoded('ca.crt');
  const namespace = decoded('namespace');
  if (token === undefined || caCrt === undefined || namespace === undefined) return undefined;
  return { token, caCrt, namespace };
}

function manifestList(items: readonly object[]): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}

describe.skipIf(binaryPath === null)('kube-testenv: a real control plane', () => {
  let primary: TestCluster;
  let remote: TestCluster;

  beforeAll(async () => {
    const options = binaryPath === null ? {} : { binaryPath };
    [primary, remote] = await Promise.all([
      startCluster('primary', options),
      startCluster('remote', options),
    ]);
  });

  afterAll(stopAllClusters);

  it('kubectl get namespaces lists default and kube-system', async () => {
    const result = await kubectl(primary.kubeconfigPath, ['get', 'namespaces', '-o', 'name']);

    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual(
      expect.arrayContaining(['namespace/default', 'namespace/kube-system']),
    );
  });

  it('fills a kubernetes.io/service-account-token Secret; the token authenticates and RBAC limits it', async () => {
    const namespace = 'token-smoke';
    // In this order: the token controller deletes a token Secret whose ServiceAccount is missing.
    const applied = await kubectl(primary.kubeconfigPath, ['apply', '-f', '-'], {
      input: manifestList([
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace } },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          type: 'kubernetes.io/service-account-token',
          metadata: {
            name: 'reader-token',
            namespace,
            annotations: { 'kubernetes.io/service-account.name': 'reader' },
          },
        },
      ]),
    });
    expect(applied.status, applied.stderr).toBe(0);

    const filled = await waitForObject(
      k8s,
      primary.kubeConfig,
      {
        collectionPath: `/api/v1/namespaces/${namespace}/secrets`,
        name: 'reader-token',
        timeoutMs: 15_000,
        what: 'the token controller did not fill Secret reader-token',
        hint: 'check the controller-manager log in the cluster directory',
      },
      filledTokenSecret,
    );

    const clusterCa = readFileSync(primary.caFile, 'utf8');
    expect(filled.namespace).toBe(namespace);
    expect(filled.caCrt).toBe(clusterCa);
    expect(filled.token.split('.')).toHaveLength(3); // a JWT

    const version = await httpsGet(`${primary.server}/version`, {
      ca: clusterCa,
      headers: bearer(filled.token),
    });
    expect(version.status).toBe(200);
    expect(JSON.parse(version.body)).toMatchObject({ gitVersion: expect.stringMatching(/^v1\.\d+\.\d+$/) });

    // /version is public, so the 200 alone proves little: a token the cluster did not sign gets 401
    // there, while the real one is authenticated as its ServiceAccount and refused by RBAC.
    const forged = await httpsGet(`${primary.server}/version`, {
      ca: clusterCa,
      headers: bearer('not-a-token'),
    });
    expect(forged.status).toBe(401);

    const forbidden = await httpsGet(`${primary.server}/api/v1/namespaces/kube-system/secrets`, {
      ca: clusterCa,
      headers: bearer(filled.token),
    });
    expect(forbidden.status).toBe(403);
    expect(JSON.parse(forbidden.body)).toMatchObject({
      reason: 'Forbidden',
      message: expect.stringContaining(`system:serviceaccount:${namespace}:reader`),
    });
  });

  it('runs two clusters that share neither state nor trust', async () => {
    expect(remote.server).not.toBe(primary.server);

    const created = await kubectl(primary.kubeconfigPath, ['create', 'namespace', 'only-in-primary']);
    expect(created.status, created.stderr).toBe(0);
    const seenByPrimary = await kubectl(primary.kubeconfigPath, [
      'get',
      'namespace',
      'only-in-primary',
      '-o',
      'name',
    ]);
    expect(seenByPrimary.stdout.trim()).toBe('namespace/only-in-primary');
    const seenByRemote = await kubectl(remote.kubeconfigPath, ['get', 'namespace', 'only-in-primary']);
    expect(seenByRemote.status).not.toBe(0);
    expect(seenByRemote.stderr).toContain('NotFound');

    // Each cluster has its own CA and its own service-account signing key.
    const primaryCa = readFileSync(primary.caFile, 'utf8');
    const remoteCa = readFileSync(remote.caFile, 'utf8');
    expect(remoteCa).not.toBe(primaryCa);
    await expect(httpsGet(`${remote.server}/readyz`, { ca: primaryCa })).rejects.toThrow(/certificate/i);

    const issued = await kubectl(primary.kubeconfigPath, ['create', 'token', 'default', '-n', 'default']);
    expect(issued.status, issued.stderr).toBe(0);
    const primaryToken = issued.stdout.trim();
    const onPrimary = await httpsGet(`${primary.server}/version`, {
      ca: primaryCa,
      headers: bearer(primaryToken),
    });
    expect(onPrimary.status).toBe(200);
    const onRemote = await httpsGet(`${remote.server}/version`, {
      ca: remoteCa,
      headers: bearer(primaryToken),
    });
    expect(onRemote.status).toBe(401);

    // Ask each API server directly whether it accepts the token.
    const review = (cluster: TestCluster): Promise<unknown> =>
      kubectl(cluster.kubeconfigPath, ['create', '-o', 'json', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token: primaryToken },
        }),
      }).then((result) => JSON.parse(result.stdout) as unknown);
    expect(await review(primary)).toMatchObject({ status: { authenticated: true } });
    expect(await review(remote)).not.toMatchObject({ status: { authenticated: true } });
  });
});
