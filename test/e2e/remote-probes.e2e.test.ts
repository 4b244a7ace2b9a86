import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { load, loadAll } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { REPO_ROOT, runPluginAsync } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import { closedPort } from '../harness/ports.ts';
import { POLICY_REPORT_CRD } from '../harness/policy-report-crd.ts';
import {
  eventually,
  scrapeMetric,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * --probe-remotes on a real kube-apiserver, which is both the primary and the remote here: a
 * secret `create` made works (ok), one with a foreign token is refused (unauthenticated), one
 * whose ServiceAccount has no reader binding is forbidden, one naming a port nothing listens on
 * is unreachable. Metrics, Events and the PolicyReport say so; a cluster that gets worse gets an
 * Event; without --probe-allow-loopback nothing on loopback is dialed. `verify --in-cluster`
 * applies the same rules from the command line.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';
const REASON = 'RemoteSecretUnreachable';
const PROBE_ARGS = [
  '--no-leader-elect',
  '--audit-interval',
  '3600',
  '--probe-remotes',
  '--probe-interval',
  '1',
];

interface SecretOut {
  metadata: { name: string };
  stringData: Record<string, string>;
}

interface EventJson {
  involvedObject: { kind: string; name: string };
  reason: string;
  message: string;
  metadata: { annotations?: Record<string, string> };
}

function remoteSecret(name: string, cluster: string, kubeconfig: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE, labels: { 'istio/multiCluster': 'true' } },
    stringData: { [cluster]: kubeconfig },
  });
}

describe.skipIf(binaryPath === null)('remote probes from the primary, on a real API server', () => {
  let cluster: TestCluster;
  let tls: TlsFixture;
  let webhook: WebhookProcess | undefined;
  let token = '';
  let limitedToken = '';
  const run = (...args: string[]) => kubectl(cluster.kubeconfigPath, args);
  const apply = (manifest: string) =>
    kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], { input: manifest });
  const results = async () => {
    if (webhook === undefined) throw new Error('no webhook');
    const samples = await scrapeMetric(webhook, tls, 'remote_secret_webhook_remote_probe_result');
    return sorted(
      Object.fromEntries(
        Object.keys(samples).map((labels) => [
          /cluster="([^"]*)"/.exec(labels)?.[1] ?? '',
          /result="([^"]*)"/.exec(labels)?.[1] ?? '',
        ]),
      ),
    );
  };
  const probeEvents = async (): Promise<EventJson[]> => {
    const listed = await run(
      'get',
      'events',
      '-n',
      NAMESPACE,
      '--field-selector',
      `reason=${REASON}`,
      '-o',
      'json',
    );
    expect(listed.status, listed.stderr).toBe(0);
    return (JSON.parse(listed.stdout) as { items: EventJson[] }).items;
  };

  beforeAll(async () => {
    for (const script of ['build', 'bundle:webhook']) {
      const built = spawnSync('npm', ['run', script], { cwd: REPO_ROOT, encoding: 'utf8' });
      expect(built.status, built.stderr).toBe(0);
    }
    tls = writeTlsFixture();
    cluster = await startCluster('remote-probes', binaryPath === null ? {} : { binaryPath });
    expect((await run('create', 'namespace', NAMESPACE)).status).toBe(0);
    expect((await apply(JSON.stringify(POLICY_REPORT_CRD))).status).toBe(0);
    const created = await runPluginAsync([
      'create',
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--name',
      'east',
    ]);
    expect(created.status, created.stderr).toBe(0);
    const secret = loadAll(created.stdout)[0] as SecretOut;
    const east = secret.stringData['east'] ?? '';
    token = (load(east) as { users: { user: { token: string } }[] }).users[0]?.user.token ?? '';
    expect(token).not.toBe('');
    for (const args of [
      ['create', 'serviceaccount', 'limited', '-n', NAMESPACE],
      ['wait', '--for=condition=Established', 'crd/policyreports.wgpolicyk8s.io', '--timeout=60s'],
    ]) {
      const done = await run(...args);
      expect(done.status, done.stderr).toBe(0);
    }
    limitedToken = (await run('create', 'token', 'limited', '-n', NAMESPACE)).stdout.trim();
    const port = await closedPort();
    for (const manifest of [
      created.stdout,
      remoteSecret('istio-remote-secret-west', 'west', east.replace(token, 'not-a-token-this-server-knows')),
      remoteSecret('istio-remote-secret-limited', 'limited', east.replace(token, limitedToken)),
      remoteSecret(
        'istio-remote-secret-gone',
        'gone',
        east.replace(cluster.server, `https://127.0.0.1:${String(port)}`),
      ),
    ]) {
      const applied = await apply(manifest);
      expect(applied.status, applied.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    await stopWebhookProcess(webhook);
    rmSync(tls.dir, { recursive: true, force: true });
    await stopAllClusters();
  });

  it('publishes each remote as the primary reaches it: metrics, one Event per failing cluster, a PolicyReport', async () => {
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
      extraArgs: [...PROBE_ARGS, '--probe-allow-loopback', '--policy-report'],
    });
    const expected = { east: 'ok', west: 'unauthenticated', limited: 'forbidden', gone: 'unreachable' };
    await eventually(async () => JSON.stringify(await results()) === JSON.stringify(sorted(expected)));
    const rounds = async () =>
      (await scrapeMetric(webhook as WebhookProcess, tls, 'remote_secret_webhook_probe_runs_total'))[
        '{result="ok"}'
      ] ?? 0;
    const first = await rounds();
    await eventually(async () => (await rounds()) >= first + 2);

    const events = await probeEvents();
    // One Event per failing cluster, however many rounds found it failing.
    expect(events.map((event) => event.involvedObject.name).sort()).toEqual([
      'istio-remote-secret-gone',
      'istio-remote-secret-limited',
      'istio-remote-secret-west',
    ]);
    const west = events.find((event) => event.involvedObject.name === 'istio-remote-secret-west');
    expect(west?.message).toContain(
      'remote cluster "west" of istio-system/istio-remote-secret-west is unauthenticated from the primary',
    );
    expect(west?.message).toContain('401 Unauthorized');
    const limited = events.find((event) => event.involvedObject.name === 'istio-remote-secret-limited');
    expect(limited?.message).toContain('is forbidden from the primary: missing');
    expect(limited?.metadata.annotations?.['remote-secret-webhook/outcome']).toBe('forbidden');

    let report:
      | { summary: Record<string, number>; results: { result: string; properties: Record<string, string> }[] }
      | undefined;
    await eventually(async () => {
      const got = await run(
        'get',
        'policyreports.wgpolicyk8s.io',
        'remote-secret-probes',
        '-n',
        NAMESPACE,
        '-o',
        'json',
      );
      if (got.status !== 0) return false;
      report = JSON.parse(got.stdout) as typeof report;
      return true;
    });
    expect(report?.summary).toEqual({ pass: 1, fail: 3, warn: 0, error: 0, skip: 0 });
    expect(
      report?.results.map((result) => `${result.properties['cluster'] ?? ''} ${result.result}`).sort(),
    ).toEqual(['east pass', 'gone fail', 'limited fail', 'west fail']);
    const output = webhook.output();
    expect(output).toContain('remote probes on: this replica dials the servers that remote secrets name');
    for (const text of [output, JSON.stringify(events), JSON.stringify(report)]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(limitedToken);
    }
  });

  it('verify --in-cluster refuses loopback servers that verify from this machine reaches', async () => {
    const here = await runPluginAsync(['verify', '--kubeconfig', cluster.kubeconfigPath, '-o', 'json']);
    const inCluster = await runPluginAsync([
      'verify',
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--in-cluster',
      '-o',
      'json',
    ]);
    const statusOf = (stdout: string) =>
      Object.fromEntries(
        (
          JSON.parse(stdout) as {
            clusters: { cluster: string; checks: { reachable: { status: string; message?: string } } }[];
          }
        ).clusters.map((entry) => [entry.cluster, entry.checks.reachable]),
      );
    expect(here.status).toBe(1);
    expect(statusOf(here.stdout)['east']).toMatchObject({ status: 'ok' });
    expect(inCluster.status).toBe(1);
    expect(statusOf(inCluster.stdout)['east']).toMatchObject({
      status: 'failed',
      message: expect.stringContaining('127.0.0.1 is a loopback address'),
    });
  });

  it('the Job example in docs: its ServiceAccount may list the secrets and nothing else, and verify --in-cluster reads them with it', async () => {
    const examplePath = join(REPO_ROOT, 'docs/examples/verify-in-cluster.yaml');
    const dryRun = await run('apply', '--dry-run=server', '-f', examplePath);
    expect(dryRun.status, dryRun.stderr).toBe(0);
    expect(dryRun.stdout).toContain('job.batch/remote-secret-verify created (server dry run)');
    const objects = loadAll(readFileSync(examplePath, 'utf8')) as { kind: string }[];
    expect(objects.map((object) => object.kind)).toEqual(['ServiceAccount', 'Role', 'RoleBinding', 'Job']);
    for (const object of objects.filter((each) => each.kind !== 'Job')) {
      const applied = await apply(JSON.stringify(object));
      expect(applied.status, applied.stderr).toBe(0);
    }
    const identity = `system:serviceaccount:${NAMESPACE}:remote-secret-verify`;
    const may = async (...args: string[]) =>
      (await run('auth', 'can-i', ...args, '--as', identity)).status === 0;
    expect(await may('list', 'secrets', '-n', NAMESPACE)).toBe(true);
    for (const denied of [
      ['get', 'secrets', '-n', NAMESPACE],
      ['watch', 'secrets', '-n', NAMESPACE],
      ['create', 'secrets', '-n', NAMESPACE],
      ['patch', 'secrets', '-n', NAMESPACE],
      ['delete', 'secrets', '-n', NAMESPACE],
      ['list', 'secrets', '-n', 'default'],
      ['list', 'secrets', '--all-namespaces'],
    ]) {
      expect(await may(...denied), denied.join(' ')).toBe(false);
    }
    // The pod's identity, as a kubeconfig (loadFromCluster reads a fixed path in a pod).
    const issued = await run('create', 'token', 'remote-secret-verify', '-n', NAMESPACE, '--duration', '10m');
    expect(issued.status, issued.stderr).toBe(0);
    const admin = load(readFileSync(cluster.kubeconfigPath, 'utf8')) as {
      users: { name: string; user: Record<string, unknown> }[];
    };
    const asPod = {
      ...admin,
      users: admin.users.map(({ name }) => ({ name, user: { token: issued.stdout.trim() } })),
    };
    const podKubeconfig = join(tls.dir, 'verify-job.kubeconfig');
    writeFileSync(podKubeconfig, JSON.stringify(asPod), { mode: 0o600 });
    const verified = await runPluginAsync([
      'verify',
      '--kubeconfig',
      podKubeconfig,
      '--in-cluster',
      '-o',
      'json',
    ]);
    expect(verified.status, verified.stderr).toBe(1);
    const clusters = (JSON.parse(verified.stdout) as { clusters: { cluster: string }[] }).clusters;
    expect(clusters.map((entry) => entry.cluster).sort()).toEqual(['east', 'gone', 'limited', 'west']);
    expect(verified.stdout).toContain('127.0.0.1 is a loopback address');
  });

  it('announces a cluster that got worse: the reader binding deleted turns east forbidden', async () => {
    const deleted = await run('delete', 'clusterrolebinding', 'istio-reader-clusterrole-istio-system');
    expect(deleted.status, deleted.stderr).toBe(0);
    await eventually(async () => (await results())['east'] === 'forbidden');
    await eventually(async () =>
      (await probeEvents()).some((event) => event.involvedObject.name === 'istio-remote-secret-east'),
    );
    const east = (await probeEvents()).find(
      (event) => event.involvedObject.name === 'istio-remote-secret-east',
    );
    expect(east?.message).toContain('kubectl remote-secret create --context <remote> --name east');
  });

  it('without --probe-allow-loopback, dials nothing on loopback: every cluster is unreachable, with why', async () => {
    webhook = await restart([...PROBE_ARGS]);
    const all = { east: 'unreachable', gone: 'unreachable', limited: 'unreachable', west: 'unreachable' };
    await eventually(async () => JSON.stringify(await results()) === JSON.stringify(sorted(all)));
    // The gauges are set before the log lines of the clusters that got worse are written.
    await eventually(() => Promise.resolve(webhook?.output().includes('"outcome":"unreachable"') === true));
    expect(webhook.output()).toContain('is a loopback address');
  });

  async function restart(extraArgs: string[]): Promise<WebhookProcess> {
    await stopWebhookProcess(webhook);
    return startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
      extraArgs,
    });
  }
});

function sorted(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
