// `kubectl remote-secret create` against a local remote cluster (kube-testenv), issue 6.
// Overhead = wall time of `create` minus the time the token controller took to fill the token,
// both from the same run: a watch on the remote records when the new token Secret appears and
// when it is filled. Target: <= 1 s. Also: start-up of `--help` against `kubectl version
// --client` in the same run (target <= 2x), and a re-run that has nothing to create.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Watch } from '@kubernetes/client-node';
import { startCluster, stopAllClusters } from '../test/harness/cluster.ts';
import { ensureTestenvBinary } from '../test/harness/testenv-binary.ts';
import { median, verdict } from './measure.ts';

const plugin = fileURLToPath(new URL('../bin/kubectl-remote_secret', import.meta.url));
const runs = Number(process.env['BENCH_RUNS'] ?? 8);
const startupRuns = Number(process.env['BENCH_STARTUP_RUNS'] ?? 20);

function time(command: string, args: string[]): { ms: number; stdout: string } {
  const start = performance.now();
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '' } });
  const ms = performance.now() - start;
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${String(result.status)}: ${result.stderr}`);
  return { ms, stdout: result.stdout };
}

// --- start-up: --help against kubectl version --client, interleaved; the first run of each warms caches.
time('kubectl', ['version', '--client']);
time(plugin, ['--help']);
const kubectlMs: number[] = [];
const helpMs: number[] = [];
for (let run = 0; run < startupRuns; run += 1) {
  kubectlMs.push(time('kubectl', ['version', '--client']).ms);
  helpMs.push(time(plugin, ['--help']).ms);
}
const startupRatio = median(helpMs) / median(kubectlMs);

// --- create against a real remote.
const binary = await ensureTestenvBinary();
const remote = await startCluster('bench-remote', { binaryPath: binary.path, log: () => undefined });
try {
  /** When each token Secret was first seen without, then with, its token (arrival times here). */
  const seen = new Map<string, { created?: number; filled?: number }>();
  const watch = await new Watch(remote.kubeConfig).watch(
    '/api/v1/secrets',
    { labelSelector: 'app.kubernetes.io/managed-by=kubectl-remote-secret' },
    (_phase: string, object: { metadata?: { namespace?: string }; data?: Record<string, string> }) => {
      const now = performance.now();
      const key = object.metadata?.namespace ?? '';
      const entry = seen.get(key) ?? {};
      entry.created ??= now;
      if (object.data?.['token'] !== undefined && object.data['ca.crt'] !== undefined) entry.filled ??= now;
      seen.set(key, entry);
    },
    () => undefined,
  );

  const args = (namespace: string) => [
    'create',
    '--kubeconfig',
    remote.kubeconfigPath,
    '--name',
    'bench',
    '-n',
    namespace,
  ];
  time(plugin, args('bench-warmup'));
  const wall: number[] = [];
  const fill: number[] = [];
  const overhead: number[] = [];
  const rerun: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const namespace = `bench-${String(run)}`;
    const created = time(plugin, args(namespace));
    // The watch may deliver the last event a moment after create exits.
    for (let wait = 0; wait < 50 && seen.get(namespace)?.filled === undefined; wait += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const entry = seen.get(namespace);
    if (entry?.created === undefined || entry.filled === undefined)
      throw new Error(`no token events for ${namespace}`);
    const filledMs = entry.filled - entry.created;
    wall.push(created.ms);
    fill.push(filledMs);
    overhead.push(created.ms - filledMs);
    rerun.push(time(plugin, args(namespace)).ms);
  }
  watch.abort();

  const fmt = (values: number[]) => `${median(values).toFixed(0)} ms`;
  console.log(`start-up, ${String(startupRuns)} interleaved runs each, medians:`);
  console.log(`  kubectl version --client ${fmt(kubectlMs)}, kubectl remote-secret --help ${fmt(helpMs)}`);
  console.log(`  ratio ${startupRatio.toFixed(2)}x (target <= 2.00x): ${verdict(startupRatio <= 2)}`);
  console.log(
    `create on a fresh namespace (creates namespace, account, role, binding, token Secret), ${String(runs)} runs, medians:`,
  );
  console.log(
    `  wall ${fmt(wall)}, token controller fill ${median(fill).toFixed(1)} ms (max ${Math.max(...fill).toFixed(1)}), overhead ${fmt(overhead)}`,
  );
  console.log(
    `  overhead ${median(overhead).toFixed(0)} ms (target <= 1000 ms): ${verdict(median(overhead) <= 1000)}`,
  );
  console.log(`create again (nothing to create, token reused): ${fmt(rerun)}`);
  process.exitCode = median(overhead) <= 1000 && startupRatio <= 2 ? 0 : 1;
} finally {
  await stopAllClusters();
}
