// `kubectl remote-secret audit` of 1,000 and 10,000 multicluster secrets stored in a local test
// cluster (kube-testenv), end to end: the built plugin lists page by page, decides, and renders.
// Baseline in the same run: `kubectl get secrets -l istio/multiCluster=true -o json` of the same
// namespace (the list alone). Also the decide-only part, in process, on the same objects.
// Targets (issue 7): 10k end to end <= 3 s, peak memory < 300 MB and growing linearly.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type * as Audit from '../shared/audit/audit.ts';
import type * as Manifests from '../shared/remote-secret/manifests.ts';
import { startCluster, stopAllClusters } from '../test/harness/cluster.ts';
import { ensureTestenvBinary } from '../test/harness/testenv-binary.ts';
import { median, verdict } from './measure.ts';
import { store } from './stored-secrets.ts';

// Measure the compiled code users run (npm run build), not a transpile-on-the-fly copy.
const compiledAudit = '../dist/shared/audit/audit.js';
const compiledManifests = '../dist/shared/remote-secret/manifests.js';
const { Auditor } = (await import(compiledAudit)) as typeof Audit;
const { readRemoteSecretObject } = (await import(compiledManifests)) as typeof Manifests;

const plugin = fileURLToPath(new URL('../bin/kubectl-remote_secret', import.meta.url));
const runs = Number(process.env['BENCH_RUNS'] ?? 5);
const sizes = [1_000, 10_000];

interface Timed {
  readonly ms: number;
  readonly maxRssKb: number;
  readonly stdout: string;
}

/** Wall time and peak RSS (GNU time) of one command; its exit status must be in `ok`. */
function timed(command: string, args: readonly string[], ok: readonly number[], nodeOptions = ''): Timed {
  const start = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', command, ...args], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    env: { ...process.env, KUBECONFIG: '', NODE_OPTIONS: nodeOptions },
  });
  const ms = performance.now() - start;
  if (result.status === null || !ok.includes(result.status)) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${String(result.status)}: ${result.stderr.slice(-500)}`,
    );
  }
  const maxRssKb = Number(result.stderr.trim().split('\n').at(-1));
  return { ms, maxRssKb, stdout: result.stdout };
}

const binary = await ensureTestenvBinary();
const cluster = await startCluster('bench-audit', { binaryPath: binary.path, log: () => undefined });
try {
  const rows: string[] = [];
  let pass = true;
  for (const size of sizes) {
    const namespace = `bench-${String(size)}`;
    const storeStart = performance.now();
    await store(cluster, namespace, size);
    const storeMs = performance.now() - storeStart;
    const kubeArgs = ['--kubeconfig', cluster.kubeconfigPath];
    const auditArgs = (output: string) => ['audit', ...kubeArgs, '-n', namespace, '-o', output];
    const getArgs = [
      ...kubeArgs,
      'get',
      'secrets',
      '-n',
      namespace,
      '-l',
      'istio/multiCluster=true',
      '-o',
      'json',
    ];
    // Warm-up (compile cache, API server caches), then interleaved runs.
    timed(plugin, auditArgs('json'), [1]);
    timed('kubectl', getArgs, [0]);
    const get: Timed[] = [];
    const json: Timed[] = [];
    const table: Timed[] = [];
    // The same, with a small young generation: each page's objects die with the page.
    const small: Timed[] = [];
    for (let run = 0; run < runs; run += 1) {
      get.push(timed('kubectl', getArgs, [0]));
      json.push(timed(plugin, auditArgs('json'), [1]));
      table.push(timed(plugin, auditArgs('table'), [1]));
      small.push(timed(plugin, auditArgs('json'), [1], '--max-semi-space-size=8'));
    }
    const report = JSON.parse(json[0]?.stdout ?? '{}') as {
      summary?: { secrets?: number };
      clusters?: { status: string }[];
    };
    const rejected = report.clusters?.filter((row) => row.status === 'violation').length;
    if (report.summary?.secrets !== size || rejected !== size / 100) {
      throw new Error(`audit found ${JSON.stringify(report.summary)} in ${namespace}`);
    }

    // Decide only: the objects kubectl listed, read and audited in process (no list, no render).
    const listed = (JSON.parse(get[0]?.stdout ?? '{}') as { items: unknown[] }).items;
    const decideMs: number[] = [];
    for (let run = 0; run < runs; run += 1) {
      const start = performance.now();
      const auditor = new Auditor({ allow: new Set(), now: new Date(), expiringWithinMs: 7 * 86_400_000 });
      for (const item of listed) {
        const read = readRemoteSecretObject(item, 'bench');
        auditor.add(read.secrets, read.errors);
      }
      auditor.report();
      decideMs.push(performance.now() - start);
    }

    const med = (values: readonly Timed[], pick: (t: Timed) => number) => median(values.map(pick));
    const jsonMs = med(json, (t) => t.ms);
    const rssMb = Math.max(...json.map((t) => t.maxRssKb), ...table.map((t) => t.maxRssKb)) / 1024;
    if (size === 10_000) pass = jsonMs <= 3000 && rssMb < 300;
    rows.push(
      `| ${size.toLocaleString('en')} | ${(med(get, (t) => t.ms) / 1000).toFixed(2)} s | ${(jsonMs / 1000).toFixed(2)} s | ${(med(table, (t) => t.ms) / 1000).toFixed(2)} s | ${(median(decideMs) / 1000).toFixed(2)} s | ${(jsonMs / med(get, (t) => t.ms)).toFixed(2)}x | ${rssMb.toFixed(0)} MB | ${(med(small, (t) => t.ms) / 1000).toFixed(2)} s, ${(Math.max(...small.map((t) => t.maxRssKb)) / 1024).toFixed(0)} MB | ${(storeMs / 1000).toFixed(0)} s |`,
    );
  }
  console.log(`audit end to end, median of ${String(runs)} interleaved runs, Node ${process.version}`);
  console.log(
    '| secrets | kubectl get -o json (baseline) | audit -o json | audit (table) | decide only | audit / baseline | audit peak RSS | -o json, --max-semi-space-size=8 | storing them |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
  console.log(`10k: ${verdict(pass)} (<= 3 s end to end, < 300 MB)`);
} finally {
  await stopAllClusters();
}
