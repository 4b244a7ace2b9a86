import type { ViolationCode } from '../violations.ts';
import type { Located, StoredSecretStatus } from './background.ts';
import type { ProbeResult } from './probes.ts';
import { compareStrings } from '../text.ts';

/**
 * The background audit as a `wgpolicyk8s.io/v1alpha2` PolicyReport (the Kubernetes Policy WG's
 * format, which Kyverno, Kubewarden and policy-reporter dashboards read): one report per watched
 * namespace, one result per cluster of each remote secret and per code found there.
 */
export const POLICY_REPORT_GROUP = 'wgpolicyk8s.io';
export const POLICY_REPORT_VERSION = 'v1alpha2';
export const POLICY_REPORT_PLURAL = 'policyreports';
export const POLICY_REPORT_NAME = 'remote-secret-audit';
/** The report of --probe-remotes, beside the audit's. */
export const PROBE_REPORT_NAME = 'remote-secret-probes';
export const PROBE_POLICY_NAME = 'remote-secret-reachable';
export const PROBE_RULE = 'reachable-from-primary';
/** `policy` of every result; `rule` is the violation or risk code. */
export const POLICY_NAME = 'remote-secret';
/** `rule` of the result for a cluster without violations. */
export const PASS_RULE = 'no-violations';
/** Results beyond this are left out (the summary still counts them): a report is one etcd object. */
export const DEFAULT_MAX_RESULTS = 1000;

export type PolicyResult = 'pass' | 'fail' | 'warn' | 'skip';
export type PolicySeverity = 'high' | 'medium' | 'low' | 'info';

export interface PolicyReportResult {
  readonly source: string;
  readonly policy: string;
  readonly rule: string;
  readonly category: string;
  readonly severity: PolicySeverity;
  readonly result: PolicyResult;
  readonly scored: boolean;
  readonly message: string;
  readonly timestamp: { readonly seconds: number; readonly nanos: number };
  readonly resources: readonly {
    readonly apiVersion: 'v1';
    readonly kind: 'Secret';
    readonly namespace: string;
    readonly name: string;
    readonly uid?: string;
  }[];
  readonly properties: Readonly<Record<string, string>>;
}

export interface PolicyReportSummary {
  readonly pass: number;
  readonly fail: number;
  readonly warn: number;
  readonly error: number;
  readonly skip: number;
}

export interface PolicyReportManifest {
  readonly apiVersion: `${typeof POLICY_REPORT_GROUP}/${typeof POLICY_REPORT_VERSION}`;
  readonly kind: 'PolicyReport';
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
  };
  readonly summary: PolicyReportSummary;
  readonly results: readonly PolicyReportResult[];
}

export interface PolicyReportOptions {
  /** `source` of every result and the `managed-by` label: the engine that wrote it. */
  readonly source: string;
  readonly now: Date;
  readonly maxResults?: number;
  /** Prefix of the report's own annotations (`<prefix>results-omitted`). */
  readonly annotationPrefix: string;
}

// Code execution and reads of istiod's files first; a cluster ID taken or lost next.
const HIGH: ReadonlySet<ViolationCode> = new Set([
  'exec',
  'token-file',
  'client-key',
  'client-certificate',
  'auth-provider',
  'ambiguous-yaml',
]);
const ORDER: Readonly<Record<PolicyResult, number>> = { fail: 0, warn: 1, pass: 2, skip: 3 };

/**
 * The PolicyReport of one namespace: fails (violations) first, then warnings (risk notes, not
 * scored), then passes, each by secret and cluster. Messages hold codes, cluster IDs and paths
 * only; never a kubeconfig value.
 */
export function buildPolicyReport(
  namespace: string,
  statuses: readonly StoredSecretStatus[],
  options: PolicyReportOptions,
): PolicyReportManifest {
  const timestamp = { seconds: Math.floor(options.now.getTime() / 1000), nanos: 0 };
  const results: PolicyReportResult[] = [];
  const sorted = statuses
    .filter((status) => status.namespace === namespace)
    .sort((a, b) => compareStrings(a.name, b.name));
  for (const status of sorted) {
    const result = (
      outcome: PolicyResult,
      rule: string,
      severity: PolicySeverity,
      message: string,
      properties: Record<string, string>,
    ): PolicyReportResult => ({
      source: options.source,
      policy: POLICY_NAME,
      rule,
      category: 'Istio multicluster',
      severity,
      result: outcome,
      scored: outcome !== 'warn',
      message,
      timestamp,
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          namespace: status.namespace,
          name: status.name,
          ...(status.uid === undefined ? {} : { uid: status.uid }),
        },
      ],
      properties,
    });
    for (const found of status.violations) {
      results.push(
        result(
          'fail',
          found.code,
          HIGH.has(found.code) ? 'high' : 'medium',
          describe(found, 'violation'),
          located(found),
        ),
      );
    }
    for (const note of status.risks) {
      results.push(result('warn', note.code, 'low', describe(note, 'risk'), located(note)));
    }
    const failing = new Set(status.violations.map((found) => found.cluster));
    for (const cluster of status.clusters) {
      if (failing.has(cluster)) continue;
      results.push(result('pass', PASS_RULE, 'info', `cluster "${cluster}": no violations`, { cluster }));
    }
  }
  return reportManifest(POLICY_REPORT_NAME, namespace, results, options);
}

/**
 * The PolicyReport of --probe-remotes for one namespace: one result per probed cluster (rule
 * `reachable-from-primary`), fails first. Messages name the server and what failed, never a
 * credential. A separate report from the audit's, written on the probes' own schedule.
 */
export function buildProbeReport(
  namespace: string,
  probes: readonly ProbeResult[],
  options: PolicyReportOptions,
): PolicyReportManifest {
  const timestamp = { seconds: Math.floor(options.now.getTime() / 1000), nanos: 0 };
  const results = probes
    .filter((probe) => probe.namespace === namespace)
    .sort((a, b) => compareStrings(a.name, b.name) || compareStrings(a.cluster, b.cluster))
    .map((probe): PolicyReportResult => ({
      source: options.source,
      policy: PROBE_POLICY_NAME,
      rule: PROBE_RULE,
      category: 'Istio multicluster',
      severity: probe.outcome === 'ok' || probe.outcome === 'skipped' ? 'info' : 'high',
      result: probe.outcome === 'ok' ? 'pass' : probe.outcome === 'skipped' ? 'skip' : 'fail',
      scored: probe.outcome !== 'skipped',
      message: `cluster "${probe.cluster}": ${probe.outcome === 'ok' ? 'reached, authenticated and authorized from the primary' : `${probe.outcome}: ${probe.message}`}`,
      timestamp,
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          namespace: probe.namespace,
          name: probe.name,
          ...(probe.uid === undefined ? {} : { uid: probe.uid }),
        },
      ],
      properties: {
        cluster: probe.cluster,
        outcome: probe.outcome,
        ...(probe.server === undefined ? {} : { server: probe.server }),
      },
    }));
  return reportManifest(PROBE_REPORT_NAME, namespace, results, options);
}

function reportManifest(
  name: string,
  namespace: string,
  results: PolicyReportResult[],
  options: PolicyReportOptions,
): PolicyReportManifest {
  results.sort((a, b) => ORDER[a.result] - ORDER[b.result]);
  const count = (outcome: PolicyResult): number => results.filter((entry) => entry.result === outcome).length;
  const summary: PolicyReportSummary = {
    pass: count('pass'),
    fail: count('fail'),
    warn: count('warn'),
    error: 0,
    skip: count('skip'),
  };
  const max = options.maxResults ?? DEFAULT_MAX_RESULTS;
  const omitted = Math.max(0, results.length - max);
  return {
    apiVersion: `${POLICY_REPORT_GROUP}/${POLICY_REPORT_VERSION}`,
    kind: 'PolicyReport',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': options.source },
      annotations: { [`${options.annotationPrefix}results-omitted`]: String(omitted) },
    },
    summary,
    results: omitted === 0 ? results : results.slice(0, max),
  };
}

function describe(found: Located<string>, kind: 'violation' | 'risk'): string {
  const where = found.cluster === '' ? 'the secret' : `cluster "${found.cluster}"`;
  return `${where}: ${kind} ${found.code}${found.path === '' ? '' : ` at ${found.path}`}`;
}

function located(found: Located<string>): Record<string, string> {
  return { cluster: found.cluster, path: found.path };
}
