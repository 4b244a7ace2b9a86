import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runPlugin } from '../test/cli.ts';

// Port 1 of loopback: fetch refuses to dial it at all, so an audit that gets as far as the API
// server fails at once, and its message names the namespace it was asked for.
const KUBECONFIG = join(tmpdir(), `remote-secret-flags-${process.pid}.yaml`);
writeFileSync(
  KUBECONFIG,
  `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:1' } }]
users: [{ name: u, user: { token: not-a-real-token } }]
contexts: [{ name: local, context: { cluster: c, user: u } }]
current-context: local
`,
);
const CLEAN = 'test/testdata/secrets/clean.yaml';

describe("kubectl's attached short options", () => {
  it.each([
    { args: ['version', '-ojson'] },
    { args: ['version', '-o=json'] },
    { args: ['version', '--output=json'] },
    { args: ['check', '-ojson', CLEAN] },
  ])('$args writes JSON', ({ args }) => {
    const run = runPlugin(args);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(() => JSON.parse(run.stdout) as unknown).not.toThrow();
  });

  it.each([
    { args: ['audit', '-oyaml', '-nmesh-a'], namespace: 'mesh-a' },
    { args: ['audit', '-n=mesh-b'], namespace: 'mesh-b' },
    { args: ['audit', '--namespace=mesh-c'], namespace: 'mesh-c' },
  ])('$args asks for namespace $namespace', ({ args, namespace }) => {
    const run = runPlugin([...args, '--kubeconfig', KUBECONFIG, '--request-timeout', '2s']);
    expect(run.stderr).toContain('cannot reach the API server at https://127.0.0.1:1');
    expect(run.stderr).toContain(`in namespace ${namespace}\n`);
    expect(run.status).toBe(2);
  });
});

describe('numbers that are not numbers', () => {
  it.each([
    {
      args: ['audit', '--limit', 'abc'],
      message: 'error: --limit "abc" is not a whole number; use a whole number from 1 to 10000',
    },
    {
      args: ['audit', '--limit', '0'],
      message: 'error: --limit 0 is out of range; use a whole number from 1 to 10000',
    },
    {
      args: ['webhook-cert', '--validity-days', 'a year'],
      message:
        'error: --validity-days "a year" is not a whole number; use a whole number of days from 1 to 3650',
    },
  ])('$args is refused with the flag name, exit status 2', ({ args, message }) => {
    const run = runPlugin([...args, '--kubeconfig', KUBECONFIG]);
    expect(run.stderr.split('\n')[0]).toBe(message);
    expect(run.stdout).toBe('');
    expect(run.status).toBe(2);
  });
});

describe('messages about nothing found go to stderr', () => {
  it.each([['text'], ['json']])('check -o %s of a file without remote secrets', (output) => {
    const run = runPlugin(['check', '-o', output, 'test/testdata/secrets/not-multicluster.yaml']);
    expect(run.stderr).toContain('no remote secrets');
    expect(run.stdout).not.toContain('no remote secrets');
  });
});

describe('verify --in-cluster outside a pod', () => {
  it('stops with exit status 2, says why, and points at the Job example that exists', () => {
    const home = join(tmpdir(), `remote-secret-flags-home-${process.pid}`);
    const run = runPlugin(['verify', '--in-cluster'], {
      env: { KUBECONFIG: '', HOME: home, KUBERNETES_SERVICE_HOST: '' },
    });
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('--in-cluster: not in a pod (KUBERNETES_SERVICE_HOST is not set)');
    const example = /docs\/examples\/[\w.-]+\.yaml/.exec(run.stderr)?.[0];
    expect(example, run.stderr).toBeDefined();
    expect(existsSync(join(REPO_ROOT, example ?? ''))).toBe(true);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
