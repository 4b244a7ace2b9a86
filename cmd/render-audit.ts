import type { AuditReport, ClusterFinding } from '../shared/audit/audit.ts';
import type { Rejection } from '../shared/audit/rejections.ts';
import { emitYaml } from '../shared/yaml/emit.ts';
import { plural } from '../shared/text.ts';
import { tableLines } from './table.ts';

interface FindingDocument {
  readonly code: string;
  readonly path: string;
  readonly message: string;
  readonly hint?: string;
}

/** The `-o json|yaml` document of `audit` (docs/audit.md), as tools read it. */
export interface AuditDocument {
  readonly kind: 'RemoteSecretAudit';
  readonly summary: AuditReport['summary'];
  readonly clusters: readonly {
    readonly secret: string;
    readonly cluster: string;
    readonly status: 'violation' | 'risk' | 'ok';
    readonly violations: readonly FindingDocument[];
    readonly risks: readonly FindingDocument[];
  }[];
  readonly sharedClusterIds: readonly {
    readonly namespace: string;
    readonly cluster: string;
    readonly secrets: readonly string[];
    readonly usedNow: string;
    readonly usedNowCertain: boolean;
    readonly usedAfterRestart: string;
    readonly fix: string;
  }[];
  readonly errors: readonly { readonly source: string; readonly message: string }[];
}

/**
 * `-o json|yaml`: one document, the documented schema (docs/audit.md). Findings carry codes,
 * paths and messages from the shared decision and the risk notes, never a token or a key.
 */
export function auditDocument(report: AuditReport): AuditDocument {
  return {
    kind: 'RemoteSecretAudit',
    summary: report.summary,
    clusters: report.clusters.map((finding) => ({
      secret: finding.secret,
      cluster: finding.cluster,
      status: statusOf(finding),
      violations: finding.violations.map((found) => ({
        code: found.code,
        path: found.path,
        message: found.message,
        ...(found.hint === undefined ? {} : { hint: found.hint }),
      })),
      risks: finding.risks.map((note) => ({ code: note.code, path: note.path, message: note.message })),
    })),
    sharedClusterIds: report.sharedClusterIds.map((shared) => ({
      namespace: shared.namespace,
      cluster: shared.cluster,
      secrets: shared.secrets,
      usedNow: shared.usedNow,
      usedNowCertain: shared.usedNowCertain,
      usedAfterRestart: shared.usedAfterRestart,
      fix: shared.fix,
    })),
    errors: report.errors.map((error) => ({ source: error.source, message: error.message })),
  };
}

export function renderAuditJson(report: AuditReport): string {
  return `${JSON.stringify(auditDocument(report), null, 2)}\n`;
}

export function renderAuditYaml(report: AuditReport): string {
  return emitYaml(auditDocument(report));
}

/** `violation` beats `risk` beats `ok`: the worst finding names the row. */
export function statusOf(finding: ClusterFinding): 'violation' | 'risk' | 'ok' {
  if (finding.violations.length > 0) return 'violation';
  return finding.risks.length > 0 ? 'risk' : 'ok';
}

/**
 * One row per secret and cluster with its codes, then one line per finding with its path and
 * message, then the cluster IDs claimed by several secrets (who istiod uses now and after a
 * restart, and one command that settles it safely) and a summary line.
 */
export function renderAuditTable(report: AuditReport): string {
  const lines: string[] = [];
  if (report.clusters.length > 0) {
    lines.push(
      ...tableLines([
        ['SECRET', 'CLUSTER', 'STATUS', 'VIOLATIONS', 'RISKS'],
        ...report.clusters.map((finding) => [
          finding.secret,
          finding.cluster || '(none)',
          statusOf(finding).toUpperCase(),
          codes(finding.violations),
          codes(finding.risks),
        ]),
      ]),
    );
    for (const finding of report.clusters) {
      const where = `${finding.secret} ${finding.cluster || '(none)'}`;
      for (const found of finding.violations) {
        lines.push(`${where}: ${found.code} at ${found.path || '(whole kubeconfig)'}: ${found.message}`);
      }
      for (const note of finding.risks)
        lines.push(`${where}: risk ${note.code} at ${note.path}: ${note.message}`);
    }
  }
  for (const shared of report.sharedClusterIds) {
    const restart =
      shared.usedAfterRestart === shared.usedNow
        ? 'and most likely after a restart too'
        : `and most likely ${shared.usedAfterRestart} after a restart (the name that sorts first; not guaranteed)`;
    lines.push(
      `cluster ID "${shared.cluster}" is claimed by ${shared.secrets.join(', ')} (oldest first); istiod uses ${shared.usedNow} now, ${restart}`,
    );
    if (!shared.usedNowCertain) {
      lines.push(
        `  they were created in the same second, so which one istiod uses now is a guess: ask istiod first (kubectl remote-secret verify --istiod http://127.0.0.1:8080 after a port-forward to istiod)`,
      );
    }
    lines.push(`  fix, keeping ${shared.usedNow}: ${shared.fix}`);
  }
  const { summary } = report;
  const clean = report.clusters.filter((finding) => statusOf(finding) === 'ok').length;
  lines.push(
    `${plural(summary.secrets, 'secret')}, ${plural(summary.clusters, 'cluster')}: ${clean} ok, ${plural(summary.violations, 'violation')}, ${plural(summary.risks, 'risk note')}`,
  );
  return `${lines.join('\n')}\n`;
}

export function rejectionsDocument(rejections: readonly Rejection[]): unknown {
  return { kind: 'RemoteSecretRejections', rejections };
}

/**
 * One row per Event; COUNT is how many identical refusals the webhook folded into it.
 * AUTHENTICATED: yes when the webhook verified the API server's client certificate, no when the
 * review came unauthenticated (USER is then only what the sender claimed), - when not marked.
 */
export function renderRejectionsTable(rejections: readonly Rejection[]): string {
  if (rejections.length === 0) return '';
  // Warnings and audit-mode admissions come from an audit log; they say so in the operation.
  const operation = (rejection: Rejection): string =>
    rejection.verdict === 'rejected'
      ? rejection.operation || '-'
      : `${rejection.operation || '-'} (${rejection.verdict})`;
  return `${tableLines([
    ['TIME', 'USER', 'OPERATION', 'SECRET', 'CLUSTERS', 'CODES', 'COUNT', 'AUTHENTICATED'],
    ...rejections.map((rejection) => [
      rejection.time === '' ? '-' : `${rejection.time.slice(0, 19)}Z`,
      rejection.user || '(unknown)',
      operation(rejection),
      rejection.secret,
      rejection.clusters.join(',') || '-',
      rejection.codes.join(',') || '-',
      String(rejection.count),
      rejection.authenticated === undefined ? '-' : rejection.authenticated ? 'yes' : 'no',
    ]),
  ]).join('\n')}\n`;
}

function codes(found: readonly { code: string }[]): string {
  return found.length === 0 ? '-' : [...new Set(found.map((entry) => entry.code))].join(',');
}
