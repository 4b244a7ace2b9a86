import { violation, type Violation } from '../violations.ts';
import { clientConfigViolations } from './client-config.ts';
import { quote } from './quote.ts';
import type { AuthInfo, KubeconfigV1 } from './model.ts';
import { readKubeconfig } from './read.ts';
import { validateKubeconfig } from './validate.ts';

/**
 * Options an operator may allow, named as in Istio's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS:
 * `exec`, `tokenFile`, `clientKey`, `clientCertificate`, or the name of an auth provider.
 */
export type AllowList = ReadonlySet<string>;

export const INSECURE_OPTIONS = ['exec', 'tokenFile', 'clientKey', 'clientCertificate'] as const;

/** The kubeconfig istiod would use, rebuilt from reviewed fields only (client-go v1 JSON names). */
export interface SanitizedKubeconfig {
  readonly apiVersion: 'v1';
  readonly kind: 'Config';
  readonly clusters: readonly { name: string; cluster: Record<string, string | boolean> }[];
  readonly users: readonly { name: string; user: Record<string, unknown> }[];
  readonly contexts: readonly { name: string; context: Record<string, string> }[];
  readonly 'current-context': string;
}

export type SanitizeResult =
  | { readonly allowed: true; readonly violations: readonly []; readonly config: SanitizedKubeconfig }
  | { readonly allowed: false; readonly violations: readonly Violation[] };

const FIX =
  're-create it with `kubectl remote-secret create`, which writes a bearer token and no local files';

/**
 * Decide whether istiod may use this kubeconfig, following Istio's secret controller: it must
 * load and validate as client-go would, no user (not only the current one) may run code or read
 * files on istiod's disk unless the operator allowed that option, and client-go must be able to
 * build a client from the current context. Returns every violation,
 * in document order, or the config rebuilt field by field so nothing unreviewed passes through.
 */
export function sanitizeKubeconfig(data: unknown, allow: AllowList): SanitizeResult {
  const { config, violations } = readKubeconfig(data);
  if (violations.length === 0) violations.push(...validateKubeconfig(config));
  config.users.forEach(({ name, user }, index) => {
    violations.push(...authViolations(name, user, `users[${index}].user`, allow));
  });
  // Then istiod builds the client; a kubeconfig refused so far never gets that far.
  if (violations.length === 0) violations.push(...clientConfigViolations(config, allow));
  if (violations.length > 0) return { allowed: false, violations };
  return { allowed: true, violations: [], config: rebuild(config) };
}

function authViolations(name: string, user: AuthInfo, path: string, allow: AllowList): Violation[] {
  const found: Violation[] = [];
  const provider = user['auth-provider'];
  // oidc only sends a token it already holds; gcp, azure and the rest read files or run programs.
  if (provider !== undefined && provider.name !== 'oidc' && !allow.has(provider.name)) {
    found.push(
      violation(
        'auth-provider',
        `${path}.auth-provider`,
        `user ${quote(name)} uses the auth provider ${provider.name === '' ? '(unnamed)' : quote(provider.name, 40)}; only oidc is allowed`,
        FIX,
      ),
    );
  }
  if (user['client-key'] !== '' && !allow.has('clientKey')) {
    found.push(
      violation(
        'client-key',
        `${path}.client-key`,
        `user ${quote(name)} reads its client key from a file on istiod's disk`,
        FIX,
      ),
    );
  }
  if (user['client-certificate'] !== '' && !allow.has('clientCertificate')) {
    found.push(
      violation(
        'client-certificate',
        `${path}.client-certificate`,
        `user ${quote(name)} reads its client certificate from a file on istiod's disk`,
        FIX,
      ),
    );
  }
  if (user.tokenFile !== '' && !allow.has('tokenFile')) {
    found.push(
      violation(
        'token-file',
        `${path}.tokenFile`,
        `user ${quote(name)} reads its token from a file on istiod's disk`,
        FIX,
      ),
    );
  }
  if (user.exec !== undefined && !allow.has('exec')) {
    found.push(
      violation('exec', `${path}.exec`, `user ${quote(name)} runs a program (exec) inside istiod`, FIX),
    );
  }
  return found;
}

/** Copy only fields someone reviewed; a field added to kubeconfigs later stays out until reviewed. */
function rebuild(config: KubeconfigV1): SanitizedKubeconfig {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: config.clusters.map(({ name, cluster }) => ({
      name,
      cluster: withoutEmpty({
        // server and proxy-url let the writer aim istiod anywhere (SSRF); nothing can tell a good
        // URL from a bad one, so they stay, and `audit` reports the risky ones.
        server: cluster.server,
        'tls-server-name': cluster['tls-server-name'],
        'insecure-skip-tls-verify': cluster['insecure-skip-tls-verify'],
        // A CA file is read but only used locally to verify the server; it is never sent.
        'certificate-authority': cluster['certificate-authority'],
        'certificate-authority-data': cluster['certificate-authority-data'],
        'proxy-url': cluster['proxy-url'],
        'disable-compression': cluster['disable-compression'],
      }),
    })),
    users: config.users.map(({ name, user }) => ({
      name,
      user: withoutEmpty({
        'client-certificate': user['client-certificate'],
        'client-certificate-data': user['client-certificate-data'],
        'client-key': user['client-key'],
        'client-key-data': user['client-key-data'],
        token: user.token,
        tokenFile: user.tokenFile,
        as: user.as,
        'as-uid': user['as-uid'],
        'as-groups': user['as-groups'].length > 0 ? [...user['as-groups']] : undefined,
        'as-user-extra':
          Object.keys(user['as-user-extra']).length > 0 ? { ...user['as-user-extra'] } : undefined,
        username: user.username,
        password: user.password,
        // Present only when the checks above allowed it.
        'auth-provider': user['auth-provider'],
        exec: user.exec,
      }),
    })),
    contexts: config.contexts.map(({ name, context }) => ({
      name,
      context: withoutEmpty({ cluster: context.cluster, user: context.user, namespace: context.namespace }),
    })),
    'current-context': config['current-context'],
  };
}

function withoutEmpty<T extends Record<string, unknown>>(fields: T): Record<string, never> & Partial<T> {
  const result: Record<string, unknown> = {};
  // for-in over a fresh object literal: no inherited keys, and no entries array on the hot path.
  for (const key in fields) {
    const value = fields[key];
    if (value !== undefined && value !== '' && value !== false) result[key] = value;
  }
  return result as Record<string, never> & Partial<T>;
}
