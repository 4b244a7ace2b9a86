import { violation, type Violation } from '../violations.ts';
import { clientConfigViolations } from './client-config.ts';
import { quote } from './quote.ts';
import type { AuthInfo, Cluster, KubeconfigV1 } from './model.ts';
import { readKubeconfig } from './read.ts';
import { validateKubeconfig } from './validate.ts';

/**
 * Options an operator may allow: Istio's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS names
 * (`exec`, `tokenFile`, `clientKey`, `clientCertificate`, or an auth provider's name), and our
 * own `certificateAuthority`, which Istio does not have (its sanitizer never refuses a CA file).
 */
export type AllowList = ReadonlySet<string>;

export const INSECURE_OPTIONS = ['exec', 'tokenFile', 'clientKey', 'clientCertificate'] as const;
/** Allow-list entries of ours, not Istio's: they relax our rules, never Istio's. */
export const OWN_OPTIONS = ['certificateAuthority'] as const;

/**
 * The token `create --dry-run` prints instead of a real one. It is refused everywhere
 * (`placeholder-token`), whatever is allowed, so a dry run's output can never pass for a secret.
 */
export const PLACEHOLDER_TOKEN = 'DRY-RUN-PLACEHOLDER-TOKEN';

/** The kubeconfig istiod would use, rebuilt from reviewed fields only (client-go v1 JSON names). */
export interface SanitizedKubeconfig {
  readonly apiVersion: 'v1';
  readonly kind: 'Config';
  readonly clusters: readonly { name: string; cluster: Record<string, string | boolean> }[];
  readonly users: readonly { name: string; user: Record<string, unknown> }[];
  readonly contexts: readonly { name: string; context: Record<string, string> }[];
  readonly 'current-context': string;
}

/** The current context's cluster and user entries of a sanitized kubeconfig (empty when absent). */
export function currentEntries(config: SanitizedKubeconfig): {
  readonly cluster: Readonly<Record<string, string | boolean>>;
  readonly user: Readonly<Record<string, unknown>>;
} {
  const context = config.contexts.find((entry) => entry.name === config['current-context'])?.context;
  return {
    cluster: config.clusters.find((entry) => entry.name === context?.['cluster'])?.cluster ?? {},
    user: config.users.find((entry) => entry.name === context?.['user'])?.user ?? {},
  };
}

/** The current context's bearer token, or undefined when it has none. */
export function currentToken(config: SanitizedKubeconfig): string | undefined {
  const token = currentEntries(config).user['token'];
  return typeof token === 'string' && token !== '' ? token : undefined;
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
 * build a client from the current context; and, by our own rules, no cluster may read its CA
 * bundle from istiod's disk and no user may hold the dry-run placeholder. Returns every violation
 * (clusters, then users, each in document order), or the config rebuilt field by field so nothing
 * unreviewed passes through.
 */
export function sanitizeKubeconfig(data: unknown, allow: AllowList): SanitizeResult {
  const { config, violations } = readKubeconfig(data);
  if (violations.length === 0) violations.push(...validateKubeconfig(config));
  config.clusters.forEach(({ name, cluster }, index) => {
    violations.push(...clusterViolations(name, cluster, `clusters[${index}].cluster`, allow));
  });
  config.users.forEach(({ name, user }, index) => {
    violations.push(...authViolations(name, user, `users[${index}].user`, allow));
  });
  // Then istiod builds the client; a kubeconfig refused so far never gets that far.
  if (violations.length === 0) violations.push(...clientConfigViolations(config, allow));
  if (violations.length > 0) return { allowed: false, violations };
  return { allowed: true, violations: [], config: rebuild(config) };
}

/**
 * istiod opens a `certificate-authority` file when it loads the kubeconfig and refuses the
 * kubeconfig when the file is missing from its disk, which nothing on the primary can know; and a
 * path in a Secret is almost always a laptop path copied by mistake. So it is refused unless the
 * operator allowed `certificateAuthority` (our option; Istio's sanitizer lets it through).
 */
function clusterViolations(name: string, cluster: Cluster, path: string, allow: AllowList): Violation[] {
  if (cluster['certificate-authority'] === '' || allow.has('certificateAuthority')) return [];
  return [
    violation(
      'certificate-authority-file',
      `${path}.certificate-authority`,
      `cluster ${quote(name)} reads its CA bundle from the file ${quote(cluster['certificate-authority'])} on istiod's disk, where it is missing unless mounted there`,
      'embed the CA bundle as certificate-authority-data (kubectl remote-secret create does), or allow certificateAuthority if that file is mounted into istiod',
    ),
  ];
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
  // No option allows it: a dry run's output must never be mistaken for a working secret.
  if (user.token === PLACEHOLDER_TOKEN) {
    found.push(
      violation(
        'placeholder-token',
        `${path}.token`,
        `user ${quote(name)} holds the placeholder token of \`create --dry-run\`, not a credential`,
        'run `kubectl remote-secret create` without --dry-run to get a real token',
      ),
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
        // Only when the operator allowed certificateAuthority: istiod reads it from its own disk.
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
