import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
