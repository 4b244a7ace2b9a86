import type { CheckReport } from './check.ts';
import { plural } from '../shared/text.ts';

/**
 * Text report: one line per secret and cluster with its verdict, then each violation with its
 * path, reason and fix. Messages come from the shared decision and never hold key material.
 */
export function renderCheckText(report: CheckReport): string {
  const lines: string[] = [];
  for (const result of report.results) {
    const verdict = result.allowed ? 'ALLOWED ' : 'REJECTED';
    lines.push(`${verdict} ${result.secret} cluster=${result.cluster || '(none)'} (${result.source})`);
    for (const found of result.violations) {
      lines.push(`  - ${found.code} at ${found.path || '(whole kubeconfig)'}: ${found.message}`);
      if (found.hint !== undefined) lines.push(`    fix: ${found.hint}`);
    }
  }
  for (const skipped of report.skipped) {
    lines.push(
      `SKIPPED  ${skipped.kind}/${skipped.name || '(unnamed)'} (${skipped.source}): ${skipped.reason}`,
    );
  }
  if (report.results.length > 0) {
    const rejected = report.results.filter((result) => !result.allowed).length;
    const secrets = new Set(report.results.map((result) => `${result.source} ${result.secret}`)).size;
    lines.push(
      `${plural(secrets, 'secret')}, ${plural(report.results.length, 'cluster')}: ${report.results.length - rejected} allowed, ${rejected} rejected`,
    );
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** `-o json`: exactly one object, the documented schema, for tools. */
export function renderCheckJson(report: CheckReport): string {
  const document = {
    results: report.results.map((result) => ({
      source: result.source,
      secret: result.secret,
      cluster: result.cluster,
      allowed: result.allowed,
      violations: result.violations.map((found) => ({
        code: found.code,
        path: found.path,
        message: found.message,
        ...(found.hint === undefined ? {} : { hint: found.hint }),
      })),
    })),
    errors: report.errors.map((error) => ({ source: error.source, message: error.message })),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
