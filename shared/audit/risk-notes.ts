import { BlockList, isIP } from 'node:net';
import { decodeJwt } from 'jose';
import { currentToken, type SanitizedKubeconfig } from '../kubeconfig/sanitize.ts';
import { tokenLifetime, type RenewalPolicy } from '../remote-secret/renewal.ts';

/**
 * Risks an auditor should see that are not violations: istiod loads such a kubeconfig, but it
 * may stop working (an expiring token), never stop working (a legacy token), send its
 * credential somewhere it should not (no TLS check, a proxy, plain http, a metadata address) or
 * talk to itself (a loopback server). Codes are stable API, like violation codes: add, never
 * rename. (A CA file path, once a note here, is a violation now: `certificate-authority-file`.)
 */
export type RiskCode =
  | 'token-expired'
  | 'token-expiring-soon'
  | 'token-never-expires'
  | 'insecure-skip-tls-verify'
  | 'proxy-url'
  | 'plain-http-server'
  | 'link-local-server'
  | 'loopback-server';

export interface RiskNote {
  readonly code: RiskCode;
  /** Where, like `clusters[0].cluster.proxy-url`; never a value that could hold a credential. */
  readonly path: string;
  readonly message: string;
}

export interface RiskOptions {
  readonly now: Date;
  /** A token that expires within this long is noted as expiring soon. */
  readonly expiringWithinMs: number;
  /**
   * The secret's renewal policy when it is renewable (`create --renew`): its token is noted only
   * once it is due for renewal and was not renewed, whatever `expiringWithinMs` says.
   */
  readonly renewal?: RenewalPolicy | undefined;
}

/** Seven days: long enough to rotate a remote secret through a weekly change window. */
export const DEFAULT_EXPIRING_WITHIN_MS = 7 * 24 * 3_600_000;

/**
 * Risk notes for a kubeconfig the sanitizer allowed, read from its rebuilt fields: the text was
 * parsed by our own parser once, for the decision, and never by client-node. A rejected
 * kubeconfig gets no notes: it already fails the audit with its violations.
 */
export function riskNotes(config: SanitizedKubeconfig, options: RiskOptions): RiskNote[] {
  const notes: RiskNote[] = [];
  config.clusters.forEach(({ name, cluster }, index) => {
    const path = `clusters[${index}].cluster`;
    if (cluster['insecure-skip-tls-verify'] === true) {
      notes.push({
        code: 'insecure-skip-tls-verify',
        path: `${path}.insecure-skip-tls-verify`,
        message: `cluster "${name}" does not verify the server's certificate; anyone on the path can read the token`,
      });
    }
    const proxy = cluster['proxy-url'];
    if (typeof proxy === 'string' && proxy !== '') {
      notes.push({
        code: 'proxy-url',
        path: `${path}.proxy-url`,
        message: `cluster "${name}" is reached through a proxy; istiod sends its requests there`,
      });
    }
    const server = cluster['server'];
    if (typeof server === 'string') notes.push(...serverNotes(name, server, `${path}.server`));
  });
  config.users.forEach(({ name, user }, index) => {
    const token = user['token'];
    if (typeof token === 'string' && token !== '') {
      notes.push(...tokenNotes(name, token, `users[${index}].user.token`, options));
    }
  });
  return notes;
}

function serverNotes(name: string, server: string, path: string): RiskNote[] {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return []; // validation already reports a server that is not a URL
  }
  const notes: RiskNote[] = [];
  if (url.protocol === 'http:') {
    notes.push({
      code: 'plain-http-server',
      path,
      message: `cluster "${name}" is reached over plain http; the token crosses the network in clear text`,
    });
  }
  if (isLoopback(url.hostname)) {
    notes.push({
      code: 'loopback-server',
      path,
      message: `cluster "${name}" points at a loopback address (${url.hostname}); from the primary's istiod that is istiod's own pod, never the remote cluster`,
    });
  }
  if (isLinkLocal(url.hostname)) {
    notes.push({
      code: 'link-local-server',
      path,
      message: `cluster "${name}" points at a link-local address (${url.hostname}), where cloud metadata services answer; istiod would send its token there`,
    });
  }
  return notes;
}

// Link-local ranges, plus the IPv6 addresses of the AWS metadata service and its IPv4-mapped form.
const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6');
LINK_LOCAL.addAddress('fd00:ec2::254', 'ipv6');
LINK_LOCAL.addSubnet('::ffff:169.254.0.0', 112, 'ipv6');
// The same addresses spelled IPv4-compatible (::a.b.c.d) and through NAT64 (64:ff9b::a.b.c.d).
LINK_LOCAL.addSubnet('::169.254.0.0', 112, 'ipv6');
LINK_LOCAL.addSubnet('64:ff9b::169.254.0.0', 112, 'ipv6');
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata', 'instance-data.ec2.internal']);

export function isLinkLocal(hostname: string): boolean {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const family = isIP(host);
  if (family === 4) return LINK_LOCAL.check(host, 'ipv4');
  if (family === 6) return LINK_LOCAL.check(host, 'ipv6');
  return METADATA_HOSTS.has(host.toLowerCase().replace(/\.$/, ''));
}

// 127.0.0.0/8 and ::1, their IPv4-mapped form, and the unspecified addresses, which Linux
// connects to the local host as well.
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('0.0.0.0', 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addAddress('::', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
LOOPBACK.addSubnet('::127.0.0.0', 104, 'ipv6');

/** A host (as `URL#hostname` gives it) that names the machine making the request. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const family = isIP(host);
  if (family === 4) return LOOPBACK.check(host, 'ipv4');
  if (family === 6) return LOOPBACK.check(host, 'ipv6');
  const name = host.toLowerCase().replace(/\.$/, '');
  // RFC 6761: localhost and every name under it resolve to loopback.
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * The token's `exp`, decoded without verifying anything (only the issuer could). A token that
 * is not a JWT (a static token file entry) has no readable lifetime and gets no note.
 */
function tokenNotes(user: string, token: string, path: string, options: RiskOptions): RiskNote[] {
  const life = tokenLifetime(token, options.now, options.expiringWithinMs, options.renewal);
  const note = (code: RiskCode, message: string): RiskNote[] => [{ code, path, message }];
  switch (life.kind) {
    case 'never-expires':
      return note(
        'token-never-expires',
        `user "${user}" holds a token that never expires (a legacy ServiceAccount token); re-create the secret with \`kubectl remote-secret create --token-duration 720h\` for a token that expires`,
      );
    case 'expired':
      return note(
        'token-expired',
        `user "${user}" holds a token that expired at ${life.expires.toISOString()}; istiod cannot reach this cluster`,
      );
    case 'renewal-overdue':
      return note(
        'token-expiring-soon',
        `user "${user}" holds a renewable token that was due for renewal at ${life.renewAt.toISOString()} and was not renewed; it expires at ${life.expires.toISOString()}: see the Secret's RemoteSecretRenewalFailed Events, or run \`kubectl remote-secret renew\``,
      );
    case 'expiring':
      return note(
        'token-expiring-soon',
        `user "${user}" holds a token that expires at ${life.expires.toISOString()}; rotate the remote secret before then`,
      );
    case 'not-a-jwt':
    case 'unreadable-exp':
    case 'renewable':
    case 'ok':
      return [];
  }
}

/**
 * When the bearer token of the current context expires (Unix seconds, from its `exp`, decoded
 * without verifying anything), or undefined: no token, not a JWT, or no `exp` (a legacy token).
 */
export function tokenExpiresAt(config: SanitizedKubeconfig): number | undefined {
  const token = currentToken(config);
  if (token === undefined) return undefined;
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}
