import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

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
    // A child that exits without reading its input (validate-krew-manifest, an early refusal)
    // closes the pipe first: EPIPE then says nothing its exit status does not.
    child.stdin.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(error);
    });
    child.stdin.end(input ?? '');
  });
}

/** Whether a spawned child is still running (started, and neither exited nor killed). */
export function isRunning(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/**
 * Stop a child the way the harness stops its servers: SIGTERM, SIGKILL after `graceMs`, and
 * return once `exited` (the child's own exit promise) has settled; its stdin pipe is closed too.
 */
export async function terminate(child: ChildProcess, exited: Promise<void>, graceMs: number): Promise<void> {
  if (isRunning(child)) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  child.stdin?.destroy();
}
