import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError } from './errors.ts';
import { ensureGoBinary, type EnsureGoBinaryOptions, type GoBinary } from './go-binary.ts';

export { GO_INSTALL_HINT } from './go-binary.ts';

/** The Go module that builds the control plane. */
export const TESTENV_SOURCE_DIR = fileURLToPath(new URL('../kube-testenv/', import.meta.url));

export interface TestenvBinary extends GoBinary {
  /** The k8s.io/kubernetes version compiled in, e.g. "v1.34.10". */
  readonly kubernetesVersion: string;
}

export interface EnsureTestenvBinaryOptions extends EnsureGoBinaryOptions {
  /** The Go module to build; defaults to test/kube-testenv. */
  readonly sourceDir?: string;
}

interface KubernetesVersion {
  readonly version: string;
  readonly major: string;
  readonly minor: string;
}

/**
 * Returns the kube-testenv binary, building it first unless a binary built from the same sources
 * with the same toolchain is already cached.
 */
export async function ensureTestenvBinary(options: EnsureTestenvBinaryOptions = {}): Promise<TestenvBinary> {
  const sourceDir = options.sourceDir ?? TESTENV_SOURCE_DIR;
  const kubernetes = kubernetesVersionOf(await readFile(join(sourceDir, 'go.mod'), 'utf8'));
  const binary = await ensureGoBinary(
    {
      name: 'kube-testenv',
      sourceDir,
      sourceLabel: 'test/kube-testenv',
      recipeVersion: 'kube-testenv-build-2',
      buildArgs: ['-ldflags', versionLdflags(kubernetes)],
      what: `Kubernetes ${kubernetes.version} control plane`,
      estimate: 'about 5 minutes on 2 cores',
    },
    options,
  );
  return { ...binary, kubernetesVersion: kubernetes.version };
}

function kubernetesVersionOf(goMod: string): KubernetesVersion {
  const match = /^\s*k8s\.io\/kubernetes\s+(v(\d+)\.(\d+)\.\d+\S*)/m.exec(goMod);
  if (!match?.[1] || !match[2] || !match[3]) {
    throw new HarnessError('BUILD_FAILED', 'test/kube-testenv/go.mod does not require k8s.io/kubernetes');
  }
  return { version: match[1], major: match[2], minor: match[3] };
}

/**
 * The version stamps the Kubernetes release build sets with -X. Without them the API server
 * reports "v0.0.0-master", which kubectl and clients refuse to parse.
 */
function versionLdflags(kubernetes: KubernetesVersion): string {
  const flags = ['-s', '-w'];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    flags.push(
      `-X ${pkg}.gitVersion=${kubernetes.version}`,
      `-X ${pkg}.gitMajor=${kubernetes.major}`,
      `-X ${pkg}.gitMinor=${kubernetes.minor}`,
      `-X ${pkg}.gitTreeState=clean`,
      `-X ${pkg}.gitCommit=`,
    );
  }
  return flags.join(' ');
}
