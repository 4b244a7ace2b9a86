import { describe, expect, it } from 'vitest';
import { reviewKubeconfig } from './review.ts';
import { proxyUrlProblem } from './go-url.ts';

const isValidProxyUrl = (url: string): boolean => proxyUrlProblem(url) === undefined;

/**
 * Differences from client-go that the differential suite in test/differential found; each has a
 * fixture in test/testdata/kubeconfigs.
 */
function kubeconfig(top: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    ...top,
    clusters: [{ name: 'c', cluster: { server: 'https://east.example:6443', ...cluster } }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'c',
    users: [{ name: 'u', user: { token: 'abc.def.ghi' } }],
  });
}

const review = (text: string) => reviewKubeconfig(text, { allow: new Set<string>() });

describe('apiVersion and kind, which client-go finds case-insensitively', () => {
  it.each([
    { key: 'Kind', value: 'Secret' },
    { key: 'KIND', value: 'Config' },
    { key: 'APIVersion', value: 'v2' },
    { key: 'apiversion', value: 'v1' },
    { key: 'apiVer\u017fion', value: 'v2' },
    { key: '\u212aind', value: 'Secret' },
  ])('refuses a top-level $key as ambiguous-yaml', ({ key, value }) => {
    const result = review(kubeconfig({ [key]: value }));
    expect(result.allowed).toBe(false);
    expect(result.violations.map(({ code, path }) => `${code} ${path}`)).toContain(`ambiguous-yaml ${key}`);
  });

  it('still allows the exact spellings, and the same words below the top level', () => {
    const result = review(kubeconfig({}, { extensions: [{ name: 'x', extension: { Kind: 'Secret' } }] }));
    expect(result.allowed).toBe(true);
  });
});

describe('proxy-url, as client-go parses it with Go url.Parse', () => {
  it.each([
    'http://proxy:3128',
    'https://proxy',
    'HTTPS://proxy',
    'socks5://proxy:1080',
    'http://user:p@ss@proxy:1',
    'http://[::1]:3128',
    'http://[fe80::1%25en0]:1',
    'http://proxy:',
    'http://proxy:3128/%41',
    'http://pr%C3%A9xy',
    'http:proxy',
    'http://proxy?%zz',
    'http://proxy/ path',
  ])('accepts %s', (url) => {
    expect(isValidProxyUrl(url)).toBe(true);
  });

  it.each([
    { url: 'proxy:3128', why: 'no scheme (Go reads "proxy" as the scheme)' },
    { url: '//proxy:3128', why: 'no scheme' },
    { url: 'ftp://proxy', why: 'an unsupported scheme' },
    { url: '::bad', why: 'a missing scheme' },
    { url: 'http://proxy:3128\n', why: 'a control character (a block scalar kept its newline)' },
    { url: 'http://proxy:abc', why: 'a port that is not a number' },
    { url: 'http://pro xy', why: 'a space in the host' },
    { url: 'http://us er@proxy', why: 'a space in the userinfo' },
    { url: 'http://[1.2.3.4]:1', why: 'an IPv4 address in brackets' },
    { url: 'http://proxy:3128/%zz', why: 'a bad escape in the path' },
    { url: 'http://%41proxy', why: 'an escaped ASCII byte in the host' },
    { url: 'http://proxy#%zz', why: 'a bad escape in the fragment' },
  ])('refuses $url: $why', ({ url }) => {
    expect(isValidProxyUrl(url)).toBe(false);
  });

  it('reports a proxy-url without a scheme as invalid, as istiod would', () => {
    const result = review(kubeconfig({}, { 'proxy-url': 'proxy.example:3128' }));
    expect(result.allowed).toBe(false);
    expect(result.violations.map(({ path }) => path)).toEqual(['clusters[0].cluster.proxy-url']);
  });
});

describe('Validate rules the differential suite found missing', () => {
  const withUser = (user: Record<string, unknown>) =>
    JSON.stringify({
      apiVersion: 'v1',
      clusters: [{ name: 'c', cluster: { server: 'https://east.example:6443' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
      users: [{ name: 'u', user }],
    });

  it('refuses as-uid without as, as client-go does', () => {
    const result = review(withUser({ token: 't', 'as-uid': '1234' }));
    expect(result.allowed).toBe(false);
    expect(result.violations.map(({ path }) => path)).toEqual(['users[0].user.as']);
    expect(review(withUser({ token: 't', as: 'admin', 'as-uid': '1234' })).allowed).toBe(true);
  });

  it("refuses a username beside an allowed tokenFile, which client-go's transport refuses", () => {
    const allow = new Set(['tokenFile']);
    const both = reviewKubeconfig(withUser({ username: 'admin', tokenFile: '/var/run/token' }), { allow });
    expect(both.allowed).toBe(false);
    expect(both.violations.map(({ path, message }) => [path, message])).toEqual([
      ['users[0].user.tokenFile', expect.stringContaining('may be set, but not both')],
    ]);
    // A password alone is not basic auth to the transport, and a token beside it is Validate's.
    expect(
      reviewKubeconfig(withUser({ password: 'p', tokenFile: '/var/run/token' }), { allow }).allowed,
    ).toBe(true);
    expect(reviewKubeconfig(withUser({ username: 'admin', password: 'p' }), { allow }).allowed).toBe(true);
    // Over http client-go never reads the user, so nothing is refused there.
    const http = withUser({ username: 'admin', tokenFile: '/var/run/token' }).replace('https://', 'http://');
    expect(reviewKubeconfig(http, { allow }).allowed).toBe(true);
  });
});
