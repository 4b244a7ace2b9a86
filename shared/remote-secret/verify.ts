import { mapLimited } from '../concurrency.ts';
import { errorCode, RemoteSecretError } from '../errors.ts';
import { reviewKubeconfig } from '../kubeconfig/review.ts';
import { currentEntries, currentToken, type SanitizedKubeconfig } from '../kubeconfig/sanitize.ts';
import type { Violation } from '../violations.ts';
import { DEFAULT_EXPIRING_WITHIN_MS } from '../audit/risk-notes.ts';
import { formatDuration } from '../time/duration.ts';
import {
  READER_SERVICE_ACCOUNT,
  readerClusterRoleBindingName,
  readerClusterRoleName,
  readerPermissions,
  type ResourcePermission,
} from './istio-reader-rbac.ts';
import { secretRef, type RemoteCluster, type RemoteSecret } from './model.ts';
import { tokenLifetime, type RenewalPolicy } from './renewal.ts';

/** What verify asks of one remote API server, with the secret's own credentials. */
export interface ClusterProbe {
  /** GET /version: proves the server answers over TLS with the secret's CA. */
  serverVersion(): Promise<string>;
  /** SelfSubjectReview: the user the token authenticates as; undefined when the API is not served. */
  whoAmI(): Promise<string | undefined>;
  /** SelfSubjectAccessReview for one permission, cluster-wide. */
  can(permission: ResourcePermission): Promise<boolean>;
  /** Releases connections, when the probe holds its own (called once, when the cluster is done). */
  close?(): Promise<void>;
}

/**
 * Builds a probe from a kubeconfig the sanitizer has already rebuilt; it must never see the
 * original text. Throws UnverifiableError when the config needs something verify will not do.
 */
export type ProbeFactory = (config: SanitizedKubeconfig, signal: AbortSignal) => ClusterProbe;

/** The kubeconfig is allowed, but verify cannot reproduce it from here (a CA file on istiod's disk). */
export class UnverifiableError extends RemoteSecretError {
  override readonly name = 'UnverifiableError';
  declare readonly code: 'unverifiable';

  constructor(message: string) {
    super('unverifiable', message);
  }
}

export type CheckStatus = 'ok' | 'failed' | 'skipped';

export interface ClusterVerification {
  readonly source: string;
  readonly secret: string;
  readonly cluster: string;
  readonly server: string | undefined;
  readonly status: 'ok' | 'failed';
  readonly kubeconfig: { readonly status: CheckStatus; readonly violations: readonly Violation[] };
  readonly reachable: {
    readonly status: CheckStatus;
    readonly serverVersion?: string;
    readonly message?: string;
    /** What to do next, when it failed. */
    readonly hint?: string;
  };
  readonly auth: {
    readonly status: CheckStatus;
    readonly user?: string;
    readonly message?: string;
    readonly hint?: string;
  };
  readonly rbac: {
    readonly status: CheckStatus;
    readonly missing: readonly string[];
    readonly message?: string;
    readonly hint?: string;
  };
  /**
   * `expires` is an ISO time, or null for a token without `exp` (legacy) or one we cannot read.
   * `expiring`: it still works, and expires within --expiring-within (a warning, as in `audit`).
   */
  readonly expiry: {
    readonly status: 'ok' | 'expiring' | 'failed' | 'unknown';
    readonly expires: string | null;
    readonly message: string;
    readonly hint?: string;
    /**
     * A renewable secret's (`create --renew`): when the token is due for renewal. Such a token is
     * `expiring` only once that time has passed without a renewal, whatever --expiring-within says.
     */
    readonly renewAt?: string;
  };
}

export interface VerifyOptions {
  /** Per-cluster deadline: every call for one cluster is abandoned after it. */
  readonly timeoutMs: number;
  /** The whole command's deadline (--timeout): it ends every cluster's calls too. */
  readonly signal?: AbortSignal | undefined;
  readonly now: Date;
  /** A token that expires within this long is a warning (`expiring`). */
  readonly expiringWithinMs?: number;
  readonly permissions?: readonly ResourcePermission[];
  /** Clusters checked at the same time. */
  readonly parallelClusters?: number;
  /** SelfSubjectAccessReviews in flight per cluster. */
  readonly parallelReviews?: number;
}

/** Verify every cluster of every secret, several at a time; results keep the input order. */
export async function verifySecrets(
  secrets: readonly RemoteSecret[],
  options: VerifyOptions,
  connect: ProbeFactory,
): Promise<ClusterVerification[]> {
  const jobs = secrets.flatMap((secret) => secret.clusters.map((cluster) => ({ secret, cluster })));
  return mapLimited(jobs, options.parallelClusters ?? 8, ({ secret, cluster }) =>
    verifyCluster(secret, cluster, options, connect),
  );
}

/**
 * One cluster: review the kubeconfig (nothing else happens if the sanitizer refuses it), read
 * the token's expiry, then ask the server, in order, for its version, who the token is, and
 * each permission of Istio's reader role. Each step that cannot run is `skipped`, with why.
 */
export async function verifyCluster(
  secret: RemoteSecret,
  cluster: RemoteCluster,
  options: VerifyOptions,
  connect: ProbeFactory,
): Promise<ClusterVerification> {
  const base = { source: secret.source, secret: secretRef(secret), cluster: cluster.id };
  const skipped = (message: string) => ({ status: 'skipped' as const, message });
  if (!cluster.kubeconfig.ok) {
    return failedKubeconfig(base, [
      {
        code: 'invalid-kubeconfig',
        path: `${cluster.field}.${cluster.id}`,
        message: cluster.kubeconfig.reason,
      },
    ]);
  }
  // Empty allow-list: verify itself runs no exec plugin and reads no file, whatever istiod allows.
  const review = reviewKubeconfig(cluster.kubeconfig.text, { allow: new Set() });
  if (!review.allowed) return failedKubeconfig(base, review.violations);
  const config = review.config;
  const current = currentTarget(config);
  const expiry = withExpiryHint(
    tokenExpiry(
      current.credential,
      options.now,
      options.expiringWithinMs ?? DEFAULT_EXPIRING_WITHIN_MS,
      secret.renewal,
    ),
    cluster.id,
    secret.renewal === undefined ? undefined : `${secret.name} -n ${secret.namespace}`,
  );
  const recreate = createCommand(cluster.id);
  const result = {
    ...base,
    server: current.server,
    kubeconfig: { status: 'ok' as const, violations: [] },
    expiry,
  };

  const signal = AbortSignal.any([
    AbortSignal.timeout(options.timeoutMs),
    ...(options.signal === undefined ? [] : [options.signal]),
  ]);
  let probe: ClusterProbe;
  try {
    probe = connect(config, signal);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (!(error instanceof UnverifiableError) && errorCode(error) !== undefined) {
      // Refused before any dial (an address not to dial, a CA that does not parse): from where
      // the probe runs, istiod cannot reach it either.
      return finish({
        ...result,
        reachable: { status: 'failed', message, hint: unreachableHint(errorCode(error), current, recreate) },
        auth: skipped('not checked: the server cannot be reached'),
        rbac: { ...skipped('not checked: the server cannot be reached'), missing: [] },
      });
    }
    return finish({
      ...result,
      reachable: skipped(`not checked: ${message}`),
      auth: skipped('not checked'),
      rbac: { ...skipped('not checked'), missing: [] },
    });
  }

  try {
    return await askServer(probe, result, recreate, current, options);
  } finally {
    await probe.close?.();
  }
}

async function askServer(
  probe: ClusterProbe,
  result: Pick<ClusterVerification, 'source' | 'secret' | 'cluster' | 'server' | 'kubeconfig' | 'expiry'>,
  recreate: string,
  current: { readonly server: string | undefined; readonly tlsServerName: string | undefined },
  options: VerifyOptions,
): Promise<ClusterVerification> {
  const skipped = (message: string) => ({ status: 'skipped' as const, message });
  let serverVersion: string | undefined;
  try {
    serverVersion = await probe.serverVersion();
  } catch (error) {
    const code = errorCode(error);
    if (code === 'unauthorized') {
      return finish({
        ...result,
        reachable: { status: 'ok' },
        auth: refusedToken(recreate),
        rbac: { ...skipped('not checked: the token does not authenticate'), missing: [] },
      });
    }
    if (
      code === 'unreachable' ||
      code === 'tls' ||
      code === 'tls-name-mismatch' ||
      code === 'timeout' ||
      code === 'blocked-address' ||
      code === 'redirect' ||
      code === undefined
    ) {
      return finish({
        ...result,
        reachable: {
          status: 'failed',
          message: messageOf(error),
          hint: unreachableHint(code, current, recreate),
        },
        auth: skipped('not checked: the server cannot be reached'),
        rbac: { ...skipped('not checked: the server cannot be reached'), missing: [] },
      });
    }
    // Any other answer (403 on /version, say) still proves the server is there.
  }
  const reachable =
    serverVersion === undefined ? { status: 'ok' as const } : { status: 'ok' as const, serverVersion };

  let user: string | undefined;
  try {
    user = await probe.whoAmI();
  } catch (error) {
    return finish({
      ...result,
      reachable,
      auth:
        errorCode(error) === 'unauthorized'
          ? refusedToken(recreate)
          : { status: 'failed', message: messageOf(error) },
      rbac: { ...skipped('not checked: the token does not authenticate'), missing: [] },
    });
  }
  const auth = user === undefined ? { status: 'ok' as const } : { status: 'ok' as const, user };

  const permissions = options.permissions ?? readerPermissions();
  try {
    const allowed = await mapLimited(permissions, options.parallelReviews ?? 16, (permission) =>
      probe.can(permission),
    );
    const missing = permissions.filter((_, index) => allowed[index] !== true).map(describePermission);
    const rbac =
      missing.length === 0
        ? { status: 'ok' as const, missing }
        : {
            status: 'failed' as const,
            missing,
            message: `missing ${missing.length} of the ${permissions.length} permissions of Istio's reader ClusterRole`,
            hint: rbacHint(user, missing.length === permissions.length, recreate),
          };
    return finish({ ...result, reachable, auth, rbac });
  } catch (error) {
    return finish({
      ...result,
      reachable,
      auth,
      rbac: { status: 'failed', missing: [], message: messageOf(error) },
    });
  }
}

/** The command that mints a new token for cluster `id` (the remote's context is the user's to fill in). */
function createCommand(id: string): string {
  return `kubectl remote-secret create --context <remote> --name ${id}`;
}

function refusedToken(recreate: string): ClusterVerification['auth'] {
  return {
    status: 'failed',
    message: 'the server refused the token (401 Unauthorized)',
    hint: `the token was revoked, or its ServiceAccount or token Secret was deleted on the remote: mint a new one with \`${recreate}\` and apply it to the primary`,
  };
}

/**
 * What to do about a server verify could not reach: for a certificate that does not name the
 * host, the name that was checked (the kubeconfig's tls-server-name, else the server's host).
 */
function unreachableHint(
  code: string | undefined,
  current: { readonly server: string | undefined; readonly tlsServerName: string | undefined },
  recreate: string,
): string {
  if (code === 'tls-name-mismatch') {
    const host = current.server === undefined ? '' : hostOf(current.server);
    const checked =
      current.tlsServerName === undefined
        ? `"${host}", the host of its server URL`
        : `"${current.tlsServerName}", the kubeconfig's tls-server-name`;
    return `the server's certificate does not name ${checked}: set tls-server-name to a name it has (\`${recreate} --tls-server-name NAME\`), or use a server address the certificate names`;
  }
  if (code === 'blocked-address') {
    return "set the kubeconfig's server to an address of the remote API server that pods in the primary reach (a load balancer or a routable name)";
  }
  if (code === 'redirect') {
    return "set the kubeconfig's server to the API server itself, not a proxy or login page that redirects";
  }
  if (code === 'tls') {
    return `the kubeconfig's certificate-authority-data does not sign the server's certificate: re-create the secret (\`${recreate}\`), or use --ca-from kubeconfig for an API server behind an auth proxy`;
  }
  return `check that ${current.server ?? 'the server'} is the right address and that istiod's network reaches it (this machine did not)`;
}

function rbacHint(user: string | undefined, allMissing: boolean, recreate: string): string {
  const account = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user ?? '');
  const namespace = account?.[1] ?? 'istio-system';
  const serviceAccount = account?.[2] ?? READER_SERVICE_ACCOUNT;
  const role = readerClusterRoleName(namespace);
  if (allMissing) {
    return `nothing grants ${user === undefined ? 'the token' : `"${user}"`} Istio's reader rules: ClusterRoleBinding ${readerClusterRoleBindingName(namespace, serviceAccount)} (to ClusterRole ${role}) is missing; \`${recreate} --namespace ${namespace}\` restores it, and creates nothing that is there`;
  }
  return `ClusterRole ${role} lacks these rules: add them, or delete it and run \`${recreate} --namespace ${namespace}\`, which creates it with Istio's rules`;
}

/** `renewable`: the secret (`NAME -n NAMESPACE`) when it is renewable: its fixes are the renewer's. */
function withExpiryHint(
  expiry: ClusterVerification['expiry'],
  id: string,
  renewable?: string,
): ClusterVerification['expiry'] {
  if (renewable !== undefined && expiry.status === 'failed') {
    return {
      ...expiry,
      hint: `a renewal asks with the current token, which no longer works: run \`${createCommand(id)} --token-duration 24h --renew\` again and apply it to the primary`,
    };
  }
  if (renewable !== undefined && expiry.status === 'expiring') {
    return {
      ...expiry,
      hint: `nothing has renewed it: see the Secret's RemoteSecretRenewalFailed Events (the webhook's --renew-tokens), or run \`kubectl remote-secret renew ${renewable}\` and fix what it reports`,
    };
  }
  if (expiry.status === 'failed') {
    return {
      ...expiry,
      hint: `istiod cannot use it: mint a new token with \`${createCommand(id)} --token-duration 720h\` and apply it to the primary`,
    };
  }
  if (expiry.status === 'expiring') {
    return {
      ...expiry,
      hint: `run \`${createCommand(id)} --token-duration 720h\` and apply the new secret before then`,
    };
  }
  return expiry;
}

function hostOf(server: string): string {
  try {
    return new URL(server).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return server;
  }
}

function finish(verification: Omit<ClusterVerification, 'status'>): ClusterVerification {
  const failed =
    verification.kubeconfig.status !== 'ok' ||
    verification.reachable.status !== 'ok' ||
    verification.auth.status !== 'ok' ||
    verification.rbac.status !== 'ok' ||
    verification.expiry.status === 'failed';
  return { ...verification, status: failed ? 'failed' : 'ok' };
}

function failedKubeconfig(
  base: Pick<ClusterVerification, 'source' | 'secret' | 'cluster'>,
  violations: readonly Violation[],
): ClusterVerification {
  const why = 'not checked: the kubeconfig is refused';
  return finish({
    ...base,
    server: undefined,
    kubeconfig: { status: 'failed', violations },
    reachable: { status: 'skipped', message: why },
    auth: { status: 'skipped', message: why },
    rbac: { status: 'skipped', missing: [], message: why },
    expiry: { status: 'unknown', expires: null, message: why },
  });
}

/** The server, its TLS name and the bearer credential of the current context (validated to exist). */
function currentTarget(config: SanitizedKubeconfig): {
  server: string | undefined;
  tlsServerName: string | undefined;
  credential: string | undefined;
} {
  const { cluster, user } = currentEntries(config);
  const server = typeof cluster['server'] === 'string' ? cluster['server'] : undefined;
  const name = cluster['tls-server-name'];
  const tlsServerName = typeof name === 'string' && name !== '' ? name : undefined;
  const token = currentToken(config);
  if (token !== undefined) return { server, tlsServerName, credential: token };
  const provider = user['auth-provider'] as { name?: string; config?: Record<string, string> } | undefined;
  const idToken = provider?.config?.['id-token'];
  return {
    server,
    tlsServerName,
    credential: typeof idToken === 'string' && idToken !== '' ? idToken : undefined,
  };
}

/**
 * The token's `exp`, read without verifying the signature (only the issuer could; the server
 * does that when it authenticates the token). A legacy ServiceAccount token has no `exp`.
 */
export function tokenExpiry(
  token: string | undefined,
  now: Date,
  expiringWithinMs = DEFAULT_EXPIRING_WITHIN_MS,
  renewal?: RenewalPolicy,
): ClusterVerification['expiry'] {
  if (token === undefined) {
    return {
      status: 'unknown',
      expires: null,
      message: 'no bearer token (client certificate or basic auth)',
    };
  }
  const life = tokenLifetime(token, now, expiringWithinMs, renewal);
  switch (life.kind) {
    case 'not-a-jwt':
      return { status: 'unknown', expires: null, message: 'the token is not a JWT; its lifetime is unknown' };
    case 'never-expires':
      return { status: 'ok', expires: null, message: 'never expires (a legacy ServiceAccount token)' };
    case 'unreadable-exp':
      return { status: 'unknown', expires: null, message: 'the token has an unreadable exp claim' };
  }
  const expires = life.expires.toISOString();
  switch (life.kind) {
    case 'expired':
      return { status: 'failed', expires, message: `expired at ${expires}` };
    case 'renewable': {
      const renewAt = life.renewAt.toISOString();
      return {
        status: 'ok',
        expires,
        renewAt,
        message: `expires at ${expires}; renewable, due for renewal at ${renewAt}`,
      };
    }
    case 'renewal-overdue': {
      const renewAt = life.renewAt.toISOString();
      return {
        status: 'expiring',
        expires,
        renewAt,
        message: `expires at ${expires}; due for renewal since ${renewAt} and not renewed`,
      };
    }
    case 'expiring':
      return {
        status: 'expiring',
        expires,
        message: `expires at ${expires}, within ${formatDuration(expiringWithinMs)}`,
      };
    case 'ok':
      return { status: 'ok', expires, message: `expires at ${expires}` };
  }
}

export function describePermission(permission: ResourcePermission): string {
  const resource =
    permission.group === '' ? permission.resource : `${permission.group}/${permission.resource}`;
  return `${permission.verb} ${resource}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
