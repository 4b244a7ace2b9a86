import { describe, expect, it } from 'vitest';
import type { StoredSecretStatus } from './background.ts';
import {
  buildPolicyReport,
  buildProbeReport,
  PASS_RULE,
  POLICY_NAME,
  POLICY_REPORT_NAME,
  PROBE_POLICY_NAME,
  PROBE_REPORT_NAME,
  PROBE_RULE,
} from './policy-report.ts';
import type { ProbeOutcome, ProbeResult } from './probes.ts';

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
    tokenExpiry: [],
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

function probe(
  name: string,
  cluster: string,
  outcome: ProbeOutcome,
  fields: Partial<Pick<ProbeResult, 'namespace' | 'uid' | 'server' | 'message' | 'hint'>> = {},
): ProbeResult {
  return {
    namespace: fields.namespace ?? 'istio-system',
    name,
    uid: 'uid' in fields ? fields.uid : `uid-${name}`,
    resourceVersion: '3',
    cluster,
    server: 'server' in fields ? fields.server : `https://${cluster}.example:6443`,
    outcome,
    message: fields.message ?? (outcome === 'ok' ? '' : `${outcome} here`),
    hint: fields.hint,
    seconds: 0.25,
  };
}

const PROBES = [
  probe('a-secret', 'north', 'ok'),
  probe('a-secret', 'east', 'forbidden', {
    message: "missing 2 of the 20 permissions of Istio's reader ClusterRole: list secrets, watch pods",
    hint: 'restore the ClusterRoleBinding',
  }),
  probe('b-secret', 'west', 'skipped', {
    message: 'not checked: the kubeconfig sends its requests through a proxy (proxy-url)',
    server: undefined,
  }),
  probe('b-secret', 'south', 'unreachable', {
    message: 'cannot reach the API server at https://south.example:6443 (connection refused)',
    uid: undefined,
  }),
  probe('c-secret', 'far', 'unauthenticated', { namespace: 'other' }),
];

describe('buildProbeReport', () => {
  it("holds the namespace's probed clusters, fails first, and the summary counts them", () => {
    const report = buildProbeReport('istio-system', PROBES, options);
    expect(report).toMatchObject({
      apiVersion: 'wgpolicyk8s.io/v1alpha2',
      kind: 'PolicyReport',
      metadata: {
        name: PROBE_REPORT_NAME,
        namespace: 'istio-system',
        labels: { 'app.kubernetes.io/managed-by': 'remote-secret-webhook' },
        annotations: { 'remote-secret-webhook/results-omitted': '0' },
      },
      summary: { pass: 1, fail: 2, warn: 0, error: 0, skip: 1 },
    });
    expect(
      report.results.map((result) => [
        result.result,
        result.resources[0]?.name,
        result.properties['cluster'],
        result.severity,
        result.scored,
      ]),
    ).toEqual([
      ['fail', 'a-secret', 'east', 'high', true],
      ['fail', 'b-secret', 'south', 'high', true],
      ['pass', 'a-secret', 'north', 'info', true],
      ['skip', 'b-secret', 'west', 'info', false],
    ]);
    expect(report.results.every((result) => result.policy === PROBE_POLICY_NAME)).toBe(true);
    expect(report.results.every((result) => result.rule === PROBE_RULE)).toBe(true);
  });

  it('says per result which cluster, what came of it and where, and nothing else', () => {
    const report = buildProbeReport('istio-system', PROBES, options);
    expect(report.results[0]).toEqual({
      source: 'remote-secret-webhook',
      policy: 'remote-secret-reachable',
      rule: 'reachable-from-primary',
      category: 'Istio multicluster',
      severity: 'high',
      result: 'fail',
      scored: true,
      message:
        'cluster "east": forbidden: missing 2 of the 20 permissions of Istio\'s reader ClusterRole: list secrets, watch pods',
      timestamp: { seconds: Math.floor(NOW.getTime() / 1000), nanos: 0 },
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          namespace: 'istio-system',
          name: 'a-secret',
          uid: 'uid-a-secret',
        },
      ],
      properties: { cluster: 'east', outcome: 'forbidden', server: 'https://east.example:6443' },
    });
    const byCluster = new Map(
      report.results.map((result) => [result.properties['cluster'], result] as const),
    );
    expect(byCluster.get('north')?.message).toBe(
      'cluster "north": reached, authenticated and authorized from the primary',
    );
    expect(byCluster.get('west')?.properties).toEqual({ cluster: 'west', outcome: 'skipped' });
    expect(byCluster.get('south')?.resources[0]).not.toHaveProperty('uid');
  });

  it('is an empty report for a namespace without probed clusters', () => {
    const report = buildProbeReport('empty', PROBES, options);
    expect(report.results).toEqual([]);
    expect(report.summary).toEqual({ pass: 0, fail: 0, warn: 0, error: 0, skip: 0 });
  });

  it('keeps at most maxResults, fails first, and counts every result', () => {
    const report = buildProbeReport('istio-system', PROBES, { ...options, maxResults: 1 });
    expect(report.results.map((result) => result.properties['cluster'])).toEqual(['east']);
    expect(report.summary).toMatchObject({ pass: 1, fail: 2, skip: 1 });
    expect(report.metadata.annotations['remote-secret-webhook/results-omitted']).toBe('3');
  });
});
