import { join } from '../kubeconfig/read.ts';
import { reviewKubeconfig } from '../kubeconfig/review.ts';
import type { AllowList, SanitizedKubeconfig } from '../kubeconfig/sanitize.ts';
import { violation, type Violation } from '../violations.ts';
import { ClusterIdScope, type ClusterIdConflict } from './cluster-id-scope.ts';
import { secretRef, type RemoteCluster, type RemoteSecret } from './model.ts';
import type { ReviewCache } from './review-cache.ts';

export interface DecideOptions {
  readonly allow: AllowList;
  /** The primary's own cluster ID (istiod's CLUSTER_ID); a remote secret must never claim it. */
  readonly localClusterId?: string | undefined;
  /**
   * The other claimants of each cluster ID: the webhook's informer, the secrets of the namespace
   * `create --apply` writes to, the files given to `check`. Without it no duplicate is looked
   * for: `audit` decides duplicates once it has listed every claimant (`duplicateViolation`).
   */
  readonly clusterIds?: ClusterIdScope | undefined;
  /** The webhook's memory of reviewed values; an answer from it carries no kubeconfig. */
  readonly cache?: ReviewCache | undefined;
}

/** The verdict on one cluster of one remote secret. */
export interface ClusterDecision {
  readonly source: string;
  readonly secret: string;
  readonly cluster: string;
  readonly allowed: boolean;
  readonly violations: readonly Violation[];
  /**
   * The kubeconfig istiod would load, as the sanitizer rebuilt it (what `audit` reads risks
   * from). Undefined when the kubeconfig itself has violations, and whenever the review cache is
   * used, as the cache keeps no kubeconfig.
   */
  readonly kubeconfig: SanitizedKubeconfig | undefined;
}

/**
 * The review of one stored value, which depends on the value, its field and the allow-list
 * only: the cluster ID is not in it, so the review cache can answer it for any cluster, and the
 * path of an undecodable value is added on the way out.
 */
export type ValueReview =
  | { readonly decoded: false; readonly reason: string }
  | {
      readonly decoded: true;
      readonly violations: readonly Violation[];
      readonly kubeconfig: SanitizedKubeconfig | undefined;
    };

/**
 * Decide every cluster of one secret. Violations come in a stable order per cluster: the cluster
 * ID's own (invalid, local), the kubeconfig's, then a duplicate claim.
 */
export function decideRemoteSecret(secret: RemoteSecret, options: DecideOptions): ClusterDecision[] {
  const ref = secretRef(secret);
  return secret.clusters.map((cluster) => {
    const path = join(cluster.field, cluster.id);
    const idProblem = clusterIdProblem(cluster.id, path);
    const review = reviewValue(cluster, options);
    const violations = [
      ...(idProblem === undefined ? localClusterId(cluster.id, path, options) : [idProblem]),
      ...(review.decoded ? review.violations : [undecodable(review.reason, path)]),
    ];
    const conflict =
      idProblem === undefined ? options.clusterIds?.conflictFor(secret, cluster.id) : undefined;
    if (conflict !== undefined && conflict.holder !== ref) {
      violations.push(duplicateViolation(conflict, ref, path));
    }
    return {
      source: secret.source,
      secret: ref,
      cluster: cluster.id,
      allowed: violations.length === 0,
      violations,
      kubeconfig: review.decoded ? review.kubeconfig : undefined,
    };
  });
}

/**
 * Decide secrets read together (the files given to `check`): each against the others of its
 * namespace, where two versions of one secret (before and after `--rotate`, say) are one
 * claimant, the version read last standing for it.
 */
export function decideRemoteSecrets(
  secrets: readonly RemoteSecret[],
  options: Omit<DecideOptions, 'clusterIds'>,
): ClusterDecision[] {
  const clusterIds = new ClusterIdScope();
  for (const secret of secrets) clusterIds.set(secret, claimedClusterIds(secret));
  return secrets.flatMap((secret) => decideRemoteSecret(secret, { ...options, clusterIds }));
}

/**
 * Decide `secret` against the secrets stored in its namespace, as the webhook will when it is
 * applied: what `create --apply` checks before it writes. A stored version of the same secret
 * is the one being replaced, not another claimant.
 */
export function decideAgainstStored(
  secret: RemoteSecret,
  stored: readonly RemoteSecret[],
  options: Omit<DecideOptions, 'clusterIds'>,
): ClusterDecision[] {
  const clusterIds = new ClusterIdScope();
  for (const other of stored) clusterIds.set(other, claimedClusterIds(other));
  return decideRemoteSecret(secret, { ...options, clusterIds });
}

/** The cluster IDs a secret claims: its valid ones (an invalid key registers nothing). */
export function claimedClusterIds(secret: Pick<RemoteSecret, 'clusters'>): string[] {
  return secret.clusters.map((cluster) => cluster.id).filter(isClusterId);
}

// Secret data keys: https://kubernetes.io/docs/concepts/configuration/secret/ (IsConfigMapKey).
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
// Istio writes the cluster ID into label values (topology.istio.io/cluster), so it must be one.
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** A data key Istio can use as a cluster ID: a Secret key that is also a label value. */
export function isClusterId(id: string): boolean {
  return clusterIdProblem(id, '') === undefined;
}

function clusterIdProblem(id: string, path: string): Violation | undefined {
  if (!SECRET_KEY.test(id) || id.length > 253) {
    return violation(
      'invalid-cluster-id',
      path,
      `"${id}" is not a valid Secret data key`,
      'use the cluster ID as the key: letters, digits, "-", "_" and "."',
    );
  }
  if (!LABEL_VALUE.test(id) || id.length > 63) {
    return violation(
      'invalid-cluster-id',
      path,
      `"${id}" is not a usable cluster ID: Istio puts it in label values, which allow at most 63 letters, digits, "-", "_" and "." and start and end with a letter or digit`,
      'use a DNS-1123 label such as the remote cluster name, or leave --name unset to use the remote kube-system UID',
    );
  }
  return undefined;
}

function localClusterId(id: string, path: string, options: DecideOptions): Violation[] {
  if (options.localClusterId === undefined || id !== options.localClusterId) return [];
  return [
    violation(
      'local-cluster-id',
      path,
      `"${id}" is the primary's own cluster ID; istiod ignores a remote secret that claims it`,
      'use the remote cluster ID as the key (kubectl remote-secret create --name <remote-id>)',
    ),
  ];
}

/** The annotation `audit` and the hint suggest to make istiod load a secret again. */
export const TOUCH_ANNOTATION = 'kubectl-remote-secret/touched-at';

/**
 * The finding of a later claimant (`secret`) of a shared cluster ID: one conflict naming the
 * secrets, which one istiod uses now and which it most likely takes after a restart, and a fix that causes no
 * outage. istiod does not fall back to a claimant it ignored when the one it uses goes away, so
 * whatever is deleted, the one kept must be touched (or istiod restarted) to be loaded.
 */
export function duplicateViolation(conflict: ClusterIdConflict, secret: string, path: string): Violation {
  const { cluster, holder, afterRestart } = conflict;
  const others = conflict.claimants.filter((claimant) => claimant !== secret);
  const claimedBy =
    others.length === 1 ? `secret ${holder}` : `${others.length} other secrets (${others.join(', ')})`;
  const restart =
    afterRestart === holder
      ? 'and most likely after a restart too, as its name sorts first'
      : `but after a restart it may take ${afterRestart === secret ? 'this one' : afterRestart} instead (usually the name that sorts first; not guaranteed)`;
  return violation(
    'duplicate-cluster-id',
    path,
    `cluster ID "${cluster}" is also claimed by ${claimedBy}, created earlier; istiod uses ${holder} and ignores this one ("cluster has already been registered"), ${restart}`,
    `keep one secret for "${cluster}": delete the one you do not want (or remove the key from it), then touch the one you keep so istiod loads it again (kubectl annotate secret -n ${conflict.namespace || '<namespace>'} <kept> ${TOUCH_ANNOTATION}="$(date +%s)" --overwrite) or restart istiod; istiod does not fall back to the other secret by itself`,
  );
}

/** The command that resolves a conflict keeping the holder: delete the later ones, touch the holder. */
export function duplicateFixCommand(conflict: ClusterIdConflict): string {
  const namespace = conflict.namespace === '' ? '' : ` -n ${conflict.namespace}`;
  const name = (ref: string): string => ref.slice(ref.indexOf('/') + 1);
  return `kubectl delete secret${namespace} ${conflict.later.map(name).join(' ')} && kubectl annotate secret${namespace} ${name(conflict.holder)} ${TOUCH_ANNOTATION}="$(date +%s)" --overwrite`;
}

/** Decode and review one value, or take the answer from the cache. */
function reviewValue(cluster: RemoteCluster, options: DecideOptions): ValueReview {
  const review = (): ValueReview => {
    const { kubeconfig } = cluster;
    if (!kubeconfig.ok) return { decoded: false, reason: kubeconfig.reason };
    const result = reviewKubeconfig(kubeconfig.text, { allow: options.allow });
    return {
      decoded: true,
      violations: result.violations,
      kubeconfig: result.allowed ? result.config : undefined,
    };
  };
  return options.cache === undefined ? review() : options.cache.review(cluster, options.allow, review);
}

function undecodable(reason: string, path: string): Violation {
  return violation(
    'invalid-kubeconfig',
    path,
    reason,
    're-create the secret with `kubectl remote-secret create`',
  );
}
