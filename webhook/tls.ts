import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { RemoteSecretError } from '../shared/errors.ts';

/** The serving key pair could not be read or does not form a pair. */
export class TlsFilesError extends RemoteSecretError {
  override readonly name = 'TlsFilesError';
  declare readonly code: 'invalid-tls-files';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super('invalid-tls-files', message, options);
  }
}

export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** When the (first) certificate expires. */
  readonly notAfter: Date;
}

/** Read and check a certificate and key; a mismatched pair fails here, not on the first client. */
export function readKeyPair(certFile: string, keyFile: string): KeyPair {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(certFile);
    key = readFileSync(keyFile);
  } catch (error) {
    throw new TlsFilesError(`cannot read the TLS files: ${(error as Error).message}`, { cause: error });
  }
  const checked = checkKeyPair(cert, key, certFile, keyFile);
  if (!checked.ok) throw checked.error;
  return checked.pair;
}

type CheckedKeyPair = { ok: true; pair: KeyPair } | { ok: false; error: TlsFilesError };

/** Whether the bytes read make a usable pair (a reload may find a half-written one). */
function checkKeyPair(cert: Buffer, key: Buffer, certFile: string, keyFile: string): CheckedKeyPair {
  try {
    createSecureContext({ cert, key });
    return { ok: true, pair: { cert, key, notAfter: new Date(new X509Certificate(cert).validTo) } };
  } catch (error) {
    return {
      ok: false,
      error: new TlsFilesError(
        `${certFile} and ${keyFile} are not a usable certificate and key: ${(error as Error).message}`,
        { cause: error },
      ),
    };
  }
}

export interface ClientCa {
  /** The PEM bundle as read: handed to the secure context as `ca`. */
  readonly pem: Buffer;
  /** Subject of each CA certificate in it, for the log line. */
  readonly subjects: readonly string[];
}

type CheckedClientCa = { ok: true; clientCa: ClientCa } | { ok: false; error: TlsFilesError };

/**
 * Read the CA bundle that client certificates on /validate must chain to (`--client-ca-file`):
 * one or more PEM CA certificates. Anything else fails here, at start, with what to give instead.
 */
export function readClientCa(file: string): ClientCa {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (error) {
    throw new TlsFilesError(`--client-ca-file ${file}: cannot read it: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const checked = checkClientCa(pem, file);
  if (!checked.ok) throw checked.error;
  return checked.clientCa;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

function checkClientCa(pem: Buffer, file: string): CheckedClientCa {
  const fail = (why: string, cause?: unknown): CheckedClientCa => ({
    ok: false,
    error: new TlsFilesError(
      `--client-ca-file ${file}: ${why}; give the PEM certificate of the CA that signs the API server's client certificate`,
      { cause },
    ),
  });
  const blocks = pem.toString('utf8').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return fail('no PEM certificate in it');
  const subjects: string[] = [];
  for (const [index, block] of blocks.entries()) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(block);
    } catch (error) {
      return fail(`certificate ${String(index + 1)} cannot be read (${(error as Error).message})`, error);
    }
    // A leaf here would verify nothing: OpenSSL needs the issuer, not the client's own certificate.
    if (!certificate.ca) return fail(`certificate ${String(index + 1)} (${certificate.subject}) is not a CA`);
    subjects.push(certificate.subject.replaceAll('\n', ', '));
  }
  try {
    createSecureContext({ ca: pem });
  } catch (error) {
    return fail(`not usable as a CA bundle (${(error as Error).message})`, error);
  }
  return { ok: true, clientCa: { pem, subjects } };
}

/** What the secure context is built from: the serving pair, and the client CA if there is one. */
function contextOptions(cert: Buffer, key: Buffer, ca: Buffer | undefined): SecureContextOptions {
  return ca === undefined ? { cert, key } : { cert, key, ca };
}

export interface TlsReloaderOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** `--client-ca-file`, polled with the pair; a change swaps the CA client certificates chain to. */
  readonly clientCaFile?: string | undefined;
  readonly intervalMs: number;
  /** Hands the new pair (and client CA) to the server (`server.setSecureContext`). */
  readonly apply: (options: SecureContextOptions) => void;
  readonly onReload: (result: CheckedKeyPair) => void;
  readonly onClientCaReload?: (result: CheckedClientCa) => void;
}

/**
 * Polls the files and swaps the server's secure context when they change: connections already
 * open keep their session, new ones get the new certificate, nothing restarts. Polling (not
 * fs.watch) because Kubernetes updates a Secret volume by swapping a symlink, which watchers on
 * the file miss. A half-written pair (key updated, certificate not yet) is retried next tick.
 * The client CA is polled alongside: `setSecureContext` replaces the whole context, so a new
 * pair keeps the CA in use and a new CA keeps the pair in use.
 */
export class TlsReloader {
  private timer: NodeJS.Timeout | undefined;
  private lastCert: Buffer;
  private lastKey: Buffer;
  private lastCa: Buffer | undefined;
  /** What the server holds now: only checked bytes get here. */
  private served: { cert: Buffer; key: Buffer; ca: Buffer | undefined };

  constructor(
    private readonly options: TlsReloaderOptions,
    current: KeyPair,
    clientCa?: ClientCa,
  ) {
    this.lastCert = current.cert;
    this.lastKey = current.key;
    this.lastCa = clientCa?.pem;
    this.served = { cert: current.cert, key: current.key, ca: clientCa?.pem };
  }

  start(): void {
    this.timer = setInterval(() => {
      this.check();
    }, this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One poll; public so a test (or SIGHUP) can force it. */
  check(): void {
    const { certFile, keyFile, clientCaFile } = this.options;
    let cert: Buffer;
    let key: Buffer;
    let ca: Buffer | undefined;
    try {
      cert = readFileSync(certFile);
      key = readFileSync(keyFile);
      ca = clientCaFile === undefined ? undefined : readFileSync(clientCaFile);
    } catch {
      return; // mid-swap; the next poll sees the files
    }
    const next = { ...this.served };
    const reports: (() => void)[] = [];
    if (!cert.equals(this.lastCert) || !key.equals(this.lastKey)) {
      // Remember even a bad pair, so it is reported once, not every tick.
      this.lastCert = cert;
      this.lastKey = key;
      const checked = checkKeyPair(cert, key, certFile, keyFile);
      // Exactly the bytes that were checked are served.
      if (checked.ok) Object.assign(next, { cert, key });
      reports.push(() => {
        this.options.onReload(checked);
      });
    }
    if (ca !== undefined && clientCaFile !== undefined && !(this.lastCa?.equals(ca) ?? false)) {
      this.lastCa = ca;
      const checked = checkClientCa(ca, clientCaFile);
      if (checked.ok) next.ca = ca;
      reports.push(() => {
        this.options.onClientCaReload?.(checked);
      });
    }
    if (next.cert !== this.served.cert || next.ca !== this.served.ca) {
      this.served = next;
      this.options.apply(contextOptions(next.cert, next.key, next.ca));
    }
    for (const report of reports) report();
  }
}
