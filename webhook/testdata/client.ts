import { Agent, request } from 'node:https';
import { TLSSocket } from 'node:tls';

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** Serial number of the certificate the server presented. */
  readonly serial: string;
}

export interface PostOptions {
  readonly port: number;
  readonly ca: string | string[];
  readonly path?: string;
  readonly method?: string;
  readonly contentType?: string;
  /** More request headers, such as `Content-Encoding`. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly agent?: Agent | false;
  /** A client certificate and key (PEM) to present, as the API server does with a client CA. */
  readonly clientCertificate?: { readonly cert: string; readonly key: string };
}

/** One HTTPS request that trusts only `ca`: real TLS, as the API server calls the webhook. */
export function send(body: string | Buffer | undefined, options: PostOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: options.port,
        path: options.path ?? '/validate',
        method: options.method ?? (body === undefined ? 'GET' : 'POST'),
        ca: options.ca,
        ...(options.clientCertificate === undefined ? {} : options.clientCertificate),
        agent: options.agent ?? false,
        headers: {
          ...(body === undefined ? {} : { 'Content-Type': options.contentType ?? 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        const socket = res.socket;
        const serial = socket instanceof TLSSocket ? socket.getPeerCertificate().serialNumber : '';
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            serial,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
