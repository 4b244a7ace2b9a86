// `npm run package [-- --targets linux-amd64,linux-arm64] [--base-url URL] [--out DIR]`: the
// plugin as a single executable per platform, in dist/release (docs/packaging.md).
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { DEFAULT_BASE_URL } from './krew-manifest.ts';
import { ensureRcodesign, RCODESIGN_VERSION } from './rcodesign.ts';
import { buildRelease } from './release.ts';
import {
  cacheDir,
  findMacSigner,
  PackagingError,
  rcodesignSigner,
  targetName,
  TARGETS,
  type MacSigner,
} from './sea.ts';

const USAGE = `Usage: npm run package -- [--targets LIST] [--base-url URL] [--out DIR] [--no-code-cache]

  --targets   comma-separated, from ${TARGETS.map(targetName).join(', ')} (default: all;
              a default target that cannot be built here is skipped with a warning)
  --base-url  where the archives will be published: <base>/v<version>/<archive> in the krew
              manifest (default: $RELEASE_BASE_URL, else ${DEFAULT_BASE_URL})
  --out       output folder (default: dist/release)
  --no-code-cache
              no V8 code cache in this platform's executable: about 10% slower to start,
              but the same archive bytes on every build of a commit (reproducible)
`;

const root = fileURLToPath(new URL('..', import.meta.url));

function fail(message: string, hint?: string, status = 1): never {
  process.stderr.write(`error: ${message}\n${hint === undefined ? '' : `hint: ${hint}\n`}`);
  process.exit(status);
}

let values: { targets?: string; 'base-url'?: string; out?: string; 'code-cache'?: boolean; help?: boolean };
try {
  ({ values } = parseArgs({
    allowNegative: true,
    options: {
      targets: { type: 'string' },
      'base-url': { type: 'string' },
      out: { type: 'string' },
      'code-cache': { type: 'boolean', default: true },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (error) {
  fail(error instanceof Error ? error.message : String(error), 'npm run package -- --help', 2);
}
if (values.help === true) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const targets =
  values.targets === undefined
    ? TARGETS
    : values.targets.split(',').map((name) => {
        const target = TARGETS.find((candidate) => targetName(candidate) === name.trim());
        return (
          target ?? fail(`unknown target "${name}"`, `choose from ${TARGETS.map(targetName).join(', ')}`, 2)
        );
      });
const baseUrl = values['base-url'] ?? process.env['RELEASE_BASE_URL'] ?? DEFAULT_BASE_URL;
if (!/^https:\/\//.test(baseUrl)) fail(`--base-url ${baseUrl}: krew downloads over https://`, undefined, 2);

// Progress for a person at a terminal; piped, only the warnings and errors.
const tty = process.stderr.isTTY;
const start = performance.now();
const progress = (line: string) => {
  if (tty) process.stderr.write(`${line}\n`);
};
try {
  // The macOS executables are signed ad hoc: by codesign on a Mac, elsewhere by rcodesign, which
  // is built with cargo once into the cache.
  let macSigner: MacSigner | undefined = findMacSigner();
  if (macSigner === undefined && targets.some((target) => target.os === 'darwin')) {
    try {
      const rcodesign = await ensureRcodesign(cacheDir(process.env), progress);
      if (rcodesign.buildSeconds !== null)
        progress(`built rcodesign in ${rcodesign.buildSeconds.toFixed(0)} s: ${rcodesign.path}`);
      macSigner = rcodesignSigner(rcodesign.path, RCODESIGN_VERSION);
    } catch (error) {
      // A darwin target named in --targets fails in buildRelease; a default one is skipped there.
      if (!(error instanceof PackagingError) || values.targets !== undefined) throw error;
      process.stderr.write(`warning: ${error.message}\n`);
    }
  }
  const release = await buildRelease({
    root,
    outDir: resolve(values.out ?? join(root, 'dist/release')),
    workDir: join(root, 'dist/sea'),
    targets,
    targetsRequired: values.targets !== undefined,
    baseUrl,
    codeCache: values['code-cache'] !== false,
    cacheDir: cacheDir(process.env),
    macSigner,
    env: process.env,
    progress,
    warn: (line) => {
      process.stderr.write(`warning: ${line}\n`);
    },
  });
  if (tty) {
    const seconds = ((performance.now() - start) / 1000).toFixed(1);
    process.stderr.write(
      `\n${release.built.length} of ${targets.length} targets in ${seconds} s:\n${[
        ...release.built.map((item) => item.archive),
        release.sums,
        release.manifest,
      ]
        .map((file) => `  ${file}\n`)
        .join('')}`,
    );
  }
} catch (error) {
  if (error instanceof PackagingError) fail(error.message, error.hint);
  throw error;
}
