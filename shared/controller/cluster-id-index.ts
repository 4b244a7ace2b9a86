/**
 * Which secret holds which cluster ID, with Istio's semantics: the index is keyed by secret
 * (`namespace/name`), a secret's own update never clashes with itself, and deleting a secret
 * frees its IDs. When two secrets claim one ID, the one that claimed it first holds it, as
 * istiod ignores the later one. It keeps IDs and content hashes only, never kubeconfigs.
 */
export class ClusterIdIndex {
  /** secret -> cluster ID -> hash of that cluster's kubeconfig. */
  private readonly bySecret = new Map<string, Map<string, string>>();
  /** cluster ID -> secrets claiming it, in the order they claimed it. */
  private readonly byCluster = new Map<string, Set<string>>();

  /** Record (or replace) the cluster IDs a secret holds. */
  upsert(secret: string, clusters: ReadonlyMap<string, string>): void {
    const previous = this.bySecret.get(secret);
    if (previous !== undefined) {
      for (const id of previous.keys()) if (!clusters.has(id)) this.release(id, secret);
    }
    for (const id of clusters.keys()) {
      let claimants = this.byCluster.get(id);
      if (claimants === undefined) {
        claimants = new Set();
        this.byCluster.set(id, claimants);
      }
      claimants.add(secret);
    }
    if (clusters.size === 0) this.bySecret.delete(secret);
    else this.bySecret.set(secret, new Map(clusters));
  }

  delete(secret: string): void {
    const previous = this.bySecret.get(secret);
    if (previous === undefined) return;
    for (const id of previous.keys()) this.release(id, secret);
    this.bySecret.delete(secret);
  }

  /** The secret that holds `clusterId`, ignoring `except` (the secret being checked). */
  holderOf(clusterId: string, except?: string): string | undefined {
    const claimants = this.byCluster.get(clusterId);
    if (claimants === undefined) return undefined;
    for (const secret of claimants) if (secret !== except) return secret;
    return undefined;
  }

  /** Cluster IDs claimed by more than one secret, with their claimants in order. */
  conflicts(): Map<string, string[]> {
    const result = new Map<string, string[]>();
    for (const [id, claimants] of this.byCluster) if (claimants.size > 1) result.set(id, [...claimants]);
    return result;
  }

  hashOf(secret: string, clusterId: string): string | undefined {
    return this.bySecret.get(secret)?.get(clusterId);
  }

  get secretCount(): number {
    return this.bySecret.size;
  }

  get clusterCount(): number {
    return this.byCluster.size;
  }

  private release(id: string, secret: string): void {
    const claimants = this.byCluster.get(id);
    if (claimants === undefined) return;
    claimants.delete(secret);
    if (claimants.size === 0) this.byCluster.delete(id);
  }
}
