import { createHash } from 'node:crypto';
import type { SanitizeResult } from '../../shared/kubeconfig/sanitize.ts';
import type { Violation } from '../../shared/violations.ts';
import type { OracleResult } from './oracle.ts';

/** Where istiod's BuildClientsFromConfig would stop with this kubeconfig, if anywhere. */
export type IstiodStage = 'empty' | 'load' | 'validate' | 'sanitize' | 'client-config';

export type IstiodVerdict =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly stage: IstiodStage; readonly detail: string };

/**
 * Read the oracle's report as istiod's decision, in istiod's order: empty value, Load, Validate,
 * sanitizer, client config. Validate's "unable to read" errors do not count: they depend on
 * istiod's disk (a certificate-authority path may well exist there), not on the kubeconfig.
 */
export function istiodVerdict(result: OracleResult): IstiodVerdict {
  if (result.empty) return { accepted: false, stage: 'empty', detail: 'kubeconfig is empty' };
  if (result.loadError !== null) return { accepted: false, stage: 'load', detail: result.loadError };
  if (result.validateErrors.length > 0) {
    return { accepted: false, stage: 'validate', detail: result.validateErrors.join('; ') };
  }
  if (result.unsafe.length > 0) {
    return { accepted: false, stage: 'sanitize', detail: result.unsafe.join('; ') };
  }
  if (result.clientConfigError !== null) {
    return { accepted: false, stage: 'client-config', detail: result.clientConfigError };
  }
  return { accepted: true };
}

export type Comparison =
  /** Both allow and see the same contexts, users, tokens and servers, or both refuse. */
  | { readonly kind: 'agree' }
  /** We allow; istiod would load and validate it and finds exec, a file or an unsafe provider. */
  | { readonly kind: 'false-allow'; readonly detail: string }
  /** We refuse what istiod would use. Each such case must be a deliberate difference. */
  | { readonly kind: 'stricter'; readonly violations: readonly Violation[] }
  /** We allow what istiod would refuse for a structural reason (not a bypass, but a wrong answer). */
  | { readonly kind: 'lenient'; readonly stage: IstiodStage; readonly detail: string }
  /** Both allow, but read different values: one reader is wrong about what istiod connects to. */
  | { readonly kind: 'different-reading'; readonly detail: string };

export function compare(ours: SanitizeResult, oracle: OracleResult): Comparison {
  const verdict = istiodVerdict(oracle);
  if (!ours.allowed) {
    return verdict.accepted ? { kind: 'stricter', violations: ours.violations } : { kind: 'agree' };
  }
  if (!verdict.accepted) {
    if (verdict.stage === 'sanitize') return { kind: 'false-allow', detail: verdict.detail };
    return { kind: 'lenient', stage: verdict.stage, detail: verdict.detail };
  }
  const differences = readingDifferences(ours.config, oracle);
  if (differences.length > 0) return { kind: 'different-reading', detail: differences.join('; ') };
  return { kind: 'agree' };
}

type SanitizedConfig = Extract<SanitizeResult, { allowed: true }>['config'];

function readingDifferences(config: SanitizedConfig, oracle: OracleResult): string[] {
  const differences: string[] = [];
  if (config['current-context'] !== oracle.currentContext) {
    differences.push(
      `current-context: ours ${JSON.stringify(config['current-context'])}, client-go ${JSON.stringify(oracle.currentContext)}`,
    );
  }
  const ourUsers = config.users
    .map(({ name, user }) => `${name}=${sha256(typeof user['token'] === 'string' ? user['token'] : '')}`)
    .sort();
  const theirUsers = oracle.users.map(({ name, tokenSha256 }) => `${name}=${tokenSha256}`).sort();
  if (ourUsers.join('\n') !== theirUsers.join('\n')) {
    differences.push(`users or tokens: ours [${ourUsers.join(', ')}], client-go [${theirUsers.join(', ')}]`);
  }
  const ourClusters = config.clusters
    .map(({ name, cluster }) =>
      JSON.stringify([
        name,
        cluster['server'] ?? '',
        cluster['proxy-url'] ?? '',
        cluster['certificate-authority'] ?? '',
      ]),
    )
    .sort();
  const theirClusters = oracle.clusters
    .map(({ name, server, proxyUrl, certificateAuthority }) =>
      JSON.stringify([name, server, proxyUrl, certificateAuthority]),
    )
    .sort();
  if (ourClusters.join('\n') !== theirClusters.join('\n')) {
    differences.push(`clusters: ours ${ourClusters.join(', ')}, client-go ${theirClusters.join(', ')}`);
  }
  return differences;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A deliberate difference: a violation we raise on purpose where istiod would go ahead. */
export interface DeliberateDifference {
  readonly code: Violation['code'];
  /** Narrows the entry to some messages of that code. */
  readonly message?: RegExp;
  readonly reason: string;
}

/** The violations of a stricter case that no table entry explains (empty when all are deliberate). */
export function unexplained(
  violations: readonly Violation[],
  table: readonly DeliberateDifference[],
): Violation[] {
  return violations.filter(
    (found) =>
      !table.some((entry) => entry.code === found.code && (entry.message?.test(found.message) ?? true)),
  );
}

/** A short, single-line rendering of a comparison for failure messages. */
export function describeComparison(comparison: Comparison): string {
  switch (comparison.kind) {
    case 'agree':
      return 'agree';
    case 'false-allow':
      return `FALSE ALLOW: client-go sees ${comparison.detail}`;
    case 'stricter':
      return `stricter: ${comparison.violations.map((found) => `${found.code} (${found.message})`).join('; ')}`;
    case 'lenient':
      return `lenient: istiod stops at ${comparison.stage}: ${comparison.detail}`;
    case 'different-reading':
      return `different reading: ${comparison.detail}`;
  }
}

/**
 * client-go Validate errors we do not mirror yet. They only matter when the operator allows an
 * insecure option (with an empty allow-list the sanitizer refuses the same kubeconfig anyway).
 */
export const UNMIRRORED_VALIDATE_ERRORS: readonly { readonly error: RegExp; readonly reason: string }[] = [];

/** Whether every one of client-go's load and validate errors is a known, unmirrored one. */
export function onlyUnmirrored(result: OracleResult): boolean {
  return (
    result.loadError === null &&
    result.validateErrors.length > 0 &&
    result.validateErrors.every((error) =>
      UNMIRRORED_VALIDATE_ERRORS.some(({ error: known }) => known.test(error)),
    )
  );
}
