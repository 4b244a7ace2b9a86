import { ClusterIdIndex } from '../controller/cluster-id-index.ts';
import { reviewKubeconfig } from '../kubeconfig/review.ts';
import type { AllowList, SanitizedKubeconfig } from '../kubeconfig/sanitize.ts';
import { decideRemoteSecret, type KubeconfigReviewer } from '../remote-secret/decide.ts';
import type { ManifestError } from '../remote-secret/manifests.ts';
import { secretRef, type RemoteSecret } from '../remote-secret/model.ts';
import type { Violation } from '../violations.ts';
import { riskNotes, type RiskNote, type RiskOptions } from './risk-notes.ts';

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
}

/** A cluster ID claimed by several secrets; istiod keeps the first claim it reads. */
export interface SharedClusterId {
  readonly cluster: string;
  readonly secrets: readonly string[];
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
 * (`decideRemoteSecret`). Cluster IDs are indexed across pages, so a secret on page 3 that
 * claims an ID held on page 1 is found; like istiod, the first secret read keeps the ID. Each
 * namespace has its own index: an istiod reads the remote secrets of its own namespace only.
 */
export class Auditor {
  private readonly indexes = new Map<string, ClusterIdIndex>();
  private readonly clusters: ClusterFinding[] = [];
  private readonly errors: ManifestError[] = [];
  private readonly totals = { secrets: 0, clusters: 0, violations: 0, risks: 0 };

  /**
   * `keepFindings: false` (the webhook's background audit) hands each page's findings back from
   * `add` and keeps only the cluster ID indexes and the counts, so `report()` has a summary and
   * shared cluster IDs but no `clusters`: memory stays flat however many secrets are stored.
   */
  constructor(
    private readonly options: AuditOptions,
    private readonly retention: { readonly keepFindings: boolean } = { keepFindings: true },
  ) {}

  /** Audit these secrets (one page); returns their findings, in order. */
  add(secrets: readonly RemoteSecret[], errors: readonly ManifestError[] = []): ClusterFinding[] {
    if (this.retention.keepFindings) this.errors.push(...errors);
    const found: ClusterFinding[] = [];
    for (const secret of secrets) {
      const ref = secretRef(secret);
      this.totals.secrets += 1;
      let index = this.indexes.get(secret.namespace);
      if (index === undefined) {
        index = new ClusterIdIndex();
        this.indexes.set(secret.namespace, index);
      }
      const claims = index;
      // The decision reviews each kubeconfig once; keep what the sanitizer rebuilt for the notes.
      const allowed = new Map<string, SanitizedKubeconfig>();
      const review: KubeconfigReviewer = (text, options) => {
        const result = reviewKubeconfig(text, options);
        if (result.allowed) allowed.set(text, result.config);
        return result;
      };
      const decisions = decideRemoteSecret(secret, { ...this.options, review }, (id) =>
        claims.holderOf(id, ref),
      );
      claims.upsert(ref, new Map(secret.clusters.map((cluster) => [cluster.id, ''])));
      secret.clusters.forEach((cluster, position) => {
        const config = cluster.kubeconfig.ok ? allowed.get(cluster.kubeconfig.text) : undefined;
        const finding: ClusterFinding = {
          secret: ref,
          cluster: cluster.id,
          violations: decisions[position]?.violations ?? [],
          risks: config === undefined ? [] : riskNotes(config, this.options),
        };
        this.totals.clusters += 1;
        this.totals.violations += finding.violations.length;
        this.totals.risks += finding.risks.length;
        found.push(finding);
      });
    }
    if (this.retention.keepFindings) this.clusters.push(...found);
    return found;
  }

  report(): AuditReport {
    const sharedClusterIds = [...this.indexes.values()]
      .flatMap((index) => [...index.conflicts()].map(([cluster, secrets]) => ({ cluster, secrets })))
      .sort((a, b) => compare(a.cluster, b.cluster) || compare(a.secrets[0] ?? '', b.secrets[0] ?? ''));
    return {
      clusters: this.clusters,
      sharedClusterIds,
      errors: this.errors,
      summary: { ...this.totals },
    };
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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
