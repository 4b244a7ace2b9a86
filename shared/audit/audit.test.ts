import { describe, expect, it } from 'vitest';
import { readRemoteSecretObject } from '../remote-secret/manifests.ts';
import type { RemoteSecret } from '../remote-secret/model.ts';
import { Auditor, auditSecrets } from './audit.ts';
import { DEFAULT_EXPIRING_WITHIN_MS } from './risk-notes.ts';
import { expIn, kubeconfigText, NOW } from './testdata/kubeconfigs.ts';

const options = { allow: new Set<string>(), now: NOW, expiringWithinMs: DEFAULT_EXPIRING_WITHIN_MS };

function stored(name: string, data: Record<string, string>, namespace = 'istio-system'): RemoteSecret[] {
  const object = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'istio/multiCluster': 'true' } },
    data: Object.fromEntries(
      Object.entries(data).map(([id, text]) => [id, Buffer.from(text).toString('base64')]),
    ),
  };
  return readRemoteSecretObject(object, `${namespace}/${name}`).secrets;
}

describe('auditSecrets', () => {
  it.each([
    { name: 'a clean secret', data: { east: kubeconfigText() }, violations: [], risks: [] },
    {
      name: 'exec, with the webhook’s code and path',
      data: { east: kubeconfigText({ exec: true }) },
      violations: [{ code: 'exec', path: 'users[0].user.exec' }],
      risks: [],
    },
    {
      name: 'the local cluster ID',
      data: { primary: kubeconfigText() },
      violations: [{ code: 'local-cluster-id', path: 'data.primary' }],
      risks: [],
    },
    {
      name: 'a risk that is not a violation',
      data: { east: kubeconfigText({ token: { exp: expIn(-1) } }) },
      violations: [],
      risks: [{ code: 'token-expired', path: 'users[0].user.token' }],
    },
  ])('$name', ({ data, violations, risks }) => {
    const report = auditSecrets(stored('s', data), { ...options, localClusterId: 'primary' });
    const [finding] = report.clusters;
    expect(finding?.violations.map(({ code, path }) => ({ code, path }))).toEqual(violations);
    expect(finding?.risks.map(({ code, path }) => ({ code, path }))).toEqual(risks);
    expect(report.summary).toEqual({
      secrets: 1,
      clusters: 1,
      violations: violations.length,
      risks: risks.length,
    });
  });

  it('finds a cluster ID held by secrets on different pages, and keeps the first holder', () => {
    const auditor = new Auditor(options);
    auditor.add(stored('a', { east: kubeconfigText() }));
    auditor.add(stored('b', { west: kubeconfigText() }));
    auditor.add(stored('c', { east: kubeconfigText() }));
    const report = auditor.report();
    expect(report.sharedClusterIds).toEqual([
      { cluster: 'east', secrets: ['istio-system/a', 'istio-system/c'] },
    ]);
    expect(report.clusters.map((finding) => finding.violations.map((found) => found.code))).toEqual([
      [],
      [],
      ['duplicate-cluster-id'],
    ]);
  });

  it('indexes cluster IDs per namespace, as each istiod reads only its own (-A)', () => {
    const auditor = new Auditor(options);
    auditor.add(stored('a', { east: kubeconfigText() }, 'mesh-1'));
    auditor.add(stored('a', { east: kubeconfigText() }, 'mesh-2'));
    const report = auditor.report();
    expect(report.sharedClusterIds).toEqual([]);
    expect(report.summary.violations).toBe(0);
  });

  it('counts secrets that could not be read as errors', () => {
    const report = auditSecrets([], options, [{ source: 'istio-system/x', message: 'not base64' }]);
    expect(report.errors).toEqual([{ source: 'istio-system/x', message: 'not base64' }]);
  });
});
