import type { CoreV1Event, V1Secret } from '@kubernetes/client-node';
import type { KubeClient } from '../kube/client.ts';
import { wireSecret } from '../kube/primary.ts';
import type { SecretManifest } from '../remote-secret/build.ts';
import { MULTICLUSTER_LABEL } from '../remote-secret/model.ts';
import type { FetchPage } from './pages.ts';

/** Where to look: one namespace, or every namespace (`-A`). */
export type Scope = { readonly namespace: string } | { readonly allNamespaces: true };

function describe(scope: Scope): string {
  return 'namespace' in scope ? `in namespace ${scope.namespace}` : 'in all namespaces';
}

/** Pages of the multicluster Secrets istiod would read, `limit` at a time, as wire objects. */
export function remoteSecretPages(
  client: KubeClient,
  scope: Scope,
  limit: number,
): FetchPage<SecretManifest> {
  const pages = storedSecretPages(client, scope, limit);
  return async (token) => {
    const page = await pages(token);
    return { items: page.items.map((item) => wireSecret(item)), continueToken: page.continueToken };
  };
}

/**
 * The same pages as client-node returns them, with the server's metadata (uid, resourceVersion)
 * that the webhook's background audit names its Events and reports by.
 */
export function storedSecretPages(client: KubeClient, scope: Scope, limit: number): FetchPage<V1Secret> {
  const labelSelector = `${MULTICLUSTER_LABEL}=true`;
  return async (token) => {
    const request = { labelSelector, limit, ...(token === undefined ? {} : { _continue: token }) };
    const list = await client.call(`list Secrets labelled ${labelSelector} ${describe(scope)}`, (options) =>
      'namespace' in scope
        ? client.core.listNamespacedSecret({ ...request, namespace: scope.namespace }, options)
        : client.core.listSecretForAllNamespaces(request, options),
    );
    return { items: list.items, continueToken: list.metadata?._continue };
  };
}

/** What listing the labelled Secrets of a namespace is called in errors and logs. */
export function secretListAction(namespace: string): string {
  return `list Secrets labelled ${MULTICLUSTER_LABEL}=true ${describe({ namespace })}`;
}

/** The API path (with its query) of one page of the labelled Secrets of `namespace`. */
export function secretListPath(namespace: string, limit: number, continueToken: string | undefined): string {
  const query = new URLSearchParams({ labelSelector: `${MULTICLUSTER_LABEL}=true`, limit: String(limit) });
  if (continueToken !== undefined) query.set('continue', continueToken);
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets?${query.toString()}`;
}

/**
 * One page of the labelled Secrets of `namespace` as the API server sent it (JSON bytes, not
 * parsed), for a worker thread that parses it. The items and `metadata.continue` are those of
 * `storedSecretPages`.
 */
export function rawSecretPage(
  client: KubeClient,
  namespace: string,
  limit: number,
  continueToken: string | undefined,
): Promise<Buffer> {
  return client.getBytes(secretListAction(namespace), secretListPath(namespace, limit, continueToken));
}

/** Pages of Events with one reason (the API server filters on `reason`). */
export function eventPages(
  client: KubeClient,
  scope: Scope,
  reason: string,
  limit: number,
): FetchPage<CoreV1Event> {
  const fieldSelector = `reason=${reason}`;
  return async (token) => {
    const request = { fieldSelector, limit, ...(token === undefined ? {} : { _continue: token }) };
    const list = await client.call(`list ${reason} Events ${describe(scope)}`, (options) =>
      'namespace' in scope
        ? client.core.listNamespacedEvent({ ...request, namespace: scope.namespace }, options)
        : client.core.listEventForAllNamespaces(request, options),
    );
    return { items: list.items, continueToken: list.metadata?._continue };
  };
}
