import type { ClusterDecision } from '../remote-secret/decide.ts';
import type { Violation } from '../violations.ts';
import type { AdmissionMode, Verdict } from './decide.ts';
import { plural } from '../text.ts';

/**
 * Turning a decision into what people and the API server read. Limits come from the API server:
 * a warning holding a newline is dropped, each is cut to 256 characters once all of them pass
 * 4096, and audit annotation keys must be qualified names without "/" (it prefixes the webhook
 * name). Violation messages never hold key material, only names and paths.
 */
export const WARNING_MAX_RUNES = 256;
export const WARNINGS_MAX_TOTAL_RUNES = 4096;
const MESSAGE_MAX_VIOLATIONS = 20;
const WARNING_MAX_VIOLATIONS = 10;
/** ValidatingAdmissionPolicy truncates its own audit annotation values at 10 KB; so do we. */
const ANNOTATION_MAX_BYTES = 10 * 1024;

/** The denial kubectl prints after `admission webhook "..." denied the request: `. */
export function renderDenialMessage(
  secret: string,
  rejected: readonly ClusterDecision[],
  { retryable = false }: { readonly retryable?: boolean } = {},
): string {
  const total = rejected.reduce((sum, cluster) => sum + cluster.violations.length, 0);
  const then = retryable
    ? 'nothing to fix: apply again once the webhook sees the API server again'
    : 'fix and apply again';
  const lines = [
    `remote secret ${oneLine(secret)} is rejected: ${plural(total, 'violation')} in ${plural(rejected.length, 'cluster')}; ${then}`,
  ];
  let shown = 0;
  for (const cluster of rejected) {
    if (shown >= MESSAGE_MAX_VIOLATIONS) break;
    lines.push(cluster.cluster === '' ? 'the secret:' : `cluster "${oneLine(cluster.cluster)}":`);
    for (const found of cluster.violations) {
      if (shown >= MESSAGE_MAX_VIOLATIONS) break;
      shown += 1;
      lines.push(
        `  - ${found.code} at ${oneLine(found.path) || '(whole kubeconfig)'}: ${oneLine(found.message)}`,
      );
      lines.push(`    fix: ${oneLine(fixFor(found))}`);
    }
  }
  if (shown < total) {
    lines.push(
      `  ... and ${total - shown} more; run \`kubectl remote-secret check\` on the manifest for all of them`,
    );
  }
  return lines.join('\n');
}

/** Warn mode: one short line per violation, then one line per distinct fix. */
export function renderWarnings(secret: string, rejected: readonly ClusterDecision[]): string[] {
  const warnings: string[] = [];
  const fixes = new Map<string, string[]>();
  let total = 0;
  let omitted = 0;
  for (const cluster of rejected) {
    for (const found of cluster.violations) {
      const fix = fixFor(found);
      const codes = fixes.get(fix) ?? [];
      if (!codes.includes(found.code)) codes.push(found.code);
      fixes.set(fix, codes);
      if (warnings.length >= WARNING_MAX_VIOLATIONS) {
        omitted += 1;
        continue;
      }
      const where = cluster.cluster === '' ? '' : ` cluster "${oneLine(cluster.cluster)}"`;
      const line = clip(
        `remote secret ${oneLine(secret)}${where}: ${found.code} at ${oneLine(found.path) || '(whole kubeconfig)'}: ${oneLine(found.message)}`,
      );
      total += runes(line);
      warnings.push(line);
    }
  }
  if (omitted > 0) {
    warnings.push(
      `remote secret ${oneLine(secret)}: ${omitted} more violations; run \`kubectl remote-secret check\``,
    );
  }
  for (const [hint, codes] of fixes) {
    const line = clip(`to fix ${codes.join(', ')}: ${oneLine(hint)}`);
    if (total + runes(line) > WARNINGS_MAX_TOTAL_RUNES) break;
    total += runes(line);
    warnings.push(line);
  }
  return warnings;
}

/**
 * Audit annotations the API server writes into its audit log as `<webhook name>/<key>`. Values
 * carry codes, cluster IDs and paths only.
 */
export function renderAuditAnnotations(
  verdict: Verdict,
  mode: AdmissionMode,
  rejected: readonly ClusterDecision[],
): Record<string, string> {
  const codes = [...new Set(rejected.flatMap((cluster) => cluster.violations.map((found) => found.code)))];
  const entries = rejected.flatMap((cluster) =>
    cluster.violations.map((found) => ({ cluster: cluster.cluster, code: found.code, path: found.path })),
  );
  let violations = JSON.stringify(entries);
  while (Buffer.byteLength(violations) > ANNOTATION_MAX_BYTES && entries.length > 1) {
    entries.splice(Math.ceil(entries.length / 2));
    violations = JSON.stringify([...entries, { truncated: true }]);
  }
  return {
    verdict,
    mode,
    'violation-codes': codes.join(','),
    clusters: clipBytes(rejected.map((cluster) => cluster.cluster).join(','), ANNOTATION_MAX_BYTES),
    violations: clipBytes(violations, ANNOTATION_MAX_BYTES),
  };
}

/** Every violation gets a fix; the few without a hint of their own are about unreadable YAML. */
function fixFor(found: Violation): string {
  return (
    found.hint ??
    'write the kubeconfig as plain YAML or JSON, or re-create the secret with `kubectl remote-secret create`'
  );
}

/** Control characters (newlines above all) would make the API server drop a warning. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
}

function clip(line: string): string {
  const chars = Array.from(line);
  return chars.length <= WARNING_MAX_RUNES ? line : `${chars.slice(0, WARNING_MAX_RUNES - 1).join('')}…`;
}

function clipBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let cut = Array.from(text);
  while (Buffer.byteLength(cut.join('')) > max - 3) cut = cut.slice(0, Math.floor(cut.length * 0.9));
  return `${cut.join('')}…`;
}

function runes(text: string): number {
  return Array.from(text).length;
}
