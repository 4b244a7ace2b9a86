import { describe, expect, it } from 'vitest';
import { reviewKubeconfig } from '../kubeconfig/review.ts';
import {
  DEFAULT_EXPIRING_WITHIN_MS,
  isLinkLocal,
  isLoopback,
  riskNotes,
  type RiskOptions,
} from './risk-notes.ts';
import { expIn, jwt, kubeconfigText, NOW, type KubeconfigSpec } from './testdata/kubeconfigs.ts';

const options = { now: NOW, expiringWithinMs: DEFAULT_EXPIRING_WITHIN_MS };

/** As the audit does it: reviewed by our parser and sanitizer, then noted from the rebuilt config. */
function kubeconfigRiskNotes(text: string, risk: RiskOptions) {
  const review = reviewKubeconfig(text, { allow: new Set() });
  return review.allowed ? riskNotes(review.config, risk) : [];
}

describe('kubeconfigRiskNotes', () => {
  it.each<{ name: string; spec: KubeconfigSpec; notes: { code: string; path: string }[] }>([
    { name: 'a bound token with a long life, over https', spec: {}, notes: [] },
    {
      name: 'an expired token',
      spec: { token: { exp: expIn(-1) } },
      notes: [{ code: 'token-expired', path: 'users[0].user.token' }],
    },
    {
      name: 'a token that expires this instant',
      spec: { token: { exp: expIn(0) } },
      notes: [{ code: 'token-expired', path: 'users[0].user.token' }],
    },
    {
      name: 'a token that expires within the week',
      spec: { token: { exp: expIn(6) } },
      notes: [{ code: 'token-expiring-soon', path: 'users[0].user.token' }],
    },
    { name: 'a token that expires in eight days', spec: { token: { exp: expIn(8) } }, notes: [] },
    {
      name: 'a legacy token without exp',
      spec: { token: { iss: 'kubernetes/serviceaccount' } },
      notes: [{ code: 'token-never-expires', path: 'users[0].user.token' }],
    },
    { name: 'a token that is not a JWT', spec: { token: 'static-token-abc' }, notes: [] },
    { name: 'a JWT with an unreadable exp', spec: { token: { exp: 'soon' } }, notes: [] },
    {
      name: 'insecure-skip-tls-verify',
      spec: { insecure: true },
      notes: [{ code: 'insecure-skip-tls-verify', path: 'clusters[0].cluster.insecure-skip-tls-verify' }],
    },
    {
      name: 'a proxy-url',
      spec: { proxyUrl: 'http://proxy.example:3128' },
      notes: [{ code: 'proxy-url', path: 'clusters[0].cluster.proxy-url' }],
    },
    {
      name: 'a plain http server',
      spec: { server: 'http://east.example:8080' },
      notes: [{ code: 'plain-http-server', path: 'clusters[0].cluster.server' }],
    },
    {
      name: 'the IPv4 metadata address',
      spec: { server: 'https://169.254.169.254' },
      notes: [{ code: 'link-local-server', path: 'clusters[0].cluster.server' }],
    },
    {
      name: 'the AWS IPv6 metadata address over http',
      spec: { server: 'http://[fd00:ec2::254]' },
      notes: [
        { code: 'plain-http-server', path: 'clusters[0].cluster.server' },
        { code: 'link-local-server', path: 'clusters[0].cluster.server' },
      ],
    },
    {
      name: 'the IPv4 metadata address written as IPv4-mapped IPv6',
      spec: { server: 'https://[::ffff:169.254.169.254]:443' },
      notes: [{ code: 'link-local-server', path: 'clusters[0].cluster.server' }],
    },
    {
      name: 'the GCE metadata host name',
      spec: { server: 'https://metadata.google.internal' },
      notes: [{ code: 'link-local-server', path: 'clusters[0].cluster.server' }],
    },
    {
      name: 'a loopback IPv4 server',
      spec: { server: 'https://127.0.0.1:6443' },
      notes: [{ code: 'loopback-server', path: 'clusters[0].cluster.server' }],
    },
    {
      name: 'anywhere in 127.0.0.0/8',
      spec: { server: 'https://127.1.2.3' },
      notes: [{ code: 'loopback-server', path: 'clusters[0].cluster.server' }],
    },
    {
      name: 'the IPv6 loopback address',
      spec: { server: 'https://[::1]:6443' },
      notes: [{ code: 'loopback-server', path: 'clusters[0].cluster.server' }],
    },
    {
      name: 'localhost, over plain http',
      spec: { server: 'http://localhost:8080' },
      notes: [
        { code: 'plain-http-server', path: 'clusters[0].cluster.server' },
        { code: 'loopback-server', path: 'clusters[0].cluster.server' },
      ],
    },
    {
      name: 'a name under localhost, with a trailing dot',
      spec: { server: 'https://api.LOCALHOST.:6443' },
      notes: [{ code: 'loopback-server', path: 'clusters[0].cluster.server' }],
    },
    {
      name: 'several risks at once, in document order',
      spec: { insecure: true, proxyUrl: 'socks5://p:1080', token: { exp: expIn(-3) } },
      notes: [
        { code: 'insecure-skip-tls-verify', path: 'clusters[0].cluster.insecure-skip-tls-verify' },
        { code: 'proxy-url', path: 'clusters[0].cluster.proxy-url' },
        { code: 'token-expired', path: 'users[0].user.token' },
      ],
    },
  ])('$name', ({ spec, notes }) => {
    const found = kubeconfigRiskNotes(kubeconfigText(spec), options);
    expect(found.map(({ code, path }) => ({ code, path }))).toEqual(notes);
  });

  it('never puts the token in a message', () => {
    const token = jwt({ exp: expIn(-1), sub: 'secret-subject-xyz' });
    const found = kubeconfigRiskNotes(kubeconfigText({ token, insecure: true }), options);
    expect(found).toHaveLength(2);
    for (const note of found) {
      expect(note.message).not.toContain(token.split('.')[1]);
      expect(note.message).not.toContain('secret-subject-xyz');
    }
  });

  it('has no notes for a rejected kubeconfig (its violations fail the audit)', () => {
    expect(kubeconfigRiskNotes('{ not: [yaml', options)).toEqual([]);
    expect(kubeconfigRiskNotes(kubeconfigText({ exec: true, insecure: true }), options)).toEqual([]);
    // A CA file is a violation (certificate-authority-file), no longer a note.
    expect(kubeconfigRiskNotes(kubeconfigText({ caFile: '/etc/ssl/certs/ca.crt' }), options)).toEqual([]);
  });

  it('honours a custom expiry window', () => {
    const text = kubeconfigText({ token: { exp: expIn(20) } });
    expect(kubeconfigRiskNotes(text, { now: NOW, expiringWithinMs: 30 * 86_400_000 })[0]?.code).toBe(
      'token-expiring-soon',
    );
  });
});

describe('isLinkLocal', () => {
  it.each([
    { host: '169.254.169.254', linkLocal: true },
    { host: '169.254.0.1', linkLocal: true },
    { host: '[fd00:ec2::254]', linkLocal: true },
    { host: '[fe80::1]', linkLocal: true },
    { host: '[::ffff:169.254.169.254]', linkLocal: true },
    { host: '[::169.254.169.254]', linkLocal: true },
    { host: '[64:ff9b::a9fe:a9fe]', linkLocal: true },
    { host: '[64:ff9b::a00:1]', linkLocal: false },
    { host: 'metadata.google.internal', linkLocal: true },
    { host: 'METADATA.google.internal.', linkLocal: true },
    { host: '192.0.2.10', linkLocal: false },
    { host: '[fd00:ec2::253]', linkLocal: false },
    { host: 'remote.example', linkLocal: false },
  ])('$host: $linkLocal', ({ host, linkLocal }) => {
    expect(isLinkLocal(host)).toBe(linkLocal);
  });
});

describe('isLoopback', () => {
  it.each([
    { host: '127.0.0.1', loopback: true },
    { host: '127.255.255.254', loopback: true },
    { host: '0.0.0.0', loopback: true },
    { host: '[::1]', loopback: true },
    { host: '[::]', loopback: true },
    { host: '[::ffff:127.0.0.1]', loopback: true },
    { host: '[::127.0.0.1]', loopback: true },
    { host: '[::7f00:2]', loopback: true },
    { host: 'localhost', loopback: true },
    { host: 'Localhost.', loopback: true },
    { host: 'kube.localhost', loopback: true },
    { host: '128.0.0.1', loopback: false },
    { host: '[::2]', loopback: false },
    { host: 'localhost.example', loopback: false },
    { host: 'mylocalhost', loopback: false },
    { host: '169.254.169.254', loopback: false },
  ])('$host: $loopback', ({ host, loopback }) => {
    expect(isLoopback(host)).toBe(loopback);
  });
});

describe('the token of a renewable secret', () => {
  const renewal = {
    serviceAccount: 'istio-reader-service-account',
    namespace: 'istio-system',
    durationSeconds: 86_400,
    renewAfter: 0.67,
  };
  const nowS = NOW.getTime() / 1000;
  const notesFor = (issuedAgoS: number) =>
    kubeconfigRiskNotes(
      kubeconfigText({ token: { iat: nowS - issuedAgoS, exp: nowS - issuedAgoS + 86_400 } }),
      {
        ...options,
        renewal,
      },
    );

  it('is no risk while its renewal is not due, although it expires within the week', () => {
    expect(notesFor(3_600)).toEqual([]);
    expect(
      kubeconfigRiskNotes(
        kubeconfigText({ token: { iat: nowS - 3_600, exp: nowS - 3_600 + 86_400 } }),
        options,
      ),
    ).toMatchObject([{ code: 'token-expiring-soon' }]);
  });

  it('is noted once its renewal is late, saying it was not renewed and where to look', () => {
    const [note, ...others] = notesFor(70_000);
    expect(others).toEqual([]);
    expect(note).toMatchObject({ code: 'token-expiring-soon', path: 'users[0].user.token' });
    expect(note?.message).toMatch(/renewable token that was due for renewal at .* and was not renewed/);
    expect(note?.message).toContain('RemoteSecretRenewalFailed');
  });

  it('is expired like any other once past its exp', () => {
    expect(notesFor(90_000)).toMatchObject([{ code: 'token-expired' }]);
  });
});
