import type { V1Secret } from '@kubernetes/client-node';
import type { SecretManifest } from '../remote-secret/build.ts';
import { createdMillis } from '../remote-secret/cluster-id-scope.ts';
import { MULTICLUSTER_LABEL } from '../remote-secret/model.ts';
import type { RenewIo, StoredRemoteSecret } from '../remote-secret/renew.ts';
import { asModel, type KubeClient } from './client.ts';

export const FIELD_MANAGER = 'kubectl-remote-secret';

/** The multicluster Secrets istiod would read in `namespace` (label `istio/multiCluster=true`). */
export async function listRemoteSecrets(client: KubeClient, namespace: string): Promise<SecretManifest[]> {
  const list = await client.call(
    `list Secrets labelled ${MULTICLUSTER_LABEL}=true in namespace ${namespace}`,
    (options) =>
      client.core.listNamespacedSecret({ namespace, labelSelector: `${MULTICLUSTER_LABEL}=true` }, options),
  );
  // As wire objects: list items come without kind and apiVersion, which readers of manifests expect.
  return list.items.map((item) => wireSecret(item));
}

/** A listed Secret as a wire object: list items come without kind and apiVersion. */
export function wireSecret(item: V1Secret): SecretManifest {
  const metadata = item.metadata;
  // A Date from a list, a string from a watch event: client-node types both as Date.
  const created = createdMillis(metadata?.creationTimestamp);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      ...(metadata?.name === undefined ? {} : { name: metadata.name }),
      ...(metadata?.namespace === undefined ? {} : { namespace: metadata.namespace }),
      ...(created === undefined ? {} : { creationTimestamp: new Date(created).toISOString() }),
      ...(metadata?.labels === undefined ? {} : { labels: metadata.labels }),
      ...(metadata?.annotations === undefined ? {} : { annotations: metadata.annotations }),
    },
    ...(item.type === undefined ? {} : { type: item.type }),
    ...(item.data === undefined ? {} : { data: item.data }),
    ...(item.stringData === undefined ? {} : { stringData: item.stringData }),
  };
}

/** The Secret as `applySecret` sends it, and so as the webhook sees it: `stringData` as `data`. */
export function asSent(secret: SecretManifest): SecretManifest {
  const data: Record<string, string> = { ...(secret.data ?? {}) };
  for (const [key, value] of Object.entries(secret.stringData ?? {}))
    data[key] = Buffer.from(value, 'utf8').toString('base64');
  return { apiVersion: 'v1', kind: 'Secret', metadata: secret.metadata, data };
}

/**
 * Server-side apply the remote secret into the primary, where admission webhooks judge it.
 * `stringData` is sent as `data`: server-side apply tracks field owners of stored fields, and
 * `stringData` is never stored. Conflicts are forced: this command generates the whole Secret,
 * and a new token is exactly the change another manager's old value must give way to.
 */
export async function applySecret(
  client: KubeClient,
  secret: SecretManifest,
  dryRun: boolean,
): Promise<void> {
  const name = secret.metadata.name ?? '';
  const namespace = secret.metadata.namespace ?? '';
  const body = asSent(secret);
  await client.call(
    `apply Secret ${namespace}/${name}${dryRun ? ' (server-side dry run)' : ''}`,
    (options) =>
      client.core.patchNamespacedSecret(
        {
          name,
          namespace,
          body: asModel(client.k8s.V1Secret, body),
          fieldManager: FIELD_MANAGER,
          force: true,
          ...(dryRun ? { dryRun: 'All' } : {}),
        },
        options,
      ),
    { name: 'Content-Type', value: client.k8s.PatchStrategy.ServerSideApply },
  );
}

/** A read Secret as the renewer needs it: the wire object and the version it was read at. */
export function storedRemoteSecret(item: V1Secret): StoredRemoteSecret {
  return { manifest: wireSecret(item), resourceVersion: item.metadata?.resourceVersion };
}

/**
 * The primary's side of a renewal (`renew` and the webhook's renewer): read a secret, and merge new
 * `data` into it only if it is still at the version read (the API server answers 409 otherwise).
 */
export function primaryRenewStore(client: KubeClient): Pick<RenewIo, 'updateSecret' | 'readSecret'> {
  return {
    async updateSecret(namespace, name, resourceVersion, data) {
      await client.call(
        `update Secret ${namespace}/${name} (resourceVersion ${resourceVersion})`,
        (call) =>
          client.core.patchNamespacedSecret(
            { name, namespace, body: { metadata: { resourceVersion }, data } },
            call,
          ),
        { name: 'Content-Type', value: client.k8s.PatchStrategy.MergePatch },
      );
    },
    async readSecret(namespace, name) {
      const item = await client.read(`get Secret ${namespace}/${name}`, (call) =>
        client.core.readNamespacedSecret({ namespace, name }, call),
      );
      return item === undefined ? undefined : storedRemoteSecret(item);
    },
  };
}
