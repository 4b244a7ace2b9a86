import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { createSecureContext } from 'node:tls';
import { Agent, buildConnector, request } from 'undici';
import { isLinkLocal, isLoopback } from '../audit/risk-notes.ts';
import type { SanitizedKubeconfig } from '../kubeconfig/sanitize.ts';
import type { ResourcePermission } from '../remote-secret/istio-reader-rbac.ts';
import { UnverifiableError, type ClusterProbe } from '../remote-secret/verify.ts';
import { KubeError, toKubeError } from './errors.ts';
import { accessReview, probeTarget, type ProbeTarget } from './probe.ts';

/**
 * How a probe from inside the primary may dial. Loopback is the probing pod itself there, never
 * a remote cluster; link-local is where cloud metadata services answer. Both are refused by
 * literal address and by every address a name resolves to, before a connection is opened.
 */
export interface DialRules {
  /**
   * Dial loopback addresses too: only for a webhook run outside a cluster (a test control plane
   * on this machine), where loopback is the host. Link-local is never dialed.
   */
  readonly allowLoopback: boolean;
}

export interface GuardedProbeOptions extends DialRules {
  /** Each request is abandoned after this long. */
  readonly requestTimeoutMs: number;
  /** How names are resolved before the dial rules apply; dns.lookup unless a test stands in. */
  readonly resolve?: ResolveAll | undefined;
}

/** A response body larger than this is not an API server's answer to these requests. */
const MAX_BODY_BYTES = 1024 * 1024;

/** A remote as the webhook reaches it: the probe's questions, and a TokenRequest for the renewer. */
export interface GuardedRemote extends ClusterProbe {
  /**
   * A new token for `namespace/serviceAccount` (a TokenRequest with the API server's own audience,
   * asked with the kubeconfig's current credential), for the webhook's --renew-tokens.
   */
  requestToken(
    namespace: string,
    serviceAccount: string,
    seconds: number,
  ): Promise<{ token: string; expires: Date }>;
  close(): Promise<void>;
}

/**
 * A ClusterProbe for the webhook's --probe-remotes and `verify --in-cluster`: the same three
 * questions as verify's client-node probe (version, who am I, may I), asked over undici with
 * the sanitized kubeconfig's CA, credential and TLS name, and with the rules of a caller inside
 * the primary: no redirect is followed (a 3xx is a failure, and the token is never sent on),
 * loopback and link-local addresses are never dialed, and a kubeconfig that goes through a
 * proxy (proxy-url) is not probed, since that would dial the proxy the secret names. Close it.
 */
export function createGuardedProbe(
  config: SanitizedKubeconfig,
  signal: AbortSignal,
  options: GuardedProbeOptions,
): GuardedRemote {
  const target = probeTarget(config);
  if (target.proxyUrl !== undefined) {
    throw new UnverifiableError(
      'the kubeconfig sends its requests through a proxy (proxy-url), which probes from the primary do not dial',
    );
  }
  let base: URL;
  try {
    base = new URL(target.server);
  } catch {
    throw new UnverifiableError(`the server ${JSON.stringify(target.server)} is not a URL`);
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') {
    throw new UnverifiableError(`the server's scheme ${base.protocol} is neither https nor http`);
  }
  const refusal = refusedAddress(base.hostname, options);
  if (refusal !== undefined) throw blockedAddressError(target.server, refusal);

  const agent = new Agent({
    allowH2: false,
    connections: 4,
    headersTimeout: options.requestTimeoutMs,
    bodyTimeout: options.requestTimeoutMs,
    connect: buildConnector({
      ...tlsOptions(target),
      timeout: options.requestTimeoutMs,
      lookup: guardedLookup(options, options.resolve),
    }),
  });
  const headers = requestHeaders(target);
  const call = async (action: string, path: string, body?: object): Promise<unknown> => {
    const url = new URL(base.href);
    url.pathname = `${base.pathname.replace(/\/+$/, '')}${path}`;
    const context = { server: target.server, action, timeoutMs: options.requestTimeoutMs };
    let answer: { status: number; body: unknown };
    try {
      const response = await request(url, {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
        dispatcher: agent,
        // The caller's signal bounds the whole probe; a call waits at most requestTimeoutMs for
        // its connection, its headers and each part of its body (the Agent's timeouts), with no
        // timer or signal of its own: a round makes thousands of calls.
        signal,
      });
      if (response.statusCode >= 300 && response.statusCode < 400) {
        await response.body.dump();
        throw redirectError(target.server, action, response.statusCode, response.headers['location']);
      }
      answer = { status: response.statusCode, body: await readJson(response.body) };
    } catch (error) {
      if (error instanceof KubeError) throw error;
      if (isBlockedLookup(error)) throw blockedAddressError(target.server, error.refusal);
      throw toKubeError(error, context);
    }
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    // The shape toKubeError reads HTTP failures from (client-node's ApiException has it too).
    throw toKubeError({ code: answer.status, body: answer.body }, context);
  };
  return {
    async serverVersion() {
      const info = (await call('get the server version', '/version')) as { gitVersion?: unknown };
      return typeof info.gitVersion === 'string' ? info.gitVersion : '';
    },
    async whoAmI() {
      try {
        const review = (await call(
          'create a SelfSubjectReview',
          '/apis/authentication.k8s.io/v1/selfsubjectreviews',
          { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
        )) as { status?: { userInfo?: { username?: unknown } } };
        const name = review.status?.userInfo?.username;
        return typeof name === 'string' ? name : undefined;
      } catch (error) {
        if (error instanceof KubeError && error.code === 'not-found') return undefined;
        throw error;
      }
    },
    async can(permission: ResourcePermission) {
      const review = (await call(
        `create a SelfSubjectAccessReview (${permission.verb} ${permission.resource})`,
        '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        accessReview(permission),
      )) as { status?: { allowed?: unknown } };
      return review.status?.allowed === true;
    },
    async requestToken(namespace, serviceAccount, seconds) {
      const action = `create a token for ServiceAccount ${namespace}/${serviceAccount} (TokenRequest)`;
      const answer = (await call(
        action,
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`,
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          // No audiences: the API server's own, so the token authenticates to it.
          spec: { audiences: [], expirationSeconds: seconds },
        },
      )) as { status?: { token?: unknown; expirationTimestamp?: unknown } };
      const token = answer.status?.token;
      if (typeof token !== 'string' || token === '') {
        throw new KubeError('server-error', `${action} on ${target.server}: the answer holds no token`);
      }
      const stamp = answer.status?.expirationTimestamp;
      const expires = typeof stamp === 'string' ? new Date(stamp) : new Date(Number.NaN);
      return {
        token,
        expires: Number.isNaN(expires.getTime()) ? new Date(Date.now() + seconds * 1000) : expires,
      };
    },
    close: () => agent.close(),
  };
}

/** Why `host` (a literal address or a name) must not be dialed, or undefined when it may be. */
export function refusedAddress(host: string, rules: DialRules): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isLinkLocal(bare)) {
    return `${bare} is link-local, where cloud metadata services answer; a probe never sends a token there`;
  }
  if (!rules.allowLoopback && isLoopback(bare)) {
    return `${bare} is a loopback address: from inside the primary that is the probing pod itself, never the remote cluster`;
  }
  return undefined;
}

/** Every address a name resolves to: dns.lookup with `all: true`, or a stand-in in tests. */
export type ResolveAll = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const resolveWithDns: ResolveAll = (hostname, options, callback) => {
  dnsLookup(hostname, options, callback);
};

/**
 * The lookup every connection uses: addresses that may not be dialed are dropped, and a name
 * with none left fails the connection before it is opened.
 */
export function guardedLookup(rules: DialRules, resolve: ResolveAll = resolveWithDns): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error !== null) {
        callback(error, '', 0);
        return;
      }
      const usable = addresses.filter(({ address }) => refusedAddress(address, rules) === undefined);
      const first = usable[0];
      if (first === undefined) {
        const refusal = addresses
          .map(({ address }) => refusedAddress(address, rules))
          .find((reason) => reason !== undefined);
        callback(
          new BlockedLookupError(
            `${hostname} resolves only to addresses a probe does not dial: ${refusal ?? ''}`,
          ),
          '',
          0,
        );
        return;
      }
      if (options.all === true) {
        (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, usable);
      } else {
        callback(null, first.address, first.family);
      }
    });
  };
}

class BlockedLookupError extends Error {
  readonly code = 'ERR_PROBE_BLOCKED_ADDRESS';

  constructor(readonly refusal: string) {
    super(refusal);
  }
}

function isBlockedLookup(error: unknown): error is BlockedLookupError {
  for (let current: unknown = error, depth = 0; depth < 4; depth += 1) {
    if (current instanceof BlockedLookupError) return true;
    if (!(current instanceof Error)) return false;
    current = current.cause;
  }
  return false;
}

function blockedAddressError(server: string, refusal: string): KubeError {
  return new KubeError('blocked-address', `${server} is not dialed: ${refusal}`, {
    hint: "set the kubeconfig's server to an address of the remote API server that pods in the primary reach (a load balancer or a routable name)",
  });
}

function redirectError(server: string, action: string, status: number, location: unknown): KubeError {
  const where = typeof location === 'string' ? ` to ${originOf(location, server)}` : '';
  return new KubeError(
    'redirect',
    `${server} answered ${status}, a redirect${where}, to a request to ${action}; probes never follow redirects, and istiod's client would send its token on`,
    {
      hint: "set the kubeconfig's server to the API server itself, not a proxy or login page that redirects",
    },
  );
}

/** Only the origin of a Location header: its path or query could carry anything. */
function originOf(location: string, server: string): string {
  try {
    return new URL(location, server).origin;
  } catch {
    return 'an unreadable location';
  }
}

/**
 * The TLS settings of every connection of one probe: one SecureContext for all of them (a `ca`
 * option would parse the CA again for each connection, and the native memory that costs stays
 * with the process). A CA or key that does not parse is a TLS failure, as it is for istiod.
 */
function tlsOptions(target: ProbeTarget): Record<string, unknown> {
  const options: Record<string, unknown> = { rejectUnauthorized: !target.skipTLSVerify };
  const pem = (data: string | undefined) =>
    data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
  try {
    options['secureContext'] = createSecureContext({
      ...(target.caData === undefined ? {} : { ca: pem(target.caData) }),
      ...(target.certData === undefined ? {} : { cert: pem(target.certData) }),
      ...(target.keyData === undefined ? {} : { key: pem(target.keyData) }),
    });
  } catch (error) {
    throw new KubeError(
      'tls',
      `the kubeconfig's certificate-authority-data, client-certificate-data or client-key-data does not parse (${error instanceof Error ? error.message : String(error)})`,
      { hint: "re-create the secret: `kubectl remote-secret create` embeds the remote's CA as PEM" },
    );
  }
  // SNI and the name checked: tls-server-name, else the host (never SNI for a literal address).
  if (target.tlsServerName !== undefined) options['servername'] = target.tlsServerName;
  return options;
}

function requestHeaders(target: ProbeTarget): Record<string, string> {
  const headers: Record<string, string> = {
    accept: 'application/json',
    'user-agent': 'kubectl-remote-secret-probe',
  };
  if (target.token !== undefined) headers['authorization'] = `Bearer ${target.token}`;
  else if (target.username !== undefined || target.password !== undefined) {
    const basic = Buffer.from(`${target.username ?? ''}:${target.password ?? ''}`).toString('base64');
    headers['authorization'] = `Basic ${basic}`;
  }
  if (target.impersonateUser !== undefined) headers['impersonate-user'] = target.impersonateUser;
  return headers;
}

async function readJson(body: AsyncIterable<Buffer>): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error(`the answer is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
