import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError } from './errors.ts';
import { TailBuffer, formatDuration } from './format.ts';

/** The Go module that builds the control plane. */
export const TESTENV_SOURCE_DIR = fileURLToPath(new URL('../kube-testenv/', import.meta.url));

const BINARY_NAME = 'kube-testenv';

/** Bump when the build recipe changes in a way the hashed inputs do not show. */
const RECIPE_VERSION = 'kube-testenv-build-1';

export const GO_INSTALL_HINT =
  'Install Go (1.24 or newer) from https://go.dev/doc/install or with your package manager, ' +
  'make sure `go version` works in this shell, then run the tests again. ' +
  'The first run compiles the control plane from Go modules: about 5 minutes on 2 idle cores, ' +
  '0.6 GB of module cache and 3 GB of build cache.';

export interface TestenvBinary {
  readonly path: string;
  /** Hash of the Go toolchain, the build recipe, go.mod, go.sum and the *.go sources. */
  readonly hash: string;
  /** The k8s.io/kubernetes version compiled in, e.g. "v1.34.10". */
  readonly kubernetesVersion: string;
  /** How long the build took, or null when a cached binary was used. */
  readonly buildMilliseconds: number | null;
}

export interface EnsureTestenvBinaryOptions {
  /** The Go module to build; defaults to test/kube-testenv. */
  readonly sourceDir?: string;
  /** Where binaries are cached, one folder per hash; defaults to the user's cache dir. */
  readonly cacheDir?: string;
  /** The go command; defaults to "go" on PATH. */
  readonly go?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Progress and timing lines; a TTY gets a live progress line. Defaults to stderr. */
  readonly output?: NodeJS.WriteStream;
}

/** `${XDG_CACHE_HOME:-~/.cache}/kubectl-remote-secret/kube-testenv`: outside the repository. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  const xdg = env['XDG_CACHE_HOME'];
  // The XDG spec says to ignore a relative XDG_CACHE_HOME.
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
  return join(base, 'kubectl-remote-secret', 'kube-testenv');
}

interface GoToolchain {
  readonly version: string; // "go1.26.8"
  readonly platform: string; // "linux/amd64"
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
  const env = options.env ?? process.env;
  const sourceDir = options.sourceDir ?? TESTENV_SOURCE_DIR;
  const go = options.go ?? 'go';
  const output = options.output ?? process.stderr;

  const goMod = await readFile(join(sourceDir, 'go.mod'), 'utf8');
  const toolchain = await probeGo(go, env, requiredGoVersion(goMod));
  const kubernetes = kubernetesVersionOf(goMod);
  const ldflags = versionLdflags(kubernetes);
  const hash = await hashInputs(sourceDir, toolchain, ldflags);
  const binaryDir = join(options.cacheDir ?? defaultCacheDir(env), hash);
  const path = join(binaryDir, BINARY_NAME);

  if (await isExecutable(path)) {
    return { path, hash, kubernetesVersion: kubernetes.version, buildMilliseconds: null };
  }

  await mkdir(binaryDir, { recursive: true });
  // Build beside the final path and rename: a concurrent build or an interrupted one never leaves
  // a half-written binary under the final name.
  const partial = join(binaryDir, `.${BINARY_NAME}.${String(process.pid)}.${randomBytes(4).toString('hex')}`);
  const started = Date.now();
  const progress = new BuildProgress(output, kubernetes.version);
  try {
    await runGoBuild(go, env, sourceDir, ['-ldflags', ldflags, '-o', partial], progress);
    await rename(partial, path);
  } catch (error) {
    progress.stop();
    await rm(partial, { force: true });
    throw error;
  }
  const buildMilliseconds = Date.now() - started;
  progress.finish(buildMilliseconds, path);
  return { path, hash, kubernetesVersion: kubernetes.version, buildMilliseconds };
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

async function probeGo(go: string, env: NodeJS.ProcessEnv, required: string): Promise<GoToolchain> {
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
      `${version} is too old: test/kube-testenv needs Go ${required} or newer. ${GO_INSTALL_HINT}`,
    );
  }
  return { version, platform: `${goos}/${goarch}` };
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

async function hashInputs(sourceDir: string, toolchain: GoToolchain, ldflags: string): Promise<string> {
  const names = (await readdir(sourceDir))
    .filter((name) => name === 'go.mod' || name === 'go.sum' || name.endsWith('.go'))
    .sort();
  const hash = createHash('sha256');
  hash.update([RECIPE_VERSION, toolchain.version, toolchain.platform, ldflags].join('\0'));
  for (const name of names) {
    hash.update(`\0${name}\0`);
    hash.update(await readFile(join(sourceDir, name)));
  }
  return hash.digest('hex').slice(0, 32);
}

function goEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // Static binary, the Go on PATH (never a toolchain download), and no go.work from a parent dir.
  return { ...env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOWORK: 'off' };
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
  sourceDir: string,
  extraArgs: readonly string[],
  progress: BuildProgress,
): Promise<void> {
  // -v names each package as it is compiled: that is the progress feed.
  const args = ['build', '-v', '-trimpath', '-buildvcs=false', ...extraArgs, '.'];
  return new Promise((resolve, reject) => {
    const child = spawn(go, args, { cwd: sourceDir, env: goEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
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
          `building test/kube-testenv failed (${how}).\n` +
            `Reproduce with: cd test/kube-testenv && CGO_ENABLED=0 GOTOOLCHAIN=local go build ./...\n` +
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
    kubernetesVersion: string,
  ) {
    this.tty = output.isTTY;
    output.write(
      `kube-testenv: building Kubernetes ${kubernetesVersion} control plane from Go modules ` +
        `(first run only; about 5 minutes on 2 cores)\n`,
    );
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
      `kube-testenv: built in ${formatDuration(milliseconds)} (${String(this.packages)} packages compiled) -> ${path}\n`,
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
