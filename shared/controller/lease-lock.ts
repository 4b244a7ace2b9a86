import type { V1Lease } from '@kubernetes/client-node';
import { asModel, type KubeClient } from '../kube/client.ts';
import type { LeaderElectionRecord, LeaseLock, StoredLease } from './leader-election.ts';

/**
 * A coordination.k8s.io/v1 Lease as the elector's lock, through the caller's KubeClient (its
 * timeout and error codes). Updates are PUTs that carry the resourceVersion read, so a write by
 * another replica in between is a 409 (`conflict`), never silently overwritten.
 */
export function kubeLeaseLock(client: KubeClient, namespace: string, name: string): LeaseLock {
  const { k8s } = client;
  const api = client.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
  const description = `${namespace}/${name}`;
  // MicroTime: the API server wants six fractional digits, which client-node's V1MicroTime writes.
  const micro = (date: Date) => new k8s.V1MicroTime(date.getTime());
  const body = (record: LeaderElectionRecord, resourceVersion?: string): V1Lease =>
    asModel(k8s.V1Lease, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace, ...(resourceVersion === undefined ? {} : { resourceVersion }) },
      spec: {
        holderIdentity: record.holderIdentity,
        leaseDurationSeconds: record.leaseDurationSeconds,
        ...(record.acquireTime === undefined ? {} : { acquireTime: micro(record.acquireTime) }),
        ...(record.renewTime === undefined ? {} : { renewTime: micro(record.renewTime) }),
        leaseTransitions: record.leaseTransitions,
      },
    });
  return {
    description,
    get: async (signal) => {
      const lease = await client
        .abortedBy(signal)
        .read(`get Lease ${description}`, (options) => api.readNamespacedLease({ namespace, name }, options));
      return lease === undefined ? undefined : stored(lease);
    },
    create: async (record, signal) =>
      stored(
        await client
          .abortedBy(signal)
          .call(`create Lease ${description}`, (options) =>
            api.createNamespacedLease({ namespace, body: body(record) }, options),
          ),
      ),
    update: async (record, resourceVersion, signal) =>
      stored(
        await client
          .abortedBy(signal)
          .call(`update Lease ${description}`, (options) =>
            api.replaceNamespacedLease({ namespace, name, body: body(record, resourceVersion) }, options),
          ),
      ),
  };
}

function stored(lease: V1Lease): StoredLease {
  const { spec } = lease;
  return {
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    record: {
      holderIdentity: spec?.holderIdentity ?? '',
      leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
      acquireTime: spec?.acquireTime === undefined ? undefined : new Date(spec.acquireTime),
      renewTime: spec?.renewTime === undefined ? undefined : new Date(spec.renewTime),
      leaseTransitions: spec?.leaseTransitions ?? 0,
    },
  };
}
