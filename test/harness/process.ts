import { spawn, type SpawnOptions } from 'node:child_process';

/** What a finished child process said, and how it ended. */
export interface ProcessResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ProcessOptions extends Pick<SpawnOptions, 'cwd' | 'env' | 'timeout'> {
  /** Written to the child's stdin, which is then closed. */
  readonly input?: string;
}

/**
 * Run a program without blocking this process (an e2e test's webhook child keeps logging to us
 * meanwhile) and collect its output. Never throws on a non-zero exit; rejects only when it cannot
 * start.
 */
export function runProcess(
  command: string,
  args: readonly string[],
  options: ProcessOptions = {},
): Promise<ProcessResult> {
  const { input, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => {
      resolve({ status, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}
