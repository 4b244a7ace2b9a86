import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/** The serving key pair could not be read or does not form a pair. */
export class TlsFilesError extends Error {
  readonly code = 'invalid-tls-files';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TlsFilesError';
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
  let notAfter: Date;
  try {
    createSecureContext({ cert, key });
    notAfter = new Date(new X509Certificate(cert).validTo);
  } catch (error) {
    throw new TlsFilesError(
      `${certFile} and ${keyFile} are not a usable certificate and key: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return { cert, key, notAfter };
}

export interface TlsReloaderOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly intervalMs: number;
  /** Hands the new pair to the server (`server.setSecureContext`). */
  readonly apply: (options: SecureContextOptions) => void;
  readonly onReload: (result: { ok: true; pair: KeyPair } | { ok: false; error: TlsFilesError }) => void;
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
    let pair: KeyPair;
    try {
      pair = readKeyPair(this.options.certFile, this.options.keyFile);
      // Read again inside readKeyPair: use exactly what was validated.
      this.options.apply({ cert: pair.cert, key: pair.key });
    } catch (error) {
      if (error instanceof TlsFilesError) {
        this.options.onReload({ ok: false, error });
        // Remember the bad pair so it is reported once, not every tick.
        this.lastCert = cert;
        this.lastKey = key;
        return;
      }
      throw error;
    }
    this.lastCert = pair.cert;
    this.lastKey = pair.key;
    this.options.onReload({ ok: true, pair });
  }
}
