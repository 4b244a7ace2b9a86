import type { TestProject } from 'vitest/node';
import { isMissingToolchain } from './errors.ts';
import { ensureHelmBinary } from './helm-binary.ts';
import { ensureRcodesign } from '../../scripts/rcodesign.ts';
import { cacheDir } from '../../scripts/sea.ts';
import { ensureIstioBinary } from './istio-binary.ts';
import { ensureKrewTool } from './krew-binary.ts';
import { ensurePromRulesBinary } from './promrules-binary.ts';
import { ensureTestenvBinary } from './testenv-binary.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of the kube-testenv binary, or null when Go is missing and the suite is skipped. */
    kubeTestenvBinary: string | null;
    /** Path of the istio-testenv binary (oracle, istiod, istioctl), or null likewise. */
    istioTestenvBinary: string | null;
    /** Path of krew (sigs.k8s.io/krew), or null likewise. */
    krewBinary: string | null;
    /** Path of krew's validate-krew-manifest, or null likewise. */
    krewValidateBinary: string | null;
    /** Path of helm (helm.sh/helm/v4), or null likewise. */
    helmBinary: string | null;
    /** Path of check-rules (Prometheus' rule parser, test/promrules), or null likewise. */
    promRulesBinary: string | null;
    /** Path of rcodesign (crate apple-codesign), or null when Rust is missing outside CI. */
    rcodesignBinary: string | null;
  }
}

const BANNER = '!'.repeat(78);

export type ToolKey =
  | 'kubeTestenvBinary'
  | 'istioTestenvBinary'
  | 'krewBinary'
  | 'krewValidateBinary'
  | 'helmBinary'
  | 'promRulesBinary';

const TOOLS: Readonly<
  Record<ToolKey, { readonly ensure: () => Promise<{ path: string }>; readonly env: string }>
> = {
  kubeTestenvBinary: { ensure: () => ensureTestenvBinary(), env: 'KUBE_TESTENV_BINARY' },
  istioTestenvBinary: { ensure: () => ensureIstioBinary(), env: 'ISTIO_TESTENV_BINARY' },
  krewBinary: { ensure: () => ensureKrewTool('krew'), env: 'KREW_BINARY' },
  krewValidateBinary: {
    ensure: () => ensureKrewTool('validate-krew-manifest'),
    env: 'KREW_VALIDATE_BINARY',
  },
  helmBinary: { ensure: () => ensureHelmBinary(), env: 'HELM_BINARY' },
  promRulesBinary: { ensure: () => ensurePromRulesBinary(), env: 'PROM_RULES_BINARY' },
};

/**
 * Builds (or finds cached) the Go test tooling a project needs, once per run, and provides each
 * path to the tests. Without Go the project's tests are skipped with a loud message, except under
 * CI=true, where a missing toolchain or a failed build fails the run.
 */
export async function provideTools(
  project: TestProject,
  keys: readonly ToolKey[],
  suite: string,
): Promise<void> {
  const ci = process.env['CI'] === 'true';
  for (const key of keys) {
    const tool = TOOLS[key];
    try {
      const binary = await tool.ensure();
      project.provide(key, binary.path);
      // Also for helpers started without options in the test workers this process starts.
      process.env[tool.env] = binary.path;
    } catch (error) {
      if (ci || !isMissingToolchain(error)) throw error;
      process.stderr.write(
        [
          '',
          BANNER,
          `!! ${suite} SKIPPED: they need Go to build test tooling (a Kubernetes control plane, Istio).`,
          `!! ${error.message}`,
          '!! (Under CI=true this fails the run instead.)',
          BANNER,
          '',
        ].join('\n'),
      );
      for (const other of keys) project.provide(other, null);
      return;
    }
  }
}

/**
 * rcodesign, which signs the macOS executables ad hoc, built with cargo once into the cache (like
 * the Go tooling, keyed by a hash of what makes the binary). Without Rust the macOS packaging
 * tests are skipped with a loud message, except under CI=true, where that fails the run.
 */
export async function provideRcodesign(project: TestProject): Promise<void> {
  const progress = (line: string) => process.stderr.write(`[rcodesign] ${line}\n`);
  try {
    const built = await ensureRcodesign(cacheDir(process.env), progress);
    if (built.buildSeconds !== null) progress(`built in ${built.buildSeconds.toFixed(0)} s: ${built.path}`);
    project.provide('rcodesignBinary', built.path);
  } catch (error) {
    const rustMissing = error instanceof Error && error.message.includes('rustc -vV does not run');
    if (process.env['CI'] === 'true' || !rustMissing) throw error;
    process.stderr.write(
      [
        '',
        BANNER,
        '!! macOS PACKAGING TESTS SKIPPED: they need Rust (cargo) to build rcodesign.',
        `!! ${error.message}`,
        '!! (Under CI=true this fails the run instead.)',
        BANNER,
        '',
      ].join('\n'),
    );
    project.provide('rcodesignBinary', null);
  }
}
