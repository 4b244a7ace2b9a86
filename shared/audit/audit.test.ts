import { describe, expect, it } from 'vitest';
import { readRemoteSecretObject } from '../remote-secret/manifests.ts';
import type { RemoteSecret } from '../remote-secret/model.ts';
import { Auditor, auditSecrets } from './audit.ts';
import { DEFAULT_EXPIRING_WITHIN_MS } from './risk-notes.ts';
import { expIn, kubeconfigText, NOW } from './testdata/kubeconfigs.ts';

const options = { allow: new Set<string>(), now: NOW, expiringWithinMs: DEFAULT_EXPIRING_WITHIN_MS };

function stored(
  name: string,
  data: Record<string, string>,
  namespace = 'istio-system',
  creationTimestamp?: string,
): RemoteSecret[] {
  const object = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { 'istio/multiCluster': 'true' },
      ...(creationTimestamp === undefined ? {} : { creationTimestamp }),
    },
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

  it('finds a cluster ID claimed on different pages, and blames the later-created claimant', () => {
    const auditor = new Auditor(options);
    // Listed by name, as the API server lists: the newer secret "a" comes first.
    auditor.add(stored('a', { east: kubeconfigText() }, 'istio-system', '2025-06-01T00:00:00Z'));
    auditor.add(stored('b', { west: kubeconfigText() }, 'istio-system', '2025-01-01T00:00:00Z'));
    auditor.add(stored('c', { east: kubeconfigText() }, 'istio-system', '2025-01-01T00:00:00Z'));
    const report = auditor.report();
    expect(report.sharedClusterIds).toEqual([
      {
        namespace: 'istio-system',
        cluster: 'east',
        secrets: ['istio-system/c', 'istio-system/a'],
        usedNow: 'istio-system/c',
        usedNowCertain: true,
        usedAfterRestart: 'istio-system/a',
        fix: 'kubectl delete secret -n istio-system a && kubectl annotate secret -n istio-system c kubectl-remote-secret/touched-at="$(date +%s)" --overwrite',
      },
    ]);
    expect(report.clusters.map((finding) => finding.violations.map((found) => found.code))).toEqual([
      ['duplicate-cluster-id'],
      [],
      [],
    ]);
    expect(report.clusters[0]?.violations[0]?.message).toContain(
      'but after a restart it may take this one instead (usually the name that sorts first; not guaranteed)',
    );
    expect(report.summary.violations).toBe(1);
  });

  it('scopes cluster IDs per namespace, as each istiod reads only its own (-A)', () => {
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
