import type { Rejection } from '../shared/audit/rejections.ts';
import { describe, expect, it } from 'vitest';
import { auditSecrets } from '../shared/audit/audit.ts';
import { DEFAULT_EXPIRING_WITHIN_MS } from '../shared/audit/risk-notes.ts';
import { expIn, jwt, kubeconfigText, NOW } from '../shared/audit/testdata/kubeconfigs.ts';
import { readRemoteSecretObject } from '../shared/remote-secret/manifests.ts';
import {
  auditDocument,
  renderAuditJson,
  renderAuditTable,
  renderAuditYaml,
  renderRejectionsTable,
} from './render-audit.ts';

const TOKEN = jwt({ exp: expIn(-1), sub: 'system:serviceaccount:istio-system:reader' });

function report() {
  const secret = (name: string, data: Record<string, string>) =>
    readRemoteSecretObject(
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: 'istio-system', labels: { 'istio/multiCluster': 'true' } },
        // As the API server stores it: under data, base64.
        data: Object.fromEntries(
          Object.entries(data).map(([id, text]) => [id, Buffer.from(text).toString('base64')]),
        ),
      },
      `istio-system/${name}`,
    ).secrets;
  return auditSecrets(
    [
      ...secret('a', { east: kubeconfigText({ exec: true }), west: kubeconfigText({ token: TOKEN }) }),
      ...secret('b', { east: kubeconfigText(), north: kubeconfigText() }),
    ],
    { allow: new Set(), now: NOW, expiringWithinMs: DEFAULT_EXPIRING_WITHIN_MS },
  );
}

describe('audit output', () => {
  it('has the documented JSON schema', () => {
    const document = JSON.parse(renderAuditJson(report())) as Record<string, unknown>;
    expect(Object.keys(document)).toEqual(['kind', 'summary', 'clusters', 'sharedClusterIds', 'errors']);
    expect(document).toMatchObject({
      kind: 'RemoteSecretAudit',
      summary: { secrets: 2, clusters: 4, violations: 2, risks: 1 },
      sharedClusterIds: [
        {
          namespace: 'istio-system',
          cluster: 'east',
          secrets: ['istio-system/a', 'istio-system/b'],
          usedNow: 'istio-system/a',
          usedAfterRestart: 'istio-system/a',
          fix: 'kubectl delete secret -n istio-system b && kubectl annotate secret -n istio-system a kubectl-remote-secret/touched-at="$(date +%s)" --overwrite',
        },
      ],
      errors: [],
    });
    const clusters = document['clusters'] as Record<string, unknown>[];
    expect(clusters.map((row) => [row['secret'], row['cluster'], row['status']])).toEqual([
      ['istio-system/a', 'east', 'violation'],
      ['istio-system/a', 'west', 'risk'],
      ['istio-system/b', 'east', 'violation'],
      ['istio-system/b', 'north', 'ok'],
    ]);
    for (const row of clusters) {
      expect(Object.keys(row)).toEqual(['secret', 'cluster', 'status', 'violations', 'risks']);
    }
    expect(clusters[0]?.['violations']).toEqual([
      expect.objectContaining({
        code: 'exec',
        path: 'users[0].user.exec',
        message: expect.any(String) as string,
      }),
    ]);
    expect(clusters[1]?.['risks']).toEqual([
      { code: 'token-expired', path: 'users[0].user.token', message: expect.any(String) as string },
    ]);
  });

  it('writes the same document as YAML', () => {
    expect(renderAuditYaml(report())).toContain('kind: RemoteSecretAudit');
    expect(auditDocument(report())).toEqual(JSON.parse(renderAuditJson(report())));
  });

  it('renders a table with codes, findings and a summary', () => {
    expect(renderAuditTable(report()).split('\n')).toEqual([
      'SECRET           CLUSTER   STATUS      VIOLATIONS             RISKS',
      'istio-system/a   east      VIOLATION   exec                   -',
      'istio-system/a   west      RISK        -                      token-expired',
      'istio-system/b   east      VIOLATION   duplicate-cluster-id   -',
      'istio-system/b   north     OK          -                      -',
      expect.stringMatching(/^istio-system\/a east: exec at users\[0\]\.user\.exec: /) as string,
      expect.stringMatching(
        /^istio-system\/a west: risk token-expired at users\[0\]\.user\.token: /,
      ) as string,
      expect.stringMatching(/^istio-system\/b east: duplicate-cluster-id at data\.east: /) as string,
      'cluster ID "east" is claimed by istio-system/a, istio-system/b (oldest first); istiod uses istio-system/a now, and most likely after a restart too',
      '  fix, keeping istio-system/a: kubectl delete secret -n istio-system b && kubectl annotate secret -n istio-system a kubectl-remote-secret/touched-at="$(date +%s)" --overwrite',
      '2 secrets, 4 clusters: 1 ok, 2 violations, 1 risk note',
      '',
    ]);
  });

  it.each([
    { format: 'table', render: renderAuditTable },
    { format: 'json', render: renderAuditJson },
    { format: 'yaml', render: renderAuditYaml },
  ])('never prints a token or kubeconfig ($format)', ({ render }) => {
    const out = render(report());
    for (const part of TOKEN.split('.')) expect(out).not.toContain(part);
    expect(out).not.toContain('certificate-authority-data');
    expect(out).not.toContain('LS0tLS1CRUdJTi');
  });
});

describe('audit --rejections table', () => {
  const rejection: Rejection = {
    time: '2026-06-01T10:00:00.000Z',
    user: 'argocd',
    operation: 'UPDATE',
    secret: 'istio-system/istio-remote-secret-east',
    clusters: ['east'],
    codes: ['exec'],
    violations: [{ cluster: 'east', code: 'exec', path: 'users[0].user.exec' }],
    count: 50,
    verdict: 'rejected',
    source: 'event',
  };

  it('shows how many identical refusals one Event stands for', () => {
    expect(renderRejectionsTable([rejection])).toBe(
      [
        'TIME                   USER     OPERATION   SECRET                                  CLUSTERS   CODES   COUNT   AUTHENTICATED',
        '2026-06-01T10:00:00Z   argocd   UPDATE      istio-system/istio-remote-secret-east   east       exec    50      -',
        '',
      ].join('\n'),
    );
  });

  it('says whether the webhook verified the caller, when the Event is marked', () => {
    const lines = renderRejectionsTable([
      { ...rejection, authenticated: true },
      { ...rejection, user: 'forged', authenticated: false },
    ]).split('\n');
    expect(lines[0]).toMatch(/ AUTHENTICATED$/);
    expect(lines[1]).toMatch(/^\S+ +argocd .* 50 +yes$/);
    expect(lines[2]).toMatch(/^\S+ +forged .* 50 +no$/);
  });

  it('writes nothing on stdout when there are none (the command says so on stderr)', () => {
    expect(renderRejectionsTable([])).toBe('');
  });
});
