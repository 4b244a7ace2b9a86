import { spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildRelease, type Release } from '../../scripts/release.ts';
import { cacheDir, hostTarget, TARGETS, targetName } from '../../scripts/sea.ts';
import { DEFAULT_BASE_URL } from '../../scripts/krew-manifest.ts';
import type { CliRun } from '../cli.ts';
import { REPO_ROOT } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { runProcess } from '../harness/process.ts';

/**
 * The released plugin: `npm run package` for this machine's platform, then the executable alone,
 * taken out of its archive into an empty folder, run by the real kubectl as `kubectl remote-secret`
 * with a PATH of that folder and kubectl only: no Node.js, no node_modules anywhere near it.
 */
const binaryPath = inject('kubeTestenvBinary');
const krewBinary = inject('krewBinary');
const krewValidateBinary = inject('krewValidateBinary');
const host = hostTarget();
const linuxAmd64 = TARGETS.find((target) => targetName(target) === 'linux-amd64');
const canPackage = host !== undefined && targetName(host) === 'linux-amd64' && linuxAmd64 !== undefined;
const BANNER = '!'.repeat(78);

if (!canPackage) {
  // The test runs the linux-amd64 executable; elsewhere it cannot. CI runs on linux-amd64.
  if (process.env['CI'] === 'true')
    throw new Error(`the package test needs linux-amd64, not ${process.platform}-${process.arch}`);
  process.stderr.write(
    `\n${BANNER}\n!! PACKAGE TEST SKIPPED: it runs the linux-amd64 single executable; this is ${process.platform}-${process.arch}.\n${BANNER}\n`,
  );
}

/** The first `name` on PATH that can be run. */
function which(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

describe.skipIf(!canPackage)('the single-executable plugin, alone on PATH', () => {
  let release: Release;
  let dir: string;
  /** PATH for the runs: the plugin's folder and a folder holding a link to kubectl, nothing else. */
  let path: string;
  let cwd: string;
  let packageSeconds: number;

  const kubectl = (args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> =>
    runProcess('kubectl', args, { cwd, env: { PATH: path, HOME: cwd, KUBECONFIG: '', ...env } });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'package-e2e-'));
    const started = performance.now();
    release = await buildRelease({
      root: REPO_ROOT,
      outDir: join(dir, 'release'),
      workDir: join(dir, 'work'),
      targets: linuxAmd64 === undefined ? [] : [linuxAmd64],
      targetsRequired: true,
      baseUrl: DEFAULT_BASE_URL,
      codeCache: true,
      cacheDir: cacheDir(process.env),
      env: process.env,
      progress: () => undefined,
      warn: (line) => process.stderr.write(`${line}\n`),
    });
    packageSeconds = (performance.now() - started) / 1000;
    process.stderr.write(`npm run package for linux-amd64 took ${packageSeconds.toFixed(1)} s\n`);

    const built = release.built[0];
    if (built === undefined) throw new Error('linux-amd64 was not built');
    const unpacked = join(dir, 'unpacked');
    mkdirSync(unpacked);
    const untar = spawnSync('tar', ['-xzf', built.archive, '-C', unpacked], { encoding: 'utf8' });
    expect(untar.status, untar.stderr).toBe(0);
    const pluginDir = join(dir, 'plugin');
    mkdirSync(pluginDir);
    copyFileSync(join(unpacked, 'kubectl-remote_secret'), join(pluginDir, 'kubectl-remote_secret'));
    chmodSync(join(pluginDir, 'kubectl-remote_secret'), 0o755);
    const kubectlPath = which('kubectl');
    if (kubectlPath === undefined) throw new Error('kubectl is not on PATH');
    const tools = join(dir, 'tools');
    mkdirSync(tools);
    symlinkSync(kubectlPath, join(tools, 'kubectl'));
    path = [pluginDir, tools].join(delimiter);
    cwd = join(dir, 'empty');
    mkdirSync(cwd);
  }, 300_000);

  afterAll(async () => {
    await stopAllClusters();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has no Node.js to lean on: PATH holds the plugin and kubectl only', async () => {
    expect(spawnSync('sh', ['-c', 'command -v node'], { env: { PATH: path } }).status).not.toBe(0);
    const plugins = await kubectl(['plugin', 'list']);
    expect(plugins.stdout).toContain(join(dir, 'plugin', 'kubectl-remote_secret'));
  });

  it('kubectl remote-secret version: the package version and commit, as a single executable', async () => {
    const run = await kubectl(['remote-secret', 'version', '-o', 'json']);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      version: release.version,
      commit: release.commit,
      node: expect.stringMatching(/^v26\./),
      platform: 'linux/amd64',
      singleExecutable: true,
    });
  });

  describe.skipIf(krewBinary === null || krewValidateBinary === null)('with the real krew', () => {
    it("passes krew-index's own manifest validation (validate-krew-manifest)", async () => {
      // --skip-install: the check would otherwise download every platform's archive.
      const run = await runProcess(
        krewValidateBinary ?? '',
        ['-manifest', release.manifest, '-skip-install'],
        {
          cwd,
          env: { PATH: path, HOME: cwd },
        },
      );
      expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
    });

    it('kubectl krew install --manifest --archive, offline, then kubectl remote-secret version', async () => {
      const built = release.built[0];
      if (built === undefined) throw new Error('linux-amd64 was not built');
      const krewRoot = join(dir, 'krew-root');
      const krewTools = join(dir, 'krew-tools');
      mkdirSync(krewTools);
      // kubectl finds krew as a plugin, as after krew's own install steps.
      symlinkSync(krewBinary ?? '', join(krewTools, 'kubectl-krew'));
      const kubectlDir = join(dir, 'tools');
      const env = {
        PATH: [join(krewRoot, 'bin'), krewTools, kubectlDir].join(delimiter),
        KREW_ROOT: krewRoot,
      };
      const install = await runProcess(
        'kubectl',
        ['krew', 'install', `--manifest=${release.manifest}`, `--archive=${built.archive}`],
        { cwd, env: { HOME: cwd, KUBECONFIG: '', ...env } },
      );
      expect(install.status, `${install.stdout}${install.stderr}`).toBe(0);
      expect(install.stderr).toContain('Installed plugin: remote-secret');
      // krew's receipt of it (`krew list` needs the plugin index, which this offline test has not).
      const receipt = readFileSync(join(krewRoot, 'receipts', 'remote-secret.yaml'), 'utf8');
      expect(receipt).toContain(`version: v${release.version}`);
      // Through kubectl, from krew's bin folder only (the plugin folder is not on this PATH).
      const version = await runProcess('kubectl', ['remote-secret', 'version', '-o', 'json'], {
        cwd,
        env: { HOME: cwd, KUBECONFIG: '', ...env },
      });
      expect(version.status, version.stderr).toBe(0);
      expect(JSON.parse(version.stdout)).toMatchObject({ version: release.version, singleExecutable: true });
      const plugins = await runProcess('kubectl', ['plugin', 'list'], { cwd, env: { HOME: cwd, ...env } });
      expect(plugins.stdout).toContain(join(krewRoot, 'bin', 'kubectl-remote_secret'));
    });
  });

  it.each([
    { fixture: 'clean.yaml', status: 0, verdict: 'ALLOWED' },
    { fixture: 'exec.yaml', status: 1, verdict: 'REJECTED' },
  ])('kubectl remote-secret check $fixture: exit $status, $verdict', async ({ fixture, status, verdict }) => {
    const run = await kubectl(['remote-secret', 'check', join(REPO_ROOT, 'test/testdata/secrets', fixture)]);
    expect(run.status, run.stderr).toBe(status);
    expect(run.stdout).toContain(verdict);
  });

  describe.skipIf(binaryPath === null)('against a real cluster', () => {
    let cluster: TestCluster;
    beforeAll(async () => {
      cluster = await startCluster('package', binaryPath === null ? {} : { binaryPath });
    });

    it('kubectl remote-secret create --dry-run reads the cluster (client-node, from the executable) and changes nothing', async () => {
      const run = await kubectl(['remote-secret', 'create', '--name', 'east', '--dry-run'], {
        KUBECONFIG: cluster.kubeconfigPath,
      });
      expect(run.status, run.stderr).toBe(0);
      for (const text of [
        '# would create ServiceAccount istio-system/istio-reader-service-account',
        '# would create ClusterRole istio-reader-clusterrole-istio-system',
        'token: DRY-RUN-PLACEHOLDER-TOKEN',
      ]) {
        expect(run.stdout).toContain(text);
      }
      expect(run.stdout).toContain(`server: ${cluster.server}`);
    });
  });

  it('the release files agree: SHA256SUMS and the krew manifest carry the archive sha256', () => {
    const built = release.built[0];
    expect(readFileSync(release.sums, 'utf8')).toBe(`${built?.sha256 ?? ''}  ${built?.name ?? ''}\n`);
    expect(readFileSync(release.manifest, 'utf8')).toContain(`sha256: ${built?.sha256 ?? ''}`);
  });
});
