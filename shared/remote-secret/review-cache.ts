import { hash } from 'node:crypto';
import type { AllowList } from '../kubeconfig/sanitize.ts';
import type { Violation } from '../violations.ts';
import type { RemoteCluster } from './model.ts';

/**
 * The kubeconfig violations of a cluster, remembered by the SHA-256 of the value as the Secret
 * stores it, as istiod skips a kubeconfig whose hash it has seen: the API server sends the same
 * secret again and again (retries, `kubectl apply` loops, GitOps re-syncs), and a value seen
 * before is answered without decoding, parsing or sanitizing it again. Only violations are kept,
 * never a kubeconfig or a token; at most `maxEntries`, least recently used out first.
 */
export class ReviewCache {
  private readonly entries = new Map<string, readonly Violation[]>();
  // The allow-list is the same set on every call in practice: spell it once per set.
  private allowed: { readonly set: AllowList; readonly key: string } | undefined;

  constructor(private readonly maxEntries = 1024) {}

  get size(): number {
    return this.entries.size;
  }

  violations(
    cluster: RemoteCluster,
    allow: AllowList,
    review: () => readonly Violation[],
  ): readonly Violation[] {
    if (this.allowed?.set !== allow) this.allowed = { set: allow, key: [...allow].sort().join(',') };
    // The field is part of the key: the same string means different bytes under data and stringData.
    const key = `${this.allowed.key}|${cluster.field}|${hash('sha256', cluster.value, 'base64')}`;
    let violations = this.entries.get(key);
    if (violations === undefined) {
      violations = review();
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value ?? '');
    } else {
      this.entries.delete(key);
    }
    this.entries.set(key, violations);
    return violations;
  }
}
