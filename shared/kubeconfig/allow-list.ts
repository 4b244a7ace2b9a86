import { RemoteSecretError } from '../errors.ts';
import { INSECURE_OPTIONS, type AllowList } from './sanitize.ts';

/** An allow-list entry that names no option: a usage error for whoever set it. */
export class AllowListError extends RemoteSecretError {
  override readonly name = 'AllowListError';
  declare readonly code: 'invalid-allow-list';

  constructor(message: string) {
    super('invalid-allow-list', message);
  }
}

const PROVIDER_NAME = /^[a-z0-9][a-z0-9._-]*$/i;

/**
 * `exec`, `tokenFile,gcp`, ... -> the set Istio's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS
 * would hold. Option names are case-sensitive there, so a near miss is an error, not a no-op.
 */
export function parseAllowList(values: readonly string[], flag = '--allow'): AllowList {
  const allow = new Set<string>();
  for (const value of values.flatMap((entry) => entry.split(','))) {
    const option = value.trim();
    if (option === '') continue;
    const known = (INSECURE_OPTIONS as readonly string[]).find(
      (name) => name.toLowerCase() === option.toLowerCase(),
    );
    if (known !== undefined && known !== option) {
      throw new AllowListError(`${flag} ${option}: did you mean ${known}? Option names are case-sensitive`);
    }
    if (known === undefined && !PROVIDER_NAME.test(option)) {
      throw new AllowListError(
        `${flag} ${option}: not an option name; use exec, tokenFile, clientKey, clientCertificate or an auth provider name`,
      );
    }
    allow.add(option);
  }
  return allow;
}
