import { secretRef } from '../remote-secret/model.ts';
import type { ViolationCode } from '../violations.ts';
import type { ClusterFinding, DuplicateFinding } from './audit.ts';
import type { RiskCode } from './risk-notes.ts';

/** A stored Secret as the API server names it: enough to point an Event or a report at it. */
export interface StoredSecretRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string | undefined;
  readonly resourceVersion?: string | undefined;
}

/** A code found at a path of one cluster's kubeconfig (or of the secret, cluster ''). */
export interface Located<C extends string> {
  readonly cluster: string;
  readonly code: C;
  readonly path: string;
}

/**
 * What the background audit keeps of one stored secret after deciding it: codes and paths, never
 * a kubeconfig, a token or a message that could quote one.
 */
export interface StoredSecretStatus extends StoredSecretRef {
  /** `namespace/name`. */
  readonly secret: string;
  /** Every cluster ID the secret holds, clean ones included. */
  readonly clusters: readonly string[];
  readonly violations: readonly Located<ViolationCode>[];
  readonly risks: readonly Located<RiskCode>[];
  /** The distinct fixes of its violations (fixed texts naming codes, flags and secrets). */
  readonly hints: readonly string[];
  /** When each cluster's token expires (Unix seconds), for tokens with an `exp`. */
  readonly tokenExpiry: readonly { readonly cluster: string; readonly expires: number }[];
}

/** One secret's status from its findings, as the shared `Auditor` returned them. */
export function storedSecretStatus(
  ref: StoredSecretRef,
  findings: readonly ClusterFinding[],
): StoredSecretStatus {
  const violations: Located<ViolationCode>[] = [];
  const risks: Located<RiskCode>[] = [];
  const hints = new Set<string>();
  for (const finding of findings) {
    for (const found of finding.violations) {
      violations.push({ cluster: finding.cluster, code: found.code, path: found.path });
      if (found.hint !== undefined) hints.add(found.hint);
    }
    for (const note of finding.risks)
      risks.push({ cluster: finding.cluster, code: note.code, path: note.path });
  }
  return {
    ...ref,
    secret: secretRef(ref),
    clusters: findings.map((finding) => finding.cluster),
    violations,
    risks,
    hints: [...hints],
    tokenExpiry: findings.flatMap((finding) =>
      finding.tokenExpires === undefined ? [] : [{ cluster: finding.cluster, expires: finding.tokenExpires }],
    ),
  };
}

/**
 * A status with the duplicate claims found once the pass had seen every claimant: a later
 * claimant may be listed (and decided) before the secret created first.
 */
export function withDuplicates(
  status: StoredSecretStatus,
  duplicates: readonly DuplicateFinding[],
): StoredSecretStatus {
  if (duplicates.length === 0) return status;
  const hints = new Set(status.hints);
  for (const found of duplicates) if (found.violation.hint !== undefined) hints.add(found.violation.hint);
  return {
    ...status,
    violations: [
      ...status.violations,
      ...duplicates.map((found) => ({
        cluster: found.cluster,
        code: found.violation.code,
        path: found.violation.path,
      })),
    ],
    hints: [...hints],
  };
}

/**
 * A stored secret that cannot be read as a remote secret at all is non-compliant with
 * `invalid-secret`, as the webhook decides such an object at admission. The reader's message is
 * left out: it may quote the object.
 */
export function unreadableSecretStatus(ref: StoredSecretRef): StoredSecretStatus {
  return {
    ...ref,
    secret: secretRef(ref),
    clusters: [],
    violations: [{ cluster: '', code: 'invalid-secret', path: '' }],
    risks: [],
    hints: ['store a v1 Secret whose data values are base64 kubeconfigs'],
    tokenExpiry: [],
  };
}

export function isNonCompliant(status: StoredSecretStatus): boolean {
  return status.violations.length > 0;
}

/** The outcome of one complete pass over the stored secrets. */
export interface PassResult {
  /**
   * Non-compliant now and not announced yet: newly non-compliant since the last pass, or whose
   * announcement (Event) failed before. In the order they were given.
   */
  readonly toAnnounce: readonly StoredSecretStatus[];
  /**
   * Stored secrets having each violation code (a secret counts once per code, however many of
   * its clusters have it). A code seen in an earlier pass and gone now is here with 0, so a
   * gauge drops to 0 instead of keeping its last value.
   */
  readonly counts: ReadonlyMap<ViolationCode, number>;
  /** Stored secrets with at least one violation. */
  readonly nonCompliant: number;
}

/**
 * Remembers, between passes, which non-compliant secrets have been announced (one Warning Event
 * each), so a secret that stays non-compliant is announced once, and one that turns compliant
 * (or is deleted) and then non-compliant again is announced again. Keyed by namespace/name and
 * uid: a secret deleted and created again under the same name is a new object. Holds one key
 * per non-compliant secret and nothing else.
 */
export class ComplianceTracker {
  private announced = new Set<string>();
  private readonly seenCodes = new Set<ViolationCode>();

  /**
   * Take the statuses of a complete pass (compliant ones may be left out; every non-compliant one
   * must be there). A pass that failed half-way must not be given: it would forget secrets it
   * never reached, and announce them again.
   */
  completePass(statuses: Iterable<StoredSecretStatus>): PassResult {
    const toAnnounce: StoredSecretStatus[] = [];
    const stillAnnounced = new Set<string>();
    const counts = new Map<ViolationCode, number>();
    for (const code of this.seenCodes) counts.set(code, 0);
    let nonCompliant = 0;
    for (const status of statuses) {
      if (!isNonCompliant(status)) continue;
      nonCompliant += 1;
      for (const code of new Set(status.violations.map((found) => found.code))) {
        counts.set(code, (counts.get(code) ?? 0) + 1);
        this.seenCodes.add(code);
      }
      const key = trackingKey(status);
      if (this.announced.has(key)) stillAnnounced.add(key);
      else toAnnounce.push(status);
    }
    // Compliant and deleted secrets are forgotten: if they turn non-compliant again, that is news.
    this.announced = stillAnnounced;
    return { toAnnounce, counts, nonCompliant };
  }

  /** Its Event was written (or already there): stay quiet about it while it stays non-compliant. */
  markAnnounced(status: StoredSecretStatus): void {
    this.announced.add(trackingKey(status));
  }

  get announcedCount(): number {
    return this.announced.size;
  }
}

function trackingKey(status: StoredSecretStatus): string {
  return `${status.secret}\u0000${status.uid ?? ''}`;
}
