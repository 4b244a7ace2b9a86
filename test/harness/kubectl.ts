import { runProcess, type ProcessResult } from './process.ts';

export type KubectlResult = ProcessResult;

export interface KubectlOptions {
  /** Written to kubectl's stdin, e.g. a manifest for `apply -f -`. */
  readonly input?: string;
  readonly timeoutMs?: number;
  /** The kubectl executable; defaults to "kubectl" on PATH. */
  readonly kubectl?: string;
}

/** Runs the real kubectl against one cluster, as a user would. Never throws on a non-zero exit. */
export function kubectl(
  kubeconfigPath: string,
  args: readonly string[],
  options: KubectlOptions = {},
): Promise<KubectlResult> {
  return runProcess(options.kubectl ?? 'kubectl', ['--kubeconfig', kubeconfigPath, ...args], {
    timeout: options.timeoutMs ?? 60_000,
    // A user's own KUBECONFIG must never leak into a test.
    env: { ...process.env, KUBECONFIG: kubeconfigPath },
    ...(options.input === undefined ? {} : { input: options.input }),
  });
}
