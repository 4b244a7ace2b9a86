import { KUBECONFIG_LIMITS, readYaml } from '../yaml/parse.ts';
import { sanitizeKubeconfig, type AllowList, type SanitizeResult } from './sanitize.ts';

/**
 * The whole path for untrusted kubeconfig text (from a Secret, a file, a request): our own
 * parser with limits, then the sanitizer. Nothing here touches the disk, the network or
 * client-node, so it is safe on hostile input.
 */
export function reviewKubeconfig(text: string, options: { readonly allow: AllowList }): SanitizeResult {
  const parsed = readYaml(text, { limits: KUBECONFIG_LIMITS, strict: true });
  if (!parsed.ok) return { allowed: false, violations: [parsed.violation] };
  return sanitizeKubeconfig(parsed.documents[0], options.allow);
}
