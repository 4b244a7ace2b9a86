import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
    { args: ['--server', 'http://10.0.0.1'], stderr: 'is not an https:// URL' },
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
  /** The files Node loads before main runs: the entry and every chunk it imports statically. */
  function staticClosure(entry: string): Map<string, string> {
    const seen = new Map<string, string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      const code = readFileSync(file, 'utf8');
      seen.set(file, code);
      for (const match of code.matchAll(/(?:^|[;\n])import(?:[^;("]*from)?\s*"(\.[^"]+)"/g)) {
        visit(join(dirname(file), match[1] ?? ''));
      }
    };
    visit(entry);
    return seen;
  }

  it('nothing loaded at start-up imports @kubernetes/client-node; commands load it dynamically', () => {
    const closure = staticClosure(join(REPO_ROOT, 'dist/plugin/kubectl-remote_secret.mjs'));
    expect(closure.size).toBeGreaterThan(0);
    for (const [file, code] of closure) {
      expect(code, file).not.toMatch(/(^|[;\n])import[^;("]*from\s*"@kubernetes\/client-node"/);
    }
    const everything = readdirSync(join(REPO_ROOT, 'dist/plugin/chunks'))
      .filter((name) => name.endsWith('.mjs'))
      .map((name) => readFileSync(join(REPO_ROOT, 'dist/plugin/chunks', name), 'utf8'))
      .join('\n');
    expect(everything).toContain('import("@kubernetes/client-node")');
  });
});
