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

/** Pages of the multicluster Secrets istiod would read, `limit` at a time. */
export function remoteSecretPages(
  client: KubeClient,
  scope: Scope,
  limit: number,
): FetchPage<SecretManifest> {
  const labelSelector = `${MULTICLUSTER_LABEL}=true`;
  return async (token) => {
    const request = { labelSelector, limit, ...(token === undefined ? {} : { _continue: token }) };
    const list = await client.call(`list Secrets labelled ${labelSelector} ${describe(scope)}`, (options) =>
      'namespace' in scope
        ? client.core.listNamespacedSecret({ ...request, namespace: scope.namespace }, options)
        : client.core.listSecretForAllNamespaces(request, options),
    );
    return {
      items: list.items.map((item: V1Secret) => wireSecret(item)),
      continueToken: list.metadata?._continue,
    };
  };
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
