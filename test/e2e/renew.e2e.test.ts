import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { loadAll } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, runPluginAsync } from '../cli.ts';
import { startCluster, stopAllClusters, type KeptTestCluster, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import {
  kubeconfigOf as kubeconfigIn,
  storedSecret,
  tokenOf,
  type StoredSecret,
} from '../harness/stored-secret.ts';

/**
 * `create --token-duration --renew` and `renew` on two real kube-apiservers: three renewals in a
 * row, each a new token from the remote while the old one keeps working, the secret otherwise
 * unchanged; a token renewed by its schedule once its share of life has passed; the Role removed
 * on the remote, and the remote stopped, each fail with why and leave the secret as it was.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';
const SECRET = 'istio-remote-secret-east';

describe.skipIf(binaryPath === null)('renewable remote secrets on a real primary and remote', () => {
  let primary: TestCluster;
  let remote: KeptTestCluster;
  let dir = '';
  const onPrimary = (...args: string[]) => kubectl(primary.kubeconfigPath, args);
  const onRemote = (...args: string[]) => kubectl(remote.kubeconfigPath, args);
  const renew = (...args: string[]) =>
    runPluginAsync(['renew', '--kubeconfig', primary.kubeconfigPath, ...args]);
  const stored = () => storedSecret(primary.kubeconfigPath, NAMESPACE, SECRET);
  const kubeconfigOf = (secret: StoredSecret) => kubeconfigIn(secret, 'east');
  /** Does this kubeconfig's token still authenticate to the remote? */
  const works = async (kubeconfig: string, name: string) => {
    const file = join(dir, name);
    writeFileSync(file, kubeconfig);
    return (await kubectl(file, ['get', 'pods', '-A'])).status === 0;
  };

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    dir = mkdtempSync(join(tmpdir(), 'renew-e2e-'));
    const options = binaryPath === null ? {} : { binaryPath };
    [primary, remote] = await Promise.all([
      startCluster('renew-primary', options),
      startCluster('renew-remote', { ...options, keepData: true }),
    ]);
    expect((await onPrimary('create', 'namespace', NAMESPACE)).status).toBe(0);
    const created = await runPluginAsync([
      ...['create', '--kubeconfig', remote.kubeconfigPath, '--name', 'east'],
      ...['--token-duration', '1h', '--renew'],
    ]);
    expect(created.status, created.stderr).toBe(0);
    const applied = await kubectl(primary.kubeconfigPath, ['apply', '-f', '-'], { input: created.stdout });
    expect(applied.status, applied.stderr).toBe(0);
    expect(loadAll(created.stdout)[0]).toBeDefined();
  });

  afterAll(async () => {
    await stopAllClusters();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves a token that is not due, and says when it will be', async () => {
    const run = await renew('--all');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/east\s+istio-system\/istio-remote-secret-east\s+\S+Z\s+\S+Z\s+-\s+NOT DUE/);
    const dry = await renew('--all', '--dry-run', '--force', '-o', 'json');
    expect(dry.status, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      dryRun: true,
      clusters: [{ cluster: 'east', status: 'would-renew' }],
    });
  });

  it('renews three times in a row: a new token each time, the old one still valid, nothing else changed', async () => {
    const first = await stored();
    const tokens = [tokenOf(kubeconfigOf(first))];
    let previous = first;
    for (let round = 1; round <= 3; round += 1) {
      const started = performance.now();
      const run = await renew(SECRET, '--force', '-o', 'json');
      const seconds = (performance.now() - started) / 1000;
      expect(run.status, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ clusters: [{ cluster: 'east', status: 'renewed' }] });
      const now = await stored();
      const kubeconfig = kubeconfigOf(now);
      const token = tokenOf(kubeconfig);
      expect(tokens).not.toContain(token);
      expect(decodeJwt(token).sub).toBe(`system:serviceaccount:${NAMESPACE}:istio-reader-service-account`);
      // Only the token moved: the kubeconfig text and the secret's labels and annotations are as they were.
      expect(kubeconfig).toBe(kubeconfigOf(previous).replace(tokenOf(kubeconfigOf(previous)), token));
      expect(now.metadata.labels).toEqual(first.metadata.labels);
      expect(now.metadata.annotations).toEqual(first.metadata.annotations);
      expect(Object.keys(now.data)).toEqual(['east']);
      expect(now.metadata.resourceVersion).not.toBe(previous.metadata.resourceVersion);
      expect(await works(kubeconfig, `new-${String(round)}.kubeconfig`)).toBe(true);
      expect(await works(kubeconfigOf(previous), `old-${String(round)}.kubeconfig`)).toBe(true);
      process.stderr.write(
        `renew: round ${String(round)} took ${seconds.toFixed(2)} s (the plugin's start included)\n`,
      );
      tokens.push(token);
      previous = now;
    }
    expect(JSON.stringify(await renew(SECRET, '--force'))).not.toContain(tokens[3]);
  });

  it('renews on its schedule once the share of its life has passed', async () => {
    // A share of 0.001 of 1h is 3.6 s: the schedule, not --force, decides.
    expect(
      (
        await onPrimary(
          'annotate',
          '--overwrite',
          'secret',
          SECRET,
          '-n',
          NAMESPACE,
          'kubectl-remote-secret/renew-after=0.001',
        )
      ).status,
    ).toBe(0);
    await renew(SECRET, '--force');
    const before = tokenOf(kubeconfigOf(await stored()));
    expect(JSON.parse((await renew('--all', '-o', 'json')).stdout)).toMatchObject({
      clusters: [{ status: 'not-due' }],
    });
    await new Promise((resolve) => setTimeout(resolve, 4500));
    const due = await renew('--all', '-o', 'json');
    expect(due.status, due.stderr).toBe(0);
    expect(JSON.parse(due.stdout)).toMatchObject({ clusters: [{ status: 'renewed' }] });
    expect(tokenOf(kubeconfigOf(await stored()))).not.toBe(before);
  });

  it('the Role removed on the remote: a failure that says so, and the secret kept', async () => {
    const before = await stored();
    const removed = await onRemote(
      'delete',
      'rolebinding',
      'istio-reader-service-account-token-renewer',
      '-n',
      NAMESPACE,
    );
    expect(removed.status, removed.stderr).toBe(0);
    const run = await renew(SECRET, '--force');
    expect(run.status).toBe(1);
    expect(run.stdout).toContain(
      'the Role or RoleBinding istio-reader-service-account-token-renewer is gone',
    );
    expect(run.stdout).toContain(
      'fix: restore it with `kubectl remote-secret create --context <remote> --name east',
    );
    expect(await stored()).toEqual(before);
  });

  it('a stopped remote: a failure that says it cannot reach it, and the secret kept', async () => {
    const before = await stored();
    await remote.stopKeepingData();
    const run = await renew(SECRET, '--force', '--request-timeout', '3s');
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(
      /no new token for istio-system\/istio-reader-service-account: (cannot reach|no answer)/,
    );
    expect(await stored()).toEqual(before);
  });
});
