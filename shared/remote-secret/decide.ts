import { ClusterIdIndex } from '../controller/cluster-id-index.ts';
import { join } from '../kubeconfig/read.ts';
import { reviewKubeconfig } from '../kubeconfig/review.ts';
import type { AllowList } from '../kubeconfig/sanitize.ts';
import { violation, type Violation } from '../violations.ts';
import { secretRef, type RemoteCluster, type RemoteSecret } from './model.ts';
import type { ReviewCache } from './review-cache.ts';

export interface DecideOptions {
  readonly allow: AllowList;
  /** The primary's own cluster ID (istiod's CLUSTER_ID); a remote secret must never claim it. */
  readonly localClusterId?: string | undefined;
  /** How to review one kubeconfig; defaults to `reviewKubeconfig`. */
  readonly review?: KubeconfigReviewer | undefined;
  /** Remembers violations by stored value (the webhook's); without it every value is reviewed. */
  readonly cache?: ReviewCache | undefined;
}

export type KubeconfigReviewer = (
  text: string,
  options: { readonly allow: AllowList },
) => { readonly violations: readonly Violation[] };

/** The verdict on one cluster of one remote secret. */
export interface ClusterDecision {
  readonly source: string;
  readonly secret: string;
  readonly cluster: string;
  readonly allowed: boolean;
  readonly violations: readonly Violation[];
}

/**
 * Decide every cluster of one secret. `holderOf` says which other secret already holds a
 * cluster ID (the webhook asks its informer's index, `check` the secrets read before this one).
 */
export function decideRemoteSecret(
  secret: RemoteSecret,
  options: DecideOptions,
  holderOf: (clusterId: string) => string | undefined = () => undefined,
): ClusterDecision[] {
  const ref = secretRef(secret);
  return secret.clusters.map((cluster) => {
    const violations = [
      ...clusterIdViolations(cluster, options, holderOf),
      ...kubeconfigViolations(cluster, options),
    ];
    return {
      source: secret.source,
      secret: ref,
      cluster: cluster.id,
      allowed: violations.length === 0,
      violations,
    };
  });
}

/**
 * Decide a set of secrets read together (files given to `check`): a cluster ID claimed by more
 * than one secret is held by the first and reported on every later one.
 */
export function decideRemoteSecrets(
  secrets: readonly RemoteSecret[],
  options: DecideOptions,
): ClusterDecision[] {
  const index = new ClusterIdIndex();
  const decisions: ClusterDecision[] = [];
  for (const secret of secrets) {
    // Keyed by where it was read too: two files may hold the same namespace/name.
    const key = `${secretRef(secret)} (${secret.source})`;
    decisions.push(...decideRemoteSecret(secret, options, (id) => index.holderOf(id, key)));
    // Only IDs matter here; the webhook's index also keeps content hashes.
    index.upsert(key, new Map(secret.clusters.map((cluster) => [cluster.id, ''])));
  }
  return decisions;
}

// Secret data keys: https://kubernetes.io/docs/concepts/configuration/secret/ (IsConfigMapKey).
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
// Istio writes the cluster ID into label values (topology.istio.io/cluster), so it must be one.
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function clusterIdViolations(
  cluster: RemoteCluster,
  options: DecideOptions,
  holderOf: (clusterId: string) => string | undefined,
): Violation[] {
  const path = join(cluster.field, cluster.id);
  const id = cluster.id;
  if (!SECRET_KEY.test(id) || id.length > 253) {
    return [
      violation(
        'invalid-cluster-id',
        path,
        `"${id}" is not a valid Secret data key`,
        'use the cluster ID as the key: letters, digits, "-", "_" and "."',
      ),
    ];
  }
  if (!LABEL_VALUE.test(id) || id.length > 63) {
    return [
      violation(
        'invalid-cluster-id',
        path,
        `"${id}" is not a usable cluster ID: Istio puts it in label values, which allow at most 63 letters, digits, "-", "_" and "." and start and end with a letter or digit`,
        'use a DNS-1123 label such as the remote cluster name, or leave --name unset to use the remote kube-system UID',
      ),
    ];
  }
  const found: Violation[] = [];
  if (options.localClusterId !== undefined && id === options.localClusterId) {
    found.push(
      violation(
        'local-cluster-id',
        path,
        `"${id}" is the primary's own cluster ID; istiod ignores a remote secret that claims it`,
        'use the remote cluster ID as the key (kubectl remote-secret create --name <remote-id>)',
      ),
    );
  }
  const holder = holderOf(id);
  if (holder !== undefined) {
    found.push(
      violation(
        'duplicate-cluster-id',
        path,
        `cluster ID "${id}" is already held by secret ${holder}; istiod ignores the second claim`,
        `remove this key, or delete ${holder} first if this secret replaces it`,
      ),
    );
  }
  return found;
}

function kubeconfigViolations(cluster: RemoteCluster, options: DecideOptions): readonly Violation[] {
  const review = (): readonly Violation[] => {
    const { kubeconfig } = cluster;
    if (!kubeconfig.ok) {
      return [
        violation(
          'invalid-kubeconfig',
          join(cluster.field, cluster.id),
          kubeconfig.reason,
          're-create the secret with `kubectl remote-secret create`',
        ),
      ];
    }
    return (options.review ?? reviewKubeconfig)(kubeconfig.text, { allow: options.allow }).violations;
  };
  return options.cache === undefined ? review() : options.cache.violations(cluster, options.allow, review);
}
