/**
 * Every violation code, in the order the docs list them. Codes are stable API: tools match on
 * them (`check -o json`, the webhook's audit annotations), so add, never rename. Tests take the
 * list from here, so a code added without a test fails them.
 */
export const VIOLATION_CODES = [
  // Reading the text at all.
  'input-too-large',
  'yaml-syntax',
  'yaml-too-deep',
  'yaml-alias-limit',
  'ambiguous-yaml',
  'empty-kubeconfig',
  // What client-go's Load and Validate would refuse, or what leaves istiod no usable context.
  'invalid-kubeconfig',
  'no-current-context',
  // Istio's sanitizer: auth that runs code or reads files on istiod's disk.
  'exec',
  'token-file',
  'client-key',
  'client-certificate',
  'auth-provider',
  // Ours, not Istio's: a CA bundle read from istiod's disk, and the placeholder of a dry run.
  'certificate-authority-file',
  'placeholder-token',
  // The remote secret around the kubeconfigs.
  'invalid-secret',
  'invalid-cluster-id',
  'local-cluster-id',
  'duplicate-cluster-id',
  // The webhook's own: it cannot see the current claimants (its watch has been down too long).
  'cluster-id-unverified',
] as const;

export type ViolationCode = (typeof VIOLATION_CODES)[number];

export interface Violation {
  readonly code: ViolationCode;
  /** Where, like `users[0].user.exec`, or `data.cluster-1` for a secret-level finding. */
  readonly path: string;
  readonly message: string;
  readonly hint?: string;
}

/** Build a violation, leaving `hint` out rather than `undefined` (exactOptionalPropertyTypes). */
export function violation(code: ViolationCode, path: string, message: string, hint?: string): Violation {
  return hint === undefined ? { code, path, message } : { code, path, message, hint };
}
