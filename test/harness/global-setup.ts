import type { TestProject } from 'vitest/node';
import { isMissingToolchain } from './errors.ts';
import { ensureTestenvBinary } from './testenv-binary.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of the kube-testenv binary, or null when Go is missing and the e2e suite is skipped. */
    kubeTestenvBinary: string | null;
  }
}

const BANNER = '!'.repeat(78);

/**
 * Global setup of the e2e project: builds (or finds cached) the kube-testenv binary once per run.
 * Without Go the e2e suite is skipped with a loud message, except under CI=true, where a missing
 * toolchain or a failed build fails the run.
 */
export default async function setup(project: TestProject): Promise<void> {
  const ci = process.env['CI'] === 'true';
  try {
    const binary = await ensureTestenvBinary();
    project.provide('kubeTestenvBinary', binary.path);
    // Also for startCluster() without options, in the test workers this process starts.
    process.env['KUBE_TESTENV_BINARY'] = binary.path;
  } catch (error) {
    if (ci || !isMissingToolchain(error)) throw error;
    process.stderr.write(
      [
        '',
        BANNER,
        '!! END-TO-END TESTS SKIPPED: they need Go to build a real Kubernetes control plane.',
        `!! ${error.message}`,
        '!! (Under CI=true this fails the run instead.)',
        BANNER,
        '',
      ].join('\n'),
    );
    project.provide('kubeTestenvBinary', null);
  }
}
