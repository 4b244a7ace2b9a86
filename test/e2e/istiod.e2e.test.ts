import { spawnSync } from 'node:child_process';
import { loadAll } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, runPluginAsync } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { prepareIstioPrimary, startIstiod, type Istiod } from '../harness/istiod.ts';
import { kubectl } from '../harness/kubectl.ts';

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

describe.skipIf(kubeTestenv === null || istioTestenv === null)('istiod consumes what create makes', () => {
  let primary: TestCluster;
  let remote: TestCluster;
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
    expect(samples.length).toBeGreaterThan(10);
    expect(samples.filter((status) => status !== 'synced')).toEqual([]);
    expect(
      running()
        .logLines()
        .slice(since)
        .filter((line) => /create remote cluster failed/.test(line)),
    ).toEqual([]);
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

  it('keeps the first claimant of a duplicate while it runs, takes the name that sorts first after a restart, and does not fall back when the holder goes', async () => {
    const first = await create('--name', 'dup');
    expect(first.status, first.stderr).toBe(0);
    await apply(first.stdout);
    await running().waitForCluster('dup', (entry) => entry?.syncStatus === 'synced');
    // The same cluster ID under a secret whose name sorts before istio-remote-secret-dup.
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

    // After a restart istiod takes the claimant whose name sorts first.
    await running().stop();
    istiod = await startOurIstiod();
    const afterRestart = await running().waitForCluster('dup', (entry) => entry?.syncStatus === 'synced');
    expect(afterRestart?.secretName).toBe(`${NAMESPACE}/istio-remote-secret-aaa-dup`);

    // Deleting the holder drops the remote; istiod does not fall back to the other claimant...
    const deleted = await onPrimary(['delete', 'secret', '-n', NAMESPACE, 'istio-remote-secret-aaa-dup']);
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
      'istio-remote-secret-dup',
      'kubectl-remote-secret/touched=now',
      '--overwrite',
    ]);
    expect(touched.status, touched.stderr).toBe(0);
    const back = await running().waitForCluster('dup', (entry) => entry?.syncStatus === 'synced');
    expect(back?.secretName).toBe(`${NAMESPACE}/istio-remote-secret-dup`);
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
      { encoding: 'utf8', env: { ...process.env, KUBECONFIG: remote.kubeconfigPath, HOME: REPO_ROOT } },
    );
    expect(istioctl.status, istioctl.stderr).toBe(0);
    expect(firstSecret(istioctl.stdout).metadata.name).toBe('istio-remote-secret-by-istioctl');
    await apply(istioctl.stdout);
    await running().waitForCluster('by-istioctl', (entry) => entry?.syncStatus === 'synced');
    expect((await running().clusterz()).find(({ id }) => id === 'remote')?.syncStatus).toBe('synced');
  });
});
