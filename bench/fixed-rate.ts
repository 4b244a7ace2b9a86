// The open-loop load generator the latency targets are measured with.
import { connect, type TLSSocket } from 'node:tls';
import { reviewBody } from './fixtures.ts';

/** Connections the generator keeps open, as many as autocannon's runs use. */
const SOCKETS = 16;
/** A request still unanswered this long after the last one was sent counts as an error. */
const DRAIN_TIMEOUT_MS = 10_000;

export interface FixedRateResult {
  readonly sent: number;
  readonly errors: number;
  /** Microseconds from each request's send to the end of its response, sorted. */
  readonly latenciesUs: number[];
  /** Each answered request: when it was sent (Unix ms) and its latency, in the order answered. */
  readonly timed: readonly { readonly sentAtMs: number; readonly latencyUs: number }[];
}

/** The answer to one request: its status, or undefined when it failed (reset, closed, garbled). */
type Done = (status: number | undefined) => void;

/**
 * Our own open-loop generator for the latency target: requests go out at `rate` per second on
 * schedule whatever the answers do (autocannon times in whole milliseconds, too coarse for a
 * 2 ms target), over keep-alive TLS, one request at a time per connection as Go's client sends
 * them, each timed with hrtime in microseconds. Like autocannon it writes each request as one
 * buffer on a raw TLS socket and reads no more of the answer than its status and length: Node's
 * own HTTP client cost the generator about 0.2 ms of the median and more of the tail, which was
 * then measured as the server's (docs/benchmarks.md).
 */
export async function fixedRate(
  port: number,
  rate: number,
  seconds: number,
  body: () => Buffer = sameReview(),
): Promise<FixedRateResult> {
  const pool = new Pool(port);
  try {
    // Open every connection before the clock starts, as the API server's client keeps its
    // connections: the first second would otherwise time up to 16 TLS handshakes, not reviews.
    await Promise.all(
      Array.from(
        { length: SOCKETS },
        () =>
          new Promise((resolve) => {
            pool.post(body(), resolve);
          }),
      ),
    );
    const latenciesUs: number[] = [];
    const sentAtUs: number[] = [];
    const total = rate * seconds;
    const intervalNs = 1e9 / rate;
    let sent = 0;
    let done = 0;
    let errors = 0;
    const start = process.hrtime.bigint();
    await new Promise<void>((resolve) => {
      let drain: NodeJS.Timeout | undefined;
      const finish = () => {
        done += 1;
        if (done === total) {
          clearTimeout(drain);
          resolve();
        }
      };
      const tick = () => {
        const due = Math.min(total, Math.floor(Number(process.hrtime.bigint() - start) / intervalNs) + 1);
        while (sent < due) {
          sent += 1;
          const review = body();
          const sentAt = process.hrtime.bigint();
          const sentAtMs = Date.now();
          pool.post(review, (status) => {
            if (status === undefined) {
              errors += 1;
            } else {
              latenciesUs.push(Number(process.hrtime.bigint() - sentAt) / 1000);
              sentAtUs.push(sentAtMs);
              if (status !== 200) errors += 1;
            }
            finish();
          });
        }
        if (sent < total) {
          setTimeout(tick, 1);
        } else {
          drain = setTimeout(() => {
            errors += total - done;
            resolve();
          }, DRAIN_TIMEOUT_MS);
        }
      };
      tick();
    });
    const timed = latenciesUs.map((latencyUs, index) => ({ sentAtMs: sentAtUs[index] ?? 0, latencyUs }));
    latenciesUs.sort((a, b) => a - b);
    return { sent, errors, latenciesUs, timed };
  } finally {
    pool.destroy();
  }
}

/**
 * Up to SOCKETS keep-alive connections; a request waits for a free one, as with an http.Agent's
 * maxSockets. A connection that fails or is closed is replaced on the next request.
 */
class Pool {
  private readonly idle: Connection[] = [];
  private readonly waiting: { readonly request: Buffer; readonly done: Done }[] = [];
  private readonly all = new Set<Connection>();
  private destroyed = false;
  /** The last body and its request: with the same review every time, built once, not per send. */
  private last: { readonly review: Buffer; readonly request: Buffer } | undefined;

  constructor(private readonly port: number) {}

  post(review: Buffer, done: Done): void {
    const request = this.requestFor(review);
    const connection = this.idle.pop() ?? (this.all.size < SOCKETS ? this.open() : undefined);
    if (connection === undefined) this.waiting.push({ request, done });
    else connection.send(request, done);
  }

  private requestFor(review: Buffer): Buffer {
    if (this.last?.review !== review) {
      const head = `POST /validate HTTP/1.1\r\nHost: 127.0.0.1:${String(this.port)}\r\nContent-Type: application/json\r\nContent-Length: ${String(review.length)}\r\n\r\n`;
      this.last = { review, request: Buffer.concat([Buffer.from(head, 'latin1'), review]) };
    }
    return this.last.request;
  }

  destroy(): void {
    this.destroyed = true;
    for (const connection of this.all) connection.destroy();
  }

  private open(): Connection {
    const connection = new Connection(this.port, (reusable) => {
      if (!reusable) {
        // Closed while idle (the server's keep-alive timeout) or after its answer: forget it.
        this.all.delete(connection);
        const idle = this.idle.indexOf(connection);
        if (idle !== -1) this.idle.splice(idle, 1);
      }
      if (this.destroyed) return;
      const next = this.waiting.shift();
      if (next === undefined) {
        if (reusable) this.idle.push(connection);
        return;
      }
      (reusable ? connection : this.open()).send(next.request, next.done);
    });
    this.all.add(connection);
    return connection;
  }
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive TLS connection carrying one request at a time. */
class Connection {
  private readonly socket: TLSSocket;
  private received: Buffer = Buffer.alloc(0);
  private pending: Done | undefined;
  private closed = false;

  /** `free` is told once each request is answered or failed, and whether the socket can be reused. */
  constructor(
    port: number,
    private readonly free: (reusable: boolean) => void,
  ) {
    this.socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => {
      this.read(chunk);
    });
    this.socket.on('error', () => {
      this.fail();
    });
    this.socket.on('close', () => {
      this.fail();
    });
  }

  send(request: Buffer, done: Done): void {
    if (this.closed) {
      done(undefined);
      this.free(false);
      return;
    }
    this.pending = done;
    this.socket.write(request);
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    const headerEnd = this.received.indexOf(HEADER_END);
    if (headerEnd === -1) return;
    const head = this.received.subarray(0, headerEnd).toString('latin1');
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1];
    const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
    // Every answer of the servers measured has a Content-Length; anything else is an error.
    if (status === undefined || length === undefined || this.pending === undefined) {
      this.fail();
      return;
    }
    const end = headerEnd + HEADER_END.length + Number(length);
    if (this.received.length < end) return;
    if (this.received.length > end) {
      this.fail(); // bytes nobody asked for: no pipelining here
      return;
    }
    this.received = Buffer.alloc(0);
    const done = this.pending;
    this.pending = undefined;
    done(Number(status));
    const reusable = !/\r\nconnection: *close/i.test(head);
    if (!reusable) this.destroy();
    this.free(reusable);
  }

  private fail(): void {
    const wasClosed = this.closed;
    this.destroy();
    const done = this.pending;
    this.pending = undefined;
    if (done !== undefined) {
      done(undefined);
      this.free(false);
    } else if (!wasClosed) {
      this.free(false);
    }
  }
}

/** The same realistic review every time (the webhook's review cache answers it). */
export function sameReview(): () => Buffer {
  const same = Buffer.from(reviewBody());
  return () => same;
}

/** Several runs as one: their requests, errors and latencies together. */
export function pooled(runs: readonly FixedRateResult[]): FixedRateResult {
  return {
    sent: runs.reduce((sum, run) => sum + run.sent, 0),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    latenciesUs: runs.flatMap((run) => run.latenciesUs).sort((a, b) => a - b),
    timed: runs.flatMap((run) => run.timed),
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}
