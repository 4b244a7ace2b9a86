// Memory under bursts of concurrent TLS connections (issue 15). The built webhook runs as the image
// runs it: the bundle, the ENTRYPOINT's Node flags and the final stage's ENV from the Dockerfile,
// the Deployment's settings, against a stand-in API server (webhook/testdata/fake-apiserver.ts) so
// that its index syncs. Bursts of 500, 2,000 and 5,000 connections on 127.0.0.1 each send one
// AdmissionReview and stay open until the whole burst has its answers (the API server keeps its
// connections alive), then close. Per burst: RSS at rest before it, its peak (VmRSS polled every
// 20 ms from /proc) and RSS once it is over, against the Deployment's memory limit, with refused and
// failed connections. Baseline in the same run: the same process as it was before issue 15
// (`--max-connections 0`: no limit; its timeouts are today's). Targets, with the shipped settings: every peak under the
// limit; RSS after a burst on a plateau that does not grow with the burst (the last burst's
// level within 16 MiB of the first's: glibc keeps what the connections used, for the next ones,
// so it does not drop back to the resting level, see docs/webhook.md); no accepted connection
// failing.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { finalStage, parseDockerfile } from '../test/harness/dockerfile.ts';
import { startFakeApiServer } from '../webhook/testdata/fake-apiserver.ts';
import { send } from '../webhook/testdata/client.ts';
import { writeTlsFixture, type TlsFixture } from '../webhook/testdata/tls.ts';
import { reviewBody } from './fixtures.ts';
import { verdict } from './measure.ts';

const ROOT = new URL('..', import.meta.url);
const NODE = fileURLToPath(new URL('node_modules/node/bin/node', ROOT));
const BUNDLE = fileURLToPath(new URL('dist/remote-secret-webhook.mjs', ROOT));
const BURSTS = (process.env['BENCH_BURSTS'] ?? '500,2000,5000').split(',').map(Number);
/** How long after a burst closes its last connection RSS is read again. */
const SETTLE_MS = Number(process.env['BENCH_SETTLE_MS'] ?? 5000);
const CONNECT_TIMEOUT_MS = 30_000;
const MIB = 1024 * 1024;

interface Variant {
  readonly name: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

interface BurstResult {
  readonly connections: number;
  readonly restRss: number;
  readonly peakRss: number;
  readonly afterRss: number;
  readonly answered: number;
  /** Closed by the server before the TLS handshake finished: --max-connections at work. */
  readonly refused: number;
  /** Anything else that did not end in a 200: a timeout, an error after the handshake. */
  readonly failed: number;
  /** Failed connections by why. */
  readonly failures: Readonly<Record<string, number>>;
  readonly seconds: number;
  /** V8's heap in use and memory held outside it (Buffers, TLS), after the burst. */
  readonly heapUsed: number;
  readonly external: number;
}

/** The image as the Dockerfile builds it: ENTRYPOINT's Node flags, ENV; and the Deployment's limit. */
function production(): { nodeFlags: string[]; env: Record<string, string>; limitBytes: number } {
  const stage = finalStage(parseDockerfile(readFileSync(new URL('Dockerfile', ROOT), 'utf8')));
  // ["/nodejs/bin/node", ...flags, "/app/remote-secret-webhook.mjs"]
  const nodeFlags = stage.entrypoint.slice(1, -1);
  const deployment = load(readFileSync(new URL('manifests/base/deployment.yaml', ROOT), 'utf8')) as {
    spec: {
      template: {
        spec: {
          containers: {
            env?: { name: string; value?: string }[];
            resources: { limits: { memory: string } };
          }[];
        };
      };
    };
  };
  const container = deployment.spec.template.spec.containers[0];
  if (container === undefined) throw new Error('manifests/base/deployment.yaml has no container');
  const env: Record<string, string> = { ...stage.env };
  for (const entry of container.env ?? []) if (entry.value !== undefined) env[entry.name] = entry.value;
  return { nodeFlags, env, limitBytes: bytesOf(container.resources.limits.memory) };
}

function bytesOf(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity);
  if (match === null) throw new Error(`cannot read the memory limit ${quantity}`);
  const unit = { Ki: 1024, Mi: MIB, Gi: 1024 * MIB }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

interface Webhook {
  readonly child: ChildProcess;
  readonly port: number;
}

async function startWebhook(
  variant: Variant,
  base: ReturnType<typeof production>,
  tls: TlsFixture,
  kubeconfigPath: string,
): Promise<Webhook> {
  const child = spawn(
    NODE,
    [
      ...base.nodeFlags,
      BUNDLE,
      ...['--kubeconfig', kubeconfigPath, '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile],
      ...['--address', '127.0.0.1', '--port', '0', '--no-events', '--audit-interval', '0'],
      ...variant.args,
    ],
    {
      // The Deployment's environment, not this shell's (NODE_OPTIONS, MALLOC_* and the like).
      env: { PATH: process.env['PATH'] ?? '', ...base.env, ...variant.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    let port: number | undefined;
    // Read on (and drop) the log lines after the first: one per decided review.
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (port !== undefined) return;
      output += chunk;
      const line = output.split('\n').find((entry) => entry.includes('remote-secret-webhook listening'));
      if (line === undefined) return;
      port = (JSON.parse(line) as { port: number }).port;
      resolve(port);
    });
    child.on('exit', (code) => {
      reject(new Error(`the webhook exited ${String(code)}: ${output}`));
    });
  });
  // The API server's calls come once the index has synced (the readiness probe passes).
  const ca = tls.ca.certificatePem;
  for (;;) {
    const ready = await send(undefined, { port, ca, path: '/readyz' }).catch(() => undefined);
    if (ready?.status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, port };
}

type Outcome = 'answered' | 'refused' | 'failed';
/** Why a connection failed: the status line of a non-200 answer, an error code, or timeout. */
type Done = (outcome: Outcome, why?: string) => void;

/**
 * One connection: TLS handshake, one POST /validate, read the answer, then hold the connection
 * until `release` resolves (the whole burst is in), then close it.
 */
function oneConnection(
  port: number,
  ca: string,
  request: Buffer,
  release: Promise<void>,
  done: Done,
): Promise<void> {
  return new Promise((resolve) => {
    let settled = false;
    let handshaken = false;
    let response = '';
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    const settle = (outcome: Outcome, why?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(outcome, why);
      void release.then(() => {
        socket.destroy();
      });
    };
    const timer = setTimeout(() => {
      settle('failed', 'timeout');
    }, CONNECT_TIMEOUT_MS);
    socket.on('secureConnect', () => {
      handshaken = true;
      socket.write(request);
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      response += chunk;
      const head = response.indexOf('\r\n\r\n');
      if (head === -1) return;
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(response.slice(0, head))?.[1] ?? 0);
      if (response.length - head - 4 < length) return;
      const status = response.slice(0, response.indexOf('\r\n'));
      settle(status.startsWith('HTTP/1.1 200 ') ? 'answered' : 'failed', status);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      settle(handshaken ? 'failed' : 'refused', error.code ?? error.message);
    });
    socket.on('close', () => {
      settle(handshaken ? 'failed' : 'refused', 'closed');
      resolve();
    });
  });
}

async function burst(webhook: Webhook, ca: string, connections: number): Promise<BurstResult> {
  const pid = webhook.child.pid ?? 0;
  const body = Buffer.from(reviewBody());
  const request = Buffer.concat([
    Buffer.from(
      `POST /validate?timeout=5s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    ),
    body,
  ]);
  const restRss = rssOf(pid);
  let peakRss = restRss;
  const poll = setInterval(() => {
    peakRss = Math.max(peakRss, rssOf(pid));
  }, 20);
  const counts = { answered: 0, refused: 0, failed: 0 };
  const failures: Record<string, number> = {};
  let pending = connections;
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const start = performance.now();
  const closed: Promise<void>[] = [];
  for (let i = 0; i < connections; i += 1) {
    closed.push(
      oneConnection(webhook.port, ca, request, released, (outcome, why) => {
        counts[outcome] += 1;
        if (outcome === 'failed') failures[why ?? '?'] = (failures[why ?? '?'] ?? 0) + 1;
        pending -= 1;
        if (pending === 0) release();
      }),
    );
  }
  await Promise.all(closed);
  const seconds = (performance.now() - start) / 1000;
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  clearInterval(poll);
  const afterRss = rssOf(pid);
  const heapUsed = await metric(webhook, ca, 'nodejs_heap_size_used_bytes');
  const external = await metric(webhook, ca, 'nodejs_external_memory_bytes');
  return {
    connections,
    restRss,
    peakRss: Math.max(peakRss, afterRss),
    afterRss,
    ...counts,
    failures,
    seconds,
    heapUsed,
    external,
  };
}

async function metric(webhook: Webhook, ca: string, name: string): Promise<number> {
  const text = (await send(undefined, { port: webhook.port, ca, path: '/metrics' })).body;
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

async function main(): Promise<void> {
  const base = production();
  const tls = writeTlsFixture();
  const api = await startFakeApiServer(tls.dir);
  const ca = tls.ca.certificatePem;
  const mib = (bytes: number) => `${(bytes / MIB).toFixed(0)} MiB`;
  console.log(
    `webhook RSS under bursts of concurrent TLS connections, Node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()[0]?.toFixed(1)}; image: node ${base.nodeFlags.join(' ')}, ENV ${Object.entries(
      base.env,
    )
      .filter(([name]) => !name.startsWith('REMOTE_SECRET_WEBHOOK_'))
      .map(([name, value]) => `${name}=${value}`)
      .join(' ')}; memory limit ${mib(base.limitBytes)}`,
  );
  const variants: Variant[] = [
    // As the webhook was before issue 15: no connection limit, glibc's default arenas.
    { name: 'before', args: ['--max-connections', '0'], env: {} },
    { name: 'shipped', args: [], env: {} },
    ...(process.env['BENCH_VARIANTS'] === undefined
      ? []
      : (JSON.parse(process.env['BENCH_VARIANTS']) as Variant[])),
  ];
  const only = process.env['BENCH_ONLY']?.split(',');
  const results = new Map<string, { first: number; bursts: BurstResult[]; refusedMetric: number }>();
  try {
    for (const variant of variants.filter(({ name }) => only === undefined || only.includes(name))) {
      const webhook = await startWebhook(variant, base, tls, api.kubeconfigPath);
      try {
        const first = rssOf(webhook.child.pid ?? 0);
        const bursts: BurstResult[] = [];
        for (const connections of BURSTS) {
          const result = await burst(webhook, ca, connections);
          bursts.push(result);
          console.log(
            `  ${variant.name.padEnd(8)} ${String(connections).padStart(5)} connections: RSS at rest ${mib(result.restRss)}, peak ${mib(result.peakRss)} (${((result.peakRss / base.limitBytes) * 100).toFixed(0)}% of the limit), after ${mib(result.afterRss)} (JS heap ${mib(result.heapUsed)}, external ${mib(result.external)}); ${result.answered} answered, ${result.refused} refused, ${result.failed} failed${result.failed === 0 ? '' : ` (${JSON.stringify(result.failures)})`}, ${result.seconds.toFixed(1)} s`,
          );
        }
        const refusedMetric = await metric(webhook, ca, 'remote_secret_webhook_connections_refused_total');
        const errors = (await send(undefined, { port: webhook.port, ca, path: '/metrics' })).body
          .split('\n')
          .filter((line) => line.startsWith('remote_secret_webhook_http_errors_total{'));
        if (errors.length > 0)
          console.log(`  ${variant.name}: the webhook's own count: ${errors.join(', ')}`);
        results.set(variant.name, { first, bursts, refusedMetric });
      } finally {
        webhook.child.kill('SIGKILL');
      }
    }
  } finally {
    await api.close();
    rmSync(tls.dir, { recursive: true, force: true });
  }

  let ok = true;
  for (const [name, { first, bursts, refusedMetric }] of results) {
    const peak = Math.max(...bursts.map((result) => result.peakRss));
    const last = bursts.at(-1)?.afterRss ?? first;
    const plateau = (bursts.at(-1)?.afterRss ?? first) - (bursts[0]?.afterRss ?? first);
    const flat = plateau <= 16 * MIB;
    const under = peak < base.limitBytes;
    const refused = bursts.reduce((sum, result) => sum + result.refused, 0);
    const failed = bursts.reduce((sum, result) => sum + result.failed, 0);
    console.log(
      `${name}: peak RSS ${mib(peak)} against the ${mib(base.limitBytes)} limit (target under it): ${verdict(under)}`,
    );
    console.log(
      `${name}: RSS at rest ${mib(first)} at start, after each burst ${bursts.map((result) => mib(result.afterRss)).join(', ')}: ${mib(plateau)} more after the last burst than after the first (target <= 16 MiB, a plateau): ${verdict(flat)}`,
    );
    console.log(
      `${name}: ${refused} connections refused (the webhook counted ${refusedMetric} over --max-connections), ${failed} failed (target 0): ${verdict(failed === 0)}; RSS left at the end ${mib(last)}, ${mib(last - first)} over the resting level`,
    );
    if (name === 'shipped') ok = under && flat && failed === 0;
  }
  process.exitCode = ok ? 0 : 1;
}

await main();
