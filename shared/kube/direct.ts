import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { toKubeError } from './errors.ts';

/**
 * How to reach an API server without client-node: what client-node would send for the operator's
 * kubeconfig (its server, headers with the login's credential, TLS material), resolved by a
 * KubeClient. Plain data, so it can be handed to a worker thread.
 */
export interface DirectConnection {
  /** The cluster's server URL, any path prefix included. */
  readonly server: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly auth?: string | undefined;
  readonly ca?: Uint8Array | undefined;
  readonly cert?: Uint8Array | undefined;
  readonly key?: Uint8Array | undefined;
  readonly servername?: string | undefined;
  readonly rejectUnauthorized?: boolean | undefined;
  readonly requestTimeoutMs: number;
}

/** A GET client on one connection, keeping its TLS connection alive between calls. */
export interface DirectClient {
  /** The body's bytes of a 2xx answer; anything else is the KubeError `call` would throw. */
  getBytes(action: string, path: string, signal?: AbortSignal): Promise<Buffer>;
  close(): void;
}

export function directClient(connection: DirectConnection): DirectClient {
  const plain = connection.server.startsWith('http:');
  const tls = {
    ...(connection.ca === undefined ? {} : { ca: Buffer.from(connection.ca) }),
    ...(connection.cert === undefined ? {} : { cert: Buffer.from(connection.cert) }),
    ...(connection.key === undefined ? {} : { key: Buffer.from(connection.key) }),
    ...(connection.servername === undefined ? {} : { servername: connection.servername }),
    ...(connection.rejectUnauthorized === undefined
      ? {}
      : { rejectUnauthorized: connection.rejectUnauthorized }),
  };
  const agent = plain
    ? new HttpAgent({ keepAlive: true, maxSockets: 1 })
    : new HttpsAgent({ keepAlive: true, maxSockets: 1, ...tls });
  const context = (action: string) => ({
    server: connection.server,
    action,
    timeoutMs: connection.requestTimeoutMs,
  });
  return {
    async getBytes(action, path, signal) {
      const url = new URL(`${connection.server.replace(/\/+$/, '')}${path}`);
      const signals = [
        AbortSignal.timeout(connection.requestTimeoutMs),
        ...(signal === undefined ? [] : [signal]),
      ];
      const options: RequestOptions = {
        method: 'GET',
        headers: { ...connection.headers, Accept: 'application/json' },
        ...(connection.auth === undefined ? {} : { auth: connection.auth }),
        agent,
        signal: AbortSignal.any(signals),
      };
      try {
        return await get(url, options, plain);
      } catch (error) {
        throw toKubeError(error, context(action));
      }
    },
    close() {
      agent.destroy();
    },
  };
}

/** GET `url`: the bytes of a 2xx answer, else an error shaped as client-node's ApiException. */
export function get(url: URL, options: RequestOptions, plain: boolean): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const request = (plain ? httpRequest : httpsRequest)(url, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const body = Buffer.concat(chunks);
        const statusCode = response.statusCode ?? 0;
        if (statusCode >= 200 && statusCode < 300) {
          resolve(body);
          return;
        }
        let status: unknown;
        try {
          status = JSON.parse(body.toString('utf8'));
        } catch {
          status = undefined;
        }
        // toKubeError reads the status and the Status body, as from client-node's ApiException.
        reject(Object.assign(new Error(`HTTP ${String(statusCode)}`), { statusCode, body: status }));
      });
    });
    request.on('error', reject);
    request.end();
  });
}
