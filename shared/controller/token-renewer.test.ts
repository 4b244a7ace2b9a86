import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { jwt, kubeconfigText } from '../audit/testdata/kubeconfigs.ts';
import { KubeError } from '../kube/errors.ts';
import type { SecretManifest } from '../remote-secret/build.ts';
import type { RenewIo } from '../remote-secret/renew.ts';
import { renewalAnnotations, type RenewalPolicy } from '../remote-secret/renewal.ts';
import {
  RETRY_INITIAL_MS,
  TokenRenewer,
  type ClusterRenewalState,
  type RenewalFailure,
  type StoredSecretItem,
} from './token-renewer.ts';

const START = new Date('2026-06-01T12:00:00Z');
const MINUTE = 60_000;
const POLICY: RenewalPolicy = {
  serviceAccount: 'istio-reader-service-account',
  namespace: 'istio-system',
  durationSeconds: 3600,
  renewAfter: 0.5,
};
const seconds = (ms: number) => Math.floor(ms / 1000);

/** A token issued `agoMs` before now for the policy's hour. */
function tokenIssued(agoMs: number, n = 0): string {
  const iat = seconds(Date.now() - agoMs);
  return jwt({ iat, exp: iat + POLICY.durationSeconds, sub: 'reader', n });
}

/**
 * A primary that holds secrets (data, resourceVersion) and a remote that mints tokens issued at the
 * fake clock's now; `remote.fail` makes each TokenRequest fail with that error.
 */
function world() {
  const secrets = new Map<string, { manifest: SecretManifest; resourceVersion: number }>();
  const remote: { fail: Error | undefined; minted: number } = { fail: undefined, minted: 0 };
  const put = (name: string, token: string, annotations = renewalAnnotations(POLICY)) => {
    secrets.set(name, {
      resourceVersion: 1,
      manifest: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name,
          namespace: 'istio-system',
          labels: { 'istio/multiCluster': 'true' },
          annotations,
        },
        data: { east: Buffer.from(kubeconfigText({ token })).toString('base64') },
      },
    });
  };
  const tokenOf = (name: string): string => {
    const text = Buffer.from(secrets.get(name)?.manifest.data?.['east'] ?? '', 'base64').toString('utf8');
    return /token: (\S+)/.exec(text)?.[1] ?? '';
  };
  const io: RenewIo = {
    requestToken: () => {
      if (remote.fail !== undefined) return Promise.reject(remote.fail);
      remote.minted += 1;
      const iat = seconds(Date.now());
      return Promise.resolve({
        token: jwt({ iat, exp: iat + POLICY.durationSeconds, sub: 'reader', n: remote.minted }),
        expires: new Date((iat + POLICY.durationSeconds) * 1000),
      });
    },
    updateSecret: (_namespace, name, resourceVersion, data) => {
      const secret = secrets.get(name);
      if (secret === undefined || String(secret.resourceVersion) !== resourceVersion) {
        return Promise.reject(new KubeError('conflict', 'the object has been modified'));
      }
      secret.manifest = { ...secret.manifest, data: { ...secret.manifest.data, ...data } };
      secret.resourceVersion += 1;
      return Promise.resolve();
    },
    readSecret: (_namespace, name) => {
      const secret = secrets.get(name);
      return Promise.resolve(
        secret === undefined
          ? undefined
          : { manifest: secret.manifest, resourceVersion: String(secret.resourceVersion) },
      );
    },
  };
  const failures: RenewalFailure[] = [];
  const renewed: string[] = [];
  let states: readonly ClusterRenewalState[] = [];
  const runs: string[] = [];
  let listFails = false;
  const renewer = new TokenRenewer({
    namespaces: ['istio-system'],
    pages: () => () => {
      if (listFails) return Promise.reject(new KubeError('unreachable', 'connection refused'));
      const items: StoredSecretItem[] = [...secrets.values()].map((secret) => ({
        stored: { manifest: secret.manifest, resourceVersion: String(secret.resourceVersion) },
        uid: `uid-${secret.manifest.metadata.name ?? ''}`,
      }));
      return Promise.resolve({ items, continueToken: undefined });
    },
    io,
    reporter: {
      renewed: (_namespace, name) => renewed.push(name),
      failed: (failure) => {
        failures.push(failure);
      },
      state: (next) => {
        states = next;
      },
      run: (result) => runs.push(result),
    },
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined },
    intervalMs: 5 * MINUTE,
  });
  return {
    secrets,
    put,
    tokenOf,
    remote,
    renewer,
    failures,
    renewed,
    runs,
    states: () => states,
    failList: (value: boolean) => {
      listFails = value;
    },
  };
}

/** Let the timers due within `ms` fire, and the promises they start settle. */
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

describe('TokenRenewer on the leader', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: START });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('renews a token once its share of life has passed, not before, and keeps renewing', async () => {
    const w = world();
    // Half of the hour is the share: issued 20 minutes ago, due in 10.
    w.put('east', tokenIssued(20 * MINUTE));
    const before = w.tokenOf('east');
    w.renewer.start();
    await advance(0);
    expect(w.renewed).toEqual([]);
    expect(w.states()).toEqual([
      {
        namespace: 'istio-system',
        name: 'east',
        cluster: 'east',
        renewAt: new Date(START.getTime() + 10 * MINUTE),
        failing: undefined,
      },
    ]);
    await advance(10 * MINUTE - 1000);
    expect(w.renewed).toEqual([]);
    await advance(1000);
    expect(w.renewed).toEqual(['east']);
    expect(w.tokenOf('east')).not.toBe(before);
    expect(w.secrets.get('east')?.resourceVersion).toBe(2);
    // The new token is due half an hour after it was minted; then again, three times in all.
    await advance(30 * MINUTE);
    await advance(30 * MINUTE);
    expect(w.renewed).toEqual(['east', 'east', 'east']);
    expect(w.failures).toEqual([]);
    await w.renewer.stop();
  });

  it('retries an unreachable remote with doubling backoff, reports each attempt, and recovers', async () => {
    const w = world();
    w.put('east', tokenIssued(40 * MINUTE));
    w.remote.fail = new KubeError('unreachable', 'connect ECONNREFUSED on https://east.example:6443');
    w.renewer.start();
    await advance(0);
    expect(w.failures.map(({ reason, attempts }) => [reason, attempts])).toEqual([['unreachable', 1]]);
    expect(w.failures[0]?.retryAt).toEqual(new Date(START.getTime() + RETRY_INITIAL_MS));
    expect(w.failures[0]?.hint).toMatch(/keeps working until it expires/);
    expect(w.states()[0]?.failing).toBe('unreachable');
    await advance(RETRY_INITIAL_MS);
    await advance(2 * RETRY_INITIAL_MS);
    await advance(4 * RETRY_INITIAL_MS);
    expect(w.failures.map(({ attempts }) => attempts)).toEqual([1, 2, 3, 4]);
    const gaps = w.failures
      .slice(1)
      .map((failure, index) => failure.retryAt.getTime() - (w.failures[index]?.retryAt.getTime() ?? 0));
    expect(gaps).toEqual([2 * RETRY_INITIAL_MS, 4 * RETRY_INITIAL_MS, 8 * RETRY_INITIAL_MS]);
    // Still failing while it waits for the next retry, not forgotten between attempts.
    expect(w.states()[0]?.failing).toBe('unreachable');
    w.remote.fail = undefined;
    await advance(8 * RETRY_INITIAL_MS);
    expect(w.renewed).toEqual(['east']);
    expect(w.states()[0]?.failing).toBeUndefined();
    await w.renewer.stop();
  });

  it('never waits longer than a quarter of the remaining life between retries', async () => {
    const w = world();
    // Expires in 4 minutes: retries at most a minute apart, though the backoff would reach 5.
    w.put('east', tokenIssued(56 * MINUTE));
    w.remote.fail = new KubeError('timeout', 'no answer within 10s');
    w.renewer.start();
    await advance(0);
    for (let i = 0; i < 6; i += 1) await advance(MINUTE);
    // While the token lives; once it has expired a retry cannot help, and the backoff grows.
    const live = w.failures.filter((failure) => failure.reason !== 'expired');
    expect(w.failures.at(-1)?.reason).toBe('expired');
    const delays = live.map((failure) => failure.retryAt.getTime());
    for (let i = 1; i < delays.length; i += 1) {
      expect((delays[i] ?? 0) - (delays[i - 1] ?? 0)).toBeLessThanOrEqual(MINUTE);
    }
    expect(live.length).toBeGreaterThanOrEqual(4);
    await w.renewer.stop();
  });

  it('names the cause: a removed Role (403), a revoked token (401), an expired token', async () => {
    const w = world();
    w.put('forbidden', tokenIssued(40 * MINUTE));
    w.put('revoked', tokenIssued(40 * MINUTE));
    w.put('expired', tokenIssued(61 * MINUTE));
    const io = w.remote;
    io.fail = new KubeError('forbidden', 'serviceaccounts "istio-reader-service-account" is forbidden');
    w.renewer.start();
    await advance(0);
    const by = (name: string) => w.failures.find((failure) => failure.name === name);
    expect(by('forbidden')).toMatchObject({
      reason: 'forbidden',
      message: expect.stringMatching(/istio-reader-service-account-token-renewer is gone/),
      hint: expect.stringMatching(/--renew/),
    });
    expect(by('expired')).toMatchObject({ reason: 'expired', hint: expect.stringMatching(/create/) });
    io.fail = new KubeError('unauthorized', 'Unauthorized');
    await advance(RETRY_INITIAL_MS);
    expect(w.failures.filter((failure) => failure.name === 'revoked').map(({ reason }) => reason)).toEqual([
      'forbidden',
      'unauthorized',
    ]);
    // Nothing was written to any of them.
    expect([...w.secrets.values()].map(({ resourceVersion }) => resourceVersion)).toEqual([1, 1, 1]);
    await w.renewer.stop();
  });

  it('leaves secrets that are not renewable alone, and reports a broken policy', async () => {
    const w = world();
    w.put('plain', tokenIssued(50 * MINUTE), {});
    w.put('broken', tokenIssued(50 * MINUTE), {
      ...renewalAnnotations(POLICY),
      'kubectl-remote-secret/token-duration': '1m',
    });
    w.renewer.start();
    await advance(0);
    expect(w.remote.minted).toBe(0);
    expect(w.failures.map(({ name, reason }) => [name, reason])).toEqual([['broken', 'not-renewable']]);
    expect(w.states().map(({ name }) => name)).toEqual(['broken']);
    await w.renewer.stop();
  });

  it('does not overwrite a secret that changed while it was renewed', async () => {
    const w = world();
    w.put('east', tokenIssued(40 * MINUTE));
    const { io } = w.renewer['options'];
    const original = io.requestToken.bind(io);
    // Someone rotates the secret while the TokenRequest is in flight.
    io.requestToken = async (config, policy) => {
      w.put('east', tokenIssued(0, 99));
      const entry = w.secrets.get('east');
      if (entry !== undefined) entry.resourceVersion = 5;
      return original(config, policy);
    };
    const rotated = () => w.tokenOf('east');
    w.renewer.start();
    await advance(0);
    const kept = rotated();
    expect(w.failures.map(({ reason }) => reason)).toEqual(['conflict']);
    expect(w.tokenOf('east')).toBe(kept);
    expect(w.secrets.get('east')?.resourceVersion).toBe(5);
    await w.renewer.stop();
  });

  it('retries a list that fails, and forgets a secret that went away', async () => {
    const w = world();
    w.put('east', tokenIssued(40 * MINUTE));
    w.remote.fail = new KubeError('unreachable', 'down');
    w.failList(true);
    w.renewer.start();
    await advance(0);
    expect(w.runs).toEqual(['failed']);
    w.failList(false);
    await advance(RETRY_INITIAL_MS);
    expect(w.runs).toEqual(['failed', 'ok']);
    expect(w.states()).toHaveLength(1);
    w.secrets.delete('east');
    await advance(RETRY_INITIAL_MS);
    expect(w.states()).toEqual([]);
    await w.renewer.stop();
  });

  it('runs nothing after stop', async () => {
    const w = world();
    w.put('east', tokenIssued(20 * MINUTE));
    w.renewer.start();
    await advance(0);
    await w.renewer.stop();
    await advance(60 * MINUTE);
    expect(w.runs).toEqual(['ok']);
    expect(w.renewed).toEqual([]);
  });
});
