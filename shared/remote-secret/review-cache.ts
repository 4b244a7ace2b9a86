import { hash } from 'node:crypto';
import type { AllowList } from '../kubeconfig/sanitize.ts';
import type { ValueReview } from './decide.ts';
import type { RemoteCluster } from './model.ts';

/**
 * The webhook's memory of reviewed values, keyed on everything a review depends on: the
 * allow-list, the field (the same string is different bytes under `data` and `stringData`) and
 * the SHA-256 of the value as the Secret stores it. The API server sends the same secret again
 * and again (retries, `kubectl apply` loops, GitOps re-syncs), and a value seen before is
 * answered without decoding, parsing or sanitizing it again. The answer holds no cluster ID (the
 * decision adds paths on the way out), no kubeconfig and no token; at most `maxEntries` are
 * kept, least recently used out first.
 */
export class ReviewCache {
  private readonly entries = new Map<string, ValueReview>();
  // The allow-list is the same set on every call in practice: spell it once per set.
  private allowed: { readonly set: AllowList; readonly key: string } | undefined;

  constructor(private readonly maxEntries = 1024) {}

  get size(): number {
    return this.entries.size;
  }

  review(cluster: RemoteCluster, allow: AllowList, review: () => ValueReview): ValueReview {
    if (this.allowed?.set !== allow) this.allowed = { set: allow, key: [...allow].sort().join(',') };
    const key = `${this.allowed.key}|${cluster.field}|${hash('sha256', cluster.value, 'base64')}`;
    let answer = this.entries.get(key);
    if (answer === undefined) {
      const reviewed = review();
      answer = reviewed.decoded
        ? { decoded: true, violations: reviewed.violations, kubeconfig: undefined }
        : reviewed;
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value ?? '');
    } else {
      this.entries.delete(key);
    }
    this.entries.set(key, answer);
    return answer;
  }
}
