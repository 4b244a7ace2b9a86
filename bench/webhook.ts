// The admission webhook under load on loopback, next to a bare node:https server that parses the
// body and answers a constant allow, measured in the same run. Targets (issue 5): saturation
// throughput >= 0.5x the bare server's; p99 <= 2 ms at a fixed 1,000 requests/s; zero errors;
// memory flat over the fixed-rate run. Each server runs in its own process; autocannon drives it.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Agent, createServer, request } from 'node:https';
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
import { realisticKubeconfig } from './fixtures.ts';
import { verdict } from './measure.ts';

type Kind = 'webhook' | 'bare';
interface Sample {
  readonly rss: number;
  readonly heapUsed: number;
}

const SATURATION_SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const FIXED_SECONDS = Number(process.env['BENCH_FIXED_SECONDS'] ?? 60);
const FIXED_RATE = 1000;
const CONNECTIONS = 16;

/** The AdmissionReview the API server sends for a CREATE of a remote secret with a 3 KB kubeconfig. */
function reviewBody(): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Secret' },
      resource: { group: '', version: 'v1', resource: 'secrets' },
      requestKind: { group: '', version: 'v1', kind: 'Secret' },
      requestResource: { group: '', version: 'v1', resource: 'secrets' },
      name: 'istio-remote-secret-east',
      namespace: 'istio-system',
      operation: 'CREATE',
      userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
      object: {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: {
          name: 'istio-remote-secret-east',
          namespace: 'istio-system',
          uid: '9c6f7a52-2b0c-4c86-9b1e-2f0f8a0b1c11',
          labels: { 'istio/multiCluster': 'true' },
          annotations: { 'networking.istio.io/cluster': 'east' },
          creationTimestamp: '2025-01-01T00:00:00Z',
        },
        data: { east: Buffer.from(realisticKubeconfig()).toString('base64') },
      },
      oldObject: null,
      dryRun: false,
      options: {
        apiVersion: 'meta.k8s.io/v1',
        kind: 'CreateOptions',
        fieldManager: 'kubectl-client-side-apply',
      },
    },
  });
}

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
    const { createWebhookApp, createWebhookServer } = (await compiled('webhook/server.js')) as typeof Server;
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
      // As main.ts runs it; BENCH_NO_CACHE=1 measures a new kubeconfig on every request.
      ...(process.env['BENCH_NO_CACHE'] === '1' ? {} : { cache: new cache.ReviewCache() }),
      clusterIds: new scope.ClusterIdScope(),
    };
    const app = createWebhookApp({
      admission: options,
      indexSynced: () => true,
      readiness: new LifecycleClass({ notReady: () => undefined }),
      metrics: createMetrics(() => index),
      log: pino({ level: 'info' }, pino.destination('/dev/null')),
      record: () => undefined,
      requestTimeoutMs: 3000,
    });
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
      process.send?.({ sample: { rss: usage.rss, heapUsed: usage.heapUsed } satisfies Sample });
    }
  });
}

// ---- the load generator (this process) ----

async function startServer(kind: Kind): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['serve', kind], { stdio: 'inherit' });
  const [message] = (await once(child, 'message')) as [{ port: number }];
  return { child, port: message.port };
}

async function load(port: number, options: Partial<autocannon.Options>): Promise<autocannon.Result> {
  const result = await autocannon({
    url: `https://127.0.0.1:${port}/validate`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: reviewBody(),
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

interface FixedRateResult {
  readonly sent: number;
  readonly errors: number;
  /** Microseconds from each request's send to the end of its response, sorted. */
  readonly latenciesUs: number[];
}

/**
 * Our own open-loop generator for the latency target: requests go out at `rate` per second on
 * schedule whatever the answers do (autocannon times in whole milliseconds, too coarse for a
 * 2 ms target), over keep-alive TLS, each timed with hrtime in microseconds.
 */
async function fixedRate(port: number, rate: number, seconds: number): Promise<FixedRateResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });
  const body = Buffer.from(reviewBody());
  const latenciesUs: number[] = [];
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
        const sentAt = process.hrtime.bigint();
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: '/validate',
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': body.length },
          },
          (res) => {
            res.resume();
            res.on('end', () => {
              latenciesUs.push(Number(process.hrtime.bigint() - sentAt) / 1000);
              if (res.statusCode !== 200) errors += 1;
              finish();
            });
          },
        );
        req.on('error', () => {
          errors += 1;
          finish();
        });
        req.end(body);
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  agent.destroy();
  latenciesUs.sort((a, b) => a - b);
  return { sent, errors, latenciesUs };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
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
  const saturation: Record<Kind, number> = { webhook: 0, bare: 0 };
  // Interleave rounds so that load from other work on the machine hits both alike; best of each.
  for (const round of [1, 2, 3]) {
    for (const kind of ['bare', 'webhook'] as const) {
      const { child, port } = await startServer(kind);
      await load(port, { duration: 2 }); // warm-up: JIT, TLS sessions
      const result = await load(port, {});
      errors += result.errors + result.timeouts + result.non2xx;
      saturation[kind] = Math.max(saturation[kind], result.requests.average);
      console.log(
        `  round ${round} ${kind.padEnd(7)}: ${Math.round(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`,
      );
      child.send('stop');
    }
  }
  const ratio = saturation.webhook / saturation.bare;
  console.log(
    `saturation: webhook ${Math.round(saturation.webhook)} req/s, bare ${Math.round(saturation.bare)} req/s, ratio ${ratio.toFixed(2)}x (target >= 0.50x): ${verdict(ratio >= 0.5)}`,
  );

  // The machine's own noise floor at the fixed rate: the bare server, same generator, same rate.
  const bare = await startServer('bare');
  const floor = await fixedRate(bare.port, FIXED_RATE, Math.max(5, Math.round(FIXED_SECONDS / 4)));
  bare.child.send('stop');
  errors += floor.errors;

  const { child, port } = await startServer('webhook');
  await load(port, { duration: 2 });
  const samples: Sample[] = [await sampleMemory(child)];
  const sampler = setInterval(() => {
    void sampleMemory(child).then((sample) => samples.push(sample));
  }, 5000);
  const fixed = await fixedRate(port, FIXED_RATE, FIXED_SECONDS);
  clearInterval(sampler);
  samples.push(await sampleMemory(child));
  child.send('stop');
  errors += fixed.errors;
  const ms = (us: number) => (us / 1000).toFixed(2);
  const summary = (result: FixedRateResult) =>
    `${result.sent} requests, ${result.errors} errors, p50 ${ms(percentile(result.latenciesUs, 50))} ms, p90 ${ms(percentile(result.latenciesUs, 90))} ms, p99 ${ms(percentile(result.latenciesUs, 99))} ms, max ${ms(result.latenciesUs.at(-1) ?? 0)} ms`;
  const p99 = percentile(fixed.latenciesUs, 99) / 1000;
  console.log(`fixed ${FIXED_RATE} req/s, bare (reference): ${summary(floor)}`);
  console.log(
    `fixed ${FIXED_RATE} req/s for ${FIXED_SECONDS}s, webhook: ${summary(fixed)} (target p99 <= 2 ms): ${verdict(p99 <= 2)}`,
  );
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  const rss = samples.map((sample) => sample.rss);
  const heap = samples.map((sample) => sample.heapUsed);
  const settled = rss.slice(Math.floor(rss.length / 3));
  const growth = (settled.at(-1) ?? 0) - (settled[0] ?? 0);
  const flat = growth < 16 * 1024 * 1024;
  console.log(
    `memory over the run: RSS ${rss.map(mib).join(' ')} MiB; heap used ${heap.map(mib).join(' ')} MiB; RSS growth after warm-up ${mib(growth)} MiB (target flat, < 16 MiB): ${verdict(flat)}`,
  );
  console.log(`errors: ${errors} (target 0): ${verdict(errors === 0)}`);
  process.exitCode = ratio >= 0.5 && p99 <= 2 && errors === 0 && flat ? 0 : 1;
}

if (process.argv[2] === 'serve') await serve(process.argv[3] as Kind);
else await main();
