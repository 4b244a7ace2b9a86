import { decodeJwt } from 'jose';
import { isDns1123Label, isDns1123Subdomain } from '../kube/names.ts';
import { formatDuration, parseDuration } from '../time/duration.ts';

/**
 * A renewable remote secret (`create --token-duration D --renew`) says, in annotations of its own,
 * whose token it holds and how to renew it. istiod reads none of them; the renewer (`renew`, and
 * the webhook's leader) reads them and nothing else of the secret but its kubeconfigs.
 */
export const RENEW_SERVICE_ACCOUNT_ANNOTATION = 'kubectl-remote-secret/renew-service-account';
/** The ServiceAccount's namespace on the remote. */
export const RENEW_NAMESPACE_ANNOTATION = 'kubectl-remote-secret/renew-namespace';
/** The life of each new token, as a Go duration (`2h`, `720h`). */
export const RENEW_DURATION_ANNOTATION = 'kubectl-remote-secret/token-duration';
/** The share of a token's life after which it is renewed (`0.67`). */
export const RENEW_AFTER_ANNOTATION = 'kubectl-remote-secret/renew-after';

/** Two thirds of a token's life: a 24h token is renewed at 16h, leaving 8h for retries. */
export const DEFAULT_RENEW_AFTER = 2 / 3;

/**
 * The Role on the remote that lets the reader ServiceAccount request tokens for itself and for
 * nothing else (`create` on `serviceaccounts/token`, resourceNames: the ServiceAccount), and its
 * RoleBinding share this name.
 */
export function tokenRenewerRoleName(serviceAccount: string): string {
  return `${serviceAccount}-token-renewer`;
}

export interface RenewalPolicy {
  readonly serviceAccount: string;
  readonly namespace: string;
  readonly durationSeconds: number;
  readonly renewAfter: number;
}

/** The annotations `create --renew` writes for a policy. */
export function renewalAnnotations(policy: RenewalPolicy): Record<string, string> {
  return {
    [RENEW_SERVICE_ACCOUNT_ANNOTATION]: policy.serviceAccount,
    [RENEW_NAMESPACE_ANNOTATION]: policy.namespace,
    [RENEW_DURATION_ANNOTATION]: formatDuration(policy.durationSeconds * 1000),
    [RENEW_AFTER_ANNOTATION]: String(Math.round(policy.renewAfter * 100) / 100),
  };
}

export type RenewalPolicyRead =
  | { readonly renewable: false }
  | { readonly renewable: true; readonly policy: RenewalPolicy }
  | { readonly renewable: true; readonly error: string };

/**
 * The renewal policy a secret's annotations give: not renewable without the ServiceAccount
 * annotation; an error (what is wrong, which annotation) for one that is present but unusable.
 */
export function readRenewalPolicy(
  annotations: Readonly<Record<string, string>> | undefined,
): RenewalPolicyRead {
  const serviceAccount = annotations?.[RENEW_SERVICE_ACCOUNT_ANNOTATION];
  if (serviceAccount === undefined) return { renewable: false };
  const fail = (error: string): RenewalPolicyRead => ({ renewable: true, error });
  if (!isDns1123Subdomain(serviceAccount)) {
    return fail(
      `${RENEW_SERVICE_ACCOUNT_ANNOTATION} ${JSON.stringify(serviceAccount)} is not a ServiceAccount name`,
    );
  }
  const namespace = annotations?.[RENEW_NAMESPACE_ANNOTATION] ?? '';
  if (!isDns1123Label(namespace)) {
    return fail(`${RENEW_NAMESPACE_ANNOTATION} ${JSON.stringify(namespace)} is not a namespace name`);
  }
  const durationText = annotations?.[RENEW_DURATION_ANNOTATION] ?? '';
  const durationMs = parseDuration(durationText);
  if (durationMs === undefined || durationMs < 600_000) {
    return fail(
      `${RENEW_DURATION_ANNOTATION} ${JSON.stringify(durationText)} is not a duration of at least 10m (the API server's minimum)`,
    );
  }
  const afterText = annotations?.[RENEW_AFTER_ANNOTATION];
  const renewAfter = afterText === undefined ? DEFAULT_RENEW_AFTER : Number(afterText);
  if (!Number.isFinite(renewAfter) || renewAfter <= 0 || renewAfter >= 1) {
    return fail(
      `${RENEW_AFTER_ANNOTATION} ${JSON.stringify(afterText)} is not a share between 0 and 1, like 0.67`,
    );
  }
  return {
    renewable: true,
    policy: { serviceAccount, namespace, durationSeconds: Math.round(durationMs / 1000), renewAfter },
  };
}

/** When a token is due for renewal, from its own claims (read, never trusted for anything else). */
export type RenewalSchedule =
  | { readonly kind: 'due'; readonly expires: Date; readonly renewAt: Date }
  | { readonly kind: 'not-yet'; readonly expires: Date; readonly renewAt: Date }
  | { readonly kind: 'expired'; readonly expires: Date }
  /** No readable `exp` (a legacy token, not a JWT): nothing to schedule; renewing replaces it. */
  | { readonly kind: 'no-expiry' };

/** What a bearer token's `exp` (decoded, not verified) says of its life, as verify and audit judge it. */
export type TokenLifetime =
  | { readonly kind: 'not-a-jwt' }
  | { readonly kind: 'never-expires' }
  | { readonly kind: 'unreadable-exp' }
  | { readonly kind: 'expired'; readonly expires: Date }
  /** A renewable token past its renewal time and not renewed. */
  | { readonly kind: 'renewal-overdue'; readonly expires: Date; readonly renewAt: Date }
  /** A renewable token not due yet: however close `exp` is, the renewer will replace it. */
  | { readonly kind: 'renewable'; readonly expires: Date; readonly renewAt: Date }
  | { readonly kind: 'expiring'; readonly expires: Date }
  | { readonly kind: 'ok'; readonly expires: Date };

/**
 * The one judge of a token's life: expired at `exp`; a renewable one (with its secret's policy)
 * by its renewal time; any other within `expiringWithinMs` of `exp` is expiring.
 */
export function tokenLifetime(
  token: string,
  now: Date,
  expiringWithinMs: number,
  renewal?: RenewalPolicy,
): TokenLifetime {
  let exp: unknown;
  try {
    exp = decodeJwt(token).exp;
  } catch {
    return { kind: 'not-a-jwt' };
  }
  if (exp === undefined) return { kind: 'never-expires' };
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return { kind: 'unreadable-exp' };
  const expires = new Date(exp * 1000);
  if (expires.getTime() <= now.getTime()) return { kind: 'expired', expires };
  const schedule = renewal === undefined ? undefined : renewalSchedule(token, renewal, now);
  if (schedule?.kind === 'due') return { kind: 'renewal-overdue', expires, renewAt: schedule.renewAt };
  if (schedule?.kind === 'not-yet') return { kind: 'renewable', expires, renewAt: schedule.renewAt };
  return expires.getTime() - now.getTime() <= expiringWithinMs
    ? { kind: 'expiring', expires }
    : { kind: 'ok', expires };
}

/**
 * Due once `renewAfter` of the token's life (from `iat`, else `nbf`, else `exp` less the policy's
 * duration) has passed; expired at `exp`. A token the API server already refuses can still be
 * replaced only by a new `create`: the renewer asks with the current token.
 */
export function renewalSchedule(token: string, policy: RenewalPolicy, now: Date): RenewalSchedule {
  let claims: { exp?: unknown; iat?: unknown; nbf?: unknown };
  try {
    claims = decodeJwt(token);
  } catch {
    return { kind: 'no-expiry' };
  }
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) return { kind: 'no-expiry' };
  const expiresMs = claims.exp * 1000;
  const issued =
    typeof claims.iat === 'number' ? claims.iat : typeof claims.nbf === 'number' ? claims.nbf : undefined;
  const issuedMs = issued === undefined ? expiresMs - policy.durationSeconds * 1000 : issued * 1000;
  const expires = new Date(expiresMs);
  if (now.getTime() >= expiresMs) return { kind: 'expired', expires };
  const renewAt = new Date(issuedMs + Math.max(0, expiresMs - issuedMs) * policy.renewAfter);
  return { kind: now.getTime() >= renewAt.getTime() ? 'due' : 'not-yet', expires, renewAt };
}
