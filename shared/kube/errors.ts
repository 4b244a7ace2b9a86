import { isRecord } from '../json.ts';
import { RemoteSecretError, type ErrorDetails } from '../errors.ts';

/** What went wrong talking to an API server, in terms a user can act on. */
export type KubeErrorCode =
  | 'unreachable'
  | 'tls'
  /** The server's certificate does not name the host (or tls-server-name) that was checked. */
  | 'tls-name-mismatch'
  | 'timeout'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'already-exists'
  | 'conflict'
  | 'invalid'
  | 'refused-by-webhook'
  | 'server-error'
  /** The kubeconfig's login (an exec credential plugin) failed before any request was sent. */
  | 'credential-plugin'
  /** A probe from the primary refused to dial the address (loopback, link-local). */
  | 'blocked-address'
  /** The server answered with a redirect, which probes never follow. */
  | 'redirect';

/**
 * A failed API call. `message` names the action and the server and never holds a token or the
 * raw response (client-node's own error text includes every response header). Callers switch on
 * `code`; the HTTP status is translated here, once.
 */
export class KubeError extends RemoteSecretError {
  override readonly name = 'KubeError';
  declare readonly code: KubeErrorCode;

  constructor(code: KubeErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

/** Where and what: "list Secrets in namespace istio-system" on "https://east.example:6443". */
export interface CallContext {
  readonly server: string;
  readonly action: string;
  readonly timeoutMs?: number;
}

/** The reason and message of a Kubernetes `Status` body, if `body` is one. */
export function statusOf(body: unknown): { reason: string; message: string } | undefined {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (!isRecord(value) || value['kind'] !== 'Status') return undefined;
  const reason = typeof value['reason'] === 'string' ? value['reason'] : '';
  const message = typeof value['message'] === 'string' ? value['message'] : '';
  return { reason, message };
}

/**
 * Translate what client-node (fetch via undici) throws into a KubeError: an HTTP status from
 * `ApiException`-like errors (`code` + `body`), a network or TLS error from fetch's `cause`, or
 * an abort from our timeout signal.
 */
export function toKubeError(error: unknown, context: CallContext): KubeError {
  if (error instanceof KubeError) return error;
  const httpStatus = httpStatusOf(error);
  if (httpStatus !== undefined) return fromHttpStatus(httpStatus, bodyOf(error), context, error);
  if (isAbort(error)) {
    const limit = context.timeoutMs === undefined ? '' : ` within ${formatSeconds(context.timeoutMs)}`;
    return new KubeError(
      'timeout',
      `no answer from ${context.server}${limit} while trying to ${context.action}`,
      {
        hint: 'check that the address is right and reachable from here, or raise --request-timeout',
        cause: error,
      },
    );
  }
  const network = networkCode(error);
  if (network !== undefined && TLS_CODES.has(network)) {
    return new KubeError(
      network === 'ERR_TLS_CERT_ALTNAME_INVALID' ? 'tls-name-mismatch' : 'tls',
      `TLS with ${context.server} failed (${TLS_CODES.get(network) ?? network}) while trying to ${context.action}`,
      {
        hint: 'the server certificate does not match the CA or server name in the kubeconfig; check certificate-authority-data and tls-server-name',
        cause: error,
      },
    );
  }
  const detail = network === undefined ? describeUnknown(error) : (NETWORK_CODES.get(network) ?? network);
  return new KubeError(
    'unreachable',
    `cannot reach the API server at ${context.server} (${detail}) while trying to ${context.action}`,
    {
      hint: 'check the server address and that this machine can reach it (VPN, firewall, proxy)',
      cause: error,
    },
  );
}

/**
 * What the operator's exec login did wrong, as kubectl says it: a program that is not there is
 * "executable ... not found", not a network error; one that fails is named with its first line.
 */
export function credentialError(error: unknown, command: string | undefined): KubeError {
  const program = command ?? 'the exec credential plugin';
  const failure = isRecord(error) ? error : {};
  if (failure['code'] === 'ENOENT' || failure['code'] === 'EACCES') {
    const missing = failure['code'] === 'ENOENT';
    return new KubeError(
      'credential-plugin',
      `exec: executable ${program} ${missing ? 'not found' : 'cannot be run (permission denied)'}`,
      {
        hint: `the kubeconfig logs in with a client-go credential plugin that is ${missing ? 'not installed' : 'not executable'} here: install it or put it on PATH, or fix users[].user.exec.command (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins)`,
        cause: error,
      },
    );
  }
  const said = error instanceof Error ? (error.message.trim().split('\n', 1)[0] ?? '').slice(0, 300) : '';
  return new KubeError(
    'credential-plugin',
    `getting credentials: exec: ${program} failed${said === '' ? '' : `: ${said}`}`,
    { hint: `run ${program} yourself to see why, or log in again`, cause: error },
  );
}

function fromHttpStatus(status: number, body: unknown, context: CallContext, cause: unknown): KubeError {
  const found = statusOf(body);
  const said = found?.message !== undefined && found.message !== '' ? `: ${found.message}` : '';
  const where = `${context.action} on ${context.server}`;
  if (status === 401) {
    return new KubeError(
      'unauthorized',
      `the API server did not accept the credentials (401 Unauthorized) to ${where}`,
      {
        hint: 'log in again or check the user of this kubeconfig context',
        cause,
      },
    );
  }
  if (said.includes('admission webhook') || said.includes('denied the request')) {
    return new KubeError('refused-by-webhook', `refused to ${where}${said}`, { cause });
  }
  if (status === 403) {
    return new KubeError('forbidden', `forbidden to ${where}${said}`, {
      hint: `ask a cluster admin for permission to ${context.action}, or use a context that has it`,
      cause,
    });
  }
  if (status === 404) return new KubeError('not-found', `not found: ${where}${said}`, { cause });
  if (status === 409) {
    const code = found?.reason === 'AlreadyExists' ? 'already-exists' : 'conflict';
    return new KubeError(code, `conflict trying to ${where}${said}`, { cause });
  }
  if (status === 400 || status === 422) {
    return new KubeError('invalid', `the API server refused to ${where}${said}`, { cause });
  }
  return new KubeError('server-error', `the API server answered ${status} to ${where}${said}`, { cause });
}

function httpStatusOf(error: unknown): number | undefined {
  if (!isRecord(error)) return undefined;
  // client-node's ApiException has `code`; its Watch errors have `statusCode`.
  for (const key of ['code', 'statusCode']) {
    const value = error[key];
    if (typeof value === 'number' && value >= 100 && value < 600) return value;
  }
  return undefined;
}

function bodyOf(error: unknown): unknown {
  return isRecord(error) ? error['body'] : undefined;
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

/** fetch reports `TypeError: fetch failed` with the socket error as its cause (sometimes nested). */
function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function describeUnknown(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

function formatSeconds(milliseconds: number): string {
  return `${Math.round(milliseconds / 100) / 10}s`;
}

const NETWORK_CODES = new Map([
  ['ECONNREFUSED', 'connection refused'],
  ['ECONNRESET', 'connection reset'],
  ['ENOTFOUND', 'no such host'],
  ['EAI_AGAIN', 'DNS lookup failed'],
  ['EHOSTUNREACH', 'host unreachable'],
  ['ENETUNREACH', 'network unreachable'],
  ['ETIMEDOUT', 'connection timed out'],
  ['UND_ERR_CONNECT_TIMEOUT', 'connection timed out'],
  ['UND_ERR_SOCKET', 'the connection closed'],
]);

const TLS_CODES = new Map([
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'certificate not signed by the expected CA'],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'certificate not signed by the expected CA'],
  ['SELF_SIGNED_CERT_IN_CHAIN', 'certificate not signed by the expected CA'],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate not trusted'],
  ['CERT_HAS_EXPIRED', 'certificate expired'],
  ['CERT_NOT_YET_VALID', 'certificate not yet valid'],
  ['ERR_TLS_CERT_ALTNAME_INVALID', 'certificate does not name this host'],
  ['ERR_SSL_WRONG_VERSION_NUMBER', 'the server does not speak TLS on this port'],
  ['EPROTO', 'TLS protocol error'],
]);
