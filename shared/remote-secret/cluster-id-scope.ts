import { secretRef } from './model.ts';

/**
 * Who holds which cluster ID, by the rule istiod follows. An istiod reads the remote secrets of
 * its own namespace only, so IDs are scoped per namespace: the same ID in two namespaces is no
 * clash. Within a namespace, a secret is one claimant however many versions of it are seen (an
 * update replaces the claim, so a secret never clashes with itself), and deleting it frees its
 * IDs. It keeps names, IDs and creation times, never a kubeconfig.
 *
 * When several secrets claim one ID (measured on istiod): while it runs, istiod keeps the
 * claimant it saw first and ignores the others ("cluster has already been registered"); after a
 * restart it usually takes the one whose name sorts first, but not always (client-go replays its
 * cache to a handler added late in map order, so a restart can pick either). The claimant istiod saw first is taken to be
 * the one created first (`creationTimestamp`, then name): it is the holder, the later ones are to
 * blame, and the holder can always be updated.
 */

/** A secret that claims cluster IDs. */
export interface Claimant {
  readonly namespace: string;
  readonly name: string;
  /**
   * `metadata.creationTimestamp` in milliseconds. Undefined for a manifest that was never stored
   * (it would be the newest), unless a stored version of the same secret has one: an update
   * keeps the creation time.
   */
  readonly created?: number | undefined;
}

/** A cluster ID claimed by more than one secret of a namespace. */
export interface ClusterIdConflict {
  readonly namespace: string;
  readonly cluster: string;
  /** Every claimant (`namespace/name`), earliest first: by creation time, then by name. */
  readonly claimants: readonly string[];
  /** The earliest claimant: the one a running istiod saw first and uses. */
  readonly holder: string;
  /** The later claimants, which istiod ignores while it runs: each is reported. */
  readonly later: readonly string[];
  /**
   * The claimant a restarted istiod most likely takes: the one whose name sorts first. Not
   * guaranteed: istiod's /debug/clusterz after the restart says for sure.
   */
  readonly afterRestart: string;
  /**
   * Claimants created in the same second as the holder (creation times have one-second
   * resolution): which of them a running istiod saw first cannot be told from the API, so
   * `holder` is only a guess when this is not empty. istiod's /debug/clusterz says for sure.
   */
  readonly createdWithHolder: readonly string[];
}

export class ClusterIdScope {
  /** namespace -> cluster ID -> name -> claimant. */
  private readonly claims = new Map<string, Map<string, Map<string, Claimant>>>();
  /** `namespace/name` -> the secret's claimant and the IDs it claims. */
  private readonly secrets = new Map<string, { claimant: Claimant; ids: ReadonlySet<string> }>();

  /** Record (or replace) the cluster IDs a secret claims; no IDs is the same as `delete`. */
  set(claimant: Claimant, clusterIds: Iterable<string>): void {
    const ref = secretRef(claimant);
    const stored = this.secrets.get(ref);
    // Only the claimant's own fields: a caller may hand in a whole secret, kubeconfigs and all,
    // and the scope outlives it (a pass over 10,000 secrets kept 90 MB of them alive).
    const kept: Claimant = {
      namespace: claimant.namespace,
      name: claimant.name,
      created: claimant.created ?? stored?.claimant.created,
    };
    const ids = new Set(clusterIds);
    if (stored !== undefined) {
      for (const id of stored.ids) if (!ids.has(id)) this.release(claimant, id);
    }
    if (ids.size === 0) {
      this.secrets.delete(ref);
      return;
    }
    let byId = this.claims.get(claimant.namespace);
    if (byId === undefined) {
      byId = new Map();
      this.claims.set(claimant.namespace, byId);
    }
    for (const id of ids) {
      let claimants = byId.get(id);
      if (claimants === undefined) {
        claimants = new Map();
        byId.set(id, claimants);
      }
      claimants.set(claimant.name, kept);
    }
    this.secrets.set(ref, { claimant: kept, ids });
  }

  delete(secret: Pick<Claimant, 'namespace' | 'name'>): void {
    const stored = this.secrets.get(secretRef(secret));
    if (stored === undefined) return;
    for (const id of stored.ids) this.release(secret, id);
    this.secrets.delete(secretRef(secret));
  }

  /**
   * The conflict `candidate` would be part of over `clusterId` if this version of it were
   * stored (its own stored version gives way to it), or undefined when no other secret of its
   * namespace claims the ID. A stored secret that claims the ID only from this version on makes
   * a new claim, the newest whatever its creation time: a key added to an old secret must not
   * take an ID from the secret istiod uses.
   */
  conflictFor(candidate: Claimant, clusterId: string): ClusterIdConflict | undefined {
    const stored = this.claims.get(candidate.namespace)?.get(clusterId);
    if (stored === undefined) return undefined;
    const others = [...stored.values()].filter((claimant) => claimant.name !== candidate.name);
    if (others.length === 0) return undefined;
    const own = stored.get(candidate.name);
    const created =
      own !== undefined
        ? (candidate.created ?? own.created)
        : this.secrets.has(secretRef(candidate))
          ? undefined
          : candidate.created;
    return conflictOf(candidate.namespace, clusterId, [...others, { ...candidate, created }]);
  }

  /** Every conflict, by namespace and cluster ID. */
  conflicts(): ClusterIdConflict[] {
    const found: ClusterIdConflict[] = [];
    for (const [namespace, byId] of this.claims) {
      for (const [id, claimants] of byId) {
        if (claimants.size > 1) found.push(conflictOf(namespace, id, [...claimants.values()]));
      }
    }
    return found.sort((a, b) => compare(a.namespace, b.namespace) || compare(a.cluster, b.cluster));
  }

  /** Secrets that claim at least one ID. */
  get secretCount(): number {
    return this.secrets.size;
  }

  /** Distinct cluster IDs claimed, counted per namespace. */
  get clusterCount(): number {
    let count = 0;
    for (const byId of this.claims.values()) count += byId.size;
    return count;
  }

  private release(secret: Pick<Claimant, 'namespace' | 'name'>, id: string): void {
    const byId = this.claims.get(secret.namespace);
    const claimants = byId?.get(id);
    if (byId === undefined || claimants === undefined) return;
    claimants.delete(secret.name);
    if (claimants.size === 0) byId.delete(id);
    if (byId.size === 0) this.claims.delete(secret.namespace);
  }
}

// The last timestamp string read: the API server sends one secret's again and again.
let lastCreated: { readonly text: string; readonly millis: number } = { text: '', millis: Number.NaN };

/** A creation timestamp as the API server writes it (RFC 3339) or client-node gives it (a Date). */
export function createdMillis(value: unknown): number | undefined {
  let millis = Number.NaN;
  if (value instanceof Date) millis = value.getTime();
  else if (typeof value === 'string') {
    if (value !== lastCreated.text) lastCreated = { text: value, millis: Date.parse(value) };
    millis = lastCreated.millis;
  }
  return Number.isFinite(millis) ? millis : undefined;
}

function conflictOf(namespace: string, cluster: string, claimants: readonly Claimant[]): ClusterIdConflict {
  const ordered = [...claimants].sort(earliestFirst);
  const refs = ordered.map(secretRef);
  const byName = [...ordered].sort((a, b) => compare(a.name, b.name));
  const first = ordered[0];
  const createdWithHolder = ordered
    .slice(1)
    .filter(({ created }) => first?.created !== undefined && created === first.created)
    .map(secretRef);
  return {
    namespace,
    cluster,
    claimants: refs,
    holder: refs[0] ?? '',
    later: refs.slice(1),
    afterRestart: byName[0] === undefined ? '' : secretRef(byName[0]),
    createdWithHolder,
  };
}

/** Created first, then name first; a claimant never stored (no creation time) is the newest. */
function earliestFirst(a: Claimant, b: Claimant): number {
  if (a.created !== b.created) {
    if (a.created === undefined) return 1;
    if (b.created === undefined) return -1;
    return a.created - b.created;
  }
  return compare(a.name, b.name);
}

/** Code-unit order, as istiod's informer lists names (Kubernetes names are ASCII). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
