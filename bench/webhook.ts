// The admission webhook under load on loopback, next to a bare node:https server that parses the
// body and answers a constant allow, measured in the same run. Targets (issues 5 and 14):
// saturation throughput >= 0.5x the bare server's; with a kubeconfig never seen before in every
// review (the review cache misses), >= 0.4x; p99 <= 2 ms at a fixed 1,000 requests/s; zero
// errors; memory flat over the fixed-rate run. For ADR 0002 the same run also measures the
// webhook with /validate routed through express, as it was before. Each server runs in its own
// process; autocannon drives the saturation runs, bench/fixed-rate.ts the fixed-rate ones. On a
// shared VM whose stalls push even the bare server past 2 ms, the fixed-rate run is repeated (up
// to BENCH_FIXED_ATTEMPTS, 3) and judged in the attempt where the bare server's p99 was lowest.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type * as Decide from '../shared/admission/decide.ts';
import type * as ClusterIdScope from '../shared/remote-secret/cluster-id-scope.ts';
import type * as ReviewCache from '../shared/remote-secret/review-cache.ts';
import type * as Pki from '../shared/pki/certificate.ts';
import type * as Lifecycle from '../webhook/lifecycle.ts';
import type * as Metrics from '../webhook/metrics.ts';
import type * as Server from '../webhook/server.ts';
import { missingReviews, reviewBody } from './fixtures.ts';
import { fixedRate, percentile, pooled, type FixedRateResult } from './fixed-rate.ts';
import { cpuTimes, mean, stealShare, verdict } from './measure.ts';

/** `webhook-express`: the same admission handler as an express route (express is a dev dependency). */
type Kind = 'bare' | 'webhook' | 'webhook-express';
/** `hit`: every review carries the same kubeconfig; `miss`: each one a kubeconfig not seen before. */
type Reviews = 'hit' | 'miss';
/** One fixed-rate run: the bare server's segments, the webhook's, and the steal during each. */
interface Attempt {
  readonly floor: FixedRateResult[];
  readonly fixed: FixedRateResult[];
  readonly steal: { readonly bare: number[]; readonly webhook: number[] };
  /** p99 of each server's pooled segments, in ms. */
  readonly p99: { readonly bare: number; readonly webhook: number };
}
interface Sample {
  readonly rss: number;
  readonly heapUsed: number;
  /** Microseconds of CPU (user + system) the server process has used so far. */
  readonly cpuUs: number;
}

const SATURATION_SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const FIXED_SECONDS = Number(process.env['BENCH_FIXED_SECONDS'] ?? 60);
const FIXED_RATE = 1000;
/** The fixed-rate runs alternate bare and webhook in this many segments. */
const FIXED_SEGMENTS = 6;
/** At most this many fixed-rate runs, until one finds the machine quiet (see main). */
const FIXED_ATTEMPTS = Number(process.env['BENCH_FIXED_ATTEMPTS'] ?? 3);
const CONNECTIONS = 16;
const CPU_RATE = 2000;
const CPU_SECONDS = Number(process.env['BENCH_CPU_SECONDS'] ?? 5);

/** Measure the compiled code users run (npm run build), not a transpile-on-the-fly copy. */
function compiled(path: string): Promise<unknown> {
  return import(new URL(`../dist/${path}`, import.meta.url).href);
}

// ---- the servers (child processes) ----

async function serve(kind: Kind): Promise<void> {
  const pki = (await compiled('shared/pki/certificate.js')) as typeof Pki;
  const ca = pki.createCertificateAuthority({ commonName: 'bench-ca', validityDays: 1 });
  const leaf = pki.issueServingCertificate(ca, { hosts: ['localhost', '127.0.0.1'], validityDays: 1 });
  const key = Buffer.from(leaf.privateKeyPem);
  const cert = Buffer.from(leaf.certificatePem);
  let server;
  if (kind === 'bare') {
    server = createServer({ key, cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string } };
        res.setHeader('Content-Type', 'application/json');
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: { uid: review.request.uid, allowed: true },
          }),
        );
      });
    });
    server.keepAliveTimeout = 100_000;
  } else {
    const { createAdmissionHandler, createWebhookApp, createWebhookServer } = (await compiled(
      'webhook/server.js',
    )) as typeof Server;
    const { createMetrics } = (await compiled('webhook/metrics.js')) as typeof Metrics;
    const { Lifecycle: LifecycleClass } = (await compiled('webhook/lifecycle.js')) as typeof Lifecycle;
    const { pino } = await import('pino');
    const cache = (await compiled('shared/remote-secret/review-cache.js')) as typeof ReviewCache;
    const scope = (await compiled('shared/remote-secret/cluster-id-scope.js')) as typeof ClusterIdScope;
    const index = { secretCount: 0, clusterCount: 0 };
    const options: Decide.AdmissionOptions = {
      mode: 'enforce',
      allow: new Set(),
      localClusterId: 'primary',
      // As main.ts runs it.
      cache: new cache.ReviewCache(),
      clusterIds: new scope.ClusterIdScope(),
    };
    const appOptions: Server.WebhookAppOptions = {
      admission: options,
      indexSynced: () => true,
      readiness: new LifecycleClass({ notReady: () => undefined }),
      metrics: createMetrics(() => index),
      log: pino({ level: 'info' }, pino.destination('/dev/null')),
      record: () => undefined,
      requestTimeoutMs: 3000,
    };
    let app: Server.RequestListener = createWebhookApp(appOptions);
    if (kind === 'webhook-express') {
      // As the webhook was before ADR 0002's decision: the same handler behind express's router.
      const { default: express } = await import('express');
      const router = express();
      router.disable('x-powered-by');
      router.disable('etag');
      router.set('query parser', false);
      const admission = createAdmissionHandler(appOptions);
      router.post('/validate', (req, res) => {
        admission(req, res);
      });
      app = (req, res) => {
        router(req, res);
      };
    }
    server = createWebhookServer(app, {
      keyPair: { key, cert, notAfter: new Date() },
      requestTimeoutMs: 3000,
      keepAliveTimeoutMs: 100_000,
    });
  }
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.send?.({ port: (server.address() as AddressInfo).port });
  process.on('message', (message) => {
    if (message === 'stop') process.exit(0);
    if (message === 'sample') {
      const usage = process.memoryUsage();
      const cpu = process.cpuUsage();
      process.send?.({
        sample: { rss: usage.rss, heapUsed: usage.heapUsed, cpuUs: cpu.user + cpu.system } satisfies Sample,
      });
    }
  });
}

// ---- the load generator (this process) ----

async function startServer(kind: Kind): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['serve', kind], { stdio: 'inherit' });
  const [message] = (await once(child, 'message')) as [{ port: number }];
  return { child, port: message.port };
}

async function load(
  port: number,
  reviews: Reviews,
  options: Partial<autocannon.Options>,
): Promise<autocannon.Result> {
  const next = reviews === 'miss' ? missingReviews() : undefined;
  const result = await autocannon({
    url: `https://127.0.0.1:${port}/validate`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: reviewBody(),
    // A new body per request for `miss`; the bare server it is compared with gets the same.
    ...(next === undefined
      ? {}
      : { requests: [{ setupRequest: (request) => ({ ...request, body: next() }) }] }),
    connections: CONNECTIONS,
    duration: SATURATION_SECONDS,
    ...options,
  });
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed > 0) {
    console.log(`  ERRORS: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`);
  }
  return result;
}

/** The review bodies of a fixed-rate run: the same one (`hit`) or each one new (`miss`). */
function bodies(reviews: Reviews): () => Buffer {
  if (reviews === 'hit') {
    const same = Buffer.from(reviewBody());
    return () => same;
  }
  const next = missingReviews();
  return () => Buffer.from(next());
}

function stolenShare(stolen: readonly number[]): string {
  return stolen.length === 0 ? 'n/a' : `${(mean(stolen) * 100).toFixed(0)}%`;
}

function sampleMemory(child: ChildProcess): Promise<Sample> {
  return new Promise((resolve) => {
    child.once('message', (message: { sample: Sample }) => {
      resolve(message.sample);
    });
    child.send('sample');
  });
}

async function main(): Promise<void> {
  const body = reviewBody();
  console.log(
    `webhook vs bare node:https, Node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()[0]?.toFixed(1)}, AdmissionReview ${(body.length / 1024).toFixed(1)} KiB, keep-alive TLS, ${CONNECTIONS} connections`,
  );
  let errors = 0;
  const variants = [
    { name: 'bare', kind: 'bare', reviews: 'hit' },
    { name: 'webhook', kind: 'webhook', reviews: 'hit' },
    { name: 'webhook-express', kind: 'webhook-express', reviews: 'hit' },
    { name: 'bare-miss', kind: 'bare', reviews: 'miss' },
    { name: 'webhook-miss', kind: 'webhook', reviews: 'miss' },
  ] as const;
  const saturation = new Map<string, number>();
  // Interleave rounds so that load from other work on the machine hits all alike; best of each.
  for (const round of [1, 2, 3]) {
    for (const variant of variants) {
      const { child, port } = await startServer(variant.kind);
      await load(port, variant.reviews, { duration: 2 }); // warm-up: JIT, TLS sessions
      const result = await load(port, variant.reviews, {});
      errors += result.errors + result.timeouts + result.non2xx;
      saturation.set(variant.name, Math.max(saturation.get(variant.name) ?? 0, result.requests.average));
      console.log(
        `  round ${round} ${variant.name.padEnd(15)}: ${Math.round(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, load average ${loadavg()[0]?.toFixed(1)}`,
      );
      child.send('stop');
    }
  }
  const best = (name: string) => saturation.get(name) ?? 0;
  const ratio = best('webhook') / best('bare');
  const missRatio = best('webhook-miss') / best('bare-miss');
  const expressRatio = best('webhook-express') / best('bare');
  console.log(
    `saturation: webhook ${Math.round(best('webhook'))} req/s, bare ${Math.round(best('bare'))} req/s, ratio ${ratio.toFixed(2)}x (target >= 0.50x): ${verdict(ratio >= 0.5)}`,
  );
  console.log(
    `saturation, a new kubeconfig in every review: webhook ${Math.round(best('webhook-miss'))} req/s, bare ${Math.round(best('bare-miss'))} req/s, ratio ${missRatio.toFixed(2)}x (target >= 0.40x): ${verdict(missRatio >= 0.4)}`,
  );
  console.log(
    `for ADR 0002, /validate behind express: ${Math.round(best('webhook-express'))} req/s, ${expressRatio.toFixed(2)}x the bare server, ${(best('webhook-express') / best('webhook')).toFixed(2)}x the webhook`,
  );

  // Server CPU per review at a fixed rate: less sensitive to other load than throughput, and
  // what ADR 0002 decides by. Each variant alone, after a warm-up, over 10,000 requests.
  const cpuPerReview = new Map<string, number>();
  for (const variant of variants) {
    const { child, port } = await startServer(variant.kind);
    await fixedRate(port, CPU_RATE, 2, bodies(variant.reviews));
    const before = await sampleMemory(child);
    const run = await fixedRate(port, CPU_RATE, CPU_SECONDS, bodies(variant.reviews));
    const after = await sampleMemory(child);
    child.send('stop');
    errors += run.errors;
    cpuPerReview.set(variant.name, (after.cpuUs - before.cpuUs) / run.sent);
  }
  const cpu = (name: string) => cpuPerReview.get(name) ?? 0;
  console.log(
    `server CPU per review at ${CPU_RATE} req/s: ${variants.map(({ name }) => `${name} ${Math.round(cpu(name))} µs`).join(', ')}; express's share: ${Math.round(cpu('webhook-express') - cpu('webhook'))} µs; the cache miss costs ${Math.round(cpu('webhook-miss') - cpu('webhook'))} µs more`,
  );
  console.log(
    `capacity from CPU per review (bare / variant): webhook ${(cpu('bare') / cpu('webhook')).toFixed(2)}x, webhook-express ${(cpu('bare') / cpu('webhook-express')).toFixed(2)}x, webhook-miss ${(cpu('bare-miss') / cpu('webhook-miss')).toFixed(2)}x`,
  );

  // The machine's own noise floor: the bare server at the same rate, interleaved with the webhook
  // in segments, so that the machine's stalls (every few seconds on a shared VM) and the
  // hypervisor's steal hit both alike; each gets FIXED_SECONDS in all.
  const bare = await startServer('bare');
  const { child, port } = await startServer('webhook');
  await load(bare.port, 'hit', { duration: 2 });
  await load(port, 'hit', { duration: 2 });
  const samples: Sample[] = [await sampleMemory(child)];
  const sampler = setInterval(() => {
    void sampleMemory(child).then((sample) => samples.push(sample));
  }, 5000);
  const ms = (us: number) => (us / 1000).toFixed(2);
  const p99Of = (runs: readonly FixedRateResult[]) => percentile(pooled(runs).latenciesUs, 99) / 1000;
  // An attempt whose bare server misses the target was run on a machine too noisy to show it
  // (the stalls hit both processes at once): try again, up to FIXED_ATTEMPTS. What ends the
  // retries and picks the attempt is the bare server's p99 alone, never the webhook's.
  const attempts: Attempt[] = [];
  for (let attempt = 1; attempt <= FIXED_ATTEMPTS; attempt += 1) {
    const floor: FixedRateResult[] = [];
    const fixed: FixedRateResult[] = [];
    const steal = { bare: [] as number[], webhook: [] as number[] };
    for (let segment = 0; segment < FIXED_SEGMENTS; segment += 1) {
      for (const [runs, target, stolen] of [
        [floor, bare.port, steal.bare],
        [fixed, port, steal.webhook],
      ] as const) {
        const before = cpuTimes();
        runs.push(await fixedRate(target, FIXED_RATE, FIXED_SECONDS / FIXED_SEGMENTS));
        const share = stealShare(before, cpuTimes());
        if (share !== undefined) stolen.push(share);
      }
    }
    const run: Attempt = { floor, fixed, steal, p99: { bare: p99Of(floor), webhook: p99Of(fixed) } };
    attempts.push(run);
    errors += [...floor, ...fixed].reduce((sum, segment) => sum + segment.errors, 0);
    console.log(
      `  attempt ${attempt}: p99 bare ${run.p99.bare.toFixed(2)} ms, webhook ${run.p99.webhook.toFixed(2)} ms; CPU stolen by the hypervisor ${stolenShare(steal.bare)} / ${stolenShare(steal.webhook)}`,
    );
    if (run.p99.bare <= 2) break;
  }
  clearInterval(sampler);
  samples.push(await sampleMemory(child));
  bare.child.send('stop');
  child.send('stop');
  const chosen = attempts.reduce((best, run) => (run.p99.bare < best.p99.bare ? run : best));
  const { floor, fixed, steal } = chosen;
  const bareRun = pooled(floor);
  const webhookRun = pooled(fixed);
  const summary = (result: FixedRateResult, stolen: readonly number[]) =>
    `${result.sent} requests, ${result.errors} errors, p50 ${ms(percentile(result.latenciesUs, 50))} ms, p90 ${ms(percentile(result.latenciesUs, 90))} ms, p99 ${ms(percentile(result.latenciesUs, 99))} ms, max ${ms(result.latenciesUs.at(-1) ?? 0)} ms, CPU stolen by the hypervisor ${stolenShare(stolen)}`;
  const { bare: bareP99, webhook: p99 } = chosen.p99;
  console.log(
    `fixed ${FIXED_RATE} req/s, ${FIXED_SEGMENTS} segments of ${FIXED_SECONDS / FIXED_SEGMENTS}s each, interleaved; attempt ${attempts.indexOf(chosen) + 1} of ${attempts.length}, the one with the lowest bare p99:`,
  );
  console.log(`  bare (reference): ${summary(bareRun, steal.bare)}`);
  console.log(`  webhook: ${summary(webhookRun, steal.webhook)}`);
  console.log(
    `  segment p99s, bare / webhook: ${floor.map((run, index) => `${ms(percentile(run.latenciesUs, 99))} / ${ms(percentile(fixed[index]?.latenciesUs ?? [], 99))}`).join(', ')} ms`,
  );
  console.log(
    `fixed ${FIXED_RATE} req/s, webhook p99 ${p99.toFixed(2)} ms (target p99 <= 2 ms): ${verdict(p99 <= 2)}${
      p99 > 2 && bareP99 > 2
        ? `; the bare server, which only parses the body, misses it too (p99 ${bareP99.toFixed(2)} ms): this machine cannot show the target`
        : ''
    }`,
  );
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  const rss = samples.map((sample) => sample.rss);
  const heap = samples.map((sample) => sample.heapUsed);
  // RSS saws up and down with the garbage collector, so first against last sample measures where
  // the saw stood; a leak lifts the peaks: compare the highest of the later half with the earlier.
  const settled = rss.slice(Math.floor(rss.length / 3));
  const half = Math.ceil(settled.length / 2);
  const growth = Math.max(...settled.slice(half)) - Math.max(...settled.slice(0, half));
  const flat = growth < 16 * 1024 * 1024;
  console.log(
    `memory over the run: RSS ${rss.map(mib).join(' ')} MiB; heap used ${heap.map(mib).join(' ')} MiB; RSS peak growth after warm-up ${mib(growth)} MiB (target flat, < 16 MiB): ${verdict(flat)}`,
  );
  console.log(`errors: ${errors} (target 0): ${verdict(errors === 0)}`);
  console.log(
    `load average at the end: ${loadavg()
      .map((value) => value.toFixed(1))
      .join(' ')}`,
  );
  process.exitCode = ratio >= 0.5 && missRatio >= 0.4 && p99 <= 2 && errors === 0 && flat ? 0 : 1;
}

if (process.argv[2] === 'serve') await serve(process.argv[3] as Kind);
else await main();
