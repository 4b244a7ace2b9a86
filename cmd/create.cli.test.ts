import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runPlugin } from '../test/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'create-cli-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A kubeconfig whose server nothing answers on: enough for everything decided before a request. */
const KUBECONFIG = join(dir, 'remote.kubeconfig');
writeFileSync(
  KUBECONFIG,
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'east', cluster: { server: 'https://127.0.0.1:9' } }],
    users: [{ name: 'east', user: { token: 't' } }],
    contexts: [{ name: 'east', context: { cluster: 'east', user: 'east' } }],
    'current-context': 'east',
  }),
);

// No KUBECONFIG and an empty home: a test must never read the developer's own kubeconfig.
const env = { KUBECONFIG: '', HOME: dir };

describe('kubectl remote-secret create --help', () => {
  it('lists every flag', () => {
    const run = runPlugin(['create', '--help'], { env });
    expect(run.status).toBe(0);
    for (const flag of [
      '--kubeconfig',
      '--context',
      '--name',
      '--server',
      '--tls-server-name',
      '--namespace',
      '--istio-namespace',
      '--service-account',
      '--create-service-account',
      '--secret-name',
      '--type',
      '--auth-type',
      '--auth-plugin-name',
      '--auth-plugin-config',
      '--token-duration',
      '--rotate',
      '--retire-old',
      '--ca-from',
      '--timeout',
      '--request-timeout',
      '--output',
      '--dry-run',
      '--apply',
      '--primary-context',
      '--primary-kubeconfig',
    ]) {
      expect(run.stdout).toContain(flag);
    }
  });

  it('verify --help lists its flags', () => {
    const run = runPlugin(['verify', '--help'], { env });
    expect(run.status).toBe(0);
    for (const flag of ['--filename', '--kubeconfig', '--context', '--namespace', '--timeout', '--output']) {
      expect(run.stdout).toContain(flag);
    }
  });
});

describe('create: exit status 2 before anything touches a cluster', () => {
  it.each([
    { args: ['--name', 'Not_A_Label'], stderr: 'error: --name "Not_A_Label" is not a valid DNS-1123 label' },
    { args: ['--server', 'http://east.example'], stderr: 'is not an https:// URL' },
    { args: ['--token-duration', '1m'], stderr: 'shorter than the 10m' },
    { args: ['--apply'], stderr: '--apply needs the primary cluster' },
    { args: ['--type', 'primary'], stderr: 'Invalid values' },
    {
      args: ['--context', 'west'],
      stderr: `error: context "west" is not in ${KUBECONFIG}\nhint: known contexts: east`,
    },
    { args: ['--kubeconfig', join(dir, 'missing')], stderr: 'error: cannot load kubeconfig' },
  ])('$args', ({ args, stderr }) => {
    const run = runPlugin(['create', '--kubeconfig', KUBECONFIG, ...args], { env });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(stderr);
    expect(run.stdout).toBe('');
  });

  it('without any kubeconfig says how to name one', () => {
    const run = runPlugin(['create', '--name', 'east'], { env });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(
      'error: no kubeconfig found\nhint: pass --kubeconfig FILE, or set KUBECONFIG',
    );
  });
});

describe('start-up stays cheap', () => {
  // A resolve hook preloaded into the plugin's Node reports whether client-node was ever loaded.
  const HOOK = join(REPO_ROOT, 'test/testdata/hooks/report-client-node.cjs');
  const BUNDLE = join(REPO_ROOT, 'dist/plugin/kubectl-remote_secret.cjs');
  const NODE = join(REPO_ROOT, 'node_modules/node/bin/node');
  const loadsClientNode = (args: string[]): boolean => {
    const result = spawnSync(NODE, ['-r', HOOK, BUNDLE, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
    const report = /client-node loaded: (true|false)/.exec(result.stderr);
    expect(report, result.stderr).not.toBeNull();
    return report?.[1] === 'true';
  };

  it.each([
    { args: ['--help'] },
    { args: ['check', 'test/testdata/secrets/clean.yaml'] },
    { args: ['check', '--help'] },
    { args: ['create', '--help'] },
  ])('$args never loads @kubernetes/client-node', ({ args }) => {
    expect(loadsClientNode(args)).toBe(false);
  });

  it('a command that talks to a cluster does load it (the hook can tell)', () => {
    expect(loadsClientNode(['create', '--kubeconfig', '/nonexistent', '--name', 'x'])).toBe(true);
  });
});
