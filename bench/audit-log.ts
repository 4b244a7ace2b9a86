// `kubectl remote-secret audit --rejections --audit-log FILE --no-events` over a large API server
// audit log (issue 17): the built plugin reads it line by line. Baseline in the same run:
// `grep -c` of the same file for the annotation every listed line carries (a pass over the
// bytes that decides nothing). Reports lines per second for both, the ratio, and the plugin's
// peak RSS, which must stay bounded (well under the file's size) whatever the file's size.
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditLine } from '../shared/audit/testdata/audit-log.ts';
import { median, verdict } from './measure.ts';

const TARGET_MB = Number(process.env['BENCH_AUDIT_LOG_MB'] ?? 1024);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
/** One line in this many is a refusal or warning of ours; the rest is the cluster's other traffic. */
const OURS_EVERY = 500;
const plugin = fileURLToPath(new URL('../bin/kubectl-remote_secret', import.meta.url));

interface Timed {
  readonly ms: number;
  readonly maxRssKb: number;
  readonly stdout: string;
}

function timed(command: string, args: readonly string[]): Timed {
  const start = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', command, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, KUBECONFIG: '' },
  });
  const ms = performance.now() - start;
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${String(result.status)}: ${result.stderr.slice(-500)}`,
    );
  }
  return { ms, maxRssKb: Number(result.stderr.trim().split('\n').at(-1)), stdout: result.stdout };
}

/** Another request, as busy clusters log thousands: a GET of a pod, at level Metadata. */
function otherLine(index: number): string {
  return JSON.stringify({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
    stage: 'ResponseComplete',
    requestURI: `/api/v1/namespaces/default/pods/web-${String(index % 97)}`,
    verb: 'get',
    user: {
      username: 'system:serviceaccount:kube-system:replicaset-controller',
      groups: ['system:serviceaccounts'],
    },
    sourceIPs: ['127.0.0.1'],
    userAgent:
      'kube-controller-manager/v1.34.10 (linux/amd64) kubernetes/0000000/system:serviceaccount:kube-system:replicaset-controller',
    objectRef: {
      resource: 'pods',
      namespace: 'default',
      name: `web-${String(index % 97)}`,
      apiVersion: 'v1',
    },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: '2026-12-01T10:00:00.000000Z',
    stageTimestamp: '2026-12-01T10:00:00.001000Z',
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC' },
  });
}

async function writeLog(path: string): Promise<{ lines: number; ours: number }> {
  const out = createWriteStream(path);
  let bytes = 0;
  let lines = 0;
  let ours = 0;
  while (bytes < TARGET_MB * 1024 * 1024) {
    const line =
      lines % OURS_EVERY === 0
        ? auditLine({
            verdict: lines % 3 === 0 ? 'warned' : 'rejected',
            auditId: `a-${String(lines)}`,
            requestUid: `r-${String(lines)}`,
          })
        : otherLine(lines);
    if (lines % OURS_EVERY === 0) ours += 1;
    lines += 1;
    bytes += line.length + 1;
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { lines, ours };
}

const dir = mkdtempSync(join(tmpdir(), 'bench-audit-log-'));
try {
  const file = join(dir, 'audit.log');
  const written = await writeLog(file);
  const size = statSync(file).size;
  const grepArgs = ['-c', '/violation-codes"', file];
  const pluginArgs = ['audit', '--rejections', '--no-events', '--audit-log', file, '-A', '-o', 'json'];
  // The plugin's own size with nothing to read: what the log adds is measured above it.
  const empty = join(dir, 'empty.log');
  createWriteStream(empty).end();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const restKb = timed(plugin, [
    'audit',
    '--rejections',
    '--no-events',
    '--audit-log',
    empty,
    '-o',
    'json',
  ]).maxRssKb;
  // Warm the page cache for both, then interleave.
  timed('grep', grepArgs);
  const grep: Timed[] = [];
  const ours: Timed[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    grep.push(timed('grep', grepArgs));
    ours.push(timed(plugin, pluginArgs));
  }
  const listed = (JSON.parse(ours[0]?.stdout ?? '{}') as { rejections?: unknown[] }).rejections?.length;
  if (listed !== written.ours || Number(grep[0]?.stdout.trim()) !== written.ours) {
    throw new Error(
      `listed ${String(listed)}, grep counted ${grep[0]?.stdout.trim() ?? '?'}, wrote ${String(written.ours)}`,
    );
  }
  const grepMs = median(grep.map((t) => t.ms));
  const oursMs = median(ours.map((t) => t.ms));
  const perSecond = (ms: number) => Math.round(written.lines / (ms / 1000)).toLocaleString('en');
  const rssMb = Math.max(...ours.map((t) => t.maxRssKb)) / 1024;
  console.log(
    `audit --rejections --audit-log, Node ${process.version}, ${String(cpus().length)} CPUs, load average ${loadavg()[0]?.toFixed(1) ?? '?'}: ${(size / 1024 / 1024).toFixed(0)} MiB, ${written.lines.toLocaleString('en')} lines, ${written.ours.toLocaleString('en')} of ours; median of ${String(RUNS)}`,
  );
  console.log(`grep -c (baseline): ${(grepMs / 1000).toFixed(2)} s, ${perSecond(grepMs)} lines/s`);
  console.log(
    `audit --audit-log:  ${(oursMs / 1000).toFixed(2)} s, ${perSecond(oursMs)} lines/s, peak RSS ${rssMb.toFixed(0)} MB`,
  );
  console.log(`audit / grep: ${(oursMs / grepMs).toFixed(2)}x the time`);
  // Bounded memory: the plugin holds a line and the rejections, never the file.
  const growthMb = rssMb - restKb / 1024;
  console.log(
    `memory: peak RSS ${rssMb.toFixed(0)} MB, ${growthMb.toFixed(0)} MB above the plugin reading an empty log: ${verdict(rssMb < 200)} (< 200 MB for a ${(size / 1024 / 1024).toFixed(0)} MiB log)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
