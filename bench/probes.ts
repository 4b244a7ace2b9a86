// What --probe-remotes costs (issue 17): one round over 100 remote secrets whose kubeconfigs
// reach the local test cluster (kube-testenv) with a token `create` minted, each cluster asked
// for its version, who it is and each of Istio's 73 reader permissions (75 requests a cluster).
// Baseline in the same run: `kubectl remote-secret verify` over the same 100 secrets, from the
// same machine, with the same checks (client-node instead of the guarded undici probe).
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { load, loadAll } from 'js-yaml';
import { writeTlsFixture } from '../webhook/testdata/tls.ts';
import { PLUGIN } from '../test/cli.ts';
import { startCluster, stopAllClusters } from '../test/harness/cluster.ts';
import { kubectl } from '../test/harness/kubectl.ts';
import { ensureTestenvBinary } from '../test/harness/testenv-binary.ts';
import {
  scrapeMetric,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../test/harness/webhook.ts';
import { median } from './measure.ts';

const REMOTES = Number(process.env['BENCH_REMOTES'] ?? 100);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 6);
const VERIFY_ROUNDS = Number(process.env['BENCH_VERIFY_ROUNDS'] ?? 3);
const NAMESPACE = 'istio-system';

interface RoundLine {
  readonly msg: string;
  readonly seconds: number;
  readonly clusters: number;
  readonly ok: number;
}

function rounds(webhook: WebhookProcess): RoundLine[] {
  return webhook
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes('"remote probes done"'))
    .map((line) => JSON.parse(line) as RoundLine);
}

const binary = await ensureTestenvBinary();
const cluster = await startCluster('bench-probes', { binaryPath: binary.path, log: () => undefined });
const tls = writeTlsFixture();
let webhook: WebhookProcess | undefined;
try {
  if ((await kubectl(cluster.kubeconfigPath, ['create', 'namespace', NAMESPACE])).status !== 0) {
    throw new Error('cannot create the namespace');
  }
  const created = spawnSync(PLUGIN, ['create', '--kubeconfig', cluster.kubeconfigPath, '--name', 'east'], {
    encoding: 'utf8',
  });
  if (created.status !== 0) throw new Error(`create failed: ${created.stderr}`);
  const secret = loadAll(created.stdout)[0] as { stringData: Record<string, string> };
  const kubeconfig = secret.stringData['east'] ?? '';
  if ((load(kubeconfig) as { users: unknown[] }).users.length !== 1) throw new Error('no kubeconfig');
  const items = Array.from({ length: REMOTES }, (_, index) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: `istio-remote-secret-r${String(index)}`,
      namespace: NAMESPACE,
      labels: { 'istio/multiCluster': 'true' },
    },
    stringData: { [`r${String(index)}`]: kubeconfig },
  }));
  const stored = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }),
  });
  if (stored.status !== 0) throw new Error(`apply failed: ${stored.stderr}`);

  // Baseline: the plugin's verify of the same secrets, three times.
  const verifySeconds: number[] = [];
  for (let round = 0; round < VERIFY_ROUNDS; round += 1) {
    const started = performance.now();
    const verified = spawnSync(
      PLUGIN,
      ['verify', '--kubeconfig', cluster.kubeconfigPath, '-o', 'json', '--timeout', '600s'],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    verifySeconds.push((performance.now() - started) / 1000);
    const clusters = (JSON.parse(verified.stdout) as { clusters: { status: string; checks: unknown }[] })
      .clusters;
    const failed = clusters.filter((entry) => entry.status !== 'ok');
    if (failed.length > 0) {
      throw new Error(
        `verify: ${String(failed.length)} of ${String(REMOTES)} failed: ${JSON.stringify(failed[0]?.checks)}`,
      );
    }
  }

  webhook = await startWebhookProcess({
    tls,
    kubeconfigPath: cluster.kubeconfigPath,
    mode: 'enforce',
    localClusterId: 'primary',
    namespace: NAMESPACE,
    extraArgs: [
      ...['--no-leader-elect', '--audit-interval', '3600', '--probe-remotes', '--probe-allow-loopback'],
      ...['--probe-interval', '2'],
    ],
  });
  const child = webhook;
  const rss = async () =>
    ((await scrapeMetric(child, tls, 'process_resident_memory_bytes'))[''] ?? 0) / 2 ** 20;
  const cpu = async () => (await scrapeMetric(child, tls, 'process_cpu_seconds_total'))[''] ?? 0;
  const rssBefore = await rss();
  const deadline = Date.now() + 900_000;
  // RSS and CPU once each round has ended (the next starts 2 s later).
  const rssAfterRound: number[] = [];
  const heapAfterRound: number[] = [];
  const heap = async () =>
    ((await scrapeMetric(child, tls, 'nodejs_heap_size_used_bytes'))[''] ?? 0) / 2 ** 20;
  const cpuAtRound: number[] = [await cpu()];
  while (rssAfterRound.length < ROUNDS) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the probe rounds');
    if (rounds(child).length > rssAfterRound.length) {
      rssAfterRound.push(await rss());
      heapAfterRound.push(await heap());
      if (process.env['BENCH_MEMORY_DETAIL'] === '1') {
        const detail: Record<string, number> = {};
        for (const name of ['nodejs_heap_size_total_bytes', 'nodejs_external_memory_bytes']) {
          detail[name] = ((await scrapeMetric(child, tls, name))[''] ?? 0) / 2 ** 20;
        }
        console.error(JSON.stringify(detail));
      }
      cpuAtRound.push(await cpu());
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const done = rounds(child).slice(0, ROUNDS);
  for (const line of done) {
    if (line.ok !== REMOTES)
      throw new Error(`a probe round found ${String(line.ok)} of ${String(REMOTES)} ok`);
  }
  const probeSeconds = done.map((line) => line.seconds);
  const probe = median(probeSeconds);
  const baseline = median(verifySeconds);
  const requests = REMOTES * 75;
  console.log(
    JSON.stringify(
      {
        remotes: REMOTES,
        requestsPerRound: requests,
        cpus: cpus().length,
        loadAverage: loadavg()[0],
        verifySeconds,
        probeRoundSeconds: probeSeconds,
        probeRoundMedianSeconds: probe,
        verifyMedianSeconds: baseline,
        ratioProbeToVerify: probe / baseline,
        probeMsPerCluster: (probe * 1000) / REMOTES,
        // The first round's CPU includes the informer's start.
        webhookCpuSecondsPerRound: cpuAtRound
          .slice(1)
          .map((value, index) => value - (cpuAtRound[index] ?? 0)),
        rssMiB: { beforeFirstRound: rssBefore, afterEachRound: rssAfterRound },
        heapUsedMiB: heapAfterRound,
      },
      null,
      2,
    ),
  );
} finally {
  await stopWebhookProcess(webhook);
  rmSync(tls.dir, { recursive: true, force: true });
  await stopAllClusters();
}
