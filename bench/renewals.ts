// What --renew-tokens costs (issue 18): the webhook's renewer over 100 renewable remote secrets
// whose kubeconfigs reach the local test cluster (kube-testenv), which plays primary and remote.
// `create --token-duration 10m --renew --renew-after 0.1` makes one renewable secret; its
// kubeconfig and annotations are stored under 100 names, so the 100 tokens share one `iat` and
// fall due together, 60 s after they were minted. Until then every run lists and reviews the 100
// and finds nothing due (the idle cost); at the due time one run renews all 100 (a TokenRequest
// for the same ServiceAccount each and an update each). Then, each round, one new token (`kubectl
// create token`) is stored in all 100 (due 18 s later) for another such run. Baseline in the same
// run, before each later round: `kubectl remote-secret renew --all --force` over the same 100
// secrets (the same renewSecret, client-node to the remote, one secret at a time); and, lower
// down, 100 `kubectl create token` for that ServiceAccount.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { load, loadAll } from 'js-yaml';
import { writeTlsFixture } from '../webhook/testdata/tls.ts';
import { PLUGIN } from '../test/cli.ts';
import { startCluster, stopAllClusters } from '../test/harness/cluster.ts';
import { kubectl } from '../test/harness/kubectl.ts';
import { ensureTestenvBinary } from '../test/harness/testenv-binary.ts';
import { send } from '../webhook/testdata/client.ts';
import { startWebhookProcess, stopWebhookProcess, type WebhookProcess } from '../test/harness/webhook.ts';
import { median } from './measure.ts';

const REMOTES = Number(process.env['BENCH_REMOTES'] ?? 100);
const INTERVAL_SECONDS = Number(process.env['BENCH_RENEW_INTERVAL'] ?? 2);
/** The share of a 10 min token after which it is due: 0.1 is 60 s, room for ~30 s of idle runs. */
const RENEW_AFTER = Number(process.env['BENCH_RENEW_AFTER'] ?? 0.1);
const CONTROL = process.env['BENCH_CONTROL'] !== '0';
/** The share for the later rounds: 18 s, time to store the 100 secrets before they are due. */
const ROUND_RENEW_AFTER = 0.03;
const RENEWAL_ROUNDS = Number(process.env['BENCH_RENEWAL_ROUNDS'] ?? 5);
const RENEW_AFTER_ANNOTATION = 'kubectl-remote-secret/renew-after';
const KUBECTL_TOKENS = process.env['BENCH_KUBECTL_TOKENS'] !== '0';
const NAMESPACE = 'istio-system';
const TIME = '/usr/bin/time';
const LABEL = 'istio/multiCluster';
const progress = (message: string) => {
  if (process.stderr.isTTY) process.stderr.write(`${message}\n`);
};

interface Secret {
  metadata: { name: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

interface RenewedLine {
  readonly time: number;
  readonly secret: string;
  readonly seconds: number;
}

const tokenOf = (kubeconfig: string) =>
  (load(kubeconfig) as { users: { user: { token?: string } }[] }).users[0]?.user.token ?? '';
const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    iat: number;
    exp: number;
  };
const fmt = (value: number, digits = 2) => value.toFixed(digits);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const percentile = (values: readonly number[], share: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))] ?? 0;
};

function renewedLines(webhook: WebhookProcess): RenewedLine[] {
  return webhook
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes('"renewed the token of a remote cluster"'))
    .map((line) => JSON.parse(line) as RenewedLine);
}

interface Round {
  readonly dueToFirst: number;
  readonly dueToAll: number;
  readonly runSeconds: number;
  readonly perSecret: readonly number[];
  readonly cpu: number;
  readonly renewals: number;
  readonly rssAfter: number;
  readonly heapAfter: number;
}

interface Sample {
  readonly at: number;
  readonly cpu: number;
  readonly runs: number;
  readonly lastRun: number;
  readonly renewals: number;
  readonly rss: number;
  readonly heap: number;
}

/** One scrape of the webhook's /metrics: the figures this benchmark reads. */
async function sampleOf(webhook: WebhookProcess): Promise<Sample> {
  const text = (await send(undefined, { port: webhook.port, ca: tls.ca.certificatePem, path: '/metrics' }))
    .body;
  const value = (series: string) => {
    const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  };
  return {
    at: performance.now(),
    cpu: value('process_cpu_seconds_total'),
    runs: value('remote_secret_webhook_token_renewal_runs_total{result="ok"}'),
    lastRun: value('remote_secret_webhook_token_renewal_last_run_duration_seconds'),
    renewals: value('remote_secret_webhook_token_renewals_total'),
    rss: value('process_resident_memory_bytes') / 2 ** 20,
    heap: value('nodejs_heap_size_used_bytes') / 2 ** 20,
  };
}

/** The token of every stored remote secret, by name. */
async function storedTokens(kubeconfigPath: string): Promise<Map<string, string>> {
  const listed = await kubectl(
    kubeconfigPath,
    ['get', 'secrets', '-n', NAMESPACE, '-l', `${LABEL}=true`, '-o', 'json'],
    {
      timeoutMs: 120_000,
    },
  );
  if (listed.status !== 0) throw new Error(`cannot list the secrets: ${listed.stderr}`);
  const tokens = new Map<string, string>();
  for (const item of (JSON.parse(listed.stdout) as { items: Secret[] }).items) {
    const text = Object.values(item.data ?? {})[0] ?? '';
    tokens.set(item.metadata.name, tokenOf(Buffer.from(text, 'base64').toString('utf8')));
  }
  return tokens;
}

const binary = await ensureTestenvBinary();
const cluster = await startCluster('bench-renewals', { binaryPath: binary.path, log: () => undefined });
const tls = writeTlsFixture();
let webhook: WebhookProcess | undefined;
try {
  if ((await kubectl(cluster.kubeconfigPath, ['create', 'namespace', NAMESPACE])).status !== 0) {
    throw new Error('cannot create the namespace');
  }
  progress('create --renew, and 100 copies of the secret');
  const created = spawnSync(
    PLUGIN,
    [
      ...['create', '--kubeconfig', cluster.kubeconfigPath, '--name', 'east'],
      ...['--token-duration', '10m', '--renew', '--renew-after', String(RENEW_AFTER)],
    ],
    { encoding: 'utf8' },
  );
  if (created.status !== 0) throw new Error(`create failed: ${created.stderr}`);
  const secret = loadAll(created.stdout).find(
    (document) => (document as { kind?: string } | null)?.kind === 'Secret',
  ) as Secret;
  const kubeconfig = secret.stringData?.['east'] ?? '';
  const annotations = secret.metadata.annotations ?? {};
  const serviceAccount = annotations['kubectl-remote-secret/renew-service-account'] ?? '';
  const accountNamespace = annotations['kubectl-remote-secret/renew-namespace'] ?? NAMESPACE;
  if (serviceAccount === '') throw new Error('create --renew wrote no renew-service-account annotation');
  const original = tokenOf(kubeconfig);
  const claims = claimsOf(original);
  const dueAt = (claims.iat + (claims.exp - claims.iat) * RENEW_AFTER) * 1000;
  const storeSeconds: number[] = [];
  /** The 100 secrets with this kubeconfig: created, then replaced (one PUT each, unconditional). */
  const store = async (text: string, renewAfter: string, verb: 'create' | 'replace') => {
    const items = Array.from({ length: REMOTES }, (_, index) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: `istio-remote-secret-r${String(index)}`,
        namespace: NAMESPACE,
        labels: { [LABEL]: 'true' },
        annotations: { ...annotations, [RENEW_AFTER_ANNOTATION]: renewAfter },
      },
      data: { [`r${String(index)}`]: Buffer.from(text, 'utf8').toString('base64') },
    }));
    const started = performance.now();
    const stored = await kubectl(cluster.kubeconfigPath, [verb, '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }),
      timeoutMs: 120_000,
    });
    if (stored.status !== 0) throw new Error(`${verb} failed: ${stored.stderr}`);
    storeSeconds.push((performance.now() - started) / 1000);
  };
  await store(kubeconfig, annotations[RENEW_AFTER_ANNOTATION] ?? String(RENEW_AFTER), 'create');

  progress('the webhook with --renew-tokens, idle until the tokens are due');
  webhook = await startWebhookProcess({
    tls,
    kubeconfigPath: cluster.kubeconfigPath,
    mode: 'enforce',
    localClusterId: 'primary',
    namespace: NAMESPACE,
    extraArgs: [
      ...['--no-leader-elect', '--audit-interval', '3600'],
      ...['--renew-tokens', '--renew-interval', String(INTERVAL_SECONDS), '--renew-allow-loopback'],
    ],
  });
  const child = webhook;
  const sample = () => sampleOf(child);
  const rssAtReady = (await sample()).rss;
  for (const until = Date.now() + 30_000; (await sample()).runs < 1;) {
    if (Date.now() > until) throw new Error('no renewal run within 30 s of start');
    await sleep(100);
  }
  if (renewedLines(child).length > 0) throw new Error('the tokens were due before the idle runs');

  // Idle runs: from the end of the first run to 3 s before the tokens are due. The first 60% of
  // that is the CPU window, with no scrape inside (a scrape costs CPU too); the rest reads each
  // run's duration.
  const idleFrom = await sample();
  const idleEnd = dueAt - 3000;
  await sleep((idleEnd - Date.now()) * 0.6);
  const idleMid = await sample();
  const idleRuns = idleMid.runs - idleFrom.runs;
  if (idleRuns < 3)
    throw new Error(`only ${String(idleRuns)} idle runs: start sooner or raise BENCH_RENEW_AFTER`);
  const idleWindowSeconds = (idleMid.at - idleFrom.at) / 1000;
  const idleCpuPerRun = (idleMid.cpu - idleFrom.cpu) / idleRuns;
  const idleRunSeconds: number[] = [];
  for (let seen = idleMid.runs; Date.now() < idleEnd;) {
    await sleep(Math.min(1000, idleEnd - Date.now()));
    const now = await sample();
    if (now.runs > seen) idleRunSeconds.push(now.lastRun);
    seen = now.runs;
  }
  const idleTo = await sample();
  const rssIdle = idleTo.rss;

  // Baseline: the plugin's renew of the same secrets, between two renewal runs (the webhook idle:
  // the tokens it finds are not due).
  const cliSeconds: number[] = [];
  const cliCpuSeconds: number[] = [];
  const timeFile = join(tls.dir, 'renew.time');
  const cliRenew = async () => {
    progress(`renew --all --force, ${String(cliSeconds.length + 1)} of ${String(RENEWAL_ROUNDS - 1)}`);
    const before = await storedTokens(cluster.kubeconfigPath);
    const started = performance.now();
    const args = [
      ...['renew', '--all', '--force', '--kubeconfig', cluster.kubeconfigPath],
      ...['-o', 'json', '--timeout', '600s'],
    ];
    // GNU time, when there is one, gives the CLI's CPU (user + system, its node included).
    const timed = existsSync(TIME) ? [TIME, '-f', '%U %S', '-o', timeFile, PLUGIN] : [PLUGIN];
    const renewed = spawnSync(timed[0] ?? PLUGIN, [...timed.slice(1), ...args], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (timed.length > 1) {
      const [user = 0, system = 0] = readFileSync(timeFile, 'utf8').trim().split(' ').map(Number);
      cliCpuSeconds.push(user + system);
    }
    cliSeconds.push((performance.now() - started) / 1000);
    const clusters = (JSON.parse(renewed.stdout) as { clusters: { status: string; message?: string }[] })
      .clusters;
    const failed = clusters.filter((entry) => entry.status !== 'renewed');
    if (renewed.status !== 0 || clusters.length !== REMOTES || failed.length > 0) {
      throw new Error(
        `renew: ${String(failed.length)} of ${String(clusters.length)} not renewed: ${failed[0]?.message ?? renewed.stderr}`,
      );
    }
    const now = await storedTokens(cluster.kubeconfigPath);
    if ([...now].some(([name, token]) => token === before.get(name))) throw new Error('renew left a token');
  };

  // Renewal runs: the first when the tokens create minted are due; then, each round, one new token
  // (kubectl create token, due 18 s later) stored in all 100 secrets, all due together again.
  const rounds: Round[] = [];
  let roundToken = original;
  let roundDue = dueAt;
  let before = idleTo;
  for (let round = 0; round < RENEWAL_ROUNDS; round += 1) {
    progress(`renewal run ${String(round + 1)} of ${String(RENEWAL_ROUNDS)}`);
    if (round > 0) {
      await cliRenew();
      const minted = await kubectl(cluster.kubeconfigPath, [
        ...['create', 'token', serviceAccount, '-n', accountNamespace, '--duration', '10m'],
      ]);
      if (minted.status !== 0) throw new Error(`kubectl create token: ${minted.stderr}`);
      roundToken = minted.stdout.trim();
      const claimsNow = claimsOf(roundToken);
      roundDue = (claimsNow.iat + (claimsNow.exp - claimsNow.iat) * ROUND_RENEW_AFTER) * 1000;
      await store(kubeconfig.replace(original, roundToken), String(ROUND_RENEW_AFTER), 'replace');
      if (Date.now() > roundDue - 2000)
        throw new Error(`storing the secrets took ${fmt(storeSeconds.at(-1) ?? 0)} s: too long`);
      await sleep(roundDue - 1500 - Date.now());
      before = await sample();
    }
    const linesBefore = renewedLines(child).length;
    for (const until = roundDue + 120_000; renewedLines(child).length < linesBefore + REMOTES;) {
      if (Date.now() > until) {
        throw new Error(
          `${String(renewedLines(child).length - linesBefore)} of ${String(REMOTES)} renewed 2 min after due`,
        );
      }
      await sleep(50);
    }
    // The run ends once every secret is through and sets its gauge; the next (idle) run is an
    // interval later, so the gauge read now is the renewal run's.
    await sleep(300);
    const after = await sample();
    const lines = renewedLines(child).slice(linesBefore);
    if (lines.length !== REMOTES || new Set(lines.map((line) => line.secret)).size !== REMOTES) {
      throw new Error(`${String(lines.length)} renewals in the run, not one for each secret`);
    }
    const tokens = await storedTokens(cluster.kubeconfigPath);
    const renewedTokens = [...tokens.values()].filter((token) => token !== roundToken && token !== '');
    if (
      tokens.size !== REMOTES ||
      renewedTokens.length !== REMOTES ||
      new Set(renewedTokens).size !== REMOTES
    ) {
      throw new Error(
        `after the run: ${String(renewedTokens.length)} of ${String(tokens.size)} secrets hold a new token, ${String(new Set(renewedTokens).size)} distinct`,
      );
    }
    rounds.push({
      dueToFirst: (Math.min(...lines.map((line) => line.time)) - roundDue) / 1000,
      dueToAll: (Math.max(...lines.map((line) => line.time)) - roundDue) / 1000,
      runSeconds: after.lastRun,
      perSecret: lines.map((line) => line.seconds),
      // The window less the idle runs in it.
      cpu: after.cpu - before.cpu - Math.max(0, after.runs - before.runs - 1) * idleCpuPerRun,
      renewals: after.renewals - before.renewals,
      rssAfter: after.rss,
      heapAfter: after.heap,
    });
  }
  await stopWebhookProcess(webhook);
  webhook = undefined;

  // The CLI without its requests: start, list and review only (--dry-run).
  const dryStarted = performance.now();
  const dry = spawnSync(
    PLUGIN,
    ['renew', '--all', '--force', '--dry-run', '--kubeconfig', cluster.kubeconfigPath, '-o', 'json'],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const drySeconds = (performance.now() - dryStarted) / 1000;
  if (dry.status !== 0) throw new Error(`renew --dry-run: ${dry.stderr}`);

  // Lower down: the TokenRequests alone, one kubectl each.
  let kubectlSeconds: number | undefined;
  if (KUBECTL_TOKENS) {
    progress('kubectl create token x100');
    const started = performance.now();
    for (let index = 0; index < REMOTES; index += 1) {
      const token = await kubectl(cluster.kubeconfigPath, [
        ...['create', 'token', serviceAccount, '-n', accountNamespace, '--duration', '10m'],
      ]);
      if (token.status !== 0) throw new Error(`kubectl create token: ${token.stderr}`);
    }
    kubectlSeconds = (performance.now() - started) / 1000;
  }

  // Control: the same webhook without --renew-tokens, as long as the idle window, no scrape inside.
  let floorCpuPerSecond: number | undefined;
  if (CONTROL) {
    progress('the webhook without --renew-tokens (control)');
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
      extraArgs: ['--no-leader-elect', '--audit-interval', '3600'],
    });
    await sleep(3000);
    const from = await sampleOf(webhook);
    await sleep(idleWindowSeconds * 1000);
    const to = await sampleOf(webhook);
    floorCpuPerSecond = (to.cpu - from.cpu) / ((to.at - from.at) / 1000);
    await stopWebhookProcess(webhook);
    webhook = undefined;
  }

  const cli = median(cliSeconds);
  const list = (values: readonly number[]) =>
    `median ${fmt(median(values))} s (${values.map((value) => fmt(value)).join(', ')})`;
  const perSecret = rounds.flatMap((entry) => entry.perSecret);
  const runMedian = median(rounds.map((entry) => entry.runSeconds));
  const allMedian = median(rounds.map((entry) => entry.dueToAll));
  const rows: [string, string][] = [
    ['remote secrets (one ServiceAccount)', String(REMOTES)],
    ['cores / load average (1 min)', `${String(cpus().length)} / ${fmt(loadavg()[0] ?? 0)}`],
    [
      `idle runs (nothing due), every ${String(INTERVAL_SECONDS)} s`,
      `${String(idleRuns)} runs in ${fmt(idleWindowSeconds, 1)} s`,
    ],
    [
      '  webhook CPU a run (less the control)',
      `${fmt(idleCpuPerRun * 1000, 1)} ms` +
        (floorCpuPerSecond === undefined
          ? ''
          : ` (${fmt((idleCpuPerRun - (floorCpuPerSecond * idleWindowSeconds) / idleRuns) * 1000, 1)} ms)`),
    ],
    [
      '  control: without --renew-tokens',
      floorCpuPerSecond === undefined ? '-' : `${fmt(floorCpuPerSecond * 1000, 1)} ms CPU a second`,
    ],
    [
      '  run duration (median / max)',
      `${fmt(median(idleRunSeconds) * 1000, 1)} / ${fmt(Math.max(0, ...idleRunSeconds) * 1000, 1)} ms`,
    ],
    [
      `renewal runs, all ${String(REMOTES)} due (${String(rounds.length)}; the first at create's token)`,
      `${String(rounds.reduce((total, entry) => total + entry.renewals, 0))} renewals counted`,
    ],
    ['  due -> first renewed (median)', `${fmt(median(rounds.map((entry) => entry.dueToFirst)))} s`],
    ['  due -> all renewed', list(rounds.map((entry) => entry.dueToAll))],
    ['  run duration (gauge)', list(rounds.map((entry) => entry.runSeconds))],
    [
      '  per secret (TokenRequest + update) median / p95 / max',
      `${fmt(median(perSecret) * 1000, 0)} / ${fmt(percentile(perSecret, 0.95) * 1000, 0)} / ${fmt(Math.max(...perSecret) * 1000, 0)} ms`,
    ],
    ['  webhook CPU a run', list(rounds.map((entry) => entry.cpu))],
    [
      '  webhook CPU a renewal (median)',
      `${fmt((median(rounds.map((entry) => entry.cpu)) * 1000) / REMOTES, 1)} ms`,
    ],
    [
      'RSS ready -> after idle -> after each renewal run',
      `${fmt(rssAtReady, 0)} -> ${fmt(rssIdle, 0)} -> ${rounds.map((entry) => fmt(entry.rssAfter, 0)).join(', ')} MiB`,
    ],
    [
      `storing the ${String(REMOTES)} secrets (kubectl create, then replace)`,
      `${storeSeconds.map((value) => fmt(value)).join(', ')} s`,
    ],
    ['heap used after the last renewal run', `${fmt(rounds.at(-1)?.heapAfter ?? 0, 0)} MiB`],
    [
      `baseline: renew --all --force (median of ${String(cliSeconds.length)})`,
      `${fmt(cli)} s (${cliSeconds.map((value) => fmt(value)).join(', ')})`,
    ],
    [
      '  CLI CPU (median), its start included',
      cliCpuSeconds.length === 0
        ? '-'
        : `${fmt(median(cliCpuSeconds))} s (${fmt((median(cliCpuSeconds) * 1000) / REMOTES, 1)} ms a secret)`,
    ],
    ['  CLI renew --all --force --dry-run (start, list, review)', `${fmt(drySeconds)} s`],
    ['ratio: webhook renewal run / CLI renew (medians)', `${fmt(runMedian / cli)}x`],
    ['ratio: due -> all renewed / CLI renew (medians)', `${fmt(allMedian / cli)}x`],
  ];
  if (kubectlSeconds !== undefined) {
    rows.push([`kubectl create token x${String(REMOTES)}`, `${fmt(kubectlSeconds)} s`]);
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`);
  if (process.env['BENCH_JSON'] === '1') {
    console.log(
      JSON.stringify({
        idleWindowSeconds,
        floorCpuPerSecond,
        idleRunSeconds,
        rounds,
        cliSeconds,
        idleCpuPerRun,
        storeSeconds,
      }),
    );
  }
} finally {
  await stopWebhookProcess(webhook);
  rmSync(tls.dir, { recursive: true, force: true });
  await stopAllClusters();
}
