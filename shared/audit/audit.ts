import { join } from '../kubeconfig/read.ts';
import type { AllowList } from '../kubeconfig/sanitize.ts';
import { ClusterIdScope, type ClusterIdConflict } from '../remote-secret/cluster-id-scope.ts';
import {
  claimedClusterIds,
  decideRemoteSecret,
  duplicateFixCommand,
  duplicateViolation,
} from '../remote-secret/decide.ts';
import type { ManifestError } from '../remote-secret/manifests.ts';
import { secretRef, type RemoteSecret } from '../remote-secret/model.ts';
import type { Violation } from '../violations.ts';
import { riskNotes, tokenExpiresAt, type RiskNote, type RiskOptions } from './risk-notes.ts';

export interface AuditOptions extends RiskOptions {
  readonly allow: AllowList;
  readonly localClusterId?: string | undefined;
}

/** One cluster of one stored secret: the webhook's verdict on it, and the risks it carries. */
export interface ClusterFinding {
  readonly secret: string;
  readonly cluster: string;
  readonly violations: readonly Violation[];
  readonly risks: readonly RiskNote[];
  /** When the current context's token expires (Unix seconds), for an allowed kubeconfig whose token has an `exp`. */
  readonly tokenExpires?: number | undefined;
}

/** A cluster ID claimed by several secrets of one namespace, and how to settle it safely. */
export interface SharedClusterId {
  readonly namespace: string;
  readonly cluster: string;
  /** Every claimant, earliest created first. */
  readonly secrets: readonly string[];
  /** The one a running istiod uses: it saw it first. */
  readonly usedNow: string;
  /**
   * False when another claimant was created in the same second: then `usedNow` is a guess, and
   * istiod's own view (`verify --istiod`) must say which one it uses before anything is deleted.
   */
  readonly usedNowCertain: boolean;
  /**
   * The one an istiod restarted now would most likely take: its name sorts first. A guess, as
   * istiod's choice after a restart is not guaranteed (`verify --istiod` says for sure).
   */
  readonly usedAfterRestart: string;
  /** One command that keeps `usedNow`: delete the others, then touch it so istiod loads it. */
  readonly fix: string;
}

/** The finding a later claimant of a shared cluster ID gets, once every claimant is known. */
export interface DuplicateFinding {
  readonly namespace: string;
  readonly name: string;
  readonly cluster: string;
  readonly violation: Violation;
}

export interface AuditReport {
  readonly clusters: readonly ClusterFinding[];
  readonly sharedClusterIds: readonly SharedClusterId[];
  /** Secrets that could not be read as remote secrets at all. */
  readonly errors: readonly ManifestError[];
  readonly summary: AuditSummary;
}

export interface AuditSummary {
  readonly secrets: number;
  readonly clusters: number;
  readonly violations: number;
  readonly risks: number;
}

/**
 * Audits stored secrets as they arrive, page by page, with the webhook's own decision
 * (`decideRemoteSecret`). A page is decided and dropped, but who claims which cluster ID is kept
 * (`ClusterIdScope`, per namespace as istiod reads): which of two claimants is to blame depends
 * on their creation times, not on the order they are listed in, so duplicates are decided once
 * every claimant is known, by the webhook's own `duplicateViolation`.
 */
export class Auditor {
  private readonly clusterIds = new ClusterIdScope();
  private readonly clusters: ClusterFinding[] = [];
  private readonly errors: ManifestError[] = [];
  private readonly totals = { secrets: 0, clusters: 0, violations: 0, risks: 0 };

  /**
   * `keepFindings: false` (the webhook's background audit) hands each page's findings back from
   * `add` and keeps only the cluster ID claims and the counts, so `report()` has a summary and
   * shared cluster IDs but no `clusters`, and `duplicates()` the findings to add.
   */
  constructor(
    private readonly options: AuditOptions,
    private readonly retention: { readonly keepFindings: boolean } = { keepFindings: true },
  ) {}

  /** Audit these secrets (one page); returns their findings, in order, duplicates not yet in. */
  add(secrets: readonly RemoteSecret[], errors: readonly ManifestError[] = []): ClusterFinding[] {
    if (this.retention.keepFindings) this.errors.push(...errors);
    const found: ClusterFinding[] = [];
    for (const secret of secrets) {
      this.totals.secrets += 1;
      this.clusterIds.set(secret, claimedClusterIds(secret));
      for (const decision of decideRemoteSecret(secret, this.options)) {
        const finding: ClusterFinding = {
          secret: decision.secret,
          cluster: decision.cluster,
          violations: decision.violations,
          risks:
            decision.kubeconfig === undefined
              ? []
              : riskNotes(decision.kubeconfig, { ...this.options, renewal: secret.renewal }),
          tokenExpires: decision.kubeconfig === undefined ? undefined : tokenExpiresAt(decision.kubeconfig),
        };
        this.totals.clusters += 1;
        this.totals.violations += finding.violations.length;
        this.totals.risks += finding.risks.length;
        found.push(finding);
      }
    }
    if (this.retention.keepFindings) this.clusters.push(...found);
    return found;
  }

  /** The later claimant of each shared cluster ID, with its finding, by namespace and ID. */
  duplicates(): DuplicateFinding[] {
    return this.clusterIds.conflicts().flatMap((conflict) =>
      conflict.later.map((ref) => {
        const name = ref.slice(ref.indexOf('/') + 1);
        // Stored secrets hold every value under data: the API server folds stringData into it.
        const path = join('data', conflict.cluster);
        return {
          namespace: conflict.namespace,
          name,
          cluster: conflict.cluster,
          violation: duplicateViolation(conflict, ref, path),
        };
      }),
    );
  }

  report(): AuditReport {
    const conflicts = this.clusterIds.conflicts();
    const duplicates = this.duplicates();
    const byFinding = new Map<string, Violation[]>();
    for (const found of duplicates) {
      const key = `${secretRef(found)}\u0000${found.cluster}`;
      byFinding.set(key, [...(byFinding.get(key) ?? []), found.violation]);
    }
    const clusters = this.clusters.map((finding) => {
      const extra = byFinding.get(`${finding.secret}\u0000${finding.cluster}`);
      return extra === undefined ? finding : { ...finding, violations: [...finding.violations, ...extra] };
    });
    return {
      clusters,
      sharedClusterIds: conflicts.map(sharedClusterId),
      errors: this.errors,
      summary: { ...this.totals, violations: this.totals.violations + duplicates.length },
    };
  }
}

function sharedClusterId(conflict: ClusterIdConflict): SharedClusterId {
  return {
    namespace: conflict.namespace,
    cluster: conflict.cluster,
    secrets: conflict.claimants,
    usedNow: conflict.holder,
    usedNowCertain: conflict.createdWithHolder.length === 0,
    usedAfterRestart: conflict.afterRestart,
    fix: duplicateFixCommand(conflict),
  };
}

/** Audit a set of secrets read at once. */
export function auditSecrets(
  secrets: readonly RemoteSecret[],
  options: AuditOptions,
  errors: readonly ManifestError[] = [],
): AuditReport {
  const auditor = new Auditor(options);
  auditor.add(secrets, errors);
  return auditor.report();
}
