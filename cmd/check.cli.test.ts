import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { PLUGIN, REPO_ROOT, runPlugin } from '../test/cli.ts';

const FIXTURES = 'test/testdata/secrets';
const GOLDEN = new URL('./testdata/golden/', import.meta.url);
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const fixtures = readdirSync(FIXTURES).sort();

/** Compare with a golden file, or rewrite it when UPDATE_GOLDEN=1. */
function golden(name: string, actual: string): void {
  const file = new URL(name, GOLDEN);
  if (UPDATE) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

const transcript = (run: ReturnType<typeof runPlugin>) =>
  `exit status: ${run.status}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;

describe('kubectl remote-secret check on fixtures', () => {
  it.each(fixtures)('%s: text output matches its golden file', (fixture) => {
    const run = runPlugin(['check', `${FIXTURES}/${fixture}`, '--local-cluster-id', 'primary']);
    golden(`${fixture}.txt`, transcript(run));
    expect(run.stdout + run.stderr).not.toContain('CANARY-SECRET-TOKEN');
  });

  it.each(fixtures)('%s: -o json prints one object of the documented schema', (fixture) => {
    const run = runPlugin(['check', `${FIXTURES}/${fixture}`, '--local-cluster-id', 'primary', '-o', 'json']);
    golden(`${fixture}.json`, run.stdout);
    const document = JSON.parse(run.stdout) as { results: unknown[]; errors: unknown[] };
    expect(Object.keys(document)).toEqual(['results', 'errors']);
    for (const result of document.results) {
      expect(result).toEqual({
        source: expect.any(String),
        secret: expect.any(String),
        cluster: expect.any(String),
        allowed: expect.any(Boolean),
        violations: expect.any(Array),
      });
    }
    expect(run.stdout).not.toContain('CANARY-SECRET-TOKEN');
  });
});

describe('exit statuses', () => {
  it.each([
    {
      name: 'every secret allowed',
      args: ['check', `${FIXTURES}/clean.yaml`, `${FIXTURES}/clean-data.yaml`],
      status: 0,
    },
    {
      name: 'a secret rejected',
      args: ['check', `${FIXTURES}/clean.yaml`, `${FIXTURES}/exec.yaml`],
      status: 1,
    },
    { name: 'a document that cannot be read', args: ['check', `${FIXTURES}/not-yaml.yaml`], status: 1 },
    {
      name: 'a cluster ID clash across files',
      args: ['check', `${FIXTURES}/clean.yaml`, `${FIXTURES}/duplicate-cluster-id.yaml`],
      status: 1,
    },
    {
      name: 'two versions of one secret (before and after --rotate), which are one claimant',
      args: ['check', `${FIXTURES}/clean.yaml`, `${FIXTURES}/clean.yaml`],
      status: 0,
    },
    {
      name: 'an allow-listed option',
      args: ['check', '--allow', 'exec', `${FIXTURES}/exec.yaml`],
      status: 0,
    },
    {
      name: 'comma-separated allow-list',
      args: ['check', '--allow', 'tokenFile,exec', `${FIXTURES}/multi-cluster.yaml`],
      status: 0,
    },
    { name: 'a missing file', args: ['check', `${FIXTURES}/does-not-exist.yaml`], status: 2 },
    { name: 'a directory', args: ['check', FIXTURES], status: 2 },
    { name: 'an unknown flag', args: ['check', '--bogus', `${FIXTURES}/clean.yaml`], status: 2 },
    { name: 'an unknown command', args: ['chekc'], status: 2 },
    { name: 'no command', args: [], status: 2 },
    // istiod keeps such an entry (and it allows nothing there), so check keeps it too and warns.
    {
      name: 'a misspelt allow option',
      args: ['check', '--allow', 'TokenFile', `${FIXTURES}/clean.yaml`],
      status: 0,
    },
    { name: 'a bad output format', args: ['check', '-o', 'xml', `${FIXTURES}/clean.yaml`], status: 2 },
  ])('$name: exit status $status', ({ args, status }) => {
    const run = runPlugin(args);
    expect(run.status).toBe(status);
    if (args.includes('TokenFile')) {
      expect(run.stderr).toContain('warning: --allow: "TokenFile" allows nothing');
      expect(run.stderr).toContain('write tokenFile');
    }
    if (status === 2) {
      expect(run.stderr).toMatch(/^error: /);
      expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace for a user mistake
    }
  });

  it('reads standard input when no file is named', () => {
    const run = runPlugin(['check'], { input: readFileSync(`${FIXTURES}/exec.yaml`, 'utf8') });
    expect(run.status).toBe(1);
    expect(run.stdout).toContain(
      'REJECTED istio-system/istio-remote-secret-evil-exec cluster=evil-exec (stdin:0)',
    );
  });

  it('prints usage with --help', () => {
    const run = runPlugin(['check', '--help']);
    expect(run.status).toBe(0);
    for (const flag of ['--local-cluster-id', '--allow', '--output']) expect(run.stdout).toContain(flag);
  });
});

describe('through kubectl', () => {
  it('kubectl finds the plugin on PATH and runs `kubectl remote-secret check`', () => {
    const result = spawnSync('kubectl', ['remote-secret', 'check', `${FIXTURES}/exec.yaml`], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dirname(PLUGIN)}:${process.env['PATH'] ?? ''}` },
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('REJECTED istio-system/istio-remote-secret-evil-exec');
  });
});

describe('hostile input', () => {
  it('refuses a 50 MB file without reading it, exit status 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'check-big-'));
    const big = join(dir, 'big.yaml');
    writeFileSync(big, '');
    truncateSync(big, 50 * 1024 * 1024);
    try {
      const run = runPlugin(['check', big]);
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('the limit is 16.0 MiB');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops reading a 50 MB pipe at the limit, exit status 2', () => {
    // A real pipe: the plugin stops reading at the cap and the writer gets SIGPIPE.
    const result = spawnSync('sh', ['-c', `head -c 52428800 /dev/zero | tr '\\0' a | '${PLUGIN}' check -`], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('error: stdin: cannot read it: it is more than 16.0 MiB');
  });
});
