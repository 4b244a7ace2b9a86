import { INSECURE_OPTIONS, type AllowList } from '../shared/kubeconfig/sanitize.ts';
import { UsageError } from './cli-io.ts';

const PROVIDER_NAME = /^[a-z0-9][a-z0-9._-]*$/i;

/** `--allow exec --allow tokenFile,gcp` -> the set Istio's option list would hold. */
export function parseAllowList(values: readonly string[]): AllowList {
  const allow = new Set<string>();
  for (const value of values.flatMap((entry) => entry.split(','))) {
    const option = value.trim();
    if (option === '') continue;
    const known = (INSECURE_OPTIONS as readonly string[]).find(
      (name) => name.toLowerCase() === option.toLowerCase(),
    );
    if (known !== undefined && known !== option) {
      throw new UsageError(`--allow ${option}: did you mean ${known}? Option names are case-sensitive`);
    }
    if (known === undefined && !PROVIDER_NAME.test(option)) {
      throw new UsageError(
        `--allow ${option}: not an option name; use exec, tokenFile, clientKey, clientCertificate or an auth provider name`,
      );
    }
    allow.add(option);
  }
  return allow;
}
