import { describe, expect, it } from 'vitest';
import { decideRemoteSecret, decideRemoteSecrets } from './decide.ts';
import { readSecretManifests, remoteCluster } from './manifests.ts';
import type { RemoteSecret } from './model.ts';

const KUBECONFIG = (name: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: 'https://10.0.0.1:6443' } }],
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

  it('reports a cluster ID held by an earlier secret, naming the holder', () => {
    const decisions = decideRemoteSecrets([secret('a', 'east'), secret('b', 'east'), secret('c', 'west')], {
      allow: new Set(),
    });
    expect(codes(decisions)).toEqual([
      ['istio-system/a', 'east', []],
      ['istio-system/b', 'east', ['duplicate-cluster-id']],
      ['istio-system/c', 'west', []],
    ]);
    expect(decisions[1]?.violations[0]?.message).toContain('istio-system/a (a.yaml:0)');
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
});
