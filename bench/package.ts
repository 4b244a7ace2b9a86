// Start-up of the released single executable: `kubectl-remote_secret --help` and `check` on one
// secret, next to `kubectl version --client` in the same run, interleaved; and the sizes of the
// executable and its archive. Target (issue 9): --help <= 2x kubectl. `npm run bench:package`
// builds the linux-amd64 executable first.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realisticSecretManifest } from './fixtures.ts';
import { median, verdict } from './measure.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const binary = join(root, 'dist/sea/linux-amd64/kubectl-remote_secret');
const wrapper = join(root, 'bin/kubectl-remote_secret');
const runs = Number(process.env['BENCH_RUNS'] ?? 20);
if (!existsSync(binary)) {
  console.error(`${binary} is missing: run npm run bench:package (it builds it first)`);
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'bench-package-'));
const manifest = join(dir, 'secret.yaml');
writeFileSync(manifest, realisticSecretManifest());

function time(command: string, args: readonly string[]): number {
  const start = performance.now();
  const result = spawnSync(command, args, { encoding: 'utf8' });
  const elapsed = performance.now() - start;
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return elapsed;
}

const subjects: { name: string; command: string; args: string[] }[] = [
  { name: 'kubectl version --client', command: 'kubectl', args: ['version', '--client'] },
  { name: 'executable --help', command: binary, args: ['--help'] },
  { name: 'executable check', command: binary, args: ['check', manifest] },
];
// The checkout's wrapper (Node from node_modules, compile cache), when built, for comparison.
if (existsSync(join(root, 'dist/plugin/kubectl-remote_secret.cjs'))) {
  subjects.push({ name: 'bin/ wrapper --help', command: wrapper, args: ['--help'] });
}

// Interleaved, so load on the machine affects every subject alike; the first round warms caches.
for (const subject of subjects) time(subject.command, subject.args);
const samples = new Map(subjects.map((subject) => [subject.name, [] as number[]]));
for (let run = 0; run < runs; run += 1) {
  for (const subject of subjects) samples.get(subject.name)?.push(time(subject.command, subject.args));
}
const medianOf = (name: string) => median(samples.get(name) ?? []);
const kubectl = medianOf('kubectl version --client');
console.log(`${runs} interleaved runs each, medians:`);
for (const subject of subjects) {
  const ms = medianOf(subject.name);
  console.log(
    `  ${subject.name.padEnd(26)} ${ms.toFixed(0).padStart(4)} ms  ${(ms / kubectl).toFixed(2)}x kubectl`,
  );
}
const ratio = medianOf('executable --help') / kubectl;
console.log(`--help ratio ${ratio.toFixed(2)}x (target <= 2.00x): ${verdict(ratio <= 2)}`);

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
console.log(`executable: ${mib(statSync(binary).size)}`);
const release = join(root, 'dist/release');
if (existsSync(release)) {
  for (const file of readdirSync(release).filter(
    (name) => name.endsWith('.tar.gz') || name.endsWith('.zip'),
  )) {
    console.log(`${file}: ${mib(statSync(join(release, file)).size)}`);
  }
}
process.exitCode = ratio <= 2 ? 0 : 1;
