/** Istio's label that marks a Secret as holding remote cluster kubeconfigs. */
export const MULTICLUSTER_LABEL = 'istio/multiCluster';
/** istioctl's annotation naming the cluster a generated secret is for. */
export const CLUSTER_ANNOTATION = 'networking.istio.io/cluster';

import type { RenewalPolicy } from './renewal.ts';

/** One data key of a remote secret: a cluster ID and the kubeconfig that reaches it. */
export interface RemoteCluster {
  readonly id: string;
  /** Where the value came from; stringData wins over data for the same key, as the API server merges. */
  readonly field: 'data' | 'stringData';
  /** The value as the Secret holds it: base64 under `data`, the text itself under `stringData`. */
  readonly value: string;
  /** The kubeconfig text, or the reason it could not be decoded to text. */
  readonly kubeconfig:
    { readonly ok: true; readonly text: string } | { readonly ok: false; readonly reason: string };
}

/** A Secret labelled `istio/multiCluster: "true"`. */
export interface RemoteSecret {
  /** Where it was read: `file.yaml:2` (document index), or a namespace/name for a live object. */
  readonly source: string;
  readonly namespace: string;
  readonly name: string;
  /** `metadata.creationTimestamp` in milliseconds, when the object has one (a stored one does). */
  readonly created?: number | undefined;
  readonly clusters: readonly RemoteCluster[];
  /**
   * A renewable secret's policy (`create --renew`), when its annotations give a valid one: its
   * tokens are renewed before they expire, so an expiry within days is its schedule, not a risk.
   */
  readonly renewal?: RenewalPolicy | undefined;
}

export function secretRef(secret: Pick<RemoteSecret, 'namespace' | 'name'>): string {
  return secret.namespace === '' ? secret.name : `${secret.namespace}/${secret.name}`;
}
