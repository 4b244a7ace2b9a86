import { AllowListError, parseAllowList as parseShared } from '../shared/kubeconfig/allow-list.ts';
import type { AllowList } from '../shared/kubeconfig/sanitize.ts';
import { UsageError } from './cli-io.ts';

/** `--allow exec --allow tokenFile,gcp` -> the set Istio's option list would hold; a bad name is a usage error. */
export function parseAllowList(values: readonly string[]): AllowList {
  try {
    return parseShared(values, '--allow');
  } catch (error) {
    if (error instanceof AllowListError) throw new UsageError(error.message, { cause: error });
    throw error;
  }
}
