import { describe, expect, it } from 'vitest';
import { jwt } from '../audit/testdata/kubeconfigs.ts';
import { KubeError } from '../kube/errors.ts';
import { emitYaml } from '../yaml/emit.ts';
import {
  describePermission,
  tokenExpiry,
  verifySecrets,
  type ClusterProbe,
  type ProbeFactory,
} from './verify.ts';
import { remoteCluster } from './manifests.ts';
import type { RemoteSecret } from './model.ts';
import type { ResourcePermission } from './istio-reader-rbac.ts';
import { FIXTURE_CA_DATA } from '../../test/testdata/pki/fixture-ca.ts';

const NOW = new Date('2026-05-01T00:00:00Z');

const LEGACY_TOKEN = jwt({
  iss: 'kubernetes/serviceaccount',
  sub: 'system:serviceaccount:istio-system:reader',
});

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  return emitYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'east',
        cluster: {
          server: 'https://east.example:6443',
          'certificate-authority-data': FIXTURE_CA_DATA,
          ...cluster,
        },
      },
    ],
    contexts: [{ name: 'east', context: { cluster: 'east', user: 'east' } }],
    'current-context': 'east',
    users: [{ name: 'east', user }],
  });
}

function secret(text: string, id = 'east'): RemoteSecret {
  return {
    source: 'test:0',
    namespace: 'istio-system',
    name: `istio-remote-secret-${id}`,
    clusters: [remoteCluster(id, 'stringData', text)],
  };
}

/** A probe that answers as told, and records that it was built. */
function fakeProbe(behaviour: Partial<ClusterProbe> = {}) {
  const calls: string[] = [];
  const factory: ProbeFactory = () => {
    calls.push('connect');
    return {
      serverVersion: behaviour.serverVersion ?? (() => Promise.resolve('v1.34.1')),
      whoAmI: behaviour.whoAmI ?? (() => Promise.resolve('system:serviceaccount:istio-system:reader')),
      can: behaviour.can ?? (() => Promise.resolve(true)),
    };
  };
  return { factory, calls };
}

const PERMISSIONS: ResourcePermission[] = [
  { group: '', resource: 'pods', verb: 'list' },
  { group: '', resource: 'secrets', verb: 'watch' },
  { group: 'discovery.k8s.io', resource: 'endpointslices', verb: 'list' },
];
const OPTIONS = { timeoutMs: 1000, now: NOW, permissions: PERMISSIONS };

const unreachable = () =>
  Promise.reject(
    new KubeError(
      'unreachable',
      'cannot reach the API server at https://east.example:6443 (connection refused)',
    ),
  );

describe('verify: one cluster', () => {
  it('all checks pass for a working legacy token', async () => {
    const { factory } = fakeProbe();
    const [result] = await verifySecrets([secret(kubeconfig({ token: LEGACY_TOKEN }))], OPTIONS, factory);
    expect(result).toEqual({
      source: 'test:0',
      secret: 'istio-system/istio-remote-secret-east',
      cluster: 'east',
      server: 'https://east.example:6443',
      status: 'ok',
      kubeconfig: { status: 'ok', violations: [] },
      reachable: { status: 'ok', serverVersion: 'v1.34.1' },
      auth: { status: 'ok', user: 'system:serviceaccount:istio-system:reader' },
      rbac: { status: 'ok', missing: [] },
      expiry: { status: 'ok', expires: null, message: 'never expires (a legacy ServiceAccount token)' },
    });
  });

  it.each([
    {
      name: 'exec',
      user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: '/bin/sh' } },
      code: 'exec',
    },
    { name: 'tokenFile', user: { tokenFile: '/var/run/secrets/token' }, code: 'token-file' },
    { name: 'a gcp auth provider', user: { 'auth-provider': { name: 'gcp' } }, code: 'auth-provider' },
  ])('never connects with a kubeconfig the sanitizer refuses ($name)', async ({ user, code }) => {
    const { factory, calls } = fakeProbe();
    const [result] = await verifySecrets([secret(kubeconfig(user))], OPTIONS, factory);
    expect(calls).toEqual([]);
    expect(result?.status).toBe('failed');
    expect(result?.kubeconfig.violations.map((found) => found.code)).toContain(code);
    expect(result?.reachable.status).toBe('skipped');
  });

  it('reports an unreachable server and skips the rest', async () => {
    const { factory } = fakeProbe({ serverVersion: unreachable });
    const [result] = await verifySecrets([secret(kubeconfig({ token: LEGACY_TOKEN }))], OPTIONS, factory);
    expect(result).toMatchObject({
      status: 'failed',
      reachable: { status: 'failed', message: expect.stringContaining('connection refused') },
      auth: { status: 'skipped' },
      rbac: { status: 'skipped' },
    });
  });

  it('a refused token: reachable, authentication failed', async () => {
    const { factory } = fakeProbe({
      serverVersion: () => Promise.reject(new KubeError('unauthorized', '401')),
    });
    const [result] = await verifySecrets([secret(kubeconfig({ token: LEGACY_TOKEN }))], OPTIONS, factory);
    expect(result).toMatchObject({
      status: 'failed',
      reachable: { status: 'ok' },
      auth: { status: 'failed' },
      rbac: { status: 'skipped' },
    });
  });

  it('lists the reader permissions the token lacks', async () => {
    const { factory } = fakeProbe({
      can: (permission) => Promise.resolve(permission.resource !== 'secrets'),
    });
    const [result] = await verifySecrets([secret(kubeconfig({ token: LEGACY_TOKEN }))], OPTIONS, factory);
    expect(result?.status).toBe('failed');
    expect(result?.rbac).toEqual({
      status: 'failed',
      missing: ['watch secrets'],
      message: "missing 1 of the 3 permissions of Istio's reader ClusterRole",
      hint: "ClusterRole istio-reader-clusterrole-istio-system lacks these rules: add them, or delete it and run `kubectl remote-secret create --context <remote> --name east --namespace istio-system`, which creates it with Istio's rules",
    });
  });

  it('fails an expired token even when the server still answers', async () => {
    const { factory } = fakeProbe();
    const expired = jwt({ exp: Date.parse('2026-04-30T00:00:00Z') / 1000 });
    const [result] = await verifySecrets([secret(kubeconfig({ token: expired }))], OPTIONS, factory);
    expect(result?.status).toBe('failed');
    expect(result?.expiry).toEqual({
      status: 'failed',
      expires: '2026-04-30T00:00:00.000Z',
      message: 'expired at 2026-04-30T00:00:00.000Z',
      hint: 'istiod cannot use it: mint a new token with `kubectl remote-secret create --context <remote> --name east --token-duration 720h` and apply it to the primary',
    });
  });

  it.each([
    {
      name: 'a revoked token (401)',
      probe: { serverVersion: () => Promise.reject(new KubeError('unauthorized', '401')) },
      check: 'auth',
      says: /the token was revoked, or its ServiceAccount or token Secret was deleted on the remote: mint a new one with `kubectl remote-secret create --context <remote> --name east`/,
    },
    {
      name: 'a revoked token, seen by the SelfSubjectReview',
      probe: { whoAmI: () => Promise.reject(new KubeError('unauthorized', '401')) },
      check: 'auth',
      says: /the token was revoked/,
    },
    {
      name: 'a missing ClusterRoleBinding (nothing granted)',
      probe: {
        whoAmI: () => Promise.resolve('system:serviceaccount:mesh:istio-reader-service-account'),
        can: () => Promise.resolve(false),
      },
      check: 'rbac',
      says: /ClusterRoleBinding istio-reader-clusterrole-mesh \(to ClusterRole istio-reader-clusterrole-mesh\) is missing; `kubectl remote-secret create --context <remote> --name east --namespace mesh` restores it/,
    },
    {
      name: 'a TLS name mismatch, checked against the server host',
      probe: {
        serverVersion: () => Promise.reject(new KubeError('tls-name-mismatch', 'does not name this host')),
      },
      check: 'reachable',
      says: /does not name "east\.example", the host of its server URL: set tls-server-name to a name it has/,
    },
    {
      name: 'a TLS name mismatch, checked against tls-server-name',
      cluster: { 'tls-server-name': 'api.east.example' },
      probe: {
        serverVersion: () => Promise.reject(new KubeError('tls-name-mismatch', 'does not name this host')),
      },
      check: 'reachable',
      says: /does not name "api\.east\.example", the kubeconfig's tls-server-name/,
    },
  ] as const)('says what to do next for $name', async ({ probe, check, says, ...rest }) => {
    const { factory } = fakeProbe(probe);
    const cluster = 'cluster' in rest ? rest.cluster : {};
    const [result] = await verifySecrets(
      [secret(kubeconfig({ token: LEGACY_TOKEN }, cluster))],
      OPTIONS,
      factory,
    );
    expect(result?.status).toBe('failed');
    expect(result?.[check].status).toBe('failed');
    expect(result?.[check].hint).toMatch(says);
  });

  it('warns about a token that expires within --expiring-within, and passes it', async () => {
    const { factory } = fakeProbe();
    const soon = jwt({ exp: Date.parse('2026-05-03T00:00:00Z') / 1000 });
    const [result] = await verifySecrets(
      [secret(kubeconfig({ token: soon }))],
      { ...OPTIONS, expiringWithinMs: 7 * 24 * 3_600_000 },
      factory,
    );
    expect(result?.status).toBe('ok');
    expect(result?.expiry).toMatchObject({
      status: 'expiring',
      expires: '2026-05-03T00:00:00.000Z',
      message: 'expires at 2026-05-03T00:00:00.000Z, within 168h',
      hint: 'run `kubectl remote-secret create --context <remote> --name east --token-duration 720h` and apply the new secret before then',
    });
    const later = await verifySecrets(
      [secret(kubeconfig({ token: soon }))],
      { ...OPTIONS, expiringWithinMs: 3_600_000 },
      factory,
    );
    expect(later[0]?.expiry.status).toBe('ok');
  });

  it('reads the expiry of an oidc id-token', async () => {
    const { factory } = fakeProbe();
    const idToken = jwt({ exp: Date.parse('2026-06-01T00:00:00Z') / 1000 });
    const [result] = await verifySecrets(
      [
        secret(
          kubeconfig({
            'auth-provider': {
              name: 'oidc',
              config: {
                'id-token': idToken,
                'idp-issuer-url': 'https://issuer.example',
                'client-id': 'istiod',
              },
            },
          }),
        ),
      ],
      OPTIONS,
      factory,
    );
    expect(result?.expiry.expires).toBe('2026-06-01T00:00:00.000Z');
    expect(result?.status).toBe('ok');
  });

  it('a kubeconfig that cannot be decoded is a failed cluster, not an exception', async () => {
    const { factory, calls } = fakeProbe();
    const broken: RemoteSecret = {
      ...secret(''),
      clusters: [remoteCluster('east', 'data', 'not base64!')],
    };
    const [result] = await verifySecrets([broken], OPTIONS, factory);
    expect(calls).toEqual([]);
    expect(result?.kubeconfig.violations[0]?.message).toBe('the value is not valid base64');
  });

  it('checks clusters in parallel and keeps their order', async () => {
    let inFlight = 0;
    let most = 0;
    const { factory } = fakeProbe({
      serverVersion: async () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight -= 1;
        return 'v1';
      },
    });
    const secrets = ['a', 'b', 'c', 'd'].map((id) => secret(kubeconfig({ token: LEGACY_TOKEN }), id));
    const results = await verifySecrets(secrets, OPTIONS, factory);
    expect(results.map((result) => result.cluster)).toEqual(['a', 'b', 'c', 'd']);
    expect(most).toBe(4);
  });
});

describe('verify: the per-cluster deadline', () => {
  it('hands the probe a signal that aborts after the timeout, and reports the cluster as not reachable', async () => {
    const factory: ProbeFactory = (_config, signal) => ({
      serverVersion: () =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            reject(new KubeError('timeout', 'no answer from https://east.example:6443 within 0.1s'));
          });
        }),
      whoAmI: () => Promise.resolve(undefined),
      can: () => Promise.resolve(true),
    });
    const started = Date.now();
    const results = await verifySecrets(
      [
        secret(kubeconfig({ token: LEGACY_TOKEN }), 'slow'),
        secret(kubeconfig({ token: LEGACY_TOKEN }), 'slower'),
      ],
      { ...OPTIONS, timeoutMs: 100 },
      factory,
    );
    // Both deadlines ran at the same time, not one after the other.
    expect(Date.now() - started).toBeLessThan(1000);
    expect(
      results.map((result) => [result.cluster, result.reachable.status, result.reachable.message]),
    ).toEqual([
      ['slow', 'failed', 'no answer from https://east.example:6443 within 0.1s'],
      ['slower', 'failed', 'no answer from https://east.example:6443 within 0.1s'],
    ]);
  });
});

describe('tokenExpiry', () => {
  it.each([
    { name: 'no token', token: undefined, status: 'unknown', expires: null },
    { name: 'not a JWT', token: 'static-token-abc', status: 'unknown', expires: null },
    { name: 'legacy, no exp', token: LEGACY_TOKEN, status: 'ok', expires: null },
    {
      name: 'bounded',
      token: jwt({ exp: 1_780_000_000 }),
      status: 'ok',
      expires: '2026-05-28T20:26:40.000Z',
    },
    { name: 'odd exp', token: jwt({ exp: 'soon' }), status: 'unknown', expires: null },
  ])('$name', ({ token, status, expires }) => {
    expect(tokenExpiry(token, NOW)).toMatchObject({ status, expires });
  });

  describe('of a renewable secret: its schedule, not a warning, until the renewal is late', () => {
    const policy = {
      serviceAccount: 'istio-reader-service-account',
      namespace: 'istio-system',
      durationSeconds: 86_400,
      renewAfter: 0.5,
    };
    const nowS = NOW.getTime() / 1000;
    it('not due yet: ok, with when it renews, although it expires within the week', () => {
      const token = jwt({ iat: nowS - 3_600, exp: nowS - 3_600 + 86_400 });
      expect(tokenExpiry(token, NOW)).toMatchObject({ status: 'expiring' });
      expect(tokenExpiry(token, NOW, undefined, policy)).toEqual({
        status: 'ok',
        expires: '2026-05-01T23:00:00.000Z',
        renewAt: '2026-05-01T11:00:00.000Z',
        message:
          'expires at 2026-05-01T23:00:00.000Z; renewable, due for renewal at 2026-05-01T11:00:00.000Z',
      });
    });
    it('due and not renewed: expiring, saying so', () => {
      const token = jwt({ iat: nowS - 50_000, exp: nowS - 50_000 + 86_400 });
      expect(tokenExpiry(token, NOW, undefined, policy)).toMatchObject({
        status: 'expiring',
        renewAt: '2026-04-30T22:06:40.000Z',
        message: expect.stringContaining(
          'due for renewal since 2026-04-30T22:06:40.000Z and not renewed',
        ) as string,
      });
    });
    it('expired: failed, as any token', () => {
      const token = jwt({ iat: nowS - 90_000, exp: nowS - 90_000 + 86_400 });
      expect(tokenExpiry(token, NOW, undefined, policy)).toMatchObject({ status: 'failed' });
    });
  });
});

describe('describePermission', () => {
  it('writes the group before the resource, and nothing for the core group', () => {
    expect(describePermission({ group: '', resource: 'pods', verb: 'list' })).toBe('list pods');
    expect(describePermission({ group: 'apps', resource: 'replicasets', verb: 'watch' })).toBe(
      'watch apps/replicasets',
    );
  });
});
