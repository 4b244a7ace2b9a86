import { istiodAgrees, istiodProblem, type IstiodOpinion } from '../shared/kube/istiod.ts';
import type { ManifestError } from '../shared/remote-secret/manifests.ts';
import type { ClusterVerification } from '../shared/remote-secret/verify.ts';
import { plural } from '../shared/text.ts';
import { tableLines } from './table.ts';

export interface VerifyReport {
  readonly results: readonly ClusterVerification[];
  readonly errors: readonly ManifestError[];
  /** With --istiod: what istiod itself says of each cluster. */
  readonly istiod?: ReadonlyMap<ClusterVerification, IstiodOpinion>;
}

/**
 * A table like `istioctl remote-clusters` (one row per cluster), then one line per problem so
 * the table stays narrow. Nothing here can hold a token: results carry messages and names only.
 */
export function renderVerifyTable(report: VerifyReport): string {
  if (report.results.length === 0) return '';
  const { istiod } = report;
  const failed = (result: ClusterVerification): boolean => {
    const opinion = istiod?.get(result);
    return result.status !== 'ok' || (opinion !== undefined && !istiodAgrees(opinion));
  };
  const rows = [
    ['CLUSTER', 'SECRET', 'REACHABLE', 'AUTH', 'RBAC', 'EXPIRES', ...(istiod ? ['ISTIOD'] : []), 'STATUS'],
    ...report.results.map((result) => [
      result.cluster,
      result.secret,
      reachableCell(result),
      cell(result.auth.status, 'yes', 'no'),
      result.rbac.status === 'failed' && result.rbac.missing.length > 0
        ? `missing ${result.rbac.missing.length}`
        : cell(result.rbac.status, 'ok', 'failed'),
      expiresCell(result),
      ...(istiod ? [istiodCell(istiod.get(result))] : []),
      failed(result) ? 'FAILED' : 'OK',
    ]),
  ];
  const lines = tableLines(rows);
  for (const result of report.results) {
    lines.push(...problems(result));
    const opinion = istiod?.get(result);
    const problem = opinion === undefined ? undefined : istiodProblem(opinion);
    if (problem !== undefined) lines.push(`${result.cluster} (${result.secret}): ${problem}`);
  }
  const failures = report.results.filter(failed).length;
  const expiring = report.results.filter((result) => result.expiry.status === 'expiring').length;
  lines.push(
    `${plural(report.results.length, 'cluster')}: ${report.results.length - failures} ok, ${failures} failed${expiring === 0 ? '' : `, ${plural(expiring, 'token')} expiring soon`}`,
  );
  return `${lines.join('\n')}\n`;
}

function istiodCell(opinion: IstiodOpinion | undefined): string {
  switch (opinion?.status) {
    case undefined:
      return '-';
    case 'used':
      return opinion.syncStatus || 'used';
    case 'other-secret':
      return 'other secret';
    case 'config-cluster':
      return 'own cluster';
    case 'absent':
      return 'absent';
  }
}

function reachableCell(result: ClusterVerification): string {
  if (result.reachable.status !== 'ok') return cell(result.reachable.status, 'yes', 'no');
  return result.reachable.serverVersion === undefined ? 'yes' : `yes (${result.reachable.serverVersion})`;
}

function expiresCell(result: ClusterVerification): string {
  const { expiry } = result;
  if (expiry.expires !== null) {
    const at = `${expiry.expires.slice(0, 16)}Z`;
    if (expiry.status === 'failed') return `expired ${at}`;
    if (expiry.status === 'expiring')
      return expiry.renewAt === undefined ? `${at} (soon)` : `${at} (overdue)`;
    return expiry.renewAt === undefined ? at : `${at} (renews)`;
  }
  if (expiry.status === 'ok') return 'never';
  return result.kubeconfig.status === 'ok' ? 'unknown' : '-';
}

function cell(status: 'ok' | 'failed' | 'skipped', ok: string, failed: string): string {
  return status === 'ok' ? ok : status === 'failed' ? failed : '-';
}

/** One line per problem, each followed by what to do next (`fix:`), as `check` prints them. */
function problems(result: ClusterVerification): string[] {
  const lines: string[] = [];
  const prefix = `${result.cluster} (${result.secret}):`;
  const problem = (text: string, hint: string | undefined): void => {
    lines.push(`${prefix} ${text}`);
    if (hint !== undefined) lines.push(`  fix: ${hint}`);
  };
  for (const found of result.kubeconfig.violations) {
    problem(
      `kubeconfig refused: ${found.code} at ${found.path || '(whole kubeconfig)'}: ${found.message}`,
      found.hint,
    );
  }
  if (result.reachable.status === 'failed')
    problem(`not reachable: ${result.reachable.message ?? ''}`, result.reachable.hint);
  if (result.reachable.status === 'skipped' && result.kubeconfig.status === 'ok') {
    problem(result.reachable.message ?? 'not checked', undefined);
  }
  if (result.auth.status === 'failed')
    problem(`authentication failed: ${result.auth.message ?? ''}`, result.auth.hint);
  if (result.rbac.status === 'failed') {
    const missing = result.rbac.missing.length > 0 ? `: ${result.rbac.missing.join(', ')}` : '';
    problem(`RBAC: ${result.rbac.message ?? 'check failed'}${missing}`, result.rbac.hint);
  }
  if (result.expiry.status === 'failed') problem(`token ${result.expiry.message}`, result.expiry.hint);
  if (result.expiry.status === 'expiring')
    problem(`warning: token ${result.expiry.message}`, result.expiry.hint);
  return lines;
}

/** `-o json`: one object, `clusters` in input order and `errors` for secrets that could not be read. */
export function renderVerifyJson(report: VerifyReport): string {
  const document = {
    clusters: report.results.map((result) => ({
      cluster: result.cluster,
      secret: result.secret,
      source: result.source,
      server: result.server ?? null,
      status: result.status,
      checks: {
        kubeconfig: result.kubeconfig,
        reachable: result.reachable,
        auth: result.auth,
        rbac: result.rbac,
        expiry: result.expiry,
      },
      ...(report.istiod === undefined ? {} : { istiod: istiodJson(report.istiod.get(result)) }),
    })),
    errors: report.errors.map((error) => ({ source: error.source, message: error.message })),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

function istiodJson(opinion: IstiodOpinion | undefined): Record<string, unknown> | null {
  if (opinion === undefined) return null;
  const problem = istiodProblem(opinion);
  return {
    ...opinion,
    agrees: istiodAgrees(opinion),
    ...(problem === undefined ? {} : { message: problem }),
  };
}
