import { errorCode, RemoteSecretError } from '../errors.ts';
import { reviewKubeconfig } from '../kubeconfig/review.ts';
import { currentToken, type SanitizedKubeconfig } from '../kubeconfig/sanitize.ts';
import { formatDuration } from '../time/duration.ts';
import type { SecretManifest } from './build.ts';
import { readRemoteSecretObject } from './manifests.ts';
import { secretRef, type RemoteCluster } from './model.ts';
import { readRenewalPolicy, renewalSchedule, tokenRenewerRoleName, type RenewalPolicy } from './renewal.ts';

/** A stored remote secret as the renewer reads it: the object and the version it was read at. */
export interface StoredRemoteSecret {
  readonly manifest: SecretManifest;
  readonly resourceVersion: string | undefined;
}

/** What the renewer does outside: ask a remote for a token, read and update the primary's secret. */
export interface RenewIo {
  /**
   * A new token for the policy's ServiceAccount from the remote, asked with the kubeconfig the
   * sanitizer rebuilt (its current token); never the stored text.
   */
  requestToken(config: SanitizedKubeconfig, policy: RenewalPolicy): Promise<{ token: string; expires: Date }>;
  /** Merge `data` into the secret if it is still at `resourceVersion` (a 409 `conflict` otherwise). */
  updateSecret(
    namespace: string,
    name: string,
    resourceVersion: string,
    data: Readonly<Record<string, string>>,
  ): Promise<void>;
  readSecret(namespace: string, name: string): Promise<StoredRemoteSecret | undefined>;
}

export type RenewStatus = 'renewed' | 'would-renew' | 'not-due' | 'failed';

/**
 * Why a cluster was not renewed, for metrics and Events: the annotations (`not-renewable`), the
 * kubeconfig (`unreadable`, `refused`, `no-token`, `ambiguous-token`), the token (`expired`), the
 * remote (`unauthorized`: the token was revoked; `forbidden`: the Role is gone; `unreachable`;
 * `remote-error`: any other answer), or the primary (`conflict`: changed meanwhile; `store-failed`).
 */
export type RenewFailure =
  | 'not-renewable'
  | 'unreadable'
  | 'refused'
  | 'no-token'
  | 'ambiguous-token'
  | 'expired'
  | 'unauthorized'
  | 'forbidden'
  | 'unreachable'
  | 'remote-error'
  | 'conflict'
  | 'store-failed';

export const RENEW_FAILURES: readonly RenewFailure[] = [
  'not-renewable',
  'unreadable',
  'refused',
  'no-token',
  'ambiguous-token',
  'expired',
  'unauthorized',
  'forbidden',
  'unreachable',
  'remote-error',
  'conflict',
  'store-failed',
];

/** One cluster of one secret after a renewal run. Never holds a token. */
export interface ClusterRenewal {
  readonly secret: string;
  readonly cluster: string;
  readonly status: RenewStatus;
  /** The current token's expiry (ISO), when it has one. */
  readonly expires?: string;
  /** When it is due (ISO), for `not-due` and `would-renew`. */
  readonly renewAt?: string;
  /** The new token's expiry (ISO), for `renewed`. */
  readonly newExpires?: string;
  /** Why, for `failed`. */
  readonly reason?: RenewFailure;
  readonly message?: string;
  readonly hint?: string;
}

export interface RenewOptions {
  readonly now: Date;
  /** Renew whatever the schedule says. */
  readonly force: boolean;
  readonly dryRun: boolean;
}

/**
 * Renew the due clusters of one renewable remote secret: for each cluster, sanitize the kubeconfig,
 * read the token's schedule from its claims, ask the remote for a new token with the current one,
 * and put it in place of the old one in the kubeconfig text, changing nothing else. All renewed
 * clusters are written in one update, conditional on the version that was read: when someone else
 * changed the secret meanwhile it is read again, and written only if its tokens are still the ones
 * renewed from (never an overwrite). The old tokens stay valid until they expire.
 */
export async function renewSecret(
  stored: StoredRemoteSecret,
  options: RenewOptions,
  io: RenewIo,
): Promise<ClusterRenewal[]> {
  const { manifest } = stored;
  const namespace = manifest.metadata.namespace ?? '';
  const name = manifest.metadata.name ?? '';
  const ref = secretRef({ namespace, name });
  const policyRead = readRenewalPolicy(manifest.metadata.annotations);
  const read = readRemoteSecretObject(manifest, ref);
  const clusters = read.secrets.flatMap((secret) => secret.clusters);
  const whole = (reason: RenewFailure, message: string, hint: string): ClusterRenewal[] =>
    (clusters.length === 0 ? [''] : clusters.map((cluster) => cluster.id)).map((cluster) => ({
      secret: ref,
      cluster,
      status: 'failed',
      reason,
      message,
      hint,
    }));
  if (!policyRead.renewable) {
    return whole(
      'not-renewable',
      'not renewable: it has no kubectl-remote-secret/renew-service-account annotation',
      'create it with `kubectl remote-secret create --token-duration 24h --renew` and apply it to the primary',
    );
  }
  if ('error' in policyRead) {
    return whole(
      'not-renewable',
      `not renewable: ${policyRead.error}`,
      'fix the annotation, or create the secret again with --renew',
    );
  }
  if (read.secrets.length === 0) {
    return whole(
      'unreadable',
      `not a remote secret: ${read.errors.map((error) => error.message).join('; ')}`,
      '',
    );
  }
  const { policy } = policyRead;
  const results: ClusterRenewal[] = [];
  const renewed: { cluster: RemoteCluster; oldToken: string; newText: string; index: number }[] = [];
  for (const cluster of clusters) {
    const outcome = await renewCluster(ref, cluster, policy, options, io);
    results.push(outcome.result);
    if (outcome.renewed !== undefined)
      renewed.push({ cluster, ...outcome.renewed, index: results.length - 1 });
  }
  if (renewed.length === 0) return results;

  const data = Object.fromEntries(
    renewed.map(({ cluster, newText }) => [cluster.id, Buffer.from(newText, 'utf8').toString('base64')]),
  );
  const failAll = (reason: RenewFailure, message: string, hint: string): void => {
    for (const { index } of renewed) {
      const before = results[index];
      if (before !== undefined) {
        results[index] = {
          secret: ref,
          cluster: before.cluster,
          status: 'failed',
          ...(before.expires === undefined ? {} : { expires: before.expires }),
          reason,
          message,
          hint,
        };
      }
    }
  };
  let resourceVersion = stored.resourceVersion ?? '';
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await io.updateSecret(namespace, name, resourceVersion, data);
      return results;
    } catch (error) {
      if (errorCode(error) !== 'conflict' || attempt > 0) {
        failAll(
          errorCode(error) === 'conflict' ? 'conflict' : 'store-failed',
          `the new token could not be stored in the primary: ${messageOf(error)}`,
          'the old token keeps working until it expires; fix the cause and run renew again',
        );
        return results;
      }
    }
    // Someone else changed the secret since it was read: write only if its tokens are unchanged.
    const again = await io.readSecret(namespace, name);
    const current = again === undefined ? undefined : readRemoteSecretObject(again.manifest, ref).secrets[0];
    const unchanged =
      again !== undefined &&
      renewed.every(({ cluster, oldToken }) => {
        const now = current?.clusters.find((entry) => entry.id === cluster.id);
        return now?.kubeconfig.ok === true && tokenOf(now.kubeconfig.text) === oldToken;
      });
    if (!unchanged || again.resourceVersion === undefined) {
      failAll(
        'conflict',
        'the secret changed while it was being renewed (another renewer, or an edit): nothing was overwritten',
        'run renew again; it reads the secret as it is now',
      );
      return results;
    }
    resourceVersion = again.resourceVersion;
  }
  return results;
}

async function renewCluster(
  ref: string,
  cluster: RemoteCluster,
  policy: RenewalPolicy,
  options: RenewOptions,
  io: RenewIo,
): Promise<{ result: ClusterRenewal; renewed?: { oldToken: string; newText: string } }> {
  const base = { secret: ref, cluster: cluster.id };
  const recreate = `kubectl remote-secret create --context <remote> --name ${cluster.id} --token-duration ${formatDuration(policy.durationSeconds * 1000)} --renew`;
  const failed = (reason: RenewFailure, message: string, hint: string, expires?: string) => ({
    result: {
      ...base,
      status: 'failed' as const,
      ...(expires === undefined ? {} : { expires }),
      reason,
      message,
      hint,
    },
  });
  if (!cluster.kubeconfig.ok)
    return failed('unreadable', `the kubeconfig cannot be read: ${cluster.kubeconfig.reason}`, recreate);
  // Nothing allowed: the renewer runs no exec plugin and reads no file.
  const review = reviewKubeconfig(cluster.kubeconfig.text, { allow: new Set() });
  if (!review.allowed) {
    return failed(
      'refused',
      `the kubeconfig is refused: ${review.violations.map((found) => found.code).join(', ')}`,
      `re-create the secret: \`${recreate}\``,
    );
  }
  const oldToken = currentToken(review.config);
  if (oldToken === undefined) {
    return failed(
      'no-token',
      'the kubeconfig holds no bearer token to renew',
      `re-create the secret: \`${recreate}\``,
    );
  }
  const schedule = renewalSchedule(oldToken, policy, options.now);
  if (schedule.kind === 'expired') {
    return failed(
      'expired',
      `the token expired at ${schedule.expires.toISOString()}: a renewal asks with the current token, which the remote no longer accepts`,
      `mint a new one: \`${recreate}\`, and apply it to the primary`,
      schedule.expires.toISOString(),
    );
  }
  const expires = schedule.kind === 'no-expiry' ? {} : { expires: schedule.expires.toISOString() };
  const renewAt =
    schedule.kind === 'due' || schedule.kind === 'not-yet' ? { renewAt: schedule.renewAt.toISOString() } : {};
  if (schedule.kind === 'not-yet' && !options.force) {
    return { result: { ...base, status: 'not-due', ...expires, ...renewAt } };
  }
  if (options.dryRun) return { result: { ...base, status: 'would-renew', ...expires, ...renewAt } };
  let fresh: { token: string; expires: Date };
  try {
    fresh = await io.requestToken(review.config, policy);
  } catch (error) {
    return failed(
      requestReason(error),
      requestFailure(error, policy),
      requestHint(error, recreate),
      expires.expires,
    );
  }
  const newText = replaceToken(cluster.kubeconfig.text, oldToken, fresh.token);
  if (newText === undefined) {
    return failed(
      'ambiguous-token',
      'the token appears more than once in the kubeconfig, so it cannot be replaced alone',
      `re-create the secret: \`${recreate}\``,
      expires.expires,
    );
  }
  return {
    result: { ...base, status: 'renewed', ...expires, newExpires: fresh.expires.toISOString() },
    renewed: { oldToken, newText },
  };
}

/** The kubeconfig with `token` in place of `old` (which must occur exactly once), checked again. */
export function replaceToken(text: string, old: string, token: string): string | undefined {
  const at = text.indexOf(old);
  if (at < 0 || text.indexOf(old, at + 1) >= 0 || !/^[A-Za-z0-9._-]+$/.test(token)) return undefined;
  const next = `${text.slice(0, at)}${token}${text.slice(at + old.length)}`;
  return tokenOf(next) === token ? next : undefined;
}

function tokenOf(text: string): string | undefined {
  const review = reviewKubeconfig(text, { allow: new Set() });
  return review.allowed ? currentToken(review.config) : undefined;
}

function requestReason(error: unknown): RenewFailure {
  const code = errorCode(error);
  if (code === 'forbidden' || code === 'unauthorized') return code;
  if (
    code === 'unreachable' ||
    code === 'timeout' ||
    code === 'tls' ||
    code === 'tls-name-mismatch' ||
    code === 'blocked-address' ||
    code === 'redirect' ||
    // A kubeconfig the guarded transport will not dial as it is (a proxy-url, an odd scheme).
    code === 'unverifiable'
  )
    return 'unreachable';
  return 'remote-error';
}

function requestFailure(error: unknown, policy: RenewalPolicy): string {
  const code = errorCode(error);
  const who = `${policy.namespace}/${policy.serviceAccount}`;
  if (code === 'forbidden') {
    return `the remote refused a token for ${who} (403): the Role or RoleBinding ${tokenRenewerRoleName(policy.serviceAccount)} is gone`;
  }
  if (code === 'unauthorized') return `the remote refused the current token (401): it was revoked`;
  return `no new token for ${who}: ${messageOf(error)}`;
}

function requestHint(error: unknown, recreate: string): string {
  const code = errorCode(error);
  if (code === 'forbidden' || code === 'unauthorized') {
    return `restore it with \`${recreate}\` (which creates what is missing) and apply the secret it prints`;
  }
  const own = error instanceof RemoteSecretError ? error.hint : undefined;
  // The transport's own fix (a redirect, a refused address, a proxy-url) says what to change.
  if (own !== undefined) return `${own}; the current token keeps working until it expires`;
  return 'the current token keeps working until it expires; run renew again once the remote answers';
}

function messageOf(error: unknown): string {
  return error instanceof RemoteSecretError || error instanceof Error ? error.message : String(error);
}
