import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The client-go oracle (test/oracle): a Go program that reads kubeconfigs with clientcmd.Load and
 * clientcmd.Validate as istiod does and reports what istiod would see. This module finds Go,
 * builds the oracle once per source hash into a cache outside the repository, and runs batches.
 */

export const ORACLE_SOURCE_DIR = fileURLToPath(new URL('../oracle/', import.meta.url));

/** One kubeconfig to inspect. Bytes are sent as they are, so any input survives the trip. */
export interface OracleCase {
  readonly id: string;
  readonly kubeconfig: string | Uint8Array;
}

export interface OracleUser {
  readonly name: string;
  readonly tokenSha256: string;
  readonly exec: boolean;
  readonly tokenFile: boolean;
  readonly clientKey: boolean;
  readonly clientCertificate: boolean;
  readonly authProvider: string | null;
}

export interface OracleCluster {
  readonly name: string;
  readonly server: string;
  readonly proxyUrl: string;
  readonly certificateAuthority: string;
}

/** What istiod would see in one kubeconfig (see test/oracle/main.go for each field). */
export interface OracleResult {
  readonly id: string;
  readonly empty: boolean;
  readonly loadError: string | null;
  readonly validateErrors: readonly string[];
  readonly fileErrors: readonly string[];
  readonly currentContext: string;
  readonly users: readonly OracleUser[];
  readonly clusters: readonly OracleCluster[];
  readonly unsafe: readonly string[];
  readonly clientConfigError: string | null;
}

export class OracleError extends Error {
  readonly code: 'build-failed' | 'oracle-failed' | 'bad-output';
  constructor(code: OracleError['code'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OracleError';
    this.code = code;
  }
}

export type GoLookup =
  | { readonly found: true; readonly go: string; readonly version: string }
  | { readonly found: false; readonly reason: string };

/** Whether a Go toolchain is on PATH (or at `GO`), without building anything. */
export function findGo(env: NodeJS.ProcessEnv): GoLookup {
  const go = env['GO'] ?? 'go';
  const probe = spawnSync(go, ['env', 'GOVERSION'], {
    encoding: 'utf8',
    env: goEnv(env),
    timeout: 60_000,
  });
  if (probe.error !== undefined) {
    return { found: false, reason: `cannot run "${go}": ${probe.error.message}` };
  }
  if (probe.status !== 0) {
    return { found: false, reason: `"${go} env GOVERSION" failed: ${probe.stderr.trim()}` };
  }
  return { found: true, go, version: probe.stdout.trim() };
}

/** The build environment: reproducible, no cgo, and never a toolchain download. */
function goEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly' };
}

/** sha256 over the oracle's sources and the toolchain version: the cache key of a build. */
export async function oracleSourceHash(goVersion: string, sourceDir = ORACLE_SOURCE_DIR): Promise<string> {
  const names = (await readdir(sourceDir))
    .filter((name) => name === 'go.mod' || name === 'go.sum' || name.endsWith('.go'))
    .sort();
  const hash = createHash('sha256');
  hash.update(`${goVersion}\0${process.platform}\0${process.arch}\0`);
  for (const name of names) {
    const content = await readFile(join(sourceDir, name));
    hash.update(`${name}\0${String(content.length)}\0`);
    hash.update(content);
  }
  return hash.digest('hex');
}

export function oracleCacheRoot(env: NodeJS.ProcessEnv): string {
  const base = env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache');
  return join(base, 'kubectl-remote-secret', 'oracle');
}

export interface BuildResult {
  readonly binary: string;
  readonly cached: boolean;
}

/**
 * Build the oracle into `<cache>/<hash>/oracle`, or reuse that binary. The build writes to a
 * temporary name and renames it, so test files building at the same time never see half a file.
 */
export async function buildOracle(
  go: string,
  goVersion: string,
  env: NodeJS.ProcessEnv,
): Promise<BuildResult> {
  const hash = await oracleSourceHash(goVersion);
  const directory = join(oracleCacheRoot(env), hash);
  const binary = join(directory, 'oracle');
  if (await isFile(binary)) return { binary, cached: true };
  await mkdir(directory, { recursive: true });
  const partial = `${binary}.${String(process.pid)}.${String(Date.now())}.partial`;
  const build = await runProcess(go, ['build', '-trimpath', '-o', partial, '.'], {
    cwd: ORACLE_SOURCE_DIR,
    env: goEnv(env),
  });
  if (build.status !== 0) {
    await rm(partial, { force: true });
    throw new OracleError('build-failed', `go build of the oracle failed:\n${build.stderr}`);
  }
  await rename(partial, binary);
  return { binary, cached: false };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function runProcess(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => {
      resolve({ status, stderr });
    });
  });
}

/**
 * A running oracle: one process for many batches, in its own empty working directory (Validate
 * opens relative file paths against the cwd; an empty directory makes every one unreadable).
 */
export class Oracle {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #workDir: string;
  #buffer = '';
  #stderr = '';
  #pending: {
    expected: readonly string[];
    lines: string[];
    resolve: (results: OracleResult[]) => void;
    reject: (error: Error) => void;
  } | null = null;
  #exit: Error | null = null;

  private constructor(child: ChildProcessWithoutNullStreams, workDir: string) {
    this.#child = child;
    this.#workDir = workDir;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      this.#receive(chunk);
    });
    child.stderr.on('data', (chunk: string) => (this.#stderr += chunk));
    child.on('close', (status, signal) => {
      this.#fail(
        new OracleError(
          'oracle-failed',
          `the oracle exited (status ${String(status)}, signal ${String(signal)}): ${this.#stderr.trim()}`,
        ),
      );
    });
    child.on('error', (error) => {
      this.#fail(
        new OracleError('oracle-failed', `the oracle could not run: ${error.message}`, { cause: error }),
      );
    });
  }

  static async start(binary: string): Promise<Oracle> {
    const workDir = await mkdtemp(join(tmpdir(), 'krs-oracle-'));
    const child = spawn(binary, [], { cwd: workDir, stdio: ['pipe', 'pipe', 'pipe'] });
    return new Oracle(child, workDir);
  }

  /** Inspect a batch; resolves with one result per case, in order. One batch at a time. */
  run(cases: readonly OracleCase[]): Promise<OracleResult[]> {
    if (this.#exit !== null) return Promise.reject(this.#exit);
    if (this.#pending !== null) return Promise.reject(new Error('the oracle runs one batch at a time'));
    if (cases.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.#pending = { expected: cases.map(({ id }) => id), lines: [], resolve, reject };
      const input = cases
        .map(({ id, kubeconfig }) =>
          JSON.stringify({ id, kubeconfig: Buffer.from(kubeconfig).toString('base64') }),
        )
        .join('\n');
      this.#child.stdin.write(`${input}\n`);
    });
  }

  async close(): Promise<void> {
    if (this.#exit === null) {
      const closed = new Promise<void>((resolve) => {
        this.#child.once('close', () => {
          resolve();
        });
      });
      this.#child.stdin.end();
      await closed;
    }
    await rm(this.#workDir, { recursive: true, force: true });
  }

  #receive(chunk: string): void {
    this.#buffer += chunk;
    let newline = this.#buffer.indexOf('\n');
    while (newline !== -1) {
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      const pending = this.#pending;
      if (pending === null) {
        this.#fail(new OracleError('bad-output', 'the oracle wrote a line nobody asked for'));
        return;
      }
      pending.lines.push(line);
      if (pending.lines.length === pending.expected.length) {
        this.#pending = null;
        try {
          pending.resolve(
            pending.lines.map((text, index) => parseResult(text, pending.expected[index] ?? '')),
          );
        } catch (error) {
          pending.reject(error instanceof Error ? error : new Error(String(error)));
        }
      }
      newline = this.#buffer.indexOf('\n');
    }
  }

  #fail(error: Error): void {
    this.#exit ??= error;
    const pending = this.#pending;
    this.#pending = null;
    pending?.reject(error);
  }
}

/** Check one output line's shape; the oracle is our own program, but a silent mismatch would hide bugs. */
export function parseResult(line: string, expectedId: string): OracleResult {
  const value: unknown = JSON.parse(line);
  const bad = (what: string): never => {
    throw new OracleError('bad-output', `oracle output for ${expectedId}: ${what}`);
  };
  if (!isRecord(value)) return bad('not an object');
  if (value['id'] !== expectedId) return bad(`answers for id ${JSON.stringify(value['id'])}`);
  const users = value['users'];
  const clusters = value['clusters'];
  if (!Array.isArray(users) || !users.every(isUser)) return bad('users');
  if (!Array.isArray(clusters) || !clusters.every(isCluster)) return bad('clusters');
  const { empty, loadError, validateErrors, fileErrors, currentContext, unsafe, clientConfigError } = value;
  if (typeof empty !== 'boolean') return bad('empty');
  if (!isNullableString(loadError)) return bad('loadError');
  if (!isNullableString(clientConfigError)) return bad('clientConfigError');
  if (typeof currentContext !== 'string') return bad('currentContext');
  if (!isStrings(validateErrors)) return bad('validateErrors');
  if (!isStrings(fileErrors)) return bad('fileErrors');
  if (!isStrings(unsafe)) return bad('unsafe');
  return {
    id: expectedId,
    empty,
    loadError,
    validateErrors,
    fileErrors,
    currentContext,
    users,
    clusters,
    unsafe,
    clientConfigError,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNullableString(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isUser(value: unknown): value is OracleUser {
  return (
    isRecord(value) &&
    typeof value['name'] === 'string' &&
    typeof value['tokenSha256'] === 'string' &&
    typeof value['exec'] === 'boolean' &&
    typeof value['tokenFile'] === 'boolean' &&
    typeof value['clientKey'] === 'boolean' &&
    typeof value['clientCertificate'] === 'boolean' &&
    isNullableString(value['authProvider'])
  );
}

function isCluster(value: unknown): value is OracleCluster {
  return (
    isRecord(value) &&
    typeof value['name'] === 'string' &&
    typeof value['server'] === 'string' &&
    typeof value['proxyUrl'] === 'string' &&
    typeof value['certificateAuthority'] === 'string'
  );
}

export type OracleSetup =
  | { readonly available: true; readonly go: string; readonly version: string }
  | { readonly available: false; readonly required: boolean; readonly reason: string };

/**
 * Decide, before any test runs, whether the differential suites can run. Without Go they are
 * skipped with a loud message, except under CI=true, where the missing toolchain is a failure.
 */
export function oracleSetup(env: NodeJS.ProcessEnv): OracleSetup {
  const lookup = findGo(env);
  if (lookup.found) return { available: true, go: lookup.go, version: lookup.version };
  return { available: false, required: env['CI'] === 'true', reason: lookup.reason };
}

export function skipNotice(reason: string): string {
  const line = '!'.repeat(78);
  return [
    line,
    `!! Differential tests against client-go are SKIPPED: ${reason}`,
    '!! Install Go (https://go.dev/dl/) to run them; under CI=true this is a failure.',
    line,
  ].join('\n');
}
