import {
  CoreV1Api,
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type V1Secret,
} from '@kubernetes/client-node';
import { ClusterIdScope, createdMillis } from '../remote-secret/cluster-id-scope.ts';
import { isClusterId } from '../remote-secret/decide.ts';
import { MULTICLUSTER_LABEL } from '../remote-secret/model.ts';
import { stoppableWatch, type WatchFn } from '../kube/watch.ts';

/** The longest wait between two attempts to list or watch. */
const MAX_RETRY_DELAY_MS = 30_000;
/** A watch connected at least this long has recovered: the next failure retries quickly again. */
const BACKOFF_RESET_MS = 120_000;

/** The selector istiod's secret controller lists and watches with. */
export const MULTICLUSTER_SELECTOR = `${MULTICLUSTER_LABEL}=true`;

/** The part of a pino logger the controller uses. */
export interface ControllerLogger {
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

/** What `Watch#watch` does; the default is `stoppableWatch`, tests hand in a fake server. */
export type { WatchFn };
export type ListFn = (namespace: string) => Promise<KubernetesListObject<V1Secret>>;

export interface RemoteSecretControllerOptions {
  /** The operator's own, trusted kubeconfig (in-cluster or --kubeconfig). Never a secret's. */
  readonly kubeConfig: KubeConfig;
  readonly namespaces: readonly string[];
  readonly log: ControllerLogger;
  readonly list?: ListFn;
  readonly watch?: WatchFn;
  /**
   * First delay before restarting a failed list or watch; it doubles up to 30 s, and starts
   * again from here once a watch has stayed connected for 2 minutes (client-go's reflector).
   */
  readonly retryDelayMs?: number;
  /**
   * Called after each add, update or delete the informer applies (the first list included), so a
   * consumer (the background audit) can reconcile that one secret; it must be cheap and not throw.
   */
  readonly onChange?: (change: SecretChange) => void;
}

/**
 * One secret the informer added, updated or deleted. `secret` still holds its `data` during the
 * call only: the controller drops it from the informer's cache right after, so a consumer that
 * needs the kubeconfigs later keeps its own reference until it is done with them.
 */
export interface SecretChange {
  readonly type: 'upsert' | 'delete';
  readonly secret: V1Secret;
}

/**
 * Keeps the `ClusterIdScope` of the multicluster secrets in the watched namespaces, from one
 * client-node informer (list + watch) per namespace. Each secret's cluster IDs and creation time
 * are recorded and its data dropped from the informer's cache, so neither the cache nor the
 * scope holds a kubeconfig.
 */
export class RemoteSecretController {
  readonly clusterIds = new ClusterIdScope();
  private readonly informers: ListWatch<V1Secret>[] = [];
  private readonly syncedNamespaces = new Set<string>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  /** Per namespace: whether its watch is connected, and since when it has been failing. */
  private readonly health = new Map<string, { connected: boolean; failingSince: number | undefined }>();
  private stopped = false;
  /** Aborted by `stop`: ends each watch, connecting or connected. */
  private readonly stopping = new AbortController();

  constructor(private readonly options: RemoteSecretControllerOptions) {
    if (options.namespaces.length === 0) throw new Error('RemoteSecretController needs a namespace to watch');
  }

  /** Each namespace's watch: connected, or failing since when (a stale index). */
  get watches(): { namespace: string; connected: boolean; failingSince: number | undefined }[] {
    return this.options.namespaces.map((namespace) => ({
      namespace,
      ...(this.health.get(namespace) ?? { connected: false, failingSince: undefined }),
    }));
  }

  /**
   * How long the watch of `namespace` has been failing, once that is at least `toleranceMs`;
   * undefined while it is connected, within the tolerance, or not one of ours.
   */
  staleFor(namespace: string, toleranceMs: number, now = Date.now()): number | undefined {
    const failingSince = this.health.get(namespace)?.failingSince;
    if (failingSince === undefined) return undefined;
    const failingFor = now - failingSince;
    return failingFor >= toleranceMs ? failingFor : undefined;
  }

  /** True once every namespace's first list is in the index; it stays true across re-watches. */
  get synced(): boolean {
    return this.syncedNamespaces.size === this.options.namespaces.length;
  }

  /** Start every informer; resolves once each first list and watch succeeded or failed (retried). */
  async start(): Promise<void> {
    const list = this.options.list ?? defaultList(this.options.kubeConfig);
    const watch = this.options.watch ?? stoppableWatch(this.options.kubeConfig, this.stopping.signal);
    await Promise.all(
      this.options.namespaces.map((namespace) => this.startNamespace(namespace, list, watch)),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort(new Error('the controller stopped'));
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    await Promise.all(this.informers.map((informer) => informer.stop()));
  }

  private async startNamespace(namespace: string, list: ListFn, watch: WatchFn): Promise<void> {
    const firstDelay = this.options.retryDelayMs ?? 1000;
    const { log } = this.options;
    let delay = firstDelay;
    /** When the current watch connected (HTTP 200), if it did. */
    let connectedAt: number | undefined;
    /** When the outage began, and how many retries it has taken so far. */
    let outage: { since: number; retries: number } | undefined;
    const onListed = (): void => {
      if (this.syncedNamespaces.has(namespace)) return;
      this.syncedNamespaces.add(namespace);
      log.info(
        { namespace, secrets: this.clusterIds.secretCount, clusters: this.clusterIds.clusterCount },
        'remote secret index synced',
      );
    };
    const onConnected = (): void => {
      connectedAt = Date.now();
      this.health.set(namespace, { connected: true, failingSince: undefined });
      if (outage === undefined) return;
      log.info(
        { namespace, downForMs: connectedAt - outage.since, retries: outage.retries },
        'remote secret informer recovered',
      );
      outage = undefined;
    };
    // ListWatch opens its watch right after it has applied a list: that is when we are synced.
    // The watch has connected when it returns without having ended.
    const stopped = (): boolean => this.stopped;
    const notifying = new (class extends Watch {
      override async watch(...[path, params, callback, done]: Parameters<WatchFn>): ReturnType<WatchFn> {
        onListed();
        const state = { ended: false };
        const request = await watch(path, params, callback, (error: unknown) => {
          state.ended = true;
          done(error);
        });
        // Stopped while it connected: the informer's stop found no request to abort.
        if (stopped()) request.abort();
        else if (!state.ended) onConnected();
        return request;
      }
    })(this.options.kubeConfig);
    const informer = new ListWatch<V1Secret>(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
      notifying,
      () => list(namespace),
      false,
      MULTICLUSTER_SELECTOR,
    );
    const upsert = (secret: V1Secret): void => {
      this.clusterIds.set(claimantOf(secret), clusterIdsOf(secret));
      this.options.onChange?.({ type: 'upsert', secret });
      // The informer caches the object it handed us; keep only its metadata there.
      delete secret.data;
      delete secret.stringData;
    };
    informer.on('add', upsert);
    informer.on('update', upsert);
    informer.on('delete', (secret) => {
      this.clusterIds.delete(claimantOf(secret));
      this.options.onChange?.({ type: 'delete', secret });
    });
    informer.on('error', (error: unknown) => {
      if (this.stopped) return;
      const now = Date.now();
      if (connectedAt !== undefined && now - connectedAt >= BACKOFF_RESET_MS) delay = firstDelay;
      connectedAt = undefined;
      if (outage === undefined) {
        // One line per outage (its first error, without a stack), not one per retry.
        outage = { since: now, retries: 0 };
        this.health.set(namespace, { connected: false, failingSince: now });
        log.warn(
          { namespace, error: errorMessage(error), retryInMs: delay },
          `remote secret informer failed; retrying with backoff up to ${String(MAX_RETRY_DELAY_MS / 1000)} s`,
        );
      } else {
        log.debug(
          { namespace, error: errorMessage(error), retry: outage.retries, retryInMs: delay },
          'remote secret informer still failing',
        );
      }
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        if (this.stopped) return;
        if (outage !== undefined) outage.retries += 1;
        // A list that fails inside start() is reported through 'error' as well.
        informer.start().catch(() => undefined);
      }, delay);
      timer.unref();
      this.retryTimers.add(timer);
      delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
    });
    this.informers.push(informer);
    await informer.start();
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function defaultList(kubeConfig: KubeConfig): ListFn {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  return (namespace) => api.listNamespacedSecret({ namespace, labelSelector: MULTICLUSTER_SELECTOR });
}

function claimantOf(secret: V1Secret): { namespace: string; name: string; created: number | undefined } {
  return {
    namespace: secret.metadata?.namespace ?? '',
    name: secret.metadata?.name ?? '',
    // A Date from the list, a string from a watch event: client-node types both as Date.
    created: createdMillis(secret.metadata?.creationTimestamp),
  };
}

/** The cluster IDs a stored secret claims: its valid data keys, as `check` reads them. */
function clusterIdsOf(secret: V1Secret): string[] {
  return Object.keys(secret.data ?? {}).filter(isClusterId);
}
