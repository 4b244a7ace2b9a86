import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Counter, Histogram } from 'prom-client';
import {
  decideAdmission,
  violationsOf,
  type AdmissionDecision,
  type AdmissionOptions,
} from '../shared/admission/decide.ts';
import {
  admissionReviewResponse,
  parseAdmissionReview,
  type AdmissionRequest,
} from '../shared/admission/review.ts';
import { RemoteSecretError, type ErrorDetails } from '../shared/errors.ts';
import { AnswerBatch } from './answer-batch.ts';
import type { Caller } from './caller.ts';
import type { WebhookMetrics } from './metrics.ts';
import type { KeyPair } from './tls.ts';

/** Sized for an UPDATE of a ~1 MiB Secret: object and oldObject, base64, plus metadata. */
export const BODY_LIMIT_BYTES = 6 * 1024 * 1024;
export const VALIDATE_PATH = '/validate';

export interface Readiness {
  /** `undefined` when ready, else why not (shown by /readyz). */
  notReadyReason(): string | undefined;
  readonly draining: boolean;
}

export interface WebhookAppOptions {
  readonly admission: AdmissionOptions;
  /**
   * `--client-ca-file` is set: POST /validate answers only callers whose client certificate the
   * TLS layer verified against it; anyone else gets 401 or 403 and nothing is decided or recorded.
   */
  readonly clientAuth?: boolean;
  /** Whether the index can answer: /validate refuses to guess before the first sync. */
  readonly indexSynced: () => boolean;
  readonly readiness: Readiness;
  readonly metrics: WebhookMetrics;
  readonly log: Logger;
  /** The audit trail for a decided request (log line, Event); metrics are counted here. */
  readonly record: (request: AdmissionRequest, decision: AdmissionDecision, caller: Caller) => void;
  readonly requestTimeoutMs: number;
}

/** What `node:https` calls for each request. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** A route's handlers by method; GET also answers HEAD. */
type Route = Partial<Record<'GET' | 'POST', RequestListener>>;

/**
 * The HTTP layer, thin on purpose: parse, decide (shared, pure), respond. Every decided review
 * is a 200 with the v1 envelope and the request's uid; anything we cannot read is a 4xx with a
 * reason, which the API server treats as a failed call (failurePolicy: Fail denies the write).
 *
 * One stack for every route, on Node's own `req` and `res`: four fixed paths need no router, and
 * express's per-request set-up cost as much as the decision itself (docs/adr/0002). Unknown
 * paths are 404, other methods 405 with `Allow`, a handler that throws 500; all with the same
 * JSON error body and the `http_errors_total` metric.
 */
export function createWebhookApp(options: WebhookAppOptions): RequestListener {
  const { metrics, log } = options;
  const answers = new AnswerBatch();
  const refuse = refuser(metrics, log, answers);
  const text = (res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8') => {
    res.statusCode = status;
    res.setHeader('Content-Type', type);
    res.end(body);
  };
  const routes = new Map<string, Route>([
    [VALIDATE_PATH, { POST: createAdmissionHandler(options, answers) }],
    [
      '/healthz',
      {
        GET: (_req, res) => {
          text(res, 200, 'ok\n');
        },
      },
    ],
    [
      '/readyz',
      {
        GET: (_req, res) => {
          const reason = options.readiness.notReadyReason();
          if (reason === undefined) text(res, 200, 'ok\n');
          else text(res, 503, `not ready: ${reason}\n`);
        },
      },
    ],
    [
      '/metrics',
      {
        GET: (_req, res) => {
          metrics.registry.metrics().then(
            (body) => {
              text(res, 200, body, metrics.registry.contentType);
            },
            (error: unknown) => {
              log.error({ err: error }, 'request failed');
              refuse(res, 500, 'internal', 'internal error');
            },
          );
        },
      },
    ],
  ]);

  return (req, res) => {
    // While draining, every answer lets its connection go (see createAdmissionHandler).
    if (options.readiness.draining) res.setHeader('Connection', 'close');
    const route = routes.get(pathOf(req.url));
    if (route === undefined) {
      refuse(res, 404, 'not-found', `no such path; the webhook answers POST ${VALIDATE_PATH}`);
      return;
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const handler = method === 'GET' || method === 'POST' ? route[method] : undefined;
    if (handler === undefined) {
      const allowed = Object.keys(route);
      res.setHeader('Allow', allowed.join(', '));
      refuse(
        res,
        405,
        'method',
        `${req.method ?? 'that method'} is not allowed; the webhook answers ${allowed.join(', ')} ${pathOf(req.url)}`,
      );
      return;
    }
    try {
      handler(req, res);
    } catch (error) {
      log.error({ err: error }, 'request failed');
      refuse(res, 500, 'internal', 'internal error');
    }
  };
}

/**
 * A 4xx or 5xx with a JSON reason, counted and logged, written at once; nothing if an answer
 * went out already or is queued in `answers`.
 */
function refuser(metrics: WebhookMetrics, log: Logger, answers: AnswerBatch) {
  return (res: ServerResponse, status: number, reason: string, message: string, uid?: string): void => {
    metrics.httpErrors.inc({ status: String(status), reason });
    log.warn({ status, reason, uid }, `refused a request: ${message}`);
    if (answers.answered(res)) return;
    sendJson(res, status, { error: reason, message, ...(uid === undefined ? {} : { uid }) });
  };
}

/**
 * `POST /validate` (any query string: the API server appends `?timeout=10s`): read the body
 * within its limit and deadline, parse the AdmissionReview, decide, answer (in `answers`, at
 * the end of the event loop's turn), record.
 */
export function createAdmissionHandler(
  options: WebhookAppOptions,
  answers = new AnswerBatch(),
): RequestListener {
  const { metrics, log } = options;
  const refuse = refuser(metrics, log, answers);
  // prom-client looks a series up by hashing its labels on every call: once per label set here.
  const durations = new Map<string, Histogram.Internal<'operation'>>();
  const durationOf = (operation: string) => {
    let series = durations.get(operation);
    if (series === undefined) {
      series = metrics.duration.labels({ operation });
      durations.set(operation, series);
    }
    return series;
  };
  const counts = new Map<string, Counter.Internal>();
  const requestsOf = (operation: string, verdict: string) => {
    const key = `${operation} ${verdict}`;
    let series = counts.get(key);
    if (series === undefined) {
      series = metrics.requests.labels({ operation, verdict });
      counts.set(key, series);
    }
    return series;
  };

  const admit = (res: ServerResponse, body: unknown, caller: Caller): void => {
    if (answers.answered(res)) return; // timed out while the body arrived
    const parsed = parseAdmissionReview(body);
    if (!parsed.ok) {
      refuse(res, 400, parsed.code, parsed.message, parsed.uid);
      return;
    }
    if (!options.indexSynced()) {
      // Without the index a duplicate cluster ID would pass unseen: fail the call instead.
      refuse(res, 503, 'not-synced', 'the cluster ID index has not synced yet', parsed.request.uid);
      return;
    }
    const start = process.hrtime.bigint();
    const { request } = parsed;
    const decision = decideAdmission(request, options.admission);
    answers.send(res, 200, JSON.stringify(admissionReviewResponse(decision.response)));
    durationOf(request.operation).observe(Number(process.hrtime.bigint() - start) / 1e9);
    requestsOf(request.operation, decision.verdict).inc();
    for (const { violation } of violationsOf(decision.clusters))
      metrics.violations.inc({ code: violation.code });
    options.record(request, decision, caller);
  };

  return (req, res) => {
    // While draining, let each keep-alive connection go after its answer, so the API server
    // reconnects (to a ready replica) instead of reusing a socket we are about to close.
    if (options.readiness.draining) res.setHeader('Connection', 'close');
    const caller = callerOf(req, options.clientAuth ?? false);
    if (!caller.ok) {
      // Before the body is read: an unauthenticated sender costs no parsing and leaves no record.
      res.setHeader('Connection', 'close');
      refuse(res, caller.status, caller.reason, caller.message);
      req.resume();
      return;
    }
    const timer = setTimeout(() => {
      if (answers.queued(res)) return; // decided in time; written at the end of this turn
      refuse(res, 503, 'timeout', `no answer within ${options.requestTimeoutMs} ms`);
      req.destroy();
    }, options.requestTimeoutMs);
    res.on('close', () => {
      clearTimeout(timer);
    });
    const contentType = req.headers['content-type'];
    if (!isJson(contentType)) {
      refuse(
        res,
        400,
        'content-type',
        `Content-Type must be application/json, not ${contentType ?? 'missing'}`,
      );
      return;
    }
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      res.setHeader('Accept-Encoding', 'identity');
      refuse(
        res,
        415,
        'content-encoding',
        `Content-Encoding ${encoding} is not accepted: send the AdmissionReview uncompressed, as the API server does`,
      );
      return;
    }
    if (req.headers['content-length'] === '0') {
      refuse(res, 400, 'empty-body', 'the body is empty; expected an AdmissionReview');
      return;
    }
    readJsonBody(req, res, BODY_LIMIT_BYTES, (error, body) => {
      if (error === undefined) {
        // Called from a stream event: a throw here would end the process, not one request.
        try {
          admit(res, body, caller.caller);
        } catch (failure) {
          log.error({ err: failure }, 'request failed');
          refuse(res, 500, 'internal', 'internal error');
        }
        return;
      }
      switch (error.code) {
        case 'too-large':
          refuse(res, 413, 'too-large', `the body is over the ${BODY_LIMIT_BYTES / 1024 / 1024} MiB limit`);
          break;
        case 'not-json':
          refuse(res, 400, 'entity.parse.failed', 'the body is not valid JSON (entity.parse.failed)');
          break;
        case 'unreadable':
          // The connection failed while the body arrived (reset, aborted): nobody to answer.
          log.warn({ err: error.cause }, 'request body could not be read');
          refuse(res, 400, 'bad-request', 'the body could not be read');
          break;
      }
    });
  };
}

type CallerCheck =
  | { readonly ok: true; readonly caller: Caller }
  | { readonly ok: false; readonly status: 401 | 403; readonly reason: string; readonly message: string };

/**
 * With a client CA, the TLS server asks every connection for a certificate but lets the
 * handshake finish without one (kubelet probes and Prometheus have none), so /validate itself
 * refuses: 401 without a certificate, 403 with one that does not chain to the CA.
 */
function callerOf(req: IncomingMessage, clientAuth: boolean): CallerCheck {
  if (!clientAuth) return { ok: true, caller: { authenticated: false } };
  const socket = req.socket;
  if (!(socket instanceof TLSSocket)) {
    return { ok: false, status: 401, reason: 'client-certificate-required', message: 'not a TLS connection' };
  }
  if (socket.authorized) {
    const subject = socket.getPeerCertificate().subject as Record<string, unknown> | undefined;
    const commonName = subject?.['CN'];
    return {
      ok: true,
      caller: {
        authenticated: true,
        ...(typeof commonName === 'string' ? { subject: `CN=${commonName}` } : {}),
      },
    };
  }
  const presented = Object.keys(socket.getPeerCertificate()).length > 0;
  if (!presented) {
    return {
      ok: false,
      status: 401,
      reason: 'client-certificate-required',
      message: `POST ${VALIDATE_PATH} needs a client certificate signed by the CA in --client-ca-file (the API server's, from its AdmissionConfiguration kubeconfig); none was presented`,
    };
  }
  const why =
    socket.authorizationError instanceof Error
      ? socket.authorizationError.message
      : String(socket.authorizationError);
  return {
    ok: false,
    status: 403,
    reason: 'client-certificate-untrusted',
    message: `POST ${VALIDATE_PATH}: the client certificate does not chain to --client-ca-file (${why})`,
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}

/** `application/json`, with or without parameters (`; charset=utf-8`), in any case. */
function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semicolon = contentType.indexOf(';');
  const type = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  return type === 'application/json';
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** Why a request body could not be taken: answered with 413 or 400. */
class BodyError extends RemoteSecretError {
  override readonly name = 'BodyError';
  declare readonly code: 'too-large' | 'not-json' | 'unreadable';

  constructor(code: BodyError['code'], details: ErrorDetails = {}) {
    super(code, `request body: ${code}`, details);
  }
}

/**
 * Read the whole body, at most `limit` bytes, and JSON-parse it: what express.json does, minus
 * charset and inflate handling the API server never needs, for a third of the cost per request.
 * `done` is called once, with a `BodyError` or the parsed body.
 */
function readJsonBody(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
  done: (error: BodyError | undefined, body?: unknown) => void,
): void {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit) {
    res.setHeader('Connection', 'close');
    req.resume(); // discard it; the connection closes after the answer
    done(new BodyError('too-large'));
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  req.on('data', (chunk: Buffer) => {
    if (failed) return;
    size += chunk.length;
    if (size > limit) {
      failed = true;
      res.setHeader('Connection', 'close');
      done(new BodyError('too-large'));
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (failed) return;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
    } catch (error) {
      done(new BodyError('not-json', { cause: error }));
      return;
    }
    done(undefined, body);
  });
  req.on('error', (error) => {
    if (failed) return;
    failed = true;
    done(new BodyError('unreadable', { cause: error }));
  });
}

export interface ServerOptions {
  readonly keyPair: KeyPair;
  /**
   * PEM of `--client-ca-file`: every handshake asks for a client certificate and verifies it
   * against this, without failing the handshake when there is none (see `callerOf`).
   */
  readonly clientCa?: Buffer | undefined;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /**
   * At most this many connections at once (0 or unset: no limit); one more is closed as it is
   * accepted, before any TLS work, and counted through `onConnectionRefused`.
   */
  readonly maxConnections?: number;
  readonly onConnectionRefused?: () => void;
  /** Told of each connection opened (+1) and closed (-1), for the open-connections gauge. */
  readonly onConnections?: (delta: 1 | -1) => void;
  /**
   * Told of each request Node's HTTP parser answers itself, before any handler runs (a request
   * whose headers did not arrive in time: 408; headers too large: 431; not HTTP: 400), so the
   * `http_errors_total` metric counts them like the rest.
   */
  readonly onClientError?: (status: number, reason: string) => void;
}

/** What Node's HTTP parser errors mean, as the status Node itself would answer them with. */
function clientErrorStatus(code: string | undefined): { status: number; reason: string } {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, reason: 'request-timeout' };
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'headers-too-large' };
    default:
      return { status: 400, reason: 'malformed-http' };
  }
}

/**
 * As long as the API server's own client waits for a handshake (client-go's transport defaults,
 * `TLSHandshakeTimeout: 10s`): shorter would cut off handshakes it still waits for under load.
 */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** HTTPS with timeouts that suit a webhook behind the API server's Go client. */
export function createWebhookServer(app: RequestListener, options: ServerOptions): Server {
  const server = createServer(
    {
      cert: options.keyPair.cert,
      key: options.keyPair.key,
      ...(options.clientCa === undefined
        ? {}
        : { ca: options.clientCa, requestCert: true, rejectUnauthorized: false }),
      minVersion: 'TLSv1.2',
      // Enforced every second, not the default 30 s, so a slow sender is cut off in time.
      connectionsCheckingInterval: 1000,
      requestTimeout: options.requestTimeoutMs + 1000,
      headersTimeout: options.requestTimeoutMs + 1000,
      // Node's default is 120 s: a client that connects and never finishes its handshake would
      // hold one of the --max-connections slots that long.
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    },
    app,
  );
  // Each TLS connection holds 100-200 KB of native memory (OpenSSL state and buffers), which
  // glibc keeps after it closes: bounding the connections bounds the process (docs/webhook.md).
  if (options.maxConnections !== undefined && options.maxConnections > 0)
    server.maxConnections = options.maxConnections;
  server.on('drop', () => {
    options.onConnectionRefused?.();
  });
  // Node's headersTimeout starts with a request's first byte: a connection that finishes its
  // handshake and sends nothing would hold its slot for ever. Close it once headers sent on it
  // would have timed out (and been answered 408) for sure; after its first request, Node's own
  // timeouts (request, headers, --keep-alive-timeout) take over.
  const silent = new WeakMap<Duplex, NodeJS.Timeout>();
  server.on('secureConnection', (socket: Duplex) => {
    const timer = setTimeout(() => socket.destroy(), options.requestTimeoutMs + 3000).unref();
    silent.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
    });
  });
  server.on('request', (req: IncomingMessage) => {
    clearTimeout(silent.get(req.socket));
    silent.delete(req.socket);
  });
  const { onConnections } = options;
  if (onConnections !== undefined) {
    server.on('connection', (socket: Duplex) => {
      onConnections(1);
      socket.once('close', () => {
        onConnections(-1);
      });
    });
  }
  // Go's http.Transport drops idle connections after 90 s; outlasting it means the client
  // always closes first and never sends on a socket we have just closed.
  server.keepAliveTimeout = options.keepAliveTimeoutMs;
  // With a listener, Node no longer answers parser errors itself: answer as it would, and count.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A connection reset or closed mid-request has nobody left to answer; it is not a request.
    // Nor can one whose response has begun (Node's own handler checks the same).
    const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    // Nor one whose TLS handshake timed out: there is no HTTP to answer in.
    if (
      error.code === 'ECONNRESET' ||
      error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ||
      !socket.writable ||
      answering?.headersSent === true
    ) {
      socket.destroy();
      return;
    }
    const { status, reason } = clientErrorStatus(error.code);
    options.onClientError?.(status, reason);
    socket.end(`HTTP/1.1 ${String(status)} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n\r\n`);
  });
  return server;
}
