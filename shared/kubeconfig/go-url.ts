import { isIPv4, isIPv6 } from 'node:net';

/**
 * Go's `net/url.Parse` (Go 1.26), as far as istiod's use of it decides anything: whether it fails,
 * and the scheme, host and path it yields. client-go parses a kubeconfig's `server` and
 * `proxy-url` with it, and a URL it refuses makes istiod drop the whole kubeconfig, so our reader
 * must refuse the same ones. Written from Go's source (src/net/url/url.go); the differential suite
 * compares it with Go on generated URLs.
 */
export type GoUrl =
  | {
      readonly ok: true;
      /** Lower-cased, "" when there is none. */
      readonly scheme: string;
      /** The text after "scheme:" when it does not start with "/" (Go's Opaque). */
      readonly opaque: string;
      /** Unescaped host[:port], "" when there is no authority. */
      readonly host: string;
      /** Unescaped path. */
      readonly path: string;
    }
  | { readonly ok: false; readonly error: string };

const fail = (error: string): GoUrl => ({ ok: false, error });

export function parseGoUrl(raw: string): GoUrl {
  const hash = raw.indexOf('#');
  const beforeFragment = hash === -1 ? raw : raw.slice(0, hash);
  const parsed = parseWithoutFragment(beforeFragment);
  if (!parsed.ok || hash === -1) return parsed;
  const fragment = unescape(raw.slice(hash + 1), 'fragment');
  return fragment.ok ? parsed : fail(fragment.error);
}

function parseWithoutFragment(raw: string): GoUrl {
  if (hasControlCharacter(raw)) return fail('net/url: invalid control character in URL');
  if (raw === '*') return { ok: true, scheme: '', opaque: '', host: '', path: '*' };
  const split = splitScheme(raw);
  if (!split.ok) return fail(split.error);
  const scheme = split.scheme.toLowerCase();
  let rest = split.rest;
  if (rest.endsWith('?') && rest.indexOf('?') === rest.length - 1) rest = rest.slice(0, -1);
  else {
    const query = rest.indexOf('?');
    if (query !== -1) rest = rest.slice(0, query);
  }
  if (!rest.startsWith('/')) {
    if (scheme !== '') return { ok: true, scheme, opaque: rest, host: '', path: '' };
    const slash = rest.indexOf('/');
    if ((slash === -1 ? rest : rest.slice(0, slash)).includes(':')) {
      return fail('first path segment in URL cannot contain colon');
    }
  }
  let host = '';
  if ((scheme !== '' || !rest.startsWith('///')) && rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const authority = slash === -1 ? rest.slice(2) : rest.slice(2, slash);
    rest = slash === -1 ? '' : rest.slice(slash);
    const parsedAuthority = parseAuthority(scheme, authority);
    if (!parsedAuthority.ok) return fail(parsedAuthority.error);
    host = parsedAuthority.value;
  }
  const path = unescape(rest, 'path');
  if (!path.ok) return fail(path.error);
  return { ok: true, scheme, opaque: '', host, path: path.value };
}

type Result = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly error: string };

function splitScheme(
  raw: string,
):
  | { readonly ok: true; readonly scheme: string; readonly rest: string }
  | { readonly ok: false; readonly error: string } {
  for (let index = 0; index < raw.length; index += 1) {
    const c = raw.charCodeAt(index);
    if (isLetter(c)) continue;
    if (isDigit(c) || c === 0x2b || c === 0x2d || c === 0x2e) {
      if (index === 0) return { ok: true, scheme: '', rest: raw };
      continue;
    }
    if (c === 0x3a) {
      if (index === 0) return { ok: false, error: 'missing protocol scheme' };
      return { ok: true, scheme: raw.slice(0, index), rest: raw.slice(index + 1) };
    }
    return { ok: true, scheme: '', rest: raw };
  }
  return { ok: true, scheme: '', rest: raw };
}

function parseAuthority(scheme: string, authority: string): Result {
  const at = authority.lastIndexOf('@');
  const host = parseHost(scheme, at === -1 ? authority : authority.slice(at + 1));
  if (!host.ok || at === -1) return host;
  const userinfo = authority.slice(0, at);
  if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(userinfo))
    return { ok: false, error: 'net/url: invalid userinfo' };
  for (const part of userinfo.split(':', 2)) {
    const unescaped = unescape(part, 'userinfo');
    if (!unescaped.ok) return unescaped;
  }
  return host;
}

/** Go's parseHost, with Go 1.26's strict colons for http and https. */
function parseHost(scheme: string, host: string): Result {
  const open = host.lastIndexOf('[');
  if (open > 0) return { ok: false, error: 'invalid IP-literal' };
  if (open === 0) {
    const close = host.lastIndexOf(']');
    if (close < 0) return { ok: false, error: "missing ']' in host" };
    const colonPort = host.slice(close + 1);
    if (!isOptionalPort(colonPort))
      return { ok: false, error: `invalid port ${goQuote(colonPort)} after host` };
    const literal = host.slice(1, close);
    const zone = literal.indexOf('%25');
    const address = unescape(zone === -1 ? literal : literal.slice(0, zone), 'host');
    if (!address.ok) return address;
    const zonePart = zone === -1 ? { ok: true as const, value: '' } : unescape(literal.slice(zone), 'zone');
    if (!zonePart.ok) return zonePart;
    const unescaped = address.value + zonePart.value;
    if (!isIPv6Literal(unescaped))
      return { ok: false, error: `invalid host: ParseAddr(${goQuote(unescaped)})` };
    return { ok: true, value: `[${unescaped}]${colonPort}` };
  }
  const colon = host.indexOf(':');
  if (colon !== -1) {
    const last = host.lastIndexOf(':');
    const portStart = last !== colon && scheme !== 'http' && scheme !== 'https' ? last : colon;
    const colonPort = host.slice(portStart);
    if (!isOptionalPort(colonPort))
      return { ok: false, error: `invalid port ${goQuote(colonPort)} after host` };
  }
  return unescape(host, 'host');
}

/** netip.ParseAddr on a bracketed literal: an IPv6 address (a zone allowed), never an IPv4 one. */
function isIPv6Literal(text: string): boolean {
  const percent = text.indexOf('%');
  const address = percent === -1 ? text : text.slice(0, percent);
  if (percent !== -1 && percent === text.length - 1) return false;
  return isIPv6(address) && !isIPv4(address);
}

function isOptionalPort(port: string): boolean {
  return port === '' || /^:[0-9]*$/.test(port);
}

type Mode = 'host' | 'zone' | 'path' | 'userinfo' | 'fragment';

/** Go's unescape: well-formed % escapes; in a host, escapes only for bytes >= 0x80 (and %25). */
function unescape(text: string, mode: Mode): Result {
  for (let index = 0; index < text.length;) {
    const c = text.charCodeAt(index);
    if (c === 0x25) {
      const escape = text.slice(index, index + 3);
      if (
        index + 2 >= text.length ||
        !isHex(text.charCodeAt(index + 1)) ||
        !isHex(text.charCodeAt(index + 2))
      ) {
        return { ok: false, error: `invalid URL escape ${goQuote(escape)}` };
      }
      const value = Number.parseInt(escape.slice(1), 16);
      if (mode === 'host' && value < 0x80 && escape !== '%25') {
        return { ok: false, error: `invalid URL escape ${goQuote(escape)}` };
      }
      if (mode === 'zone' && escape !== '%25' && value !== 0x20 && !isHostByte(value)) {
        return { ok: false, error: `invalid URL escape ${goQuote(escape)}` };
      }
      index += 3;
      continue;
    }
    if ((mode === 'host' || mode === 'zone') && c < 0x80 && !isHostByte(c)) {
      return { ok: false, error: `invalid character ${goQuote(text[index] ?? '')} in host name` };
    }
    index += 1;
  }
  return { ok: true, value: decodeEscapes(text) };
}

/** What Go's shouldEscape leaves alone in a host: letters, digits, -._~ and the sub-delims it allows. */
function isHostByte(c: number): boolean {
  return isLetter(c) || isDigit(c) || '-_.~!$&\'()*+,;=:[]<>"'.includes(String.fromCharCode(c));
}

function decodeEscapes(text: string): string {
  if (!text.includes('%')) return text;
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  for (let index = 0; index < text.length;) {
    if (text.charCodeAt(index) === 0x25) {
      bytes.push(Number.parseInt(text.slice(index + 1, index + 3), 16));
      index += 3;
      continue;
    }
    const codePoint = text.codePointAt(index) ?? 0;
    const char = String.fromCodePoint(codePoint);
    bytes.push(...encoder.encode(char));
    index += char.length;
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function hasControlCharacter(text: string): boolean {
  for (let index = 0; index < text.length; index += 1) {
    const c = text.charCodeAt(index);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Go's %q for the short texts in its error messages. */
function goQuote(text: string): string {
  return JSON.stringify(text);
}

export type ServerUrl =
  { readonly ok: true; readonly scheme: string } | { readonly ok: false; readonly problem: string };

/**
 * client-go's rest.DefaultServerURL on a kubeconfig's `server`: Go's url.Parse, and when that
 * gives no scheme or no host, a second parse with a default scheme in front, which must then carry
 * no path. istiod asks it without a CA in the config first (IsConfigTransportTLS), so a server
 * without a scheme defaults to http there; the scheme decides whether any credentials are used.
 */
export function serverUrl(server: string): ServerUrl {
  const first = parseGoUrl(server);
  if (first.ok && first.scheme !== '' && first.host !== '') return { ok: true, scheme: first.scheme };
  const second = parseGoUrl(`http://${server}`);
  if (!second.ok) return { ok: false, problem: `client-go cannot parse it: ${second.error}` };
  if (second.path !== '' && second.path !== '/') {
    return { ok: false, problem: 'it must be a URL or a host:port pair' };
  }
  return { ok: true, scheme: second.scheme };
}

/** client-go's parseProxyURL: Go's url.Parse must succeed and the scheme be http, https or socks5. */
export function proxyUrlProblem(proxy: string): string | undefined {
  const parsed = parseGoUrl(proxy);
  if (!parsed.ok) return `client-go cannot parse it: ${parsed.error}`;
  if (!['http', 'https', 'socks5'].includes(parsed.scheme)) return 'it must be an http, https or socks5 URL';
  return undefined;
}
