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

export interface TlsReloaderOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly intervalMs: number;
  /** Hands the new pair to the server (`server.setSecureContext`). */
  readonly apply: (options: SecureContextOptions) => void;
  readonly onReload: (result: CheckedKeyPair) => void;
}

/**
 * Polls the files and swaps the server's secure context when they change: connections already
 * open keep their session, new ones get the new certificate, nothing restarts. Polling (not
 * fs.watch) because Kubernetes updates a Secret volume by swapping a symlink, which watchers on
 * the file miss. A half-written pair (key updated, certificate not yet) is retried next tick.
 */
export class TlsReloader {
  private timer: NodeJS.Timeout | undefined;
  private lastCert: Buffer;
  private lastKey: Buffer;

  constructor(
    private readonly options: TlsReloaderOptions,
    current: KeyPair,
  ) {
    this.lastCert = current.cert;
    this.lastKey = current.key;
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
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(this.options.certFile);
      key = readFileSync(this.options.keyFile);
    } catch {
      return; // mid-swap; the next poll sees the files
    }
    if (cert.equals(this.lastCert) && key.equals(this.lastKey)) return;
    // Remember even a bad pair, so it is reported once, not every tick.
    this.lastCert = cert;
    this.lastKey = key;
    const checked = checkKeyPair(cert, key, this.options.certFile, this.options.keyFile);
    // Exactly the bytes that were checked are served.
    if (checked.ok) this.options.apply({ cert, key });
    this.options.onReload(checked);
  }
}
