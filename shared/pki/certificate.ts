import {
  createHash,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';
import {
  bitString,
  boolean,
  explicit,
  implicit,
  integer,
  octetString,
  oid,
  sequence,
  set,
  smallInteger,
  time,
  utf8String,
} from './der.ts';

/**
 * Self-signed CA and serving certificates for the admission webhook, for clusters without
 * cert-manager: ECDSA P-256, SANs only (the API server ignores the Common Name), built with
 * node:crypto alone. The key never leaves the caller except as the PEM it asks for.
 */
export interface Certificate {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly certificate: X509Certificate;
  readonly privateKey: KeyObject;
}

export interface CertificateAuthorityOptions {
  readonly commonName: string;
  readonly validityDays: number;
  readonly now?: Date;
}

export interface ServingCertificateOptions {
  /** DNS names and IP addresses the server answers on, e.g. `svc.ns.svc` or `127.0.0.1`. */
  readonly hosts: readonly string[];
  readonly validityDays: number;
  readonly now?: Date;
}

const ECDSA_WITH_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));
const COMMON_NAME = '2.5.4.3';
const BASIC_CONSTRAINTS = '2.5.29.19';
const KEY_USAGE = '2.5.29.15';
const EXT_KEY_USAGE = '2.5.29.37';
const SUBJECT_ALT_NAME = '2.5.29.17';
const SUBJECT_KEY_ID = '2.5.29.14';
const AUTHORITY_KEY_ID = '2.5.29.35';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** Issued certificates start a little in the past, for clocks that lag behind ours. */
const BACKDATE_MS = 5 * 60 * 1000;

export function createCertificateAuthority(options: CertificateAuthorityOptions): Certificate {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const name = distinguishedName(options.commonName);
  const extensions = [
    extension(BASIC_CONSTRAINTS, true, sequence(boolean(true), smallInteger(0))),
    // keyCertSign and cRLSign (bits 5 and 6).
    extension(KEY_USAGE, true, bitString(Buffer.from([0x06]), 1)),
    extension(SUBJECT_KEY_ID, false, octetString(keyId(spki))),
  ];
  return signed(
    { issuer: name, subject: name, spki, extensions, signer: privateKey, ...options },
    privateKey,
  );
}

export function issueServingCertificate(ca: Certificate, options: ServingCertificateOptions): Certificate {
  if (options.hosts.length === 0) throw new Error('a serving certificate needs at least one host');
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const caSpki = ca.certificate.publicKey.export({ type: 'spki', format: 'der' });
  const names = options.hosts.map((host) =>
    isIP(host) === 0 ? implicit(2, Buffer.from(host, 'ascii')) : implicit(7, ipBytes(host)),
  );
  const extensions = [
    extension(BASIC_CONSTRAINTS, true, sequence()),
    // digitalSignature (bit 0): all an ECDSA TLS server key does.
    extension(KEY_USAGE, true, bitString(Buffer.from([0x80]), 7)),
    extension(EXT_KEY_USAGE, false, sequence(oid(SERVER_AUTH))),
    extension(SUBJECT_ALT_NAME, false, sequence(...names)),
    extension(SUBJECT_KEY_ID, false, octetString(keyId(spki))),
    extension(AUTHORITY_KEY_ID, false, sequence(implicit(0, keyId(caSpki)))),
  ];
  return signed(
    {
      issuer: subjectOf(ca.certificate),
      subject: distinguishedName(options.hosts[0] ?? ''),
      spki,
      extensions,
      signer: ca.privateKey,
      validityDays: options.validityDays,
      ...(options.now === undefined ? {} : { now: options.now }),
    },
    privateKey,
  );
}

export interface ClientCertificateOptions {
  /** The subject's Common Name: what the server that verifies it logs as the caller. */
  readonly commonName: string;
  readonly validityDays: number;
  readonly now?: Date;
}

/**
 * A TLS client certificate (extended key usage clientAuth), such as the one kube-apiserver
 * presents to a webhook that runs with `--client-ca-file`.
 */
export function issueClientCertificate(ca: Certificate, options: ClientCertificateOptions): Certificate {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const caSpki = ca.certificate.publicKey.export({ type: 'spki', format: 'der' });
  const extensions = [
    extension(BASIC_CONSTRAINTS, true, sequence()),
    extension(KEY_USAGE, true, bitString(Buffer.from([0x80]), 7)),
    extension(EXT_KEY_USAGE, false, sequence(oid(CLIENT_AUTH))),
    extension(SUBJECT_KEY_ID, false, octetString(keyId(spki))),
    extension(AUTHORITY_KEY_ID, false, sequence(implicit(0, keyId(caSpki)))),
  ];
  return signed(
    {
      issuer: subjectOf(ca.certificate),
      subject: distinguishedName(options.commonName),
      spki,
      extensions,
      signer: ca.privateKey,
      validityDays: options.validityDays,
      ...(options.now === undefined ? {} : { now: options.now }),
    },
    privateKey,
  );
}

interface ToBeSigned {
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly spki: Buffer;
  readonly extensions: Buffer[];
  readonly signer: KeyObject;
  readonly validityDays: number;
  readonly now?: Date;
}

function signed(tbs: ToBeSigned, privateKey: KeyObject): Certificate {
  if (!Number.isFinite(tbs.validityDays) || tbs.validityDays <= 0) {
    throw new Error(`validity must be a positive number of days, not ${tbs.validityDays}`);
  }
  const now = tbs.now ?? new Date();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + tbs.validityDays * 24 * 60 * 60 * 1000);
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01; // positive, and no leading zero byte
  const body = sequence(
    explicit(0, smallInteger(2)), // v3
    integer(serial),
    ECDSA_WITH_SHA256,
    tbs.issuer,
    sequence(time(notBefore), time(notAfter)),
    tbs.subject,
    tbs.spki,
    explicit(3, sequence(...tbs.extensions)),
  );
  const signature = sign('sha256', body, tbs.signer); // DER-encoded ECDSA signature, as X.509 wants
  const der = sequence(body, ECDSA_WITH_SHA256, bitString(signature));
  const certificatePem = toPem('CERTIFICATE', der);
  return {
    certificatePem,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    certificate: new X509Certificate(certificatePem),
    privateKey,
  };
}

function distinguishedName(commonName: string): Buffer {
  return sequence(set(sequence(oid(COMMON_NAME), utf8String(commonName.slice(0, 64)))));
}

/** The issuer of a certificate we sign is exactly the subject bytes of the CA certificate. */
function subjectOf(certificate: X509Certificate): Buffer {
  // Certificate -> TBSCertificate -> [version, serial, signature, issuer, validity, subject, ...]
  const tbs = children(children(certificate.raw)[0] ?? Buffer.alloc(0));
  const subject = tbs[5];
  if (subject === undefined) throw new Error('the CA certificate has no subject');
  return subject;
}

/** The complete DER elements inside a constructed element (header skipped). */
function children(element: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let offset = headerLength(element, 0);
  while (offset < element.length) {
    const size = headerLength(element, offset) + contentLength(element, offset);
    out.push(element.subarray(offset, offset + size));
    offset += size;
  }
  return out;
}

function headerLength(buffer: Buffer, offset: number): number {
  const first = buffer[offset + 1] ?? 0;
  return first < 0x80 ? 2 : 2 + (first & 0x7f);
}

function contentLength(buffer: Buffer, offset: number): number {
  const first = buffer[offset + 1] ?? 0;
  if (first < 0x80) return first;
  let size = 0;
  for (let index = 0; index < (first & 0x7f); index += 1)
    size = size * 256 + (buffer[offset + 2 + index] ?? 0);
  return size;
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? sequence(oid(id), boolean(true), octetString(value))
    : sequence(oid(id), octetString(value));
}

function keyId(spki: Buffer): Buffer {
  return createHash('sha1').update(spki).digest();
}

function ipBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map(Number));
  const [head = '', tail = ''] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = address.includes('::')
    ? [...groups(head), ...Array<string>(missing).fill('0'), ...groups(tail)]
    : groups(head);
  return Buffer.concat(all.map((group) => Buffer.from(group.padStart(4, '0'), 'hex')));
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
