import { describe, expect, it } from 'vitest';
import type { SecretManifest } from '../remote-secret/build.ts';
import { holdersOfClusterId } from './primary.ts';

const secret = (name: string, keys: string[], field: 'data' | 'stringData' = 'data'): SecretManifest => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'istio-system' },
  [field]: Object.fromEntries(keys.map((key) => [key, ''])),
});

describe('holdersOfClusterId', () => {
  it('names every other secret holding the ID as a data or stringData key, never the one being applied', () => {
    const secrets = [
      secret('istio-remote-secret-east', ['east']),
      secret('hand-made', ['east', 'west']),
      secret('staged', ['east'], 'stringData'),
      secret('unrelated', ['north']),
    ];
    expect(holdersOfClusterId(secrets, 'east', 'istio-remote-secret-east')).toEqual([
      'istio-system/hand-made',
      'istio-system/staged',
    ]);
    expect(holdersOfClusterId(secrets, 'south', 'x')).toEqual([]);
  });

  it('does not take inherited names (toString, __proto__) for cluster IDs', () => {
    expect(holdersOfClusterId([secret('a', ['east'])], 'toString', 'x')).toEqual([]);
  });
});
