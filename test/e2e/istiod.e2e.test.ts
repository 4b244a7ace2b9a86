import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { loadAll } from 'js-yaml';
import { readSecretManifests } from '../../shared/remote-secret/manifests.ts';
import type { Violation } from '../../shared/violations.ts';
import { unexplained } from '../differential/compare.ts';
import { DELIBERATE } from '../differential/deliberate.ts';
import { kubeconfigVariant } from '../differential/generate.ts';
import { Oracle } from '../differential/oracle.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, runPluginAsync } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { prepareIstioPrimary, startIstiod, type Istiod } from '../harness/istiod.ts';
import { kubectl } from '../harness/kubectl.ts';
import { kubeconfigOf, storedSecret, tokenOf } from '../harness/stored-secret.ts';
import {
  eventually,
  registerShippedWebhook,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * A real istiod (pilot-discovery from istio.io/istio) against the test control plane judges what
 * `create` makes: it reads the remote secrets in its namespace with its own secret controller,
 * and its `/debug/clusterz` says which remote it uses, from which secret, and whether it synced.
 */
const kubeTestenv = inject('kubeTestenvBinary');
const istioTestenv = inject('istioTestenvBinary');
const NAMESPACE = 'istio-system';
const PRIMARY_ID = 'primary';

interface SecretOut {
  readonly metadata: { name: string; namespace: string };
  readonly stringData?: Record<string, string>;
}

function firstSecret(yaml: string): SecretOut {
  return loadAll(yaml)[0] as SecretOut;
}

const SECRETS_DIR = fileURLToPath(new URL('../testdata/secrets/', import.meta.url));
const GENERATED = 120;

/** One kubeconfig to store under its own cluster ID, as bytes (fixtures include binary ones). */
interface StoredCase {
  readonly id: string;
  readonly origin: string;
  readonly bytes: Uint8Array;
}

/** Every kubeconfig inside the repository's test secrets. */
function fixtureCases(): StoredCase[] {
  const cases: StoredCase[] = [];
  for (const file of readdirSync(SECRETS_DIR).sort()) {
    if (!/\.(?:ya?ml|json)$/.test(file)) continue;
    const read = readSecretManifests(readFileSync(`${SECRETS_DIR}${file}`, 'utf8'), file);
    for (const secret of read.secrets) {
      for (const cluster of secret.clusters) {
        if (!cluster.kubeconfig.ok) continue;
        cases.push({
          id: `fx-${String(cases.length)}`,
          origin: `${file}#${cluster.id}`,
          bytes: Buffer.from(cluster.kubeconfig.text, 'utf8'),
        });
      }
    }
  }
  return cases;
}

/** Hosts a case may make istiod dial: *.example names and loopback only. */
function dialsOnlyHere(url: string): boolean {
  if (url === '') return true;
  const host = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?(\[[^\]]*\]|[^:/?#]*)/i.exec(url)?.[1]?.toLowerCase();
  if (host === undefined) return false;
  return (
    host.endsWith('.example') ||
    host === '127.0.0.1' ||
    host.startsWith('[::1') ||
    host === '[::ffff:127.0.0.1]'
  );
}

describe.skipIf(kubeTestenv === null || istioTestenv === null)('istiod consumes what create makes', () => {
  let primary: TestCluster;
  let remote: TestCluster;
  let tls: TlsFixture | undefined;
  let webhook: WebhookProcess | undefined;
  let istiod: Istiod | undefined;
  /** The istiod of this suite, started in beforeAll (and again after a restart). */
  const running = (): Istiod => {
    if (istiod === undefined) throw new Error('istiod did not start');
    return istiod;
  };

  const onPrimary = (args: string[], input?: string) =>
    kubectl(primary.kubeconfigPath, args, input === undefined ? {} : { input });
  const create = (...args: string[]) =>
    runPluginAsync(['create', '--kubeconfig', remote.kubeconfigPath, ...args]);
  const apply = async (yaml: string): Promise<number> => {
    const applied = await onPrimary(['apply', '-f', '-'], yaml);
    expect(applied.status, applied.stderr).toBe(0);
    return Date.now();
  };
  const startOurIstiod = () =>
    startIstiod({
      kubeconfigPath: primary.kubeconfigPath,
      clusterId: PRIMARY_ID,
      namespace: NAMESPACE,
      ...(istioTestenv === null ? {} : { binaryPath: istioTestenv }),
    });

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    const options = kubeTestenv === null ? {} : { binaryPath: kubeTestenv };
    [primary, remote] = await Promise.all([
      startCluster('primary', options),
      startCluster('remote', options),
    ]);
    await prepareIstioPrimary(primary.kubeconfigPath, {
      namespace: NAMESPACE,
      ...(istioTestenv === null ? {} : { binaryPath: istioTestenv }),
    });
    istiod = await startOurIstiod();
  });

  afterAll(async () => {
    await istiod?.stop();
    await stopWebhookProcess(webhook);
    await stopAllClusters();
  });

  it('syncs the remote from the secret create writes, and reports how long that took', async () => {
    const created = await create('--name', 'remote');
    expect(created.status, created.stderr).toBe(0);
    const appliedAt = await apply(created.stdout);
    const synced = await running().waitForCluster('remote', (entry) => entry?.syncStatus === 'synced');
    const took = Date.now() - appliedAt;
    expect(synced).toEqual({
      id: 'remote',
      secretName: `${NAMESPACE}/istio-remote-secret-remote`,
      syncStatus: 'synced',
    });
    const metrics = await running().metrics();
    expect(metrics.managedRemoteClusters).toBeGreaterThanOrEqual(1);
    expect(metrics.syncStatus.get('remote')).toBe('synced');
    process.stderr.write(`istiod: applied to synced in ${String(took)} ms\n`);

    // verify gives istiod's own view beside its checks.
    const verified = await runPluginAsync([
      'verify',
      '--kubeconfig',
      primary.kubeconfigPath,
      '--istiod',
      running().httpUrl,
    ]);
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^CLUSTER .* ISTIOD +STATUS$/m);
    expect(verified.stdout).toMatch(/^remote +istio-system\/istio-remote-secret-remote .* synced +OK$/m);
    const json = await runPluginAsync([
      'verify',
      '--kubeconfig',
      primary.kubeconfigPath,
      '--istiod',
      running().httpUrl,
      '-o',
      'json',
    ]);
    const document = JSON.parse(json.stdout) as { clusters: { cluster: string; istiod: unknown }[] };
    expect(document.clusters.find(({ cluster }) => cluster === 'remote')?.istiod).toEqual({
      status: 'used',
      syncStatus: 'synced',
      agrees: true,
    });
  });

  it('syncs a remote whose secret holds an expiring token (--token-duration)', async () => {
    const created = await create('--name', 'expiring', '--token-duration', '1h');
    expect(created.status, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/expires/);
    await apply(created.stdout);
    await running().waitForCluster('expiring', (entry) => entry?.syncStatus === 'synced');
  });

  it("runs an external istiod from the kubeconfig of --type config, given the RBAC of Istio's chart", async () => {
    // --type config is not a remote secret: an external istiod mounts istio-kubeconfig and reads
    // its config cluster (here the remote) with it. Reading is all create grants; istiod also
    // writes there (leases, webhook configurations, its CA bundle), which Istio's chart grants on
    // the config cluster. cluster-admin stands in for that chart here.
    const created = await create('--type', 'config', '--name', 'config');
    expect(created.status, created.stderr).toBe(0);
    const secret = loadAll(created.stdout).find(
      (document): document is { metadata: { name: string }; stringData: Record<string, string> } =>
        typeof document === 'object' && document !== null && 'stringData' in document,
    );
    expect(secret?.metadata.name).toBe('istio-kubeconfig');
    expect(Object.keys(secret?.stringData ?? {})).toEqual(['config']);
    const onRemote = (args: string[]) => kubectl(remote.kubeconfigPath, args);
    const granted = await onRemote([
      'create',
      'clusterrolebinding',
      'istiod-chart-stand-in',
      '--clusterrole',
      'cluster-admin',
      `--serviceaccount=${NAMESPACE}:istiod`,
    ]);
    expect(granted.status, granted.stderr).toBe(0);
    await prepareIstioPrimary(remote.kubeconfigPath, {
      namespace: NAMESPACE,
      ...(istioTestenv === null ? {} : { binaryPath: istioTestenv }),
    });
    const dir = mkdtempSync(join(tmpdir(), 'istio-kubeconfig-'));
    const kubeconfigPath = join(dir, 'config');
    writeFileSync(kubeconfigPath, secret?.stringData['config'] ?? '', { mode: 0o600 });
    const external = await startIstiod({
      kubeconfigPath,
      clusterId: 'config',
      namespace: NAMESPACE,
      ...(istioTestenv === null ? {} : { binaryPath: istioTestenv }),
    });
    try {
      await external.waitForCluster('config', (entry) => entry?.syncStatus === 'synced');
      expect(await external.clusterz()).toEqual([{ id: 'config', secretName: '', syncStatus: 'synced' }]);
    } finally {
      await external.stop();
      await onRemote(['delete', 'clusterrolebinding', 'istiod-chart-stand-in']);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stays synced through --rotate, apply and --retire-old, with a working token at every sample', async () => {
    const samples: string[] = [];
    const sampling = { on: true };
    const sampler = (async () => {
      while (sampling.on) {
        const entry = (await running().clusterz()).find((item) => item.id === 'remote');
        samples.push(entry?.syncStatus ?? 'absent');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const since = running().logLines().length;
    const rotated = await create('--name', 'remote', '--rotate');
    expect(rotated.status, rotated.stderr).toBe(0);
    await apply(rotated.stdout);
    // istiod builds a client for the new kubeconfig, swaps once it synced, then stops the old one.
    await running().waitForLog(/Update cluster.*cluster=remote|cluster=remote.*Update cluster/, { since });
    const retired = await create('--name', 'remote', '--retire-old');
    expect(retired.status, retired.stderr).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    sampling.on = false;
    await sampler;
    // istiod stores the new client at once and reports it "syncing" until it has synced, while
    // the old client keeps serving (it is stopped only after the swap): never absent, never failed.
    expect(samples.length).toBeGreaterThan(10);
    expect(samples.filter((status) => status !== 'synced' && status !== 'syncing')).toEqual([]);
    expect(samples.at(-1)).toBe('synced');
    process.stderr.write(
      `istiod: ${String(samples.length)} samples through the rotation, ${String(samples.filter((status) => status === 'syncing').length)} of them "syncing" (new client warming up), none absent or failed\n`,
    );
    expect(
      running()
        .logLines()
        .slice(since)
        .filter((line) => /create remote cluster failed/.test(line)),
    ).toEqual([]);
  });

  it("stays synced across three renewals by the webhook's leader, taking each new token", async () => {
    // Due 6 s after each token is minted (0.01 of 10 minutes): the share drives the schedule.
    const created = await create(
      '--name',
      'renewing',
      '--token-duration',
      '10m',
      '--renew',
      '--renew-after',
      '0.01',
    );
    expect(created.status, created.stderr).toBe(0);
    await apply(created.stdout);
    await running().waitForCluster('renewing', (entry) => entry?.syncStatus === 'synced');
    const storedToken = async (): Promise<string> =>
      tokenOf(
        kubeconfigOf(
          await storedSecret(primary.kubeconfigPath, NAMESPACE, 'istio-remote-secret-renewing'),
          'renewing',
        ),
      );
    const tokens = [await storedToken()];
    const samples: string[] = [];
    const sampling = { on: true };
    const sampler = (async () => {
      while (sampling.on) {
        const entry = (await running().clusterz()).find((item) => item.id === 'renewing');
        samples.push(entry?.syncStatus ?? 'absent');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const since = running().logLines().length;
    const renewerTls = writeTlsFixture();
    const renewer = await startWebhookProcess({
      tls: renewerTls,
      kubeconfigPath: primary.kubeconfigPath,
      mode: 'audit',
      localClusterId: PRIMARY_ID,
      namespace: NAMESPACE,
      extraArgs: [
        ...['--no-leader-elect', '--audit-interval', '3600'],
        ...['--renew-tokens', '--renew-interval', '1', '--renew-allow-loopback'],
      ],
    });
    // istiod has rebuilt its client for each new token and synced the last one.
    const settled = async (renewals: number): Promise<boolean> =>
      running()
        .logLines()
        .slice(since)
        .filter((line) => /Update cluster.*cluster=renewing|cluster=renewing.*Update cluster/.test(line))
        .length >= renewals &&
      (await running().clusterz()).find((item) => item.id === 'renewing')?.syncStatus === 'synced';
    try {
      await eventually(async () => {
        const token = await storedToken();
        if (token !== tokens.at(-1)) tokens.push(token);
        return tokens.length >= 4;
      }, 90_000);
      await eventually(() => settled(3), 30_000);
    } finally {
      await stopWebhookProcess(renewer);
      rmSync(renewerTls.dir, { recursive: true, force: true });
    }
    try {
      // The renewer may have renewed once more before it stopped (its interval is 1 s; seen in
      // CI): once it has exited, the stored token is the last one, and the sampler runs on until
      // istiod has taken that one too.
      const last = await storedToken();
      if (last !== tokens.at(-1)) tokens.push(last);
      await eventually(() => settled(tokens.length - 1), 30_000);
    } finally {
      sampling.on = false;
      await sampler;
    }
    expect(new Set(tokens).size).toBe(tokens.length);
    // istiod swaps to the new client once it synced; the old one serves until then: never absent,
    // never failed, synced at the end.
    expect(samples.length).toBeGreaterThan(30);
    expect(samples.filter((status) => status !== 'synced' && status !== 'syncing')).toEqual([]);
    expect(samples.at(-1)).toBe('synced');
    expect(
      running()
        .logLines()
        .slice(since)
        .filter((line) => /create remote cluster failed|cluster=renewing.*(?:error|failed)/i.test(line)),
    ).toEqual([]);
    process.stderr.write(
      `istiod: ${String(tokens.length - 1)} renewals by the webhook, ${String(samples.length)} samples, ${String(samples.filter((status) => status === 'syncing').length)} of them "syncing", none absent or failed\n`,
    );
  });

  it("ignores the primary's own cluster ID and a second claim on one ID, as our codes say", async () => {
    const own = await create('--name', PRIMARY_ID);
    expect(own.status, own.stderr).toBe(0);
    const since = running().logLines().length;
    await apply(own.stdout);
    await running().waitForLog(/ignoring cluster as it would overwrite the config cluster/, { since });
    expect(
      (await running().clusterz()).filter(({ secretName }) => secretName.endsWith(`-${PRIMARY_ID}`)),
    ).toEqual([]);
    const ours = await runPluginAsync(
      ['check', '--local-cluster-id', PRIMARY_ID, '-o', 'json', '-'],
      own.stdout,
    );
    expect(ours.stdout).toContain('"local-cluster-id"');
  });

  it('keeps the first claimant of a duplicate while it runs, takes one of them after a restart, and does not fall back when the holder goes', async () => {
    const first = await create('--name', 'dup');
    expect(first.status, first.stderr).toBe(0);
    await apply(first.stdout);
    await running().waitForCluster('dup', (entry) => entry?.syncStatus === 'synced');
    // The same cluster ID under a secret whose name sorts before istio-remote-secret-dup, created
    // a second later (creation times have one-second resolution).
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const copy = first.stdout.replace('name: istio-remote-secret-dup', 'name: istio-remote-secret-aaa-dup');
    expect(copy).not.toBe(first.stdout);
    const since = running().logLines().length;
    await apply(copy);
    await running().waitForLog(/cluster has already been registered/, { since });
    expect((await running().clusterz()).find(({ id }) => id === 'dup')?.secretName).toBe(
      `${NAMESPACE}/istio-remote-secret-dup`,
    );
    const verified = await runPluginAsync([
      'verify',
      '--kubeconfig',
      primary.kubeconfigPath,
      '--istiod',
      running().httpUrl,
    ]);
    expect(verified.status).toBe(1);
    expect(verified.stdout).toContain(
      `dup (${NAMESPACE}/istio-remote-secret-aaa-dup): istiod takes this cluster ID from ${NAMESPACE}/istio-remote-secret-dup`,
    );

    // Our audit blames the later claimant, and says which secret istiod uses now and after a restart.
    const audited = await runPluginAsync(['audit', '--kubeconfig', primary.kubeconfigPath, '-o', 'json']);
    const report = JSON.parse(audited.stdout) as {
      clusters: { secret: string; cluster: string; violations: { code: string }[] }[];
      sharedClusterIds: { cluster: string; usedNow: string; usedAfterRestart: string }[];
    };
    const conflict = report.sharedClusterIds.find(({ cluster }) => cluster === 'dup');
    expect(conflict).toMatchObject({
      usedNow: `${NAMESPACE}/istio-remote-secret-dup`,
      usedNowCertain: true,
      usedAfterRestart: `${NAMESPACE}/istio-remote-secret-aaa-dup`,
    });
    const blamed = report.clusters
      .filter(
        ({ cluster, violations }) =>
          cluster === 'dup' && violations.some(({ code }) => code === 'duplicate-cluster-id'),
      )
      .map(({ secret }) => secret);
    expect(blamed).toEqual([`${NAMESPACE}/istio-remote-secret-aaa-dup`]);

    // After a restart istiod takes one of the two, not necessarily the one it used before: its
    // handler gets the informer's first list in name order when it joins before the informer
    // starts, and the informer's cache in map order when it joins later (client-go replays the
    // cache). Measured: usually the name that sorts first, not always.
    await running().stop();
    istiod = await startOurIstiod();
    const afterRestart = await running().waitForCluster('dup', (entry) => entry?.syncStatus === 'synced');
    const claimants = ['istio-remote-secret-aaa-dup', 'istio-remote-secret-dup'];
    const holder = claimants.find((name) => afterRestart?.secretName === `${NAMESPACE}/${name}`);
    expect(holder, JSON.stringify(afterRestart)).toBeDefined();
    const other = claimants.find((name) => name !== holder) ?? '';
    process.stderr.write(`istiod: after a restart it took ${String(holder)} for "dup"\n`);

    // Deleting the holder drops the remote; istiod does not fall back to the other claimant...
    const deleted = await onPrimary(['delete', 'secret', '-n', NAMESPACE, holder ?? '']);
    expect(deleted.status, deleted.stderr).toBe(0);
    await running().waitForCluster('dup', (entry) => entry === undefined);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect((await running().clusterz()).find(({ id }) => id === 'dup')).toBeUndefined();
    // ...until that one changes.
    const touched = await onPrimary([
      'annotate',
      'secret',
      '-n',
      NAMESPACE,
      other,
      'kubectl-remote-secret/touched=now',
      '--overwrite',
    ]);
    expect(touched.status, touched.stderr).toBe(0);
    const back = await running().waitForCluster('dup', (entry) => entry?.syncStatus === 'synced');
    expect(back?.secretName).toBe(`${NAMESPACE}/${other}`);
  });

  it('syncs the secret istioctl create-remote-secret writes for the same remote, side by side with ours', async () => {
    const istioctl = spawnSync(
      istioTestenv ?? 'istio-testenv',
      [
        'istioctl',
        'create-remote-secret',
        '--kubeconfig',
        remote.kubeconfigPath,
        '--name',
        'by-istioctl',
        // Without it istioctl takes the kubeconfig context's namespace (docs/istio-parity.md).
        '--namespace',
        NAMESPACE,
      ],
      { encoding: 'utf8', env: { ...process.env, KUBECONFIG: remote.kubeconfigPath, HOME: tmpdir() } },
    );
    expect(istioctl.status, istioctl.stderr).toBe(0);
    expect(firstSecret(istioctl.stdout).metadata.name).toBe('istio-remote-secret-by-istioctl');
    await apply(istioctl.stdout);
    await running().waitForCluster('by-istioctl', (entry) => entry?.syncStatus === 'synced');
    expect((await running().clusterz()).find(({ id }) => id === 'remote')?.syncStatus).toBe('synced');
  });

  it('agrees with istiod on every stored kubeconfig: what istiod refuses we reject, what we allow istiod uses', async () => {
    // The webhook in audit mode lets everything be stored, as a webhook in audit mode (or none) would.
    tls = writeTlsFixture();
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: primary.kubeconfigPath,
      mode: 'audit',
      localClusterId: PRIMARY_ID,
      namespace: NAMESPACE,
    });
    await registerShippedWebhook(primary.kubeconfigPath, webhook, tls, NAMESPACE);

    // Generated kubeconfigs, kept only where Istio's own reading names hosts this test may reach.
    const oracle = await Oracle.start(istioTestenv ?? 'istio-testenv');
    const generated = fc.sample(kubeconfigVariant, { numRuns: GENERATED * 3, seed: 20261202 });
    const readings = await oracle.run(
      generated.map(({ text }, index) => ({ id: String(index), kubeconfig: text })),
    );
    await oracle.close();
    const cases: StoredCase[] = [...fixtureCases()];
    generated.forEach(({ text }, index) => {
      const reading = readings[index];
      const safe =
        reading !== undefined &&
        reading.clusters.every(({ server, proxyUrl }) => dialsOnlyHere(server) && dialsOnlyHere(proxyUrl));
      if (safe && cases.length < 200) {
        cases.push({
          id: `gen-${String(index)}`,
          origin: `generated #${String(index)}`,
          bytes: Buffer.from(text, 'utf8'),
        });
      }
    });
    expect(cases.length).toBeGreaterThan(100);
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: cases.map(({ id, bytes }) => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: `istio-remote-secret-${id}`,
          namespace: NAMESPACE,
          labels: { 'istio/multiCluster': 'true', 'kubectl-remote-secret/test': 'parity' },
        },
        data: { [id]: Buffer.from(bytes).toString('base64') },
      })),
    };
    const since = running().logLines().length;
    const stored = await onPrimary(['apply', '-f', '-'], JSON.stringify(list));
    expect(stored.status, stored.stderr).toBe(0);

    // istiod's verdict: the cluster shows in /debug/clusterz (used), or its log says it refused it.
    const refusedBy = (id: string): string | undefined =>
      running()
        .logLines()
        .slice(since)
        .find(
          (line) =>
            // The error text may span lines; the controller's summary line always names the secret.
            (line.includes('create remote cluster failed') &&
              new RegExp(`cluster=${id}(?:\\s|$)`).test(line)) ||
            line.includes(`error adding remote config ${NAMESPACE}/istio-remote-secret-${id}:`),
        );
    const deadline = Date.now() + 90_000;
    let used = new Set<string>();
    for (;;) {
      used = new Set((await running().clusterz()).map(({ id }) => id));
      if (cases.every(({ id }) => used.has(id) || refusedBy(id) !== undefined) || Date.now() > deadline)
        break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }

    // Ours: what `audit` (the webhook's own decision) says of the same stored secrets.
    const audited = await runPluginAsync(['audit', '--kubeconfig', primary.kubeconfigPath, '-o', 'json']);
    const report = JSON.parse(audited.stdout) as {
      clusters: { cluster: string; status: string; violations: Violation[] }[];
    };
    const ours = new Map(report.clusters.map((entry) => [entry.cluster, entry]));
    const findings: string[] = [];
    let stricter = 0;
    for (const { id, origin } of cases) {
      const verdict = ours.get(id);
      const refused = refusedBy(id);
      if (verdict === undefined) {
        findings.push(`${origin}: audit does not list it`);
      } else if (!used.has(id) && refused === undefined) {
        const mentions = running()
          .logLines()
          .slice(since)
          .filter((line) => line.includes(id))
          .slice(0, 5);
        findings.push(
          `${origin}: istiod neither used nor refused it; its log says: ${mentions.join(' / ') || 'nothing'}`,
        );
      } else if (refused !== undefined && verdict.status !== 'violation') {
        findings.push(`${origin}: istiod refuses it (${refused.slice(0, 300)}), we allow it`);
      } else if (used.has(id) && verdict.status === 'violation') {
        stricter += 1;
        const unexpected = unexplained(verdict.violations, DELIBERATE);
        if (unexpected.length > 0) {
          findings.push(
            `${origin}: istiod uses it, we reject it for ${unexpected.map(({ code, message }) => `${code} (${message})`).join('; ')}`,
          );
        }
      }
    }
    expect(findings).toEqual([]);
    const usedCount = cases.filter(({ id }) => used.has(id)).length;
    process.stderr.write(
      `istiod parity: ${String(cases.length)} stored kubeconfigs, istiod used ${String(usedCount)} and refused ${String(cases.length - usedCount)}; we were deliberately stricter on ${String(stricter)}\n`,
    );
    // Both kinds must be there, or the comparison proves nothing.
    expect(usedCount).toBeGreaterThan(10);
    expect(cases.length - usedCount).toBeGreaterThan(10);

    const cleaned = await kubectl(
      primary.kubeconfigPath,
      ['delete', 'secret', '-n', NAMESPACE, '-l', 'kubectl-remote-secret/test=parity', '--wait=false'],
      { timeoutMs: 180_000 },
    );
    expect(cleaned.status, cleaned.stderr).toBe(0);
  }, 300_000);
});
