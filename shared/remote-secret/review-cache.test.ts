import { describe, expect, it } from 'vitest';
import { kubeconfigFixture } from '../admission/testdata/reviews.ts';
import { reviewKubeconfig } from '../kubeconfig/review.ts';
import type { Violation } from '../violations.ts';
import { decideRemoteSecret } from './decide.ts';
import { remoteCluster } from './manifests.ts';
import type { RemoteSecret } from './model.ts';
import { ReviewCache } from './review-cache.ts';

const base64 = (text: string) => Buffer.from(text).toString('base64');
const secret = (...clusters: RemoteSecret['clusters']): RemoteSecret => ({
  source: 'test:0',
  namespace: 'istio-system',
  name: 'istio-remote-secret-east',
  clusters,
});
const codes = (violations: readonly Violation[]) => violations.map((found) => found.code);

describe('ReviewCache', () => {
  it.each(['clean', 'exec', 'token-file', 'yaml-syntax'])(
    'gives what an uncached decision gives, the first time and from memory (%s)',
    (name) => {
      const cache = new ReviewCache(2);
      const allow = new Set<string>();
      const text = kubeconfigFixture(name);
      const expected = reviewKubeconfig(text, { allow }).violations;
      for (const field of ['data', 'stringData'] as const) {
        const value = field === 'data' ? base64(text) : text;
        const decide = () =>
          decideRemoteSecret(secret(remoteCluster('east', field, value)), { allow, cache })[0]?.violations;
        expect(decide()).toEqual(expected);
        expect(decide()).toEqual(expected);
      }
    },
  );

  it('answers a value it has seen without decoding it again', () => {
    const cache = new ReviewCache();
    const allow = new Set<string>();
    const value = base64(kubeconfigFixture('exec'));
    let reviews = 0;
    const review = () => {
      reviews += 1;
      return [];
    };
    cache.violations(remoteCluster('east', 'data', value), allow, review);
    const again = remoteCluster('west', 'data', value);
    cache.violations(again, allow, review);
    expect(reviews).toBe(1);
  });

  it('keys by field: the same string under data and stringData is different bytes', () => {
    const cache = new ReviewCache();
    const allow = new Set<string>();
    const text = kubeconfigFixture('clean');
    // Read as data, the kubeconfig text is not base64: an invalid kubeconfig, not a clean one.
    const asData = decideRemoteSecret(secret(remoteCluster('east', 'data', text)), { allow, cache });
    const asText = decideRemoteSecret(secret(remoteCluster('east', 'stringData', text)), { allow, cache });
    expect(codes(asData[0]?.violations ?? [])).toEqual(['invalid-kubeconfig']);
    expect(codes(asText[0]?.violations ?? [])).toEqual([]);
  });

  it('keys by the allow-list too, and keeps only the newest entries', () => {
    const cache = new ReviewCache(1);
    const exec = remoteCluster('east', 'stringData', kubeconfigFixture('exec'));
    const decide = (allow: Set<string>) =>
      codes(decideRemoteSecret(secret(exec), { allow, cache })[0]?.violations ?? []);
    expect(decide(new Set())).toEqual(['exec']);
    expect(decide(new Set(['exec']))).toEqual([]);
    expect(cache.size).toBe(1);
    expect(decide(new Set())).toEqual(['exec']);
  });
});
