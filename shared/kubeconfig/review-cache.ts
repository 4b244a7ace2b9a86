import { createHash } from 'node:crypto';
import type { Violation } from '../violations.ts';
import { reviewKubeconfig } from './review.ts';
import type { AllowList } from './sanitize.ts';

/**
 * `reviewKubeconfig`, remembered by the SHA-256 of the text, as istiod skips a kubeconfig whose
 * hash it has seen: the API server sends the same secret again and again (retries, `kubectl
 * apply` loops, GitOps re-syncs). Only the violations are kept, never the kubeconfig or the
 * sanitized config with its token; at most `maxEntries`, least recently used out first.
 */
export function cachedKubeconfigReview(
  maxEntries = 1024,
): (text: string, options: { readonly allow: AllowList }) => { readonly violations: readonly Violation[] } {
  const cache = new Map<string, readonly Violation[]>();
  return (text, options) => {
    const key = `${[...options.allow].sort().join(',')}|${createHash('sha256').update(text).digest('base64')}`;
    let violations = cache.get(key);
    if (violations === undefined) {
      violations = reviewKubeconfig(text, options).violations;
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value ?? '');
    } else {
      cache.delete(key);
    }
    cache.set(key, violations);
    return { violations };
  };
}
