import { RemoteSecretError } from '../errors.ts';

/**
 * istiod's own view of its remote clusters, from its debug endpoint `/debug/clusterz` (istiod's
 * `ListRemoteClusters`): for each cluster ID, the secret it came from and its sync status. The
 * endpoint is the operator's (a local istiod or `kubectl port-forward` to one), so it is trusted
 * like their kubeconfig; what it answers is still checked before it is used.
 */

export interface IstiodCluster {
  readonly id: string;
  /** `namespace/name` of the remote secret; "" for istiod's own (config) cluster. */
  readonly secretName: string;
  /** synced, syncing, timeout or closed. */
  readonly syncStatus: string;
}

/** istiod's debug endpoint could not be asked: a wrong URL, nothing listening, or another answer. */
export class IstiodViewError extends RemoteSecretError {
  override readonly name = 'IstiodViewError';
  declare readonly code: 'istiod-unreachable';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super('istiod-unreachable', message, { ...options, hint: HINT });
  }
}

const HINT =
  "point --istiod at istiod's HTTP port, for example after `kubectl port-forward -n istio-system deploy/istiod 8080` use --istiod http://127.0.0.1:8080";

/** GET <base>/debug/clusterz; every failure is an IstiodViewError that says what to do. */
export async function fetchIstiodClusters(base: string, timeoutMs: number): Promise<IstiodCluster[]> {
  let url: URL;
  try {
    url = new URL('debug/clusterz', base.endsWith('/') ? base : `${base}/`);
  } catch (error) {
    throw new IstiodViewError(`--istiod ${JSON.stringify(base)} is not a URL`, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new IstiodViewError(`--istiod ${JSON.stringify(base)} is not an http or https URL`);
  }
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const reason =
      error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : '';
    throw new IstiodViewError(`istiod's debug endpoint ${url.href} did not answer (${reason})`, {
      cause: error,
    });
  }
  if (response.status !== 200) {
    throw new IstiodViewError(
      `istiod's debug endpoint ${url.href} answered ${String(response.status)}; is this istiod's HTTP port (8080)?`,
    );
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch (error) {
    throw new IstiodViewError(`${url.href} did not answer JSON`, { cause: error });
  }
  const clusters = parseClusterz(body);
  if (clusters === undefined) throw new IstiodViewError(`${url.href} did not answer a list of clusters`);
  return clusters;
}

function parseClusterz(body: unknown): IstiodCluster[] | undefined {
  if (!Array.isArray(body)) return undefined;
  const clusters: IstiodCluster[] = [];
  for (const item of body) {
    if (typeof item !== 'object' || item === null) return undefined;
    const { id, secretName, syncStatus } = item as Record<string, unknown>;
    if (typeof id !== 'string') return undefined;
    clusters.push({
      id,
      secretName: typeof secretName === 'string' ? secretName : '',
      syncStatus: typeof syncStatus === 'string' ? syncStatus : '',
    });
  }
  return clusters;
}

/** What istiod says of one cluster of one secret. */
export type IstiodOpinion =
  /** istiod uses this secret for this cluster; `syncStatus` says how far it got. */
  | { readonly status: 'used'; readonly syncStatus: string }
  /** istiod has this cluster ID from another secret (a duplicate: this one is ignored). */
  | { readonly status: 'other-secret'; readonly secretName: string; readonly syncStatus: string }
  /** The primary's own ID: istiod never takes it from a secret. */
  | { readonly status: 'config-cluster' }
  /** istiod has no cluster of that ID: it refused the kubeconfig, or has not seen the secret. */
  | { readonly status: 'absent' };

export function istiodOpinion(
  clusters: readonly IstiodCluster[],
  clusterId: string,
  secret: string,
): IstiodOpinion {
  const entry = clusters.find(({ id }) => id === clusterId);
  if (entry === undefined) return { status: 'absent' };
  if (entry.secretName === '') return { status: 'config-cluster' };
  if (entry.secretName !== secret) {
    return { status: 'other-secret', secretName: entry.secretName, syncStatus: entry.syncStatus };
  }
  return { status: 'used', syncStatus: entry.syncStatus };
}

/** Whether istiod's opinion means the cluster works through this secret. */
export function istiodAgrees(opinion: IstiodOpinion): boolean {
  return opinion.status === 'used' && opinion.syncStatus === 'synced';
}

/** One line on what to do, for every opinion that is not a synced use. */
export function istiodProblem(opinion: IstiodOpinion): string | undefined {
  switch (opinion.status) {
    case 'used':
      return opinion.syncStatus === 'synced'
        ? undefined
        : `istiod uses this secret but its sync status is ${JSON.stringify(opinion.syncStatus)}, not "synced": istiod cannot list from the remote yet (check that istiod reaches the server)`;
    case 'other-secret':
      return `istiod takes this cluster ID from ${opinion.secretName} and ignores this secret (a duplicate cluster ID)`;
    case 'config-cluster':
      return "this is istiod's own cluster ID; istiod ignores a remote secret that claims it";
    case 'absent':
      return "istiod has no cluster of this ID: it refused the kubeconfig (look for 'create remote cluster failed' in istiod's log) or has not read this secret (is it in istiod's namespace?)";
  }
}
