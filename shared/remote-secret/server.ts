import { BlockList, isIP } from 'node:net';

export type ServerCheck =
  | { readonly ok: true; readonly server: string; readonly warning?: string }
  | { readonly ok: false; readonly message: string; readonly hint: string };

/**
 * Loopback, "this network" and link-local addresses name the machine (or link) that makes the
 * request: in a remote secret they would make istiod, in the primary, talk to itself.
 */
function unroutableAddresses(): BlockList {
  const list = new BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addSubnet('0.0.0.0', 8, 'ipv4');
  list.addSubnet('169.254.0.0', 16, 'ipv4');
  list.addAddress('::1', 'ipv6');
  list.addAddress('::', 'ipv6');
  list.addSubnet('fe80::', 10, 'ipv6');
  list.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
  return list;
}

/**
 * The API server address istiod will dial. It must be an https URL (istiod sends a bearer token
 * to it); a loopback or link-local address is allowed but warned about, since istiod in the
 * primary cannot reach the remote there (istio/istio#58047: kind clusters on 127.0.0.1).
 */
export function checkServerUrl(text: string): ServerCheck {
  const hint = 'pass --server https://<address the primary cluster can reach>:<port>';
  if (text !== '' && !text.includes('://')) {
    return {
      ok: false,
      message: `server "${text}" is not an https:// URL (it has no scheme)`,
      hint: `pass --server https://${text}`,
    };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, message: `server "${text}" is not a URL`, hint };
  }
  if (url.protocol !== 'https:') {
    return {
      ok: false,
      message: `server "${text}" is not an https:// URL; istiod would send the token in clear text or fail`,
      hint,
    };
  }
  if (url.hostname === '') return { ok: false, message: `server "${text}" has no host`, hint };
  if (url.username !== '' || url.password !== '') {
    return { ok: false, message: `server "${url.host}" carries credentials in the URL; remove them`, hint };
  }
  if (url.search !== '' || url.hash !== '') {
    return { ok: false, message: `server "${text}" has a query or fragment, which client-go refuses`, hint };
  }
  const where = unroutableReason(url.hostname);
  if (where === undefined) return { ok: true, server: text };
  return {
    ok: true,
    server: text,
    warning: `server ${text} is ${where}; istiod in the primary cluster most likely cannot reach it there. If the remote runs in containers (kind, k3d), pass --server with an address the primary can reach, such as https://<container IP>:6443`,
  };
}

function unroutableReason(hostname: string): string | undefined {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  const lower = host.toLowerCase();
  if (lower === 'localhost' || lower.endsWith('.localhost')) return 'a loopback name';
  const family = isIP(host);
  if (family === 0) return undefined;
  if (!unroutableAddresses().check(host, family === 4 ? 'ipv4' : 'ipv6')) return undefined;
  if (family === 4 ? host.startsWith('127.') : host === '::1' || lower.startsWith('::ffff:')) {
    return 'a loopback address';
  }
  if (host === '::' || host.startsWith('0.')) return 'an unspecified address';
  return 'a link-local address';
}
