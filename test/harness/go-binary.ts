import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HarnessError } from './errors.ts';
import { TailBuffer, formatDuration } from './format.ts';

/**
 * Test tooling built from Go modules (the control plane, Istio's own code): each is one binary,
 * built once per hash of its sources, toolchain and recipe into a cache outside the repository.
 * Progress shows on a terminal, a line at the start and one at the end otherwise; concurrent
 * builders (two test projects, two checkouts) wait for one build instead of compiling twice.
 */
export interface GoBinarySpec {
  /** The binary's file name and the prefix of every progress line, e.g. "kube-testenv". */
  readonly name: string;
  /** The Go module's directory (its go.mod, go.sum and *.go are the hashed sources). */
  readonly sourceDir: string;
  /** The module's directory as the repository names it, for messages. */
  readonly sourceLabel: string;
  /** Bump when the recipe changes in a way the hashed inputs do not show. */
  readonly recipeVersion: string;
  /** Extra `go build` arguments (ldflags), part of the hash. */
  readonly buildArgs: readonly string[];
  /**
   * The package to build, when it is not the module itself: a `tool` of its go.mod, such as
   * `sigs.k8s.io/krew/cmd/krew`. Part of the hash.
   */
  readonly package?: string;
  /** What is being built, for the first progress line: "Kubernetes v1.34.10 control plane". */
  readonly what: string;
  /** A cold build's usual time here, for the first progress line: "about 5 minutes on 2 cores". */
  readonly estimate: string;
}

export interface GoBinary {
  readonly path: string;
  /** Hash of the Go toolchain, the recipe, the build arguments, go.mod, go.sum and *.go. */
  readonly hash: string;
  /** How long the build took, or null when a cached binary was used. */
  readonly buildMilliseconds: number | null;
}

export interface EnsureGoBinaryOptions {
  /** Where binaries are cached, one folder per hash; defaults to the user's cache dir. */
  readonly cacheDir?: string;
  /** The go command; defaults to "go" on PATH. */
  readonly go?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Progress and timing lines; a TTY gets a live progress line. Defaults to stderr. */
  readonly output?: NodeJS.WriteStream;
}

export const GO_INSTALL_HINT =
  'Install Go (1.26 or newer) from https://go.dev/doc/install or with your package manager, ' +
  'make sure `go version` works in this shell, then run the tests again. ' +
  'The first run compiles the test tooling (a Kubernetes control plane and Istio) from Go modules: ' +
  'about 20 minutes on 2 idle cores, 1.5 GB of module cache and 6 GB of build cache.';

/** `${XDG_CACHE_HOME:-~/.cache}/kubectl-remote-secret/<name>`: outside the repository. */
export function defaultCacheDir(env: NodeJS.ProcessEnv, name: string): string {
  const xdg = env['XDG_CACHE_HOME'];
  // The XDG spec says to ignore a relative XDG_CACHE_HOME.
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
  return join(base, 'kubectl-remote-secret', name);
}

interface GoToolchain {
  readonly version: string; // "go1.26.8"
  readonly platform: string; // "linux/amd64"
}

/** How long a waiting builder polls before it assumes the other build is stuck. */
const LOCK_POLL_MS = 1_000;

/**
 * Returns the binary, building it first unless one built from the same sources with the same
 * toolchain is already cached.
 */
export async function ensureGoBinary(
  spec: GoBinarySpec,
  options: EnsureGoBinaryOptions = {},
): Promise<GoBinary> {
  const env = options.env ?? process.env;
  const go = options.go ?? 'go';
  const output = options.output ?? process.stderr;

  const goMod = await readFile(join(spec.sourceDir, 'go.mod'), 'utf8');
  const toolchain = await probeGo(go, env, requiredGoVersion(goMod), spec.sourceLabel);
  const hash = await hashInputs(spec, toolchain);
  const binaryDir = join(options.cacheDir ?? defaultCacheDir(env, spec.name), hash);
  const path = join(binaryDir, spec.name);

  if (await isExecutable(path)) return { path, hash, buildMilliseconds: null };

  await mkdir(binaryDir, { recursive: true });
  const release = await acquireBuildLock(join(binaryDir, '.building'), spec.name, output);
  try {
    // Another builder may have finished while this one waited.
    if (await isExecutable(path)) return { path, hash, buildMilliseconds: null };
    // Build beside the final path and rename: an interrupted build never leaves a half-written
    // binary under the final name.
    const partial = join(binaryDir, `.${spec.name}.${String(process.pid)}.${randomBytes(4).toString('hex')}`);
    const started = Date.now();
    const progress = new BuildProgress(output, spec);
    try {
      await runGoBuild(go, env, spec, ['-o', partial], progress);
      await rename(partial, path);
    } catch (error) {
      progress.stop();
      await rm(partial, { force: true });
      throw error;
    }
    const buildMilliseconds = Date.now() - started;
    progress.finish(buildMilliseconds, path);
    return { path, hash, buildMilliseconds };
  } finally {
    await release();
  }
}

/**
 * A lock file holding the builder's pid. A second builder waits while that process lives; a lock
 * left by a process that died (a killed test run) is taken over.
 */
async function acquireBuildLock(
  lockPath: string,
  name: string,
  output: NodeJS.WriteStream,
): Promise<() => Promise<void>> {
  let announced = false;
  for (;;) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: 'wx' });
      return () => rm(lockPath, { force: true });
    } catch (error) {
      if (!(error instanceof Error && 'code' in error && error.code === 'EEXIST')) throw error;
    }
    const holder = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
    if (!Number.isSafeInteger(holder) || holder <= 0 || !isAlive(holder)) {
      await rm(lockPath, { force: true });
      continue;
    }
    if (!announced) {
      output.write(`${name}: waiting for the build that process ${String(holder)} is running\n`);
      announced = true;
    }
    await sleep(LOCK_POLL_MS);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, but belongs to someone else.
    return error instanceof Error && 'code' in error && error.code === 'EPERM';
  }
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function parseGoVersion(text: string): [number, number, number] | null {
  const match = /^(?:go)?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  if (!match) return null;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? '0')];
}

function requiredGoVersion(goMod: string): string {
  return /^go\s+(\S+)\s*$/m.exec(goMod)?.[1] ?? '1.24.0';
}

function isOlder(have: [number, number, number], want: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) {
    const a = have[i] ?? 0;
    const b = want[i] ?? 0;
    if (a !== b) return a < b;
  }
  return false;
}

async function probeGo(
  go: string,
  env: NodeJS.ProcessEnv,
  required: string,
  sourceLabel: string,
): Promise<GoToolchain> {
  let stdout: string;
  try {
    stdout = await capture(go, ['env', 'GOVERSION', 'GOOS', 'GOARCH'], env);
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') {
      throw new HarnessError(
        'GO_MISSING',
        `the Go toolchain (\`${go}\`) is not on PATH. ${GO_INSTALL_HINT}`,
        {
          cause: error,
        },
      );
    }
    throw new HarnessError('GO_MISSING', `\`${go} env\` failed. ${GO_INSTALL_HINT}`, { cause: error });
  }
  const [version = '', goos = '', goarch = ''] = stdout.trim().split('\n');
  const have = parseGoVersion(version.replace(/^go/, ''));
  const want = parseGoVersion(required);
  if (have && want && isOlder(have, want)) {
    throw new HarnessError(
      'GO_TOO_OLD',
      `${version} is too old: ${sourceLabel} needs Go ${required} or newer. ${GO_INSTALL_HINT}`,
    );
  }
  return { version, platform: `${goos}/${goarch}` };
}

async function hashInputs(spec: GoBinarySpec, toolchain: GoToolchain): Promise<string> {
  const names = (await readdir(spec.sourceDir))
    .filter((name) => name === 'go.mod' || name === 'go.sum' || name.endsWith('.go'))
    .sort();
  const hash = createHash('sha256');
  // The package only when it is not the module itself, so that the hashes of existing caches hold.
  const target = spec.package === undefined ? [] : [`package=${spec.package}`];
  hash.update(
    [spec.recipeVersion, toolchain.version, toolchain.platform, ...target, ...spec.buildArgs].join('\0'),
  );
  for (const name of names) {
    hash.update(`\0${name}\0`);
    hash.update(await readFile(join(spec.sourceDir, name)));
  }
  return hash.digest('hex').slice(0, 32);
}

function goEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // Static binary, the Go on PATH (never a toolchain download), go.sum as committed, and no
  // go.work from a parent dir.
  return { ...env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOWORK: 'off', GOFLAGS: '-mod=readonly' };
}

function capture(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: goEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    const stderr = new TailBuffer(4096);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr.push(chunk);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${String(code)}: ${stderr.lines(10)}`));
    });
  });
}

function runGoBuild(
  go: string,
  env: NodeJS.ProcessEnv,
  spec: GoBinarySpec,
  outputArgs: readonly string[],
  progress: BuildProgress,
): Promise<void> {
  // -v names each package as it is compiled: that is the progress feed.
  const target = spec.package ?? '.';
  const args = ['build', '-v', '-trimpath', '-buildvcs=false', ...spec.buildArgs, ...outputArgs, target];
  return new Promise((resolve, reject) => {
    const child = spawn(go, args, {
      cwd: spec.sourceDir,
      env: goEnv(env),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const log = new TailBuffer(16_384);
    let pending = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      log.push(chunk);
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) progress.line(line);
    });
    child.on('error', (error) => {
      reject(new HarnessError('BUILD_FAILED', `could not run ${go}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      if (code === 0) {
        resolve();
        return;
      }
      const how = signal === null ? `exit status ${String(code)}` : `signal ${signal}`;
      reject(
        new HarnessError(
          'BUILD_FAILED',
          `building ${spec.sourceLabel} failed (${how}).\n` +
            `Reproduce with: cd ${spec.sourceLabel} && CGO_ENABLED=0 GOTOOLCHAIN=local go build ./...\n` +
            log.lines(40),
        ),
      );
    });
  });
}

/** A live line on a terminal; one line at the start and one at the end otherwise. */
class BuildProgress {
  private readonly started = Date.now();
  private readonly tty: boolean;
  private packages = 0;
  private current = '';
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly output: NodeJS.WriteStream,
    private readonly spec: GoBinarySpec,
  ) {
    this.tty = output.isTTY;
    output.write(`${spec.name}: building ${spec.what} from Go modules (first run only; ${spec.estimate})\n`);
    if (this.tty) {
      this.timer = setInterval(() => {
        this.render();
      }, 250);
      this.timer.unref();
    }
  }

  line(text: string): void {
    // Package paths have no spaces; anything else is a compiler message worth showing.
    if (/^[\w.~/-]+$/.test(text)) {
      this.packages++;
      this.current = text;
    } else if (text.trim() !== '') {
      this.clear();
      this.output.write(`${text}\n`);
    }
  }

  finish(milliseconds: number, path: string): void {
    this.stop();
    this.output.write(
      `${this.spec.name}: built in ${formatDuration(milliseconds)} (${String(this.packages)} packages compiled) -> ${path}\n`,
    );
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.clear();
  }

  private render(): void {
    const elapsed = formatDuration(Date.now() - this.started);
    const width = this.output.columns > 20 ? this.output.columns - 1 : 79;
    const text = `  go build: ${String(this.packages)} packages compiled, ${elapsed}  ${this.current}`;
    this.output.write(`\r\x1b[2K${text.slice(0, width)}`);
  }

  private clear(): void {
    if (this.tty) this.output.write('\r\x1b[2K');
  }
}
