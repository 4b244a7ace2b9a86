import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError } from './errors.ts';
import { ensureGoBinary, type EnsureGoBinaryOptions, type GoBinary } from './go-binary.ts';

/**
 * krew (sigs.k8s.io/krew) as test tooling: the `krew` a user installs plugins with, and
 * `validate-krew-manifest`, the check krew-index runs on every plugin manifest. Both are `tool`s
 * of test/krew/go.mod, so they are krew's own code at one pinned version.
 */
export const KREW_SOURCE_DIR = fileURLToPath(new URL('../krew/', import.meta.url));

const TOOLS = {
  krew: { package: 'sigs.k8s.io/krew/cmd/krew', what: 'the krew plugin manager' },
  'validate-krew-manifest': {
    package: 'sigs.k8s.io/krew/cmd/validate-krew-manifest',
    what: "krew-index's manifest validation",
  },
} as const;

export type KrewTool = keyof typeof TOOLS;

export async function ensureKrewTool(tool: KrewTool, options: EnsureGoBinaryOptions = {}): Promise<GoBinary> {
  const version = krewVersionOf(await readFile(join(KREW_SOURCE_DIR, 'go.mod'), 'utf8'));
  const { package: target, what } = TOOLS[tool];
  return ensureGoBinary(
    {
      name: tool,
      sourceDir: KREW_SOURCE_DIR,
      sourceLabel: 'test/krew',
      recipeVersion: 'krew-build-1',
      package: target,
      // krew prints its version from these (it says "v0.4.3" for `kubectl krew version`).
      buildArgs: ['-ldflags', `-s -w -X sigs.k8s.io/krew/internal/version.gitTag=${version}`],
      what: `${what} (sigs.k8s.io/krew ${version})`,
      estimate: 'about a minute on 2 cores',
    },
    options,
  );
}

function krewVersionOf(goMod: string): string {
  const match = /^\s*sigs\.k8s\.io\/krew\s+(v\S+)/m.exec(goMod);
  if (!match?.[1])
    throw new HarnessError('BUILD_FAILED', 'test/krew/go.mod does not require sigs.k8s.io/krew');
  return match[1];
}
