import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runProcess } from './harness/process.ts';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const PLUGIN = fileURLToPath(new URL('../bin/kubectl-remote_secret', import.meta.url));

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run the built plugin as a user would, from the repository root. */
export function runPlugin(
  args: readonly string[],
  options: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): CliRun {
  if (!existsSync(new URL('../dist/cmd/main.js', import.meta.url))) {
    throw new Error('the plugin is not built: run `npm run build` first (npm test does)');
  }
  const result = spawnSync(PLUGIN, args, {
    cwd: options.cwd ?? REPO_ROOT,
    input: options.input ?? '',
    encoding: 'utf8',
    env: { ...process.env, ...options.env, NO_COLOR: '1' },
    timeout: 30_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The built plugin without blocking this process (an e2e test's webhook child keeps logging to
 * us meanwhile). Never the user's own kubeconfig: KUBECONFIG is empty and HOME a temp folder, so
 * every run must name its kubeconfig.
 */
export function runPluginAsync(args: readonly string[], input = ''): Promise<CliRun> {
  return runProcess(PLUGIN, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, KUBECONFIG: '', HOME: tmpdir(), NO_COLOR: '1' },
    input,
  });
}
