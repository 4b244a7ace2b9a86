import { describe, expect, it } from 'vitest';
import { kubeconfigFixture } from '../admission/testdata/reviews.ts';
import { reviewKubeconfig } from '../kubeconfig/review.ts';
import type { Violation } from '../violations.ts';
import { decideRemoteSecret } from './decide.ts';
import { remoteCluster } from './manifests.ts';
import type { RemoteSecret } from './model.ts';
import { BUCKET_ENTRIES, ReviewCache, TEXT_KEY_MAX_CHARS } from './review-cache.ts';

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
      return { decoded: true as const, violations: [], kubeconfig: undefined };
    };
    cache.review(remoteCluster('east', 'data', value), allow, review);
    const again = remoteCluster('west', 'data', value);
    cache.review(again, allow, review);
    expect(reviews).toBe(1);
  });

  it.each([
    { why: 'not base64', field: 'data' as const, value: '!!', code: 'invalid-kubeconfig' },
    { why: 'binary', field: 'data' as const, value: base64('\u0000'), code: 'invalid-kubeconfig' },
    { why: 'exec', field: 'stringData' as const, value: kubeconfigFixture('exec'), code: 'exec' },
  ])(
    'reports the same bad value ($why) in a second cluster at that cluster, not the first',
    ({ field, value, code }) => {
      const cache = new ReviewCache();
      const decisions = decideRemoteSecret(
        secret(remoteCluster('east', field, value), remoteCluster('west', field, value)),
        { allow: new Set(), cache },
      );
      const uncached = decideRemoteSecret(
        secret(remoteCluster('east', field, value), remoteCluster('west', field, value)),
        { allow: new Set() },
      );
      expect(decisions.map((decision) => decision.violations)).toEqual(
        uncached.map((decision) => decision.violations),
      );
      expect(decisions.map((decision) => decision.violations.map((found) => found.code))).toEqual([
        [code],
        [code],
      ]);
      if (code === 'invalid-kubeconfig') {
        expect(decisions.map((decision) => decision.violations[0]?.path)).toEqual([
          `${field}.east`,
          `${field}.west`,
        ]);
      }
    },
  );

  it('keeps no kubeconfig: a decision it answers carries none, even the first time', () => {
    const cache = new ReviewCache();
    const clean = remoteCluster('east', 'stringData', kubeconfigFixture('clean'));
    expect(decideRemoteSecret(secret(clean), { allow: new Set() })[0]?.kubeconfig).toBeDefined();
    expect(decideRemoteSecret(secret(clean), { allow: new Set(), cache })[0]?.kubeconfig).toBeUndefined();
    expect(decideRemoteSecret(secret(clean), { allow: new Set(), cache })[0]?.kubeconfig).toBeUndefined();
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

  it('tells apart values that share a fingerprint (length and end): each gets its own answer', () => {
    const cache = new ReviewCache();
    const allow = new Set<string>();
    const tail = `\n# ${'z'.repeat(60)}\n`;
    const exec = kubeconfigFixture('exec');
    const clean = kubeconfigFixture('clean');
    const [short, long] = exec.length < clean.length ? [exec, clean] : [clean, exec];
    const padded = `${short}\n#${'y'.repeat(long.length - short.length - 2)}`;
    const values = [`${padded}${tail}`, `${long}${tail}`];
    expect(values[0]?.length).toBe(values[1]?.length);
    const decide = (value: string) =>
      codes(
        decideRemoteSecret(secret(remoteCluster('east', 'stringData', value)), { allow, cache })[0]
          ?.violations ?? [],
      );
    const expected = values.map((value) => codes(reviewKubeconfig(value, { allow }).violations));
    expect(expected.map((found) => found.includes('exec')).sort()).toEqual([false, true]);
    for (let round = 0; round < 2; round += 1) expect(values.map(decide)).toEqual(expected);
  });

  it('keeps at most a bucket of values made to share a fingerprint, each answered right', () => {
    const cache = new ReviewCache();
    const allow = new Set<string>();
    const clean = kubeconfigFixture('clean');
    const tail = `\n# ${'z'.repeat(60)}\n`;
    const values = Array.from({ length: 50 }, (_, i) => `${clean}\n#${String(i).padStart(4, '0')}${tail}`);
    for (const value of values) {
      const found = decideRemoteSecret(secret(remoteCluster('east', 'stringData', value)), { allow, cache });
      expect(codes(found[0]?.violations ?? [])).toEqual([]);
    }
    expect(cache.size).toBeLessThanOrEqual(2 * BUCKET_ENTRIES);
  });

  it('keys a value longer than TEXT_KEY_MAX_CHARS by its SHA-256, with the same answers', () => {
    const cache = new ReviewCache();
    const allow = new Set<string>();
    const exec = kubeconfigFixture('exec');
    const value = `${exec}\n#${'p'.repeat(TEXT_KEY_MAX_CHARS)}\n`;
    let reviews = 0;
    const review = () => {
      reviews += 1;
      return { decoded: true as const, violations: [], kubeconfig: undefined };
    };
    cache.review(remoteCluster('east', 'stringData', value), allow, review);
    cache.review(remoteCluster('west', 'stringData', value), allow, review);
    expect(reviews).toBe(1);
    // What it keeps for that value is the 44-character hash, not the 16 KiB text.
    expect(cache.keySize).toBe(44);
    const decided = decideRemoteSecret(secret(remoteCluster('east', 'stringData', value)), {
      allow,
      cache: new ReviewCache(),
    });
    expect(codes(decided[0]?.violations ?? [])).toEqual(codes(reviewKubeconfig(value, { allow }).violations));
  });

  it('holds at most its character budget of values', () => {
    const budget = 2 * TEXT_KEY_MAX_CHARS;
    const cache = new ReviewCache(1024, budget);
    const allow = new Set<string>();
    const clean = kubeconfigFixture('clean');
    for (let i = 0; i < 100; i += 1) {
      cache.review(remoteCluster('east', 'stringData', `${clean}\n# ${i}\n`), allow, () => ({
        decoded: true,
        violations: [],
        kubeconfig: undefined,
      }));
      expect(cache.keySize).toBeLessThanOrEqual(budget);
    }
    expect(cache.size).toBeLessThan(100);
  });
});
