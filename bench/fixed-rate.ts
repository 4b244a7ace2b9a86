// The open-loop load generator the latency targets are measured with.
import { Agent, request } from 'node:https';
import { reviewBody } from './fixtures.ts';

/** Connections the generator keeps open, as many as autocannon's runs use. */
const SOCKETS = 16;

export interface FixedRateResult {
  readonly sent: number;
  readonly errors: number;
  /** Microseconds from each request's send to the end of its response, sorted. */
  readonly latenciesUs: number[];
  /** Each answered request: when it was sent (Unix ms) and its latency, in the order answered. */
  readonly timed: readonly { readonly sentAtMs: number; readonly latencyUs: number }[];
}

/**
 * Our own open-loop generator for the latency target: requests go out at `rate` per second on
 * schedule whatever the answers do (autocannon times in whole milliseconds, too coarse for a
 * 2 ms target), over keep-alive TLS, each timed with hrtime in microseconds.
 */
export async function fixedRate(
  port: number,
  rate: number,
  seconds: number,
  body: () => Buffer = sameReview(),
): Promise<FixedRateResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: SOCKETS, rejectUnauthorized: false });
  // Open every connection before the clock starts, as the API server's client keeps its
  // connections: the first second would otherwise time up to 16 TLS handshakes, not reviews.
  await Promise.all(
    Array.from(
      { length: SOCKETS },
      () =>
        new Promise((resolve) => {
          post(agent, port, body(), resolve);
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
    const finish = () => {
      done += 1;
      if (done === total) resolve();
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(Number(process.hrtime.bigint() - start) / intervalNs) + 1);
      while (sent < due) {
        sent += 1;
        const review = body();
        const sentAt = process.hrtime.bigint();
        const sentAtMs = Date.now();
        post(agent, port, review, (status) => {
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
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  agent.destroy();
  const timed = latenciesUs.map((latencyUs, index) => ({ sentAtMs: sentAtUs[index] ?? 0, latencyUs }));
  latenciesUs.sort((a, b) => a - b);
  return { sent, errors, latenciesUs, timed };
}

/** POST one review; `done` gets the answer's status once it has been read, undefined on an error. */
function post(agent: Agent, port: number, review: Buffer, done: (status: number | undefined) => void): void {
  const req = request(
    {
      host: '127.0.0.1',
      port,
      path: '/validate',
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': review.length },
    },
    (res) => {
      res.resume();
      res.on('end', () => {
        done(res.statusCode);
      });
    },
  );
  req.on('error', () => {
    done(undefined);
  });
  req.end(review);
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
