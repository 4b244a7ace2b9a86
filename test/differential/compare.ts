import { createHash } from 'node:crypto';
import type { SanitizeResult } from '../../shared/kubeconfig/sanitize.ts';
import type { Violation } from '../../shared/violations.ts';
import type { AllowList } from '../../shared/kubeconfig/sanitize.ts';
import type { IstiodStage, OracleResult } from './oracle.ts';

export type Comparison =
  /** Both allow and read the same contexts, users, tokens and servers, or both refuse. */
  | { readonly kind: 'agree' }
  /**
   * We allow; istiod stops only because a file the kubeconfig names is missing from the oracle's
   * empty working directory (a client key, a CA file the allow-list permits). On istiod's disk
   * the file may exist; such a case counts as agreement only when client-go reads nothing the
   * allow-list forbids.
   */
  | { readonly kind: 'disk-dependent'; readonly detail: string }
  /** We allow; istiod's sanitizer refuses it (exec, a file, an unsafe provider): a bypass. */
  | { readonly kind: 'false-allow'; readonly detail: string }
  /** We refuse what istiod would use. Each such case must be a deliberate difference. */
  | { readonly kind: 'stricter'; readonly violations: readonly Violation[] }
  /** We allow what istiod refuses for a structural reason (not a bypass, but a wrong answer). */
  | { readonly kind: 'lenient'; readonly stage: IstiodStage; readonly detail: string }
  /** Both allow, but read different values: one reader is wrong about what istiod connects to. */
  | { readonly kind: 'different-reading'; readonly detail: string };

/**
 * Compare our decision with istiod's on one kubeconfig, both under the same allow-list (`allow`
 * is our parse of the value the oracle was started with).
 */
export function compare(
  ours: SanitizeResult,
  oracle: OracleResult,
  allow: AllowList = new Set(),
): Comparison {
  const { verdict } = oracle;
  if (!ours.allowed) {
    return verdict.accepted ? { kind: 'stricter', violations: ours.violations } : { kind: 'agree' };
  }
  if (!verdict.accepted) {
    if (verdict.stage === 'sanitize') return { kind: 'false-allow', detail: verdict.error };
    if (isDiskDependent(oracle)) {
      const forbidden = forbiddenReadings(oracle, allow);
      return forbidden.length > 0
        ? { kind: 'false-allow', detail: `client-go reads ${forbidden.join(', ')} (${verdict.error})` }
        : { kind: 'disk-dependent', detail: verdict.error };
    }
    return { kind: 'lenient', stage: verdict.stage, detail: verdict.error };
  }
  const differences = readingDifferences(ours.config, oracle);
  if (differences.length > 0) return { kind: 'different-reading', detail: differences.join('; ') };
  return { kind: 'agree' };
}

/**
 * istiod stopped only because of a file a kubeconfig names: Validate could not open it in the
 * oracle's empty directory, client-go's ClientConfig could not open an allowed token file (it reads
 * the file there; istiod's own ServiceAccount token path exists in its pod, not here), or
 * client-go read a file that exists on this machine (an absolute path such as /etc/passwd) and
 * found no key or certificate in it.
 */
function isDiskDependent(oracle: OracleResult): boolean {
  const { verdict } = oracle;
  if (verdict.accepted) return false;
  if (verdict.stage === 'validate') return oracle.validateErrors.length === 0 && oracle.fileErrors.length > 0;
  if (verdict.stage === 'client-config') {
    return (
      oracle.users.some((user) => user.tokenFile) &&
      /^open .*: no such file or directory$/.test(verdict.error)
    );
  }
  return (
    verdict.stage === 'clients' &&
    oracle.users.some((user) => user.clientKey || user.clientCertificate) &&
    /tls: |open /.test(verdict.error)
  );
}

/**
 * A guard for disk-dependent cases only, where istiod's sanitizer never ran: the options in
 * client-go's reading that the allow-list does not permit. It can only turn agreement into a
 * failure, never the other way.
 */
function forbiddenReadings(oracle: OracleResult, allow: AllowList): string[] {
  return oracle.users.flatMap((user) => {
    const found: string[] = [];
    if (user.exec && !allow.has('exec')) found.push(`${user.name}: exec`);
    if (user.tokenFile && !allow.has('tokenFile')) found.push(`${user.name}: tokenFile`);
    if (user.clientKey && !allow.has('clientKey')) found.push(`${user.name}: clientKey`);
    if (user.clientCertificate && !allow.has('clientCertificate'))
      found.push(`${user.name}: clientCertificate`);
    if (user.authProvider !== null && user.authProvider !== 'oidc' && !allow.has(user.authProvider)) {
      found.push(`${user.name}: auth provider ${user.authProvider}`);
    }
    return found;
  });
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
    case 'disk-dependent':
      return `disk-dependent: ${comparison.detail}`;
    case 'false-allow':
      return `FALSE ALLOW: istiod refuses it: ${comparison.detail}`;
    case 'stricter':
      return `stricter: ${comparison.violations.map((found) => `${found.code} (${found.message})`).join('; ')}`;
    case 'lenient':
      return `lenient: istiod stops at ${comparison.stage}: ${comparison.detail}`;
    case 'different-reading':
      return `different reading: ${comparison.detail}`;
  }
}
