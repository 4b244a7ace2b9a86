import { allowListWarnings, parseAllowList as parseShared } from '../shared/kubeconfig/allow-list.ts';
import type { AllowList } from '../shared/kubeconfig/sanitize.ts';

/**
 * `--allow exec --allow tokenFile,gcp` -> the set istiod's option list holds for the same text.
 * Entries that allow nothing (a space, a wrong case) are kept, as istiod keeps them, and named in
 * a warning on stderr.
 */
export function parseAllowList(
  values: readonly string[],
  warn: (line: string) => void = (line) => process.stderr.write(`warning: ${line}\n`),
): AllowList {
  const allow = parseShared(values);
  for (const line of allowListWarnings(allow)) warn(line);
  return allow;
}
