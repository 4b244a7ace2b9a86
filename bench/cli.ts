// Start-to-exit time of `kubectl remote-secret check` on one secret, next to
// `kubectl version --client` in the same run. Target (issue 3): <= 2x kubectl.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realisticSecretManifest } from './fixtures.ts';
import { median, verdict } from './measure.ts';

const plugin = fileURLToPath(new URL('../bin/kubectl-remote_secret', import.meta.url));
const runs = Number(process.env['BENCH_RUNS'] ?? 20);
const dir = mkdtempSync(join(tmpdir(), 'bench-cli-'));
const manifest = join(dir, 'secret.yaml');
writeFileSync(manifest, realisticSecretManifest());

function time(command: string, args: string[], expectStatus: number): number {
  const start = performance.now();
  const result = spawnSync(command, args, { encoding: 'utf8' });
  const elapsed = performance.now() - start;
  if (result.status !== expectStatus) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  }
  return elapsed;
}

// Interleave the two so load on the machine affects both alike; the first run of each warms caches.
time('kubectl', ['version', '--client'], 0);
time(plugin, ['check', manifest], 0);
const kubectl: number[] = [];
const check: number[] = [];
for (let run = 0; run < runs; run += 1) {
  kubectl.push(time('kubectl', ['version', '--client'], 0));
  check.push(time(plugin, ['check', manifest], 0));
}
const ratio = median(check) / median(kubectl);
console.log(
  `${runs} runs each, medians: kubectl version --client ${median(kubectl).toFixed(0)} ms, check ${median(check).toFixed(0)} ms`,
);
console.log(`ratio ${ratio.toFixed(2)}x (target <= 2.00x): ${verdict(ratio <= 2)}`);
process.exitCode = ratio <= 2 ? 0 : 1;
