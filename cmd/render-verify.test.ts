import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { IstiodOpinion } from '../shared/kube/istiod.ts';
import type { ClusterVerification } from '../shared/remote-secret/verify.ts';
import { renderVerifyJson, renderVerifyTable, type VerifyReport } from './render-verify.ts';

const GOLDEN = new URL('./testdata/golden/', import.meta.url);
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

function golden(name: string, actual: string): void {
  const file = new URL(name, GOLDEN);
  if (UPDATE) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

const ok: ClusterVerification = {
  source: 'istio-system/istio-remote-secret-east',
  secret: 'istio-system/istio-remote-secret-east',
  cluster: 'east',
  server: 'https://east.example:6443',
  status: 'ok',
  kubeconfig: { status: 'ok', violations: [] },
  reachable: { status: 'ok', serverVersion: 'v1.34.1' },
  auth: { status: 'ok', user: 'system:serviceaccount:istio-system:istio-reader-service-account' },
  rbac: { status: 'ok', missing: [] },
  expiry: { status: 'ok', expires: null, message: 'never expires (a legacy ServiceAccount token)' },
};

const REPORT: VerifyReport = {
  results: [
    ok,
    {
      ...ok,
      cluster: 'north',
      secret: 'istio-system/istio-remote-secret-north',
      status: 'failed',
      rbac: {
        status: 'failed',
        missing: ['list secrets', 'watch secrets'],
        message: "missing 2 of the 73 permissions of Istio's reader ClusterRole",
        hint: "ClusterRole istio-reader-clusterrole-istio-system lacks these rules: add them, or delete it and run `kubectl remote-secret create --context <remote> --name north --namespace istio-system`, which creates it with Istio's rules",
      },
      expiry: {
        status: 'ok',
        expires: '2026-06-01T12:00:00.000Z',
        message: 'expires at 2026-06-01T12:00:00.000Z',
      },
    },
    {
      ...ok,
      cluster: 'south',
      secret: 'istio-system/istio-remote-secret-south',
      status: 'failed',
      reachable: {
        status: 'failed',
        message:
          'cannot reach the API server at https://south.example:6443 (connection refused) while trying to get the server version',
        hint: "check that https://south.example:6443 is the right address and that istiod's network reaches it (this machine did not)",
      },
      auth: { status: 'skipped', message: 'not checked: the server cannot be reached' },
      rbac: { status: 'skipped', missing: [], message: 'not checked: the server cannot be reached' },
      expiry: {
        status: 'failed',
        expires: '2026-01-01T00:00:00.000Z',
        message: 'expired at 2026-01-01T00:00:00.000Z',
        hint: 'istiod cannot use it: mint a new token with `kubectl remote-secret create --context <remote> --name south --token-duration 720h` and apply it to the primary',
      },
    },
    {
      ...ok,
      cluster: 'west',
      secret: 'istio-system/istio-remote-secret-west',
      expiry: {
        status: 'expiring',
        expires: '2026-05-03T00:00:00.000Z',
        message: 'expires at 2026-05-03T00:00:00.000Z, within 168h',
        hint: 'run `kubectl remote-secret create --context <remote> --name west --token-duration 720h` and apply the new secret before then',
      },
    },
    {
      ...ok,
      cluster: 'renewed',
      secret: 'istio-system/istio-remote-secret-renewed',
      expiry: {
        status: 'ok',
        expires: '2026-05-02T00:00:00.000Z',
        renewAt: '2026-05-01T16:00:00.000Z',
        message:
          'expires at 2026-05-02T00:00:00.000Z; renewable, due for renewal at 2026-05-01T16:00:00.000Z',
      },
    },
    {
      ...ok,
      cluster: 'late',
      secret: 'istio-system/istio-remote-secret-late',
      expiry: {
        status: 'expiring',
        expires: '2026-05-01T08:00:00.000Z',
        renewAt: '2026-04-30T16:00:00.000Z',
        message:
          'expires at 2026-05-01T08:00:00.000Z; due for renewal since 2026-04-30T16:00:00.000Z and not renewed',
        hint: "nothing has renewed it: see the Secret's RemoteSecretRenewalFailed Events (the webhook's --renew-tokens), or run `kubectl remote-secret renew istio-remote-secret-late -n istio-system` and fix what it reports",
      },
    },
    {
      ...ok,
      cluster: 'evil',
      secret: 'istio-system/istio-remote-secret-evil',
      server: undefined,
      status: 'failed',
      kubeconfig: {
        status: 'failed',
        violations: [
          {
            code: 'exec',
            path: 'users[0].user.exec',
            message: 'user "evil" runs a program (exec) inside istiod',
          },
        ],
      },
      reachable: { status: 'skipped', message: 'not checked: the kubeconfig is refused' },
      auth: { status: 'skipped', message: 'not checked: the kubeconfig is refused' },
      rbac: { status: 'skipped', missing: [], message: 'not checked: the kubeconfig is refused' },
      expiry: { status: 'unknown', expires: null, message: 'not checked: the kubeconfig is refused' },
    },
  ],
  errors: [{ source: 'istio-system/broken', message: 'Secret broken: data.x must be a string' }],
};

describe('verify output (golden files)', () => {
  it('verify.txt: the table, then one line per problem', () => {
    golden('verify.txt', renderVerifyTable(REPORT));
  });

  it('verify.json: one object with every check', () => {
    golden('verify.json', renderVerifyJson(REPORT));
    const document = JSON.parse(renderVerifyJson(REPORT)) as { clusters: { checks: object }[] };
    expect(Object.keys(document.clusters[0]?.checks ?? {})).toEqual([
      'kubeconfig',
      'reachable',
      'auth',
      'rbac',
      'expiry',
    ]);
  });

  it("verify-istiod.txt and .json: istiod's own view beside the checks (--istiod)", () => {
    const byCluster = (id: string): ClusterVerification => {
      const found = REPORT.results.find(({ cluster }) => cluster === id);
      if (found === undefined) throw new Error(`the report fixture has no cluster ${id}`);
      return found;
    };
    const istiod = new Map<ClusterVerification, IstiodOpinion>([
      [byCluster('east'), { status: 'used', syncStatus: 'synced' }],
      [
        byCluster('north'),
        { status: 'other-secret', secretName: 'istio-system/copy-of-north', syncStatus: 'synced' },
      ],
      [byCluster('south'), { status: 'used', syncStatus: 'timeout' }],
      [byCluster('evil'), { status: 'absent' }],
    ]);
    const report: VerifyReport = { ...REPORT, istiod };
    golden('verify-istiod.txt', renderVerifyTable(report));
    golden('verify-istiod.json', renderVerifyJson(report));
    const table = renderVerifyTable(report);
    expect(table.split('\n')[0]).toMatch(/EXPIRES +ISTIOD +STATUS$/);
    expect(table).toContain(
      'north (istio-system/istio-remote-secret-north): istiod takes this cluster ID from istio-system/copy-of-north',
    );
  });

  it('prints nothing on stdout when there is nothing to show', () => {
    expect(renderVerifyTable({ results: [], errors: [] })).toBe('');
  });
});
