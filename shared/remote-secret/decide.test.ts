import { describe, expect, it } from 'vitest';
import { decideAgainstStored, decideRemoteSecret, decideRemoteSecrets } from './decide.ts';
import { readSecretManifests, remoteCluster } from './manifests.ts';
import type { RemoteSecret } from './model.ts';

const KUBECONFIG = (name: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: 'https://east.example:6443' } }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    'current-context': name,
    users: [{ name, user: { token: 'abc' } }],
  });

const secret = (name: string, ...clusters: string[]): RemoteSecret => ({
  source: `${name}.yaml:0`,
  namespace: 'istio-system',
  name,
  clusters: clusters.map((id) => remoteCluster(id, 'stringData', KUBECONFIG(id))),
});
/** A stored secret: created on `day` of January 2025. */
const stored = (name: string, day: number, ...clusters: string[]): RemoteSecret => ({
  ...secret(name, ...clusters),
  source: `istio-system/${name}`,
  created: Date.UTC(2025, 0, day),
});

const codes = (decisions: ReturnType<typeof decideRemoteSecrets>) =>
  decisions.map((decision) => [
    decision.secret,
    decision.cluster,
    decision.violations.map((found) => found.code),
  ]);

describe('decideRemoteSecret(s)', () => {
  it('rejects the local cluster ID', () => {
    const decisions = decideRemoteSecret(secret('a', 'primary', 'east'), {
      allow: new Set(),
      localClusterId: 'primary',
    });
    expect(codes(decisions)).toEqual([
      ['istio-system/a', 'primary', ['local-cluster-id']],
      ['istio-system/a', 'east', []],
    ]);
  });

  it('reports a shared cluster ID once, on the later claimant, naming both', () => {
    const decisions = decideRemoteSecrets([secret('a', 'east'), secret('b', 'east'), secret('c', 'west')], {
      allow: new Set(),
    });
    expect(codes(decisions)).toEqual([
      ['istio-system/a', 'east', []],
      ['istio-system/b', 'east', ['duplicate-cluster-id']],
      ['istio-system/c', 'west', []],
    ]);
    const [found] = decisions[1]?.violations ?? [];
    expect(found?.path).toBe('stringData.east');
    expect(found?.message).toBe(
      'cluster ID "east" is also claimed by secret istio-system/a, created earlier; istiod uses istio-system/a and ignores this one ("cluster has already been registered"), and most likely after a restart too, as its name sorts first',
    );
    expect(found?.hint).toContain('delete the one you do not want');
    expect(found?.hint).toContain('then touch the one you keep');
    expect(found?.hint).toContain(
      'kubectl annotate secret -n istio-system <kept> kubectl-remote-secret/touched-at="$(date +%s)" --overwrite',
    );
  });

  it('does not let two versions of one secret (before and after --rotate) clash', () => {
    const before = { ...secret('a', 'east'), source: 'before.yaml:0' };
    const after = { ...secret('a', 'east', 'west'), source: 'after.yaml:0' };
    expect(codes(decideRemoteSecrets([before, after, secret('b', 'west')], { allow: new Set() }))).toEqual([
      ['istio-system/a', 'east', []],
      ['istio-system/a', 'east', []],
      ['istio-system/a', 'west', []],
      ['istio-system/b', 'west', ['duplicate-cluster-id']],
    ]);
  });

  it.each([
    {
      why: 'the newer secret is blamed, though its name sorts first, and a restart would switch to it',
      stored: [stored('a-newer', 9, 'east'), stored('z-older', 1, 'east')],
      blamed: 'istio-system/a-newer',
      message:
        'istiod uses istio-system/z-older and ignores this one ("cluster has already been registered"), but after a restart it may take this one instead (usually the name that sorts first; not guaranteed)',
    },
    {
      why: 'three claimants: each later one names the others',
      stored: [stored('b', 2, 'east'), stored('a', 1, 'east'), stored('c', 3, 'east')],
      blamed: 'istio-system/b',
      message:
        'cluster ID "east" is also claimed by 2 other secrets (istio-system/a, istio-system/c), created earlier',
    },
  ])('$why', ({ stored: secrets, blamed, message }) => {
    const decisions = decideRemoteSecrets(secrets, { allow: new Set() });
    const rejected = decisions.filter((decision) => !decision.allowed).map((decision) => decision.secret);
    expect(rejected).toContain(blamed);
    expect(rejected).not.toContain(decisions.find((decision) => decision.allowed)?.secret);
    expect(decisions.find((decision) => decision.secret === blamed)?.violations[0]?.message).toContain(
      message,
    );
  });

  it.each([
    {
      why: 'a new secret whose ID another holds: blamed',
      candidate: secret('new', 'east'),
      codes: ['duplicate-cluster-id'],
    },
    { why: 'an update of the holder: allowed', candidate: secret('first', 'east'), codes: [] },
    {
      why: 'an update of the later claimant: blamed',
      candidate: secret('second', 'east'),
      codes: ['duplicate-cluster-id'],
    },
    { why: 'an ID nobody holds', candidate: secret('new', 'north'), codes: [] },
    { why: 'a key that is an Object.prototype name', candidate: secret('new', 'toString'), codes: [] },
  ])('against the stored secrets (create --apply): $why', ({ candidate, codes: expected }) => {
    const primary = [stored('first', 1, 'east'), stored('second', 2, 'east', 'west')];
    const [decision] = decideAgainstStored(candidate, primary, { allow: new Set() });
    expect(decision?.violations.map((found) => found.code)).toEqual(expected);
  });

  it.each([
    { id: 'has space', why: 'not a Secret data key' },
    { id: 'x'.repeat(64), why: 'longer than a label value' },
    { id: '-leading', why: 'not a label value' },
    { id: 'a/b', why: 'not a Secret data key' },
  ])('rejects the cluster ID "$id" ($why)', ({ id }) => {
    const decisions = decideRemoteSecret(secret('a', id), { allow: new Set() });
    expect(decisions[0]?.violations.map((found) => found.code)).toEqual(['invalid-cluster-id']);
  });

  it('lets stringData win over data for the same key, as the API server merges', () => {
    const data = Buffer.from(KUBECONFIG('east').replace('"token":"abc"', '"tokenFile":"/etc/t"')).toString(
      'base64',
    );
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'istio-system', labels: { 'istio/multiCluster': 'true' } },
      data: { east: data, west: Buffer.from(KUBECONFIG('west')).toString('base64') },
      stringData: { east: KUBECONFIG('east') },
    });
    const read = readSecretManifests(manifest, 'm.json');
    expect(read.secrets[0]?.clusters.map((cluster) => [cluster.id, cluster.field])).toEqual([
      ['east', 'stringData'],
      ['west', 'data'],
    ]);
    expect(
      decideRemoteSecrets(read.secrets, { allow: new Set() }).every((decision) => decision.allowed),
    ).toBe(true);
  });

  it('decodes the kubeconfig of a cluster once, on first use, with no accessor on the object itself', () => {
    const text = KUBECONFIG('east');
    const cluster = remoteCluster('east', 'data', Buffer.from(text).toString('base64'));
    // An own `get kubeconfig()` (an object literal's) kept every reviewed value out of V8's young
    // generation until a full collection (docs/benchmarks.md, 2026-12-07): the getter is the class's.
    expect(Object.getOwnPropertyDescriptor(cluster, 'kubeconfig')).toBeUndefined();
    expect(cluster.kubeconfig).toEqual({ ok: true, text });
    expect(cluster.kubeconfig).toBe(cluster.kubeconfig);
    expect(remoteCluster('east', 'data', '!!').kubeconfig).toEqual({
      ok: false,
      reason: 'the value is not valid base64',
    });
    expect(remoteCluster('east', 'stringData', text).kubeconfig).toEqual({ ok: true, text });
  });
});
