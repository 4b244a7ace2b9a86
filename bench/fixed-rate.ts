// The open-loop load generator the latency targets are measured with.
import { Agent, request } from 'node:https';
import { reviewBody } from './fixtures.ts';

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
  const agent = new Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });
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
              latenciesUs.push(Number(process.hrtime.bigint() - sentAt) / 1000);
              sentAtUs.push(sentAtMs);
              if (res.statusCode !== 200) errors += 1;
              finish();
            });
          },
        );
        req.on('error', () => {
          errors += 1;
          finish();
        });
        req.end(review);
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

/** The same realistic review every time (the webhook's review cache answers it). */
export function sameReview(): () => Buffer {
  const same = Buffer.from(reviewBody());
  return () => same;
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}
