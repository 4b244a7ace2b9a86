// What a background audit pass costs admission (issue 15): the built webhook process on a local
// test cluster (kube-testenv) holding 10,000 remote secrets, answering AdmissionReviews at a
// fixed rate while its background audit lists and decides all of them. Baseline in the same run:
// the same requests to the same process between passes.
// Targets: event-loop delay during a pass <= 10 ms at p99 (the pass measures it with
// perf_hooks.monitorEventLoopDelay and logs it), and admission p99 during a pass <= 2x idle.
import { readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { writeTlsFixture } from '../webhook/testdata/tls.ts';
import { startCluster, stopAllClusters } from '../test/harness/cluster.ts';
import { ensureTestenvBinary } from '../test/harness/testenv-binary.ts';
import { startWebhookProcess, stopWebhookProcess, type WebhookProcess } from '../test/harness/webhook.ts';
import { fixedRate, percentile } from './fixed-rate.ts';
import { verdict } from './measure.ts';
import { store } from './stored-secrets.ts';

const SECRETS = Number(process.env['BENCH_SECRETS'] ?? 10_000);
const RATE = 200;
const INTERVAL_SECONDS = 15;
const PAGE_SIZE = process.env['BENCH_PAGE_SIZE'] ?? '100';
/** Requests this close to a pass's start or end count for neither side. */
const MARGIN_MS = 250;
const NAMESPACE = 'istio-system';

interface PassLine {
  readonly time: number;
  readonly msg: string;
  readonly seconds?: number;
  readonly secrets?: number;
  readonly eventLoopDelayP99Ms?: number;
  readonly eventLoopDelayMaxMs?: number;
}

function logLines(webhook: WebhookProcess, msg: string): PassLine[] {
  return webhook
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes(msg))
    .map((line) => JSON.parse(line) as PassLine);
}

function passes(webhook: WebhookProcess): PassLine[] {
  return logLines(webhook, 'background audit pass done');
}

/** The process's resident set (VmRSS), in bytes. */
function rss(pid: number | undefined): number {
  const status = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const binary = await ensureTestenvBinary();
const cluster = await startCluster('bench-audit-pass', { binaryPath: binary.path, log: () => undefined });
const tls = writeTlsFixture();
let webhook: WebhookProcess | undefined;
try {
  const storeStart = performance.now();
  await store(cluster, NAMESPACE, SECRETS);
  const storeSeconds = (performance.now() - storeStart) / 1000;
  webhook = await startWebhookProcess({
    tls,
    kubeconfigPath: cluster.kubeconfigPath,
    mode: 'enforce',
    localClusterId: 'primary',
    namespace: NAMESPACE,
    extraArgs: [
      ...['--audit-interval', String(INTERVAL_SECONDS), '--audit-page-size', PAGE_SIZE],
      ...['--log-level', 'debug', '--no-events'],
    ],
  });
  const running = webhook;
  // The first pass runs soon after start; measure from its end, over two more.
  await until(() => passes(running).length >= 1, 120_000, 'the first background audit pass');
  const measuredFrom = Date.now();
  const seconds = INTERVAL_SECONDS * 2 + 10;
  const memory: { time: number; rss: number }[] = [];
  const sampler = setInterval(() => {
    memory.push({ time: Date.now(), rss: rss(running.pid) });
  }, 100);
  const load = await fixedRate(running.port, RATE, seconds);
  clearInterval(sampler);
  // A pass ends when its results are published (gauges, Events, reports), on the main thread.
  const published = logLines(running, 'background audit published');
  const windows = passes(running)
    .filter((pass) => pass.time > measuredFrom)
    .map((pass) => ({
      ...pass,
      start: pass.time - (pass.seconds ?? 0) * 1000,
      end: published.find((line) => line.time >= pass.time)?.time ?? pass.time,
    }));
  if (windows.length === 0) throw new Error('no background audit pass ran while the load ran');
  const during: number[] = [];
  const listing: number[] = [];
  const publishing: number[] = [];
  const idle: number[] = [];
  for (const { sentAtMs, latencyUs } of load.timed) {
    const inside = windows.some((pass) => sentAtMs >= pass.start && sentAtMs <= pass.end);
    const near = windows.some(
      (pass) => sentAtMs >= pass.start - MARGIN_MS && sentAtMs <= pass.end + MARGIN_MS,
    );
    if (inside) during.push(latencyUs);
    if (windows.some((pass) => sentAtMs >= pass.start && sentAtMs < pass.time)) listing.push(latencyUs);
    else if (inside) publishing.push(latencyUs);
    else if (!near) idle.push(latencyUs);
  }
  during.sort((a, b) => a - b);
  idle.sort((a, b) => a - b);
  const ms = (us: number) => (us / 1000).toFixed(2);
  const idleP99 = percentile(idle, 99);
  const duringP99 = percentile(during, 99);
  const worstLoopP99 = Math.max(...windows.map((pass) => pass.eventLoopDelayP99Ms ?? Infinity));
  console.log(
    `background audit pass vs admission, Node ${process.version}, ${String(cpus().length)} CPUs, load average ${loadavg()[0]?.toFixed(1) ?? '?'}; ${SECRETS.toLocaleString('en')} stored secrets (stored in ${storeSeconds.toFixed(0)} s), ${String(RATE)} reviews/s for ${String(seconds)} s`,
  );
  console.log('| pass | secrets | took | published after | event-loop delay p99 | max | RSS peak |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
  const peak = (from: number, to: number) =>
    Math.max(0, ...memory.filter(({ time }) => time >= from && time <= to).map((sample) => sample.rss));
  for (const [index, pass] of windows.entries()) {
    console.log(
      `| ${String(index + 1)} | ${String(pass.secrets)} | ${(pass.seconds ?? 0).toFixed(2)} s | ${String(pass.end - pass.time)} ms | ${(pass.eventLoopDelayP99Ms ?? 0).toFixed(1)} ms | ${(pass.eventLoopDelayMaxMs ?? 0).toFixed(1)} ms | ${mib(peak(pass.start, pass.end + 1000))} |`,
    );
  }
  for (const line of logLines(running, 'background audit worker done') as (PassLine & {
    worker?: { changed: number; heapUsed: number; heapTotal: number; nice?: number };
  })[]) {
    const { worker } = line;
    if (worker === undefined) continue;
    console.log(
      `  worker: ${String(worker.changed)} statuses sent (the rest unchanged since its last pass), heap ${mib(worker.heapUsed)} used of ${mib(worker.heapTotal)}, nice ${String(worker.nice)}`,
    );
  }
  console.log(
    `  memory trims after connection bursts during the run: ${String(logLines(running, 'returned the memory of closed connections').length)}`,
  );
  const between = memory.filter(({ time }) =>
    windows.every((pass) => time < pass.start || time > pass.end + 1000),
  );
  console.log(
    `RSS between passes: ${mib(Math.min(...between.map((sample) => sample.rss)))} to ${mib(Math.max(...between.map((sample) => sample.rss)))}; the process's peak ${mib(Math.max(...memory.map((sample) => sample.rss)))} (the Deployment's limit is 256 MiB)`,
  );
  console.log(
    `admission idle (baseline): ${String(idle.length)} requests, p50 ${ms(percentile(idle, 50))} ms, p99 ${ms(idleP99)} ms`,
  );
  console.log(
    `admission during a pass:   ${String(during.length)} requests, p50 ${ms(percentile(during, 50))} ms, p99 ${ms(duringP99)} ms, max ${ms(during.at(-1) ?? 0)} ms`,
  );
  listing.sort((a, b) => a - b);
  publishing.sort((a, b) => a - b);
  console.log(
    `  of which while listing and deciding: ${String(listing.length)}, p99 ${ms(percentile(listing, 99))} ms, max ${ms(listing.at(-1) ?? 0)} ms; while publishing: ${String(publishing.length)}, max ${ms(publishing.at(-1) ?? 0)} ms`,
  );
  console.log(`errors: ${String(load.errors)}`);
  const ratio = duringP99 / idleP99;
  console.log(
    `event-loop delay p99 during a pass: ${worstLoopP99.toFixed(1)} ms: ${verdict(worstLoopP99 <= 10)} (<= 10 ms)`,
  );
  console.log(`admission p99 during a pass / idle: ${ratio.toFixed(2)}x: ${verdict(ratio <= 2)} (<= 2x)`);
  if (load.errors > 0 || during.length === 0) process.exitCode = 1;
} finally {
  await stopWebhookProcess(webhook);
  rmSync(tls.dir, { recursive: true, force: true });
  await stopAllClusters();
}
