import { isDns1123Label, isDns1123Subdomain } from '../shared/kube/names.ts';
import type { SecretType } from '../shared/remote-secret/build.ts';
import { CONFIG_SERVICE_ACCOUNT, READER_SERVICE_ACCOUNT } from '../shared/remote-secret/istio-reader-rbac.ts';
import type { RemotePlanOptions } from '../shared/remote-secret/plan.ts';
import { DEFAULT_RENEW_AFTER } from '../shared/remote-secret/renewal.ts';
import { checkServerUrl } from '../shared/remote-secret/server.ts';
import { parseDuration } from '../shared/time/duration.ts';
import { durationFlag, emptyToUndefined, toList, UsageError } from './cli-io.ts';

/** The flags of `create` as yargs hands them over. */
export interface CreateArgs {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly name?: string | undefined;
  readonly server?: string | undefined;
  readonly 'tls-server-name'?: string | undefined;
  readonly namespace?: string | undefined;
  readonly 'istio-namespace'?: string | undefined;
  readonly 'service-account'?: string | undefined;
  readonly 'create-service-account': boolean;
  readonly 'secret-name'?: string | undefined;
  readonly type: string;
  readonly 'auth-type': string;
  readonly 'auth-plugin-name'?: string | undefined;
  readonly 'auth-plugin-config'?: string | string[] | undefined;
  readonly timeout: string;
  readonly 'request-timeout': string;
  readonly 'token-duration'?: string | undefined;
  readonly rotate: boolean;
  readonly 'retire-old': boolean;
  readonly renew: boolean;
  readonly 'renew-after'?: string | undefined;
  readonly 'ca-from': string;
  readonly output?: string | undefined;
  readonly 'dry-run': boolean;
  readonly apply: boolean;
  readonly 'primary-context'?: string | undefined;
  readonly 'primary-kubeconfig'?: string | undefined;
}

export type CreateAuth =
  | { readonly kind: 'bearer-token' }
  | { readonly kind: 'plugin'; readonly name: string; readonly config: Readonly<Record<string, string>> };

/** `create`'s flags, checked and resolved: everything the run needs, nothing read from the environment. */
export interface CreateOptions {
  readonly remote: { readonly kubeconfig: string | undefined; readonly context: string | undefined };
  /** undefined: use the UID of the remote's kube-system Namespace. */
  readonly clusterId: string | undefined;
  readonly type: SecretType;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly createServiceAccount: boolean;
  readonly token: RemotePlanOptions['token'];
  readonly retireOld: boolean;
  /**
   * --renew: the remote ServiceAccount may request its own tokens (a Role and RoleBinding), and
   * the secret carries `renewalAnnotations` with this share of a token's life to renew after.
   */
  readonly renew: { readonly renewAfter: number } | undefined;
  readonly auth: CreateAuth;
  readonly caFrom: 'token-secret' | 'kubeconfig';
  /** undefined: the remote context's server. */
  readonly server: string | undefined;
  readonly tlsServerName: string | undefined;
  readonly timeoutMs: number;
  readonly requestTimeoutMs: number;
  /** undefined: yaml, and with --apply only a one-line summary. */
  readonly output: 'yaml' | 'json' | undefined;
  readonly dryRun: boolean;
  readonly apply:
    { readonly kubeconfig: string | undefined; readonly context: string | undefined } | undefined;
  /** Things worth saying before anything runs (an auth provider the webhook will refuse). */
  readonly warnings: readonly string[];
}

export const DEFAULT_NAMESPACE = 'istio-system';
/** The API server refuses TokenRequests shorter than ten minutes. */
const MIN_TOKEN_SECONDS = 600;

/**
 * Check the flags and resolve defaults. Every mistake is a UsageError (exit status 2) that says
 * which flag and what to write instead. The namespace comes from -n, else -i, else istio-system,
 * and never from a kubeconfig context: istioctl took it from the default context and sent users'
 * secrets to `default` (istio/istio#49780).
 */
export function parseCreateOptions(args: CreateArgs): CreateOptions {
  const warnings: string[] = [];
  const name = emptyToUndefined(args.name);
  if (name !== undefined && !isDns1123Label(name)) {
    throw new UsageError(
      `--name "${name}" is not a valid DNS-1123 label: use at most 63 lowercase letters, digits and "-", starting and ending with a letter or digit (it must match the remote's Istio clusterName)`,
    );
  }

  const type = oneOf(args.type, ['remote', 'config'] as const, '--type');
  const namespace =
    emptyToUndefined(args.namespace) ?? emptyToUndefined(args['istio-namespace']) ?? DEFAULT_NAMESPACE;
  if (!isDns1123Label(namespace))
    throw new UsageError(`namespace "${namespace}" is not a valid namespace name`);
  const serviceAccount =
    emptyToUndefined(args['service-account']) ??
    (type === 'config' ? CONFIG_SERVICE_ACCOUNT : READER_SERVICE_ACCOUNT);
  if (!isDns1123Subdomain(serviceAccount)) {
    throw new UsageError(`--service-account "${serviceAccount}" is not a valid ServiceAccount name`);
  }

  let server: string | undefined;
  if (args.server !== undefined) {
    const checked = checkServerUrl(args.server);
    if (!checked.ok) throw new UsageError(`--server: ${checked.message}; ${checked.hint}`);
    server = checked.server;
    if (checked.warning !== undefined) warnings.push(checked.warning);
  }

  const authType = oneOf(args['auth-type'], ['bearer-token', 'plugin'] as const, '--auth-type');
  const pluginName = emptyToUndefined(args['auth-plugin-name']);
  const pluginConfig = parseKeyValues(toList(args['auth-plugin-config']), '--auth-plugin-config');
  let auth: CreateAuth;
  if (authType === 'plugin') {
    if (pluginName === undefined) {
      throw new UsageError(
        '--auth-type plugin needs --auth-plugin-name (oidc is the only provider istiod allows by default)',
      );
    }
    auth = { kind: 'plugin', name: pluginName, config: pluginConfig };
    if (pluginName !== 'oidc') {
      warnings.push(
        `auth provider "${pluginName}": istiod refuses every auth provider but oidc unless PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS lists it, and the remote-secret webhook rejects it; use --auth-plugin-name oidc or a bearer token`,
      );
    }
  } else {
    if (pluginName !== undefined || Object.keys(pluginConfig).length > 0) {
      throw new UsageError('--auth-plugin-name and --auth-plugin-config need --auth-type plugin');
    }
    auth = { kind: 'bearer-token' };
  }

  const secretName = emptyToUndefined(args['secret-name']);
  const tokenDuration = args['token-duration'];
  let token: CreateOptions['token'];
  if (auth.kind === 'plugin') {
    const conflicting = [
      ['--token-duration', tokenDuration !== undefined],
      ['--rotate', args.rotate],
      ['--secret-name', secretName !== undefined],
      ['--retire-old', args['retire-old']],
      ['--renew', args.renew],
    ].filter(([, used]) => used === true);
    if (conflicting.length > 0) {
      throw new UsageError(
        `${String(conflicting[0]?.[0])} is about ServiceAccount tokens; it does not apply to --auth-type plugin`,
      );
    }
    token = { from: 'none' };
  } else if (args.renew && tokenDuration === undefined) {
    throw new UsageError(
      args.rotate || secretName !== undefined
        ? `--renew renews a token that expires; ${args.rotate ? '--rotate' : '--secret-name'} is about token Secrets, whose tokens never expire. Use --token-duration D --renew instead`
        : '--renew needs --token-duration: it renews a token that expires, and without --token-duration the token never expires. Write e.g. --token-duration 24h --renew',
    );
  } else if (tokenDuration !== undefined) {
    if (args.rotate || secretName !== undefined) {
      throw new UsageError(
        '--token-duration mints a new token every run; it cannot be combined with --rotate or --secret-name',
      );
    }
    const milliseconds = parseDuration(tokenDuration);
    if (milliseconds === undefined) {
      throw new UsageError(
        `--token-duration "${tokenDuration}" is not a duration; write it like 720h or 90m`,
      );
    }
    const seconds = Math.round(milliseconds / 1000);
    if (seconds < MIN_TOKEN_SECONDS) {
      throw new UsageError(
        `--token-duration ${tokenDuration} is shorter than the 10m the API server accepts (and istiod needs time to use it)`,
      );
    }
    token = { from: 'token-request', seconds };
  } else if (args.rotate) {
    if (secretName !== undefined)
      throw new UsageError('--rotate creates a new token Secret; do not combine it with --secret-name');
    token = { from: 'new-secret' };
  } else if (secretName !== undefined) {
    token = { from: 'named-secret', name: secretName };
  } else {
    token = { from: 'existing-or-new-secret' };
  }

  const renew = parseRenew(args);

  const apply = args.apply
    ? {
        kubeconfig: emptyToUndefined(args['primary-kubeconfig']),
        context: emptyToUndefined(args['primary-context']),
      }
    : undefined;
  if (
    apply === undefined &&
    (args['primary-context'] !== undefined || args['primary-kubeconfig'] !== undefined)
  ) {
    throw new UsageError('--primary-context and --primary-kubeconfig are for --apply; add --apply');
  }
  if (apply !== undefined && apply.kubeconfig === undefined && apply.context === undefined) {
    throw new UsageError(
      '--apply needs the primary cluster: pass --primary-context (and --primary-kubeconfig if it is in another file); the default context is not assumed, as it is usually the remote',
    );
  }
  if (
    args['retire-old'] &&
    (token.from === 'new-secret' || token.from === 'token-request') &&
    apply === undefined
  ) {
    throw new UsageError(
      `--retire-old with ${token.from === 'new-secret' ? '--rotate' : '--token-duration'} would invalidate the token istiod holds before it has the new one. ` +
        'Apply the new secret first, then run again with --retire-old alone; or add --apply to do both in order',
    );
  }

  const caFrom = oneOf(args['ca-from'], ['token-secret', 'kubeconfig'] as const, '--ca-from');
  const output =
    args.output === undefined ? undefined : oneOf(args.output, ['yaml', 'json'] as const, '--output');
  return {
    remote: { kubeconfig: emptyToUndefined(args.kubeconfig), context: emptyToUndefined(args.context) },
    clusterId: name,
    type,
    namespace,
    serviceAccount,
    createServiceAccount: args['create-service-account'],
    token,
    retireOld: args['retire-old'],
    renew,
    auth,
    caFrom,
    server,
    tlsServerName: emptyToUndefined(args['tls-server-name']),
    timeoutMs: durationFlag(args.timeout, '--timeout'),
    requestTimeoutMs: durationFlag(args['request-timeout'], '--request-timeout'),
    output,
    dryRun: args['dry-run'],
    apply,
    warnings,
  };
}

/**
 * --renew (already known to come with --token-duration) and --renew-after. The share is written
 * to two decimals, as the annotation holds it, and must stay strictly between 0 and 1 there.
 */
function parseRenew(args: CreateArgs): CreateOptions['renew'] {
  const after = emptyToUndefined(args['renew-after']);
  if (!args.renew) {
    if (after !== undefined) throw new UsageError('--renew-after is for --renew; add --renew');
    return undefined;
  }
  if (!args['create-service-account']) {
    throw new UsageError(
      '--renew creates RBAC on the remote (a Role and RoleBinding that let the ServiceAccount request its own tokens), and --create-service-account=false says create makes none; drop --create-service-account=false, or leave out --renew',
    );
  }
  if (after === undefined) return { renewAfter: DEFAULT_RENEW_AFTER };
  const share = Number(after);
  const written = Math.round(share * 100) / 100;
  if (!/^\s*[0-9.]+\s*$/.test(after) || !Number.isFinite(share) || written <= 0 || written >= 1) {
    throw new UsageError(
      `--renew-after "${after}" is not a share of the token's life between 0 and 1 (to two decimals), like 0.67`,
    );
  }
  return { renewAfter: share };
}

/** `k1=v1,k2=v2`, repeatable, as pflag's StringToString reads it. */
export function parseKeyValues(values: readonly string[], flag: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of values.flatMap((value) => value.split(','))) {
    if (pair.trim() === '') continue;
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new UsageError(`${flag} "${pair}": write key=value`);
    result[pair.slice(0, equals).trim()] = pair.slice(equals + 1);
  }
  return result;
}

function oneOf<T extends string>(value: string, choices: readonly T[], flag: string): T {
  const found = choices.find((choice) => choice === value);
  if (found === undefined) throw new UsageError(`${flag} "${value}" is not one of ${choices.join(', ')}`);
  return found;
}
