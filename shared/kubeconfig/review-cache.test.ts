import { describe, expect, it } from 'vitest';
import { kubeconfigFixture } from '../admission/testdata/reviews.ts';
import { reviewKubeconfig } from './review.ts';
import { cachedKubeconfigReview } from './review-cache.ts';

describe('cachedKubeconfigReview', () => {
  it.each(['clean', 'exec', 'token-file', 'yaml-syntax'])(
    'gives what reviewKubeconfig gives (%s)',
    (name) => {
      const review = cachedKubeconfigReview(2);
      const text = kubeconfigFixture(name);
      const allow = new Set<string>();
      const expected = reviewKubeconfig(text, { allow }).violations;
      expect(review(text, { allow }).violations).toEqual(expected);
      expect(review(text, { allow }).violations).toEqual(expected);
    },
  );

  it('keys by the allow-list too, and keeps only the newest entries', () => {
    const review = cachedKubeconfigReview(1);
    const exec = kubeconfigFixture('exec');
    expect(review(exec, { allow: new Set() }).violations).toHaveLength(1);
    expect(review(exec, { allow: new Set(['exec']) }).violations).toHaveLength(0);
    expect(review(exec, { allow: new Set() }).violations).toHaveLength(1);
  });
});
