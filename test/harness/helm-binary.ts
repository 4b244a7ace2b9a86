import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError } from './errors.ts';
import { ensureGoBinary, type EnsureGoBinaryOptions, type GoBinary } from './go-binary.ts';

/**
 * Helm (helm.sh/helm/v4) as test tooling: the `helm` operators install the webhook's chart with,
 * the `tool` of test/helm/go.mod, so it is Helm's own code at one pinned version.
 */
export const HELM_SOURCE_DIR = fileURLToPath(new URL('../helm/', import.meta.url));

export async function ensureHelmBinary(options: EnsureGoBinaryOptions = {}): Promise<GoBinary> {
  const version = helmVersionOf(await readFile(join(HELM_SOURCE_DIR, 'go.mod'), 'utf8'));
  return ensureGoBinary(
    {
      name: 'helm',
      sourceDir: HELM_SOURCE_DIR,
      sourceLabel: 'test/helm',
      recipeVersion: 'helm-build-1',
      package: 'helm.sh/helm/v4/cmd/helm',
      // `helm version` prints this (Helm's Makefile sets the same variable).
      buildArgs: ['-ldflags', `-s -w -X helm.sh/helm/v4/internal/version.version=${version}`],
      what: `Helm ${version} (helm.sh/helm/v4)`,
      estimate: 'about 6 to 9 minutes on 2 cores',
    },
    options,
  );
}

function helmVersionOf(goMod: string): string {
  const match = /^\s*helm\.sh\/helm\/v4\s+(v\S+)/m.exec(goMod);
  if (!match?.[1])
    throw new HarnessError('BUILD_FAILED', 'test/helm/go.mod does not require helm.sh/helm/v4');
  return match[1];
}
