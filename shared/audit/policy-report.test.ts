import { describe, expect, it } from 'vitest';
import type { StoredSecretStatus } from './background.ts';
import { buildPolicyReport, PASS_RULE, POLICY_NAME, POLICY_REPORT_NAME } from './policy-report.ts';

const NOW = new Date('2026-06-01T00:00:00.750Z');
const options = { source: 'remote-secret-webhook', now: NOW, annotationPrefix: 'remote-secret-webhook/' };

function status(
  name: string,
  fields: Partial<Pick<StoredSecretStatus, 'clusters' | 'violations' | 'risks' | 'namespace' | 'uid'>>,
): StoredSecretStatus {
  const namespace = fields.namespace ?? 'istio-system';
  return {
    namespace,
    name,
    secret: `${namespace}/${name}`,
    clusters: fields.clusters ?? [],
    violations: fields.violations ?? [],
    risks: fields.risks ?? [],
    hints: [],
    ...(fields.uid === undefined ? {} : { uid: fields.uid }),
  };
}

const STATUSES = [
  status('b-clean', { clusters: ['north'], uid: 'uid-b' }),
  status('a-exec', {
    clusters: ['east', 'west'],
    violations: [{ cluster: 'east', code: 'exec', path: 'users[0].user.exec' }],
    risks: [{ cluster: 'west', code: 'token-expired', path: 'users[0].user.token' }],
    uid: 'uid-a',
  }),
  status('c-duplicate', {
    clusters: ['north'],
    violations: [{ cluster: 'north', code: 'duplicate-cluster-id', path: 'data.north' }],
  }),
  status('elsewhere', { namespace: 'other', clusters: ['far'] }),
];

describe('buildPolicyReport', () => {
  it('has one result per cluster and code, fails first, and the summary counts them', () => {
    const report = buildPolicyReport('istio-system', STATUSES, options);
    expect(report).toMatchObject({
      apiVersion: 'wgpolicyk8s.io/v1alpha2',
      kind: 'PolicyReport',
      metadata: {
        name: POLICY_REPORT_NAME,
        namespace: 'istio-system',
        labels: { 'app.kubernetes.io/managed-by': 'remote-secret-webhook' },
        annotations: { 'remote-secret-webhook/results-omitted': '0' },
      },
      summary: { pass: 2, fail: 2, warn: 1, error: 0, skip: 0 },
    });
    expect(
      report.results.map((result) => [
        result.result,
        result.rule,
        result.resources[0]?.name,
        result.severity,
      ]),
    ).toEqual([
      ['fail', 'exec', 'a-exec', 'high'],
      ['fail', 'duplicate-cluster-id', 'c-duplicate', 'medium'],
      ['warn', 'token-expired', 'a-exec', 'low'],
      ['pass', PASS_RULE, 'a-exec', 'info'],
      ['pass', PASS_RULE, 'b-clean', 'info'],
    ]);
    expect(report.results[0]).toEqual({
      source: 'remote-secret-webhook',
      policy: POLICY_NAME,
      rule: 'exec',
      category: 'Istio multicluster',
      severity: 'high',
      result: 'fail',
      scored: true,
      message: 'cluster "east": violation exec at users[0].user.exec',
      timestamp: { seconds: Math.floor(NOW.getTime() / 1000), nanos: 0 },
      resources: [
        { apiVersion: 'v1', kind: 'Secret', namespace: 'istio-system', name: 'a-exec', uid: 'uid-a' },
      ],
      properties: { cluster: 'east', path: 'users[0].user.exec' },
    });
    expect(report.results[2]?.scored).toBe(false);
    expect(report.results[1]?.resources[0]).not.toHaveProperty('uid');
  });

  it('is an empty report for a namespace without remote secrets', () => {
    const report = buildPolicyReport('empty', STATUSES, options);
    expect(report.results).toEqual([]);
    expect(report.summary).toEqual({ pass: 0, fail: 0, warn: 0, error: 0, skip: 0 });
  });

  it('keeps at most maxResults, fails first, and says how many were left out', () => {
    const many = Array.from({ length: 5 }, (_, index) =>
      status(`s${String(index)}`, {
        clusters: ['east'],
        violations: [{ cluster: 'east', code: 'exec', path: 'users[0].user.exec' }],
      }),
    );
    const report = buildPolicyReport('istio-system', [...STATUSES, ...many], { ...options, maxResults: 4 });
    expect(report.results).toHaveLength(4);
    expect(report.results.every((result) => result.result === 'fail')).toBe(true);
    expect(report.summary.fail).toBe(7);
    expect(report.metadata.annotations['remote-secret-webhook/results-omitted']).toBe('6');
  });

  it('names the secret itself for a secret-level violation', () => {
    const report = buildPolicyReport(
      'istio-system',
      [status('x', { violations: [{ cluster: '', code: 'invalid-secret', path: '' }] })],
      options,
    );
    expect(report.results.map((result) => result.message)).toEqual(['the secret: violation invalid-secret']);
  });
});
