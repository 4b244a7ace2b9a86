import { describe, expect, it } from 'vitest';
import { jwt, kubeconfigText } from '../audit/testdata/kubeconfigs.ts';
import { RemoteSecretError } from '../errors.ts';
import { KubeError } from '../kube/errors.ts';
import type { SecretManifest } from './build.ts';
import { renewSecret, replaceToken, type RenewIo, type StoredRemoteSecret } from './renew.ts';
import {
  DEFAULT_RENEW_AFTER,
  readRenewalPolicy,
  renewalAnnotations,
  renewalSchedule,
  tokenLifetime,
  RENEW_AFTER_ANNOTATION,
  RENEW_DURATION_ANNOTATION,
  RENEW_SERVICE_ACCOUNT_ANNOTATION,
  type RenewalPolicy,
} from './renewal.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const S = Math.floor(NOW.getTime() / 1000);
const POLICY: RenewalPolicy = {
  serviceAccount: 'istio-reader-service-account',
  namespace: 'istio-system',
  durationSeconds: 3 * 3600,
  renewAfter: DEFAULT_RENEW_AFTER,
};
/** Issued 2h 2m ago, for 3h 2m: over two thirds used, due. */
const DUE = jwt({ iat: S - 7320, exp: S + 3600, sub: 'reader' });
/** Issued 1h ago, for 3h: a third used. */
const FRESH = jwt({ iat: S - 3600, exp: S + 7200, sub: 'reader' });

function stored(
  clusters: Record<string, string>,
  annotations: Record<string, string> = renewalAnnotations(POLICY),
): StoredRemoteSecret {
  const manifest: SecretManifest = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'istio-remote-secret-east',
      namespace: 'istio-system',
      labels: { 'istio/multiCluster': 'true' },
      annotations: { 'networking.istio.io/cluster': 'east', ...annotations },
    },
    data: Object.fromEntries(
      Object.entries(clusters).map(([id, text]) => [id, Buffer.from(text).toString('base64')]),
    ),
  };
  return { manifest, resourceVersion: '7' };
}

/** A remote that mints numbered tokens, and a primary that stores the last update. */
function fakeIo(overrides: Partial<RenewIo> = {}) {
  let minted = 0;
  const updates: { resourceVersion: string; data: Readonly<Record<string, string>> }[] = [];
  const asked: string[] = [];
  const io: RenewIo = {
    requestToken: (config, policy) => {
      minted += 1;
      asked.push(`${policy.namespace}/${policy.serviceAccount}`);
      // The sanitized config, never the text: it has the current token to ask with.
      expect(config.users[0]?.user['token']).toMatch(/^ey/);
      return Promise.resolve({
        token: jwt({ iat: S, exp: S + policy.durationSeconds, n: minted }),
        expires: new Date((S + policy.durationSeconds) * 1000),
      });
    },
    updateSecret: (_namespace, _name, resourceVersion, data) => {
      updates.push({ resourceVersion, data });
      return Promise.resolve();
    },
    readSecret: () => Promise.resolve(undefined),
    ...overrides,
  };
  return { io, updates, asked };
}

const decoded = (data: Readonly<Record<string, string>>, key: string) =>
  Buffer.from(data[key] ?? '', 'base64').toString('utf8');

describe('renewalSchedule', () => {
  it('is due after the share of the life from iat, expired at exp, and unscheduled without exp', () => {
    expect(renewalSchedule(DUE, POLICY, NOW)).toMatchObject({ kind: 'due' });
    expect(renewalSchedule(FRESH, POLICY, NOW)).toEqual({
      kind: 'not-yet',
      expires: new Date((S + 7200) * 1000),
      renewAt: new Date((S - 3600 + 7200) * 1000),
    });
    expect(renewalSchedule(jwt({ iat: S - 4000, exp: S - 1 }), POLICY, NOW)).toMatchObject({
      kind: 'expired',
    });
    expect(renewalSchedule(jwt({ sub: 'legacy' }), POLICY, NOW)).toEqual({ kind: 'no-expiry' });
    expect(renewalSchedule('not-a-jwt', POLICY, NOW)).toEqual({ kind: 'no-expiry' });
    // No iat: the policy's duration before exp.
    expect(renewalSchedule(jwt({ exp: S + 7200 }), POLICY, NOW)).toMatchObject({
      kind: 'not-yet',
      renewAt: new Date((S + 7200 - 3 * 3600 + 2 * 3600) * 1000),
    });
  });
});

describe('tokenLifetime', () => {
  const HOUR_MS = 3_600_000;
  it.each([
    ['not a JWT', 'opaque-static-token', undefined, 'not-a-jwt'],
    ['no exp (a legacy token)', jwt({ sub: 'legacy' }), undefined, 'never-expires'],
    ['an exp that is no number', jwt({ exp: 'soon' }), undefined, 'unreadable-exp'],
    ['expired a second ago', jwt({ exp: S - 1 }), POLICY, 'expired'],
    ['expiring at this very second', jwt({ exp: S }), undefined, 'expired'],
    ['renewable and due', DUE, POLICY, 'renewal-overdue'],
    ['renewable, not due, although within the window', FRESH, POLICY, 'renewable'],
    ['not renewable, within the window', FRESH, undefined, 'expiring'],
    ['not renewable, beyond the window', jwt({ exp: S + 48 * 3600 }), undefined, 'ok'],
  ] as const)('%s: %s', (_what, token, renewal, kind) => {
    expect(tokenLifetime(token, NOW, 24 * HOUR_MS, renewal).kind).toBe(kind);
  });
});

describe('readRenewalPolicy', () => {
  it('reads what renewalAnnotations writes', () => {
    expect(readRenewalPolicy(renewalAnnotations(POLICY))).toEqual({
      renewable: true,
      policy: { ...POLICY, renewAfter: 0.67 },
    });
    expect(readRenewalPolicy({})).toEqual({ renewable: false });
  });

  it.each([
    [{ [RENEW_DURATION_ANNOTATION]: '5m' }, 'is not a duration of at least 10m'],
    [{ [RENEW_AFTER_ANNOTATION]: '1.5' }, 'is not a share between 0 and 1'],
    [{ [RENEW_SERVICE_ACCOUNT_ANNOTATION]: 'Not_A_Name' }, 'is not a ServiceAccount name'],
  ])('says which annotation is wrong: %j', (change, message) => {
    const read = readRenewalPolicy({ ...renewalAnnotations(POLICY), ...change });
    expect(read.renewable && 'error' in read ? read.error : '').toContain(message);
  });
});

describe('renewSecret', () => {
  it('renews a due token in place, changing nothing else of the kubeconfig, in one conditional update', async () => {
    const text = kubeconfigText({ token: DUE });
    const { io, updates, asked } = fakeIo();
    const results = await renewSecret(stored({ east: text }), { now: NOW, force: false, dryRun: false }, io);
    expect(results).toEqual([
      {
        secret: 'istio-system/istio-remote-secret-east',
        cluster: 'east',
        status: 'renewed',
        expires: new Date((S + 3600) * 1000).toISOString(),
        newExpires: new Date((S + 3 * 3600) * 1000).toISOString(),
      },
    ]);
    expect(asked).toEqual(['istio-system/istio-reader-service-account']);
    expect(updates.map((update) => update.resourceVersion)).toEqual(['7']);
    const after = decoded(updates[0]?.data ?? {}, 'east');
    const fresh = jwt({ iat: S, exp: S + 3 * 3600, n: 1 });
    expect(after).toBe(text.replace(DUE, fresh));
    expect(JSON.stringify(results)).not.toContain('ey');
  });

  it('leaves a token that is not due, unless --force; --dry-run asks for nothing', async () => {
    const text = kubeconfigText({ token: FRESH });
    const quiet = fakeIo();
    expect(
      await renewSecret(stored({ east: text }), { now: NOW, force: false, dryRun: false }, quiet.io),
    ).toMatchObject([
      { status: 'not-due', renewAt: new Date((S - 3600 + 0.67 * 10_800) * 1000).toISOString() },
    ]); // 0.67 of 3h from iat
    expect(quiet.updates).toEqual([]);
    const dry = fakeIo();
    expect(
      await renewSecret(stored({ east: text }), { now: NOW, force: true, dryRun: true }, dry.io),
    ).toMatchObject([{ status: 'would-renew' }]);
    expect(dry.asked).toEqual([]);
    expect(dry.updates).toEqual([]);
    const forced = fakeIo();
    expect(
      await renewSecret(stored({ east: text }), { now: NOW, force: true, dryRun: false }, forced.io),
    ).toMatchObject([{ status: 'renewed' }]);
  });

  it('says why and what to do when the remote refuses: 403 (the Role is gone), 401, unreachable', async () => {
    for (const [error, message] of [
      [
        new KubeError('forbidden', 'forbidden'),
        'the Role or RoleBinding istio-reader-service-account-token-renewer is gone',
      ],
      [new KubeError('unauthorized', 'no'), 'the remote refused the current token (401)'],
      [
        new KubeError('unreachable', 'cannot reach https://east.example:6443'),
        'cannot reach https://east.example:6443',
      ],
    ] as const) {
      const { io, updates } = fakeIo({ requestToken: () => Promise.reject(error) });
      const [result] = await renewSecret(
        stored({ east: kubeconfigText({ token: DUE }) }),
        { now: NOW, force: false, dryRun: false },
        io,
      );
      expect(result).toMatchObject({ status: 'failed' });
      expect(result?.message).toContain(message);
      expect(result?.hint).not.toBe('');
      expect(updates).toEqual([]);
    }
  });

  it('counts what the guarded transport refuses to dial as unreachable, with its own fix', async () => {
    for (const error of [
      new KubeError('redirect', 'https://east.example:6443 answered 302, a redirect', {
        hint: "set the kubeconfig's server to the API server itself",
      }),
      new RemoteSecretError('unverifiable', 'cluster "east" is reached through a proxy-url', {
        hint: 'remove the proxy-url',
      }),
    ]) {
      const { io, updates } = fakeIo({ requestToken: () => Promise.reject(error) });
      const [result] = await renewSecret(
        stored({ east: kubeconfigText({ token: DUE }) }),
        { now: NOW, force: false, dryRun: false },
        io,
      );
      expect(result).toMatchObject({ status: 'failed', reason: 'unreachable' });
      expect(result?.message).toContain(error.message);
      expect(result?.hint).toBe(`${error.hint ?? ''}; the current token keeps working until it expires`);
      expect(updates).toEqual([]);
    }
  });

  it('fails an expired token with the command that mints a new one, and asks the remote nothing', async () => {
    const { io, asked } = fakeIo();
    const [result] = await renewSecret(
      stored({ east: kubeconfigText({ token: jwt({ iat: S - 4000, exp: S - 10 }) }) }),
      { now: NOW, force: true, dryRun: false },
      io,
    );
    expect(result).toMatchObject({ status: 'failed' });
    expect(result?.hint).toContain('kubectl remote-secret create --context <remote> --name east');
    expect(asked).toEqual([]);
  });

  it('never overwrites: on a conflict it rereads, writes again if the token is unchanged, and gives up if not', async () => {
    const text = kubeconfigText({ token: DUE });
    let calls = 0;
    const versions: string[] = [];
    const retried = fakeIo({
      updateSecret: (_ns, _name, resourceVersion) => {
        calls += 1;
        versions.push(resourceVersion);
        return calls === 1 ? Promise.reject(new KubeError('conflict', 'conflict')) : Promise.resolve();
      },
      readSecret: () => Promise.resolve({ ...stored({ east: text }), resourceVersion: '8' }),
    });
    expect(
      await renewSecret(stored({ east: text }), { now: NOW, force: false, dryRun: false }, retried.io),
    ).toMatchObject([{ status: 'renewed' }]);
    expect(versions).toEqual(['7', '8']);

    const raced = fakeIo({
      updateSecret: () => Promise.reject(new KubeError('conflict', 'conflict')),
      // Someone else renewed it meanwhile.
      readSecret: () =>
        Promise.resolve({ ...stored({ east: kubeconfigText({ token: FRESH }) }), resourceVersion: '8' }),
    });
    const [result] = await renewSecret(
      stored({ east: text }),
      { now: NOW, force: false, dryRun: false },
      raced.io,
    );
    expect(result).toMatchObject({ status: 'failed' });
    expect(result?.message).toContain('nothing was overwritten');
  });

  it('refuses a secret that is not renewable, or whose kubeconfig the sanitizer refuses, without asking the remote', async () => {
    const plain = fakeIo();
    const [notRenewable] = await renewSecret(
      stored({ east: kubeconfigText({ token: DUE }) }, {}),
      { now: NOW, force: true, dryRun: false },
      plain.io,
    );
    expect(notRenewable?.message).toContain('not renewable');
    const [refused] = await renewSecret(
      stored({ east: kubeconfigText({ exec: true }) }),
      { now: NOW, force: true, dryRun: false },
      plain.io,
    );
    expect(refused?.message).toContain('the kubeconfig is refused: exec');
    expect(plain.asked).toEqual([]);
  });
});

describe('replaceToken', () => {
  it('replaces a token that occurs once, and nothing that could not be a token', () => {
    const text = kubeconfigText({ token: DUE });
    expect(replaceToken(text, DUE, FRESH)).toBe(text.replace(DUE, FRESH));
    expect(replaceToken(`${text}\n# ${DUE}\n`, DUE, FRESH)).toBeUndefined();
    expect(replaceToken(text, DUE, 'two words')).toBeUndefined();
  });
});
