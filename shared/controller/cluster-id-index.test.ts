import { describe, expect, it } from 'vitest';
import { ClusterIdIndex } from './cluster-id-index.ts';

const ids = (...clusters: string[]) => new Map(clusters.map((id) => [id, `hash-${id}`]));

describe('ClusterIdIndex (Istio semantics)', () => {
  it('gives a cluster ID to the first secret that claims it', () => {
    const index = new ClusterIdIndex();
    index.upsert('istio-system/a', ids('east'));
    index.upsert('istio-system/b', ids('east', 'west'));
    expect(index.holderOf('east', 'istio-system/b')).toBe('istio-system/a');
    expect(index.holderOf('west', 'istio-system/b')).toBeUndefined();
    expect(index.conflicts()).toEqual(new Map([['east', ['istio-system/a', 'istio-system/b']]]));
  });

  it("never makes a secret's own update clash with itself", () => {
    const index = new ClusterIdIndex();
    index.upsert('istio-system/a', ids('east'));
    index.upsert('istio-system/a', ids('east'));
    expect(index.holderOf('east', 'istio-system/a')).toBeUndefined();
    expect(index.conflicts().size).toBe(0);
  });

  it('frees IDs that an update drops and that a delete removes', () => {
    const index = new ClusterIdIndex();
    index.upsert('istio-system/a', ids('east', 'west'));
    index.upsert('istio-system/a', ids('west'));
    expect(index.holderOf('east')).toBeUndefined();
    index.delete('istio-system/a');
    expect(index.holderOf('west')).toBeUndefined();
    expect([index.secretCount, index.clusterCount]).toEqual([0, 0]);
  });

  it('keeps hashes, not kubeconfigs', () => {
    const index = new ClusterIdIndex();
    index.upsert('istio-system/a', ids('east'));
    expect(index.hashOf('istio-system/a', 'east')).toBe('hash-east');
  });
});
