// rcodesign (the `apple-codesign` crate, https://github.com/indygreg/apple-platform-rs): Apple code
// signing on any OS. Built once with cargo into the cache, keyed by a hash of the crate version,
// the build arguments and the Rust toolchain, so a second build (or a test run) pays nothing.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PackagingError } from './sea.ts';

export const RCODESIGN_CRATE = 'apple-codesign';
export const RCODESIGN_VERSION = '0.29.0';
/** No notarization (it pulls in the AWS SDK): ad hoc signing needs none of it. */
const CARGO_ARGS = [
  'install',
  `${RCODESIGN_CRATE}@${RCODESIGN_VERSION}`,
  '--locked',
  '--no-default-features',
  '--bin',
  'rcodesign',
];
const RECIPE = 'rcodesign-build-1';

export interface RcodesignBuild {
  readonly path: string;
  readonly hash: string;
  /** How long cargo took, or null when the cached binary was used. */
  readonly buildSeconds: number | null;
}

/** The cache folder's key: what makes a different binary. */
export function rcodesignHash(rustcVersion: string): string {
  return createHash('sha256')
    .update([RECIPE, ...CARGO_ARGS, rustcVersion].join('\0'))
    .digest('hex')
    .slice(0, 16);
}

/**
 * rcodesign from `<cache>/rcodesign/<hash>/bin/rcodesign`, built there first (`cargo install
 * --locked`, several minutes on 2 cores) when it is not. A build goes into a temporary folder that
 * is renamed into place, so a build that stops halfway leaves nothing that looks finished.
 */
export async function ensureRcodesign(
  cache: string,
  progress: (line: string) => void = () => undefined,
): Promise<RcodesignBuild> {
  const rustc = spawnSync('rustc', ['-vV'], { encoding: 'utf8' });
  if (rustc.error !== undefined || rustc.status !== 0) {
    throw new PackagingError(
      'tool-failed',
      'rcodesign, which signs the macOS executables, is built with cargo, and rustc -vV does not run here',
      'install Rust (rustup, or your package manager) so that cargo and rustc are on PATH, or leave the darwin targets out (--targets)',
      { cause: rustc.error },
    );
  }
  const hash = rcodesignHash(rustc.stdout.trim());
  const dir = join(cache, 'rcodesign', hash);
  const binary = join(dir, 'bin', 'rcodesign');
  if (existsSync(binary)) return { path: binary, hash, buildSeconds: null };
  mkdirSync(join(cache, 'rcodesign'), { recursive: true });
  const work = mkdtempSync(join(cache, 'rcodesign', `.${hash}-`));
  progress(
    `building rcodesign (${RCODESIGN_CRATE} ${RCODESIGN_VERSION}) with cargo into ${dir}: about 20 minutes on 2 busy cores, once`,
  );
  const started = performance.now();
  try {
    const output = await run('cargo', [...CARGO_ARGS, '--root', work]);
    if (output.status !== 0) {
      throw new PackagingError(
        'tool-failed',
        `cargo ${CARGO_ARGS.join(' ')} failed: ${output.tail.trim().split('\n').at(-1) ?? ''}`,
        'check that cargo can reach crates.io (cargo search apple-codesign) and run again',
      );
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { path: binary, hash, buildSeconds: (performance.now() - started) / 1000 };
}

function run(command: string, args: readonly string[]): Promise<{ status: number; tail: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-4000);
    });
    child.on('error', (error) => {
      resolve({ status: -1, tail: error.message });
    });
    child.on('close', (status) => {
      resolve({ status: status ?? -1, tail });
    });
  });
}
