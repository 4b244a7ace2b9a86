import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError } from './errors.ts';
import { ensureGoBinary, type EnsureGoBinaryOptions, type GoBinary } from './go-binary.ts';

/**
 * istio-testenv: Istio's own code (istio.io/istio) as test tooling, one multi-call binary so that
 * the oracle, istiod and istioctl compile their shared dependencies once (test/oracle/main.go).
 */
export const ISTIO_SOURCE_DIR = fileURLToPath(new URL('../oracle/', import.meta.url));

export interface IstioBinary extends GoBinary {
  /** The istio.io/istio module version compiled in. */
  readonly istioVersion: string;
}

export async function ensureIstioBinary(options: EnsureGoBinaryOptions = {}): Promise<IstioBinary> {
  const istioVersion = istioVersionOf(await readFile(join(ISTIO_SOURCE_DIR, 'go.mod'), 'utf8'));
  const binary = await ensureGoBinary(
    {
      name: 'istio-testenv',
      sourceDir: ISTIO_SOURCE_DIR,
      sourceLabel: 'test/oracle',
      recipeVersion: 'istio-testenv-build-1',
      // No symbol tables: the binary is large enough without them.
      buildArgs: ['-ldflags', '-s -w'],
      what: `Istio ${istioVersion} (oracle, pilot-discovery, istioctl)`,
      estimate: 'about 12 minutes on 2 cores',
    },
    options,
  );
  return { ...binary, istioVersion };
}

function istioVersionOf(goMod: string): string {
  const match = /^\s*istio\.io\/istio\s+(v\S+)/m.exec(goMod);
  if (!match?.[1])
    throw new HarnessError('BUILD_FAILED', 'test/oracle/go.mod does not require istio.io/istio');
  return match[1];
}
