import { hash } from 'node:crypto';
import type { AllowList } from '../kubeconfig/sanitize.ts';
import type { ValueReview } from './decide.ts';
import type { RemoteCluster } from './model.ts';

/** A value up to this many characters is kept to compare with; a longer one, its SHA-256. */
export const TEXT_KEY_MAX_CHARS = 16 * 1024;
/** The most characters the kept values hold together (a one-byte string is a byte a character). */
export const KEY_BUDGET_CHARS = 4 * 1024 * 1024;
/** Values kept under one fingerprint; a full bucket lets its oldest go. */
export const BUCKET_ENTRIES = 8;
/** How many characters of a value's end go into its fingerprint. */
const FINGERPRINT_TAIL = 48;

interface Entry {
  /** The value as stored, or its SHA-256 when `hashed`: compared in full on every lookup. */
  readonly key: string;
  /** The allow-list and the field the value was read under. */
  readonly context: string;
  readonly hashed: boolean;
  readonly answer: ValueReview;
}

/** One generation: buckets of entries by fingerprint, and what they hold. */
class Generation {
  readonly buckets = new Map<string, Entry[]>();
  entries = 0;
  chars = 0;

  find(fingerprint: string, key: string, hashed: boolean): Entry | undefined {
    const bucket = this.buckets.get(fingerprint);
    if (bucket === undefined) return undefined;
    for (const entry of bucket) if (entry.hashed === hashed && entry.key === key) return entry;
    return undefined;
  }

  add(fingerprint: string, entry: Entry): void {
    let bucket = this.buckets.get(fingerprint);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(fingerprint, bucket);
    }
    const same = bucket.findIndex((kept) => kept.hashed === entry.hashed && kept.key === entry.key);
    const dropped =
      same !== -1 ? bucket.splice(same, 1) : bucket.length >= BUCKET_ENTRIES ? bucket.splice(0, 1) : [];
    for (const gone of dropped) {
      this.entries -= 1;
      this.chars -= gone.key.length;
    }
    bucket.push(entry);
    this.entries += 1;
    this.chars += entry.key.length;
  }
}

/**
 * The webhook's memory of reviewed values, keyed on everything a review depends on: the
 * allow-list, the field (the same string is different bytes under `data` and `stringData`) and
 * the value as the Secret stores it. The API server sends the same secret again and again
 * (retries, `kubectl apply` loops, GitOps re-syncs), and a value seen before is answered without
 * decoding, parsing or sanitizing it again. The answer holds no cluster ID (the decision adds
 * paths on the way out), no kubeconfig and no token.
 *
 * A lookup hashes only a fingerprint (the value's length and last characters) and then compares
 * the whole value with the few kept under it: exact, with no collision to reason about, and far
 * cheaper than hashing kilobytes (SHA-256, or V8's own string hash, which is most of the cost of a
 * miss otherwise). A value over `TEXT_KEY_MAX_CHARS` is compared by its SHA-256 instead. Values
 * made to share a fingerprint only share its bucket of `BUCKET_ENTRIES`: they can push each other
 * out, never get another's answer.
 *
 * Two generations instead of a strict LRU list: answers go into the recent one, an answer found
 * in the older one is copied forward, and once the recent generation holds half of `maxEntries`
 * or half of `keyBudget` characters, the older one is dropped whole and the recent one takes its
 * place. So at most `maxEntries` answers and `keyBudget` characters are kept, what was used in the
 * last generation stays, and no lookup pays for reordering a list.
 */
export class ReviewCache {
  private recent = new Generation();
  private older = new Generation();
  private readonly generationEntries: number;
  private readonly generationChars: number;
  // The allow-list is the same set on every call in practice: spell it once per set.
  private allowed: { readonly set: AllowList; readonly key: string } | undefined;

  constructor(maxEntries = 1024, keyBudget = KEY_BUDGET_CHARS) {
    this.generationEntries = Math.max(1, Math.floor(maxEntries / 2));
    this.generationChars = Math.max(TEXT_KEY_MAX_CHARS, Math.floor(keyBudget / 2));
  }

  /** Answers kept (one found in both generations counts twice). */
  get size(): number {
    return this.recent.entries + this.older.entries;
  }

  /** Characters held by the kept values (and hashes). */
  get keySize(): number {
    return this.recent.chars + this.older.chars;
  }

  review(cluster: RemoteCluster, allow: AllowList, review: () => ValueReview): ValueReview {
    if (this.allowed?.set !== allow) this.allowed = { set: allow, key: [...allow].sort().join(',') };
    const context = `${this.allowed.key}|${cluster.field}`;
    const { value } = cluster;
    const hashed = value.length > TEXT_KEY_MAX_CHARS;
    const key = hashed ? hash('sha256', value, 'base64') : value;
    // A text fingerprint starts with a digit, a hashed one with `#`.
    const fingerprint = hashed ? `#${key}` : `${value.length}:${value.slice(-FINGERPRINT_TAIL)}`;
    const recent = this.recent.find(fingerprint, key, hashed);
    const found = recent ?? this.older.find(fingerprint, key, hashed);
    if (found?.context === context) {
      if (recent === undefined) this.keep(fingerprint, found);
      return found.answer;
    }
    const reviewed = review();
    const answer: ValueReview = reviewed.decoded
      ? { decoded: true, violations: reviewed.violations, kubeconfig: undefined }
      : reviewed;
    // The same value read another way (another allow-list or field) takes the place of the first.
    this.keep(fingerprint, { key, context, hashed, answer });
    return answer;
  }

  private keep(fingerprint: string, entry: Entry): void {
    const replaces = this.recent.find(fingerprint, entry.key, entry.hashed) !== undefined;
    if (
      (!replaces && this.recent.entries >= this.generationEntries) ||
      this.recent.chars + entry.key.length > this.generationChars
    ) {
      this.older = this.recent;
      this.recent = new Generation();
    }
    this.recent.add(fingerprint, entry);
  }
}
