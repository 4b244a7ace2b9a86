import { describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ClusterIdScope, createdMillis, type Claimant } from './cluster-id-scope.ts';

const at = (day: number) => Date.UTC(2025, 0, day);
const claimant = (name: string, created?: number, namespace = 'istio-system'): Claimant => ({
  namespace,
  name,
  created,
});

describe('ClusterIdScope (istiod semantics)', () => {
  it.each<{
    why: string;
    claims: { who: Claimant; ids: string[] }[];
    conflicts: { cluster: string; claimants: string[]; holder: string; afterRestart: string }[];
  }>([
    {
      why: 'one claimant per ID: no conflict',
      claims: [
        { who: claimant('a', at(1)), ids: ['east'] },
        { who: claimant('b', at(2)), ids: ['west'] },
      ],
      conflicts: [],
    },
    {
      why: 'the secret created first holds the ID, whatever the order it is seen in',
      claims: [
        { who: claimant('b-newer', at(9)), ids: ['east'] },
        { who: claimant('z-older', at(1)), ids: ['east'] },
      ],
      conflicts: [
        {
          cluster: 'east',
          claimants: ['istio-system/z-older', 'istio-system/b-newer'],
          holder: 'istio-system/z-older',
          afterRestart: 'istio-system/b-newer',
        },
      ],
    },
    {
      why: 'the same creation second: the name decides, as after a restart',
      claims: [
        { who: claimant('b', at(1)), ids: ['east'] },
        { who: claimant('a', at(1)), ids: ['east'] },
      ],
      conflicts: [
        {
          cluster: 'east',
          claimants: ['istio-system/a', 'istio-system/b'],
          holder: 'istio-system/a',
          afterRestart: 'istio-system/a',
        },
      ],
    },
    {
      why: 'a manifest never stored (no creation time) is the newest',
      claims: [
        { who: claimant('a-draft'), ids: ['east'] },
        { who: claimant('b-stored', at(1)), ids: ['east'] },
      ],
      conflicts: [
        {
          cluster: 'east',
          claimants: ['istio-system/b-stored', 'istio-system/a-draft'],
          holder: 'istio-system/b-stored',
          afterRestart: 'istio-system/a-draft',
        },
      ],
    },
    {
      why: 'the same ID in two namespaces: two istiods, no conflict',
      claims: [
        { who: claimant('a', at(1), 'mesh-1'), ids: ['east'] },
        { who: claimant('a', at(2), 'mesh-2'), ids: ['east'] },
      ],
      conflicts: [],
    },
    {
      why: 'two versions of one secret are one claimant',
      claims: [
        { who: claimant('a', at(1)), ids: ['east'] },
        { who: claimant('a'), ids: ['east', 'west'] },
      ],
      conflicts: [],
    },
  ])('$why', ({ claims, conflicts }) => {
    const scope = new ClusterIdScope();
    for (const { who, ids } of claims) scope.set(who, ids);
    expect(
      scope.conflicts().map(({ cluster, claimants, holder, afterRestart }) => ({
        cluster,
        claimants,
        holder,
        afterRestart,
      })),
    ).toEqual(conflicts);
  });

  it('answers for a candidate as if its version were stored: the holder stays updatable', () => {
    const scope = new ClusterIdScope();
    scope.set(claimant('first', at(1)), ['east']);
    scope.set(claimant('second', at(2)), ['east']);
    // An update of the first (its creation time comes from the stored version) holds the ID.
    expect(scope.conflictFor(claimant('first'), 'east')?.holder).toBe('istio-system/first');
    expect(scope.conflictFor(claimant('second'), 'east')?.later).toEqual(['istio-system/second']);
    // A new secret is the newest claimant.
    expect(scope.conflictFor(claimant('third'), 'east')?.later).toEqual([
      'istio-system/second',
      'istio-system/third',
    ]);
    expect(scope.conflictFor(claimant('other', at(1), 'mesh-2'), 'east')).toBeUndefined();
  });

  it('takes a key added to an older stored secret as the newest claim: no takeover of an ID', () => {
    const scope = new ClusterIdScope();
    scope.set(claimant('a-old', at(1)), ['west']);
    scope.set(claimant('b-holder', at(5)), ['east']);
    // a-old (created first, and first by name) now also claims "east".
    const conflict = scope.conflictFor(claimant('a-old', at(1)), 'east');
    expect(conflict?.holder).toBe('istio-system/b-holder');
    expect(conflict?.later).toEqual(['istio-system/a-old']);
  });

  it('frees IDs that an update drops and that a delete removes, and counts per namespace', () => {
    const scope = new ClusterIdScope();
    scope.set(claimant('a', at(1)), ['east', 'west']);
    scope.set(claimant('a', at(1), 'mesh-2'), ['east']);
    expect([scope.secretCount, scope.clusterCount]).toEqual([2, 3]);
    scope.set(claimant('a', at(1)), ['west']);
    expect(scope.conflictFor(claimant('b'), 'east')).toBeUndefined();
    scope.delete(claimant('a'));
    expect(scope.conflictFor(claimant('b'), 'west')).toBeUndefined();
    scope.set(claimant('a', at(1), 'mesh-2'), []);
    expect([scope.secretCount, scope.clusterCount]).toEqual([0, 0]);
  });

  it.each([
    { value: '2025-01-01T00:00:00Z', millis: at(1) },
    { value: new Date(at(2)), millis: at(2) },
    { value: 'yesterday', millis: undefined },
    { value: undefined, millis: undefined },
    { value: 42, millis: undefined },
  ])('reads the creation time $value', ({ value, millis }) => {
    expect(createdMillis(value)).toBe(millis);
  });
});

describe('claimants created in the same second', () => {
  it('names them, since which one istiod saw first cannot be told from creation times', () => {
    const scope = new ClusterIdScope();
    scope.set(claimant('istio-remote-secret-dup', at(1)), ['dup']);
    scope.set(claimant('istio-remote-secret-aaa-dup', at(1)), ['dup']);
    scope.set(claimant('istio-remote-secret-zzz-dup', at(2)), ['dup']);
    const [conflict] = scope.conflicts();
    expect(conflict?.holder).toBe('istio-system/istio-remote-secret-aaa-dup');
    expect(conflict?.createdWithHolder).toEqual(['istio-system/istio-remote-secret-dup']);
  });

  it('names none when the holder was created alone first', () => {
    const scope = new ClusterIdScope();
    scope.set(claimant('a', at(1)), ['dup']);
    scope.set(claimant('b', at(2)), ['dup']);
    expect(scope.conflicts()[0]?.createdWithHolder).toEqual([]);
  });
});

describe('ClusterIdScope memory', () => {
  it('keeps only the claimant fields of what it is handed, not the rest of a secret', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const scope = new ClusterIdScope();
    // Handed a whole secret, kubeconfigs and all; nothing but the scope holds it afterwards.
    const clusters = ((): WeakRef<object> => {
      const secret = { ...claimant('east', at(1)), clusters: [{ kubeconfig: 'x'.repeat(4096) }] };
      scope.set(secret, ['east']);
      return new WeakRef(secret.clusters);
    })();
    // A WeakRef's target lives at least until the current job ends.
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    expect(clusters.deref()).toBeUndefined();
    expect(scope.conflictFor(claimant('west', at(2)), 'east')?.holder).toBe('istio-system/east');
  });
});
