/**
 * A violation is data: what is wrong, where, and how to fix it. Codes are stable API: tools
 * match on them (`check -o json`, the webhook's audit annotations), so add, never rename.
 */
export type ViolationCode =
  // Reading the text at all.
  | 'input-too-large'
  | 'yaml-syntax'
  | 'yaml-too-deep'
  | 'yaml-alias-limit'
  | 'ambiguous-yaml'
  | 'empty-kubeconfig'
  // What client-go's Load and Validate would refuse, or what leaves istiod no usable context.
  | 'invalid-kubeconfig'
  | 'no-current-context'
  // Istio's sanitizer: auth that runs code or reads files on istiod's disk.
  | 'exec'
  | 'token-file'
  | 'client-key'
  | 'client-certificate'
  | 'auth-provider'
  // The remote secret around the kubeconfigs.
  | 'invalid-secret'
  | 'invalid-cluster-id'
  | 'local-cluster-id'
  | 'duplicate-cluster-id';

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

const RECREATE_HINT = 're-create it with `kubectl remote-secret create`';
export { RECREATE_HINT };
