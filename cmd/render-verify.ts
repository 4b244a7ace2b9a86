import type { ManifestError } from '../shared/remote-secret/manifests.ts';
import type { ClusterVerification } from '../shared/remote-secret/verify.ts';
import { plural } from '../shared/text.ts';

export interface VerifyReport {
  readonly results: readonly ClusterVerification[];
  readonly errors: readonly ManifestError[];
}

/**
 * A table like `istioctl remote-clusters` (one row per cluster), then one line per problem so
 * the table stays narrow. Nothing here can hold a token: results carry messages and names only.
 */
export function renderVerifyTable(report: VerifyReport): string {
  if (report.results.length === 0) return '';
  const rows = [
    ['CLUSTER', 'SECRET', 'REACHABLE', 'AUTH', 'RBAC', 'EXPIRES', 'STATUS'],
    ...report.results.map((result) => [
      result.cluster,
      result.secret,
      reachableCell(result),
      cell(result.auth.status, 'yes', 'no'),
      result.rbac.status === 'failed' && result.rbac.missing.length > 0
        ? `missing ${result.rbac.missing.length}`
        : cell(result.rbac.status, 'ok', 'failed'),
      expiresCell(result),
      result.status === 'ok' ? 'OK' : 'FAILED',
    ]),
  ];
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  const lines = rows.map((row) =>
    row
      .map((value, column) => (column === row.length - 1 ? value : value.padEnd((widths[column] ?? 0) + 3)))
      .join('')
      .trimEnd(),
  );
  for (const result of report.results) lines.push(...problems(result));
  const failed = report.results.filter((result) => result.status !== 'ok').length;
  lines.push(
    `${plural(report.results.length, 'cluster')}: ${report.results.length - failed} ok, ${failed} failed`,
  );
  return `${lines.join('\n')}\n`;
}

function reachableCell(result: ClusterVerification): string {
  if (result.reachable.status !== 'ok') return cell(result.reachable.status, 'yes', 'no');
  return result.reachable.serverVersion === undefined ? 'yes' : `yes (${result.reachable.serverVersion})`;
}

function expiresCell(result: ClusterVerification): string {
  const { expiry } = result;
  if (expiry.expires !== null) {
    const at = `${expiry.expires.slice(0, 16)}Z`;
    return expiry.status === 'failed' ? `expired ${at}` : at;
  }
  if (expiry.status === 'ok') return 'never';
  return result.kubeconfig.status === 'ok' ? 'unknown' : '-';
}

function cell(status: 'ok' | 'failed' | 'skipped', ok: string, failed: string): string {
  return status === 'ok' ? ok : status === 'failed' ? failed : '-';
}

function problems(result: ClusterVerification): string[] {
  const lines: string[] = [];
  const prefix = `${result.cluster} (${result.secret}):`;
  for (const found of result.kubeconfig.violations) {
    lines.push(
      `${prefix} kubeconfig refused: ${found.code} at ${found.path || '(whole kubeconfig)'}: ${found.message}`,
    );
  }
  if (result.reachable.status === 'failed')
    lines.push(`${prefix} not reachable: ${result.reachable.message ?? ''}`);
  if (result.reachable.status === 'skipped' && result.kubeconfig.status === 'ok') {
    lines.push(`${prefix} ${result.reachable.message ?? 'not checked'}`);
  }
  if (result.auth.status === 'failed')
    lines.push(`${prefix} authentication failed: ${result.auth.message ?? ''}`);
  if (result.rbac.status === 'failed') {
    const missing = result.rbac.missing.length > 0 ? `: ${result.rbac.missing.join(', ')}` : '';
    lines.push(`${prefix} RBAC: ${result.rbac.message ?? 'check failed'}${missing}`);
  }
  if (result.expiry.status === 'failed') lines.push(`${prefix} token ${result.expiry.message}`);
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
    })),
    errors: report.errors.map((error) => ({ source: error.source, message: error.message })),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
