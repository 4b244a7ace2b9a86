import type { V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { wireSecret } from './primary.ts';

/** A listed Secret as parsed JSON off the wire, with `creationTimestamp` as given. */
function listed(creationTimestamp: Date | string): V1Secret {
  const wire = {
    metadata: { name: 'a', namespace: 'istio-system', creationTimestamp },
    data: { east: 'eA==' },
  };
  // client-node types it as a Date; a watch event carries the string the API server wrote.
  return JSON.parse(JSON.stringify(wire), (key, value: unknown) =>
    key === 'creationTimestamp' ? creationTimestamp : value,
  ) as V1Secret;
}

describe('wireSecret', () => {
  it.each([
    { why: 'a Date, as a list gives it', created: new Date('2025-03-01T10:00:00Z') },
    { why: 'a string, as a watch event gives it', created: '2025-03-01T10:00:00Z' },
  ])('keeps creationTimestamp from $why, for the order of cluster ID claimants', ({ created }) => {
    expect(wireSecret(listed(created))).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'a', namespace: 'istio-system', creationTimestamp: '2025-03-01T10:00:00.000Z' },
      data: { east: 'eA==' },
    });
  });

  it('leaves out a creationTimestamp that is no time', () => {
    expect(wireSecret(listed('soon')).metadata).toEqual({ name: 'a', namespace: 'istio-system' });
  });
});
