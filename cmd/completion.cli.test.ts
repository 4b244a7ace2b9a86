import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runPlugin } from '../test/cli.ts';
import { completionScript } from './completion.ts';

/** PATH with the checkout's bin/ first: kubectl-remote_secret and kubectl_complete-remote_secret. */
const PATH = [join(REPO_ROOT, 'bin'), process.env['PATH'] ?? ''].join(delimiter);
const has = (command: string) => spawnSync(command, ['--version']).error === undefined;

describe('kubectl remote-secret completion', () => {
  it.each(['bash', 'zsh'] as const)('%s prints the script', (shell) => {
    const run = runPlugin(['completion', shell]);
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(completionScript(shell));
  });

  it('bash: the script is valid bash', () => {
    const check = spawnSync('bash', ['-n'], { input: completionScript('bash'), encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it.skipIf(!has('zsh'))('zsh: the script is valid zsh', () => {
    const check = spawnSync('zsh', ['-n'], { input: completionScript('zsh'), encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  // The script loaded into a real bash, asked as bash asks on <TAB>.
  const complete = (words: string[], env: NodeJS.ProcessEnv = {}): string[] => {
    const script = [
      completionScript('bash'),
      `COMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')})`,
      `COMP_CWORD=${words.length - 1}`,
      '_kubectl_remote_secret_completions',
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const run = spawnSync('bash', ['-c', script], {
      encoding: 'utf8',
      env: { ...process.env, PATH, SHELL: '/bin/zsh', ...env },
    });
    expect(run.stderr).toBe('');
    return run.stdout.split('\n').filter((line) => line !== '');
  };

  it.each([
    { words: ['kubectl-remote_secret', 'c'], expected: ['check', 'completion', 'create'] },
    { words: ['kubectl-remote_secret', 've'], expected: ['verify', 'version'] },
    { words: ['kubectl-remote_secret', 'check', '-o', ''], expected: ['text', 'json'] },
    { words: ['kubectl-remote_secret', 'completion', 'z'], expected: ['zsh'] },
    { words: ['kubectl-remote_secret', 'create', '--dry'], expected: ['--dry-run'] },
  ])('bash completes $words with $expected', ({ words, expected }) => {
    expect(complete(words).sort()).toEqual([...expected].sort());
  });

  it.each([
    { words: ['kubectl-remote_secret', 'audit', '--context', ''], expected: ['east', 'west'] },
    { words: ['kubectl-remote_secret', 'create', '--apply', '--primary-context', 'w'], expected: ['west'] },
  ])('bash completes the contexts of the kubeconfig: $words', ({ words, expected }) => {
    const kubeconfig = join(tmpdir(), `completion-${process.pid}.yaml`);
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        "clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:1' } }]",
        'users: [{ name: u, user: { token: t } }]',
        'contexts: [{ name: east, context: { cluster: c, user: u } }, { name: west, context: { cluster: c, user: u } }]',
        'current-context: east',
        '',
      ].join('\n'),
    );
    try {
      expect(complete(words, { KUBECONFIG: kubeconfig }).sort()).toEqual(expected);
    } finally {
      rmSync(kubeconfig);
    }
  });

  it.each(['bash', 'zsh'])('offers no bogus one-letter long options (%s)', (shell) => {
    const run = runPlugin(['--get-yargs-completions', 'kubectl-remote_secret', 'create', '--'], {
      env: { SHELL: `/bin/${shell}` },
    });
    const words = run.stdout.split('\n').map((line) => line.split(':')[0] ?? '');
    expect(words).toContain('--kubeconfig');
    expect(words.filter((word) => /^--.$/.test(word))).toEqual([]);
  });
});

describe('kubectl remote-secret <TAB> through kubectl (kubectl_complete-remote_secret)', () => {
  // kubectl's hidden __complete command is what its shell scripts call; for a plugin it runs
  // kubectl_complete-<plugin> from PATH (kubectl 1.26 and later).
  const kubectlComplete = (words: string[]) => {
    const run = spawnSync('kubectl', ['__complete', 'remote-secret', ...words], {
      encoding: 'utf8',
      env: { ...process.env, PATH, SHELL: '/bin/zsh', KUBECONFIG: '/nonexistent' },
    });
    return run.stdout.split('\n').filter((line) => line !== '');
  };

  it.skipIf(!has('kubectl'))('lists the commands with their descriptions, as cobra reads them', () => {
    const lines = kubectlComplete(['c']);
    expect(lines.at(-1)).toBe(':0');
    expect(lines.map((line) => line.split('\t')[0])).toEqual(expect.arrayContaining(['check', 'create']));
    expect(lines.find((line) => line.startsWith('check\t'))).toMatch(/^check\tLint remote secret manifests/);
  });

  it.skipIf(!has('kubectl'))("completes a flag's choices", () => {
    expect(kubectlComplete(['create', '--type', ''])).toEqual(['remote', 'config', ':0']);
  });
});

describe('kubectl remote-secret version', () => {
  const packageVersion = (
    JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
  ).version;

  it('-o json reports the version of package.json and the commit baked in by the build', () => {
    const run = runPlugin(['version', '-o', 'json']);
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(report).toEqual({
      version: packageVersion,
      commit: expect.stringMatching(/^([0-9a-f]{7,}(-dirty)?|unknown)$/),
      node: process.version,
      platform: expect.stringMatching(/^(linux|darwin)\/(amd64|arm64)$/),
      singleExecutable: false,
    });
  });

  it('--version agrees with `version`', () => {
    const flag = runPlugin(['--version']);
    const command = runPlugin(['version']);
    expect(flag.status).toBe(0);
    expect(flag.stdout).toBe(`${command.stdout.split('\n')[0] ?? ''}\n`);
    expect(flag.stdout).toContain(`kubectl remote-secret ${packageVersion} (commit `);
  });
});
