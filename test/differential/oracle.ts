import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The Istio oracle (`istio-testenv oracle`, test/oracle): Istio's own client builder, the one
 * istiod's secret controller calls for each cluster of a remote secret, answers whether istiod
 * would use a kubeconfig; client-go (the version Istio pins) reports what it read, for comparing
 * the two readings when both accept. This module runs it on batches of kubeconfigs.
 */

/** istiod's allow-list of insecure kubeconfig options, which the oracle sets only from its flag. */
export const ISTIOD_ALLOW_LIST_ENV = 'PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS';

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

/** Where istiod's client builder stopped (test/oracle/oracle.go, stageOf). */
export type IstiodStage = 'empty' | 'load' | 'validate' | 'sanitize' | 'client-config' | 'clients' | 'panic';

export type IstiodVerdict =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly stage: IstiodStage; readonly error: string };

/** What istiod decides about one kubeconfig, and what client-go read in it. */
export interface OracleResult {
  readonly id: string;
  readonly verdict: IstiodVerdict;
  /** Whether client-go's Load read it; the fields below are empty otherwise. */
  readonly loaded: boolean;
  readonly currentContext: string;
  readonly users: readonly OracleUser[];
  readonly clusters: readonly OracleCluster[];
  /** clientcmd.Validate's errors about the config itself. */
  readonly validateErrors: readonly string[];
  /** Validate's "unable to read" errors: they depend on the disk of whoever loads it. */
  readonly fileErrors: readonly string[];
}

export class OracleError extends Error {
  readonly code: 'oracle-failed' | 'bad-output';
  constructor(code: OracleError['code'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OracleError';
    this.code = code;
  }
}

export interface OracleOptions {
  /**
   * istiod's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS for this oracle, written as it would
   * stand in istiod's environment; undefined runs istiod's default (the variable unset). The
   * caller's own environment never leaks in: the variable is removed before the oracle starts.
   */
  readonly insecureKubeconfigOptions?: string | undefined;
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

  /** Start `istio-testenv oracle` from the binary the test setup built. */
  static async start(binary: string, options: OracleOptions = {}): Promise<Oracle> {
    const workDir = await mkdtemp(join(tmpdir(), 'krs-oracle-'));
    const args = ['oracle'];
    if (options.insecureKubeconfigOptions !== undefined) {
      args.push(`--insecure-kubeconfig-options=${options.insecureKubeconfigOptions}`);
    }
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => name !== ISTIOD_ALLOW_LIST_ENV),
    );
    const child = spawn(binary, args, { cwd: workDir, env, stdio: ['pipe', 'pipe', 'pipe'] });
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
  const { verdict, loaded, currentContext, users, clusters, validateErrors, fileErrors } = value;
  if (!isVerdict(verdict)) return bad('verdict');
  if (!Array.isArray(users) || !users.every(isUser)) return bad('users');
  if (!Array.isArray(clusters) || !clusters.every(isCluster)) return bad('clusters');
  if (typeof loaded !== 'boolean') return bad('loaded');
  if (typeof currentContext !== 'string') return bad('currentContext');
  if (!isStrings(validateErrors)) return bad('validateErrors');
  if (!isStrings(fileErrors)) return bad('fileErrors');
  return {
    id: expectedId,
    verdict: verdict.accepted
      ? { accepted: true }
      : { accepted: false, stage: verdict.stage, error: verdict.error },
    loaded,
    currentContext,
    users,
    clusters,
    validateErrors,
    fileErrors,
  };
}

const STAGES: ReadonlySet<string> = new Set<IstiodStage>([
  'empty',
  'load',
  'validate',
  'sanitize',
  'client-config',
  'clients',
  'panic',
]);

function isVerdict(
  value: unknown,
): value is { accepted: true } | { accepted: false; stage: IstiodStage; error: string } {
  if (!isRecord(value) || typeof value['accepted'] !== 'boolean') return false;
  if (value['accepted']) return true;
  return (
    typeof value['stage'] === 'string' && STAGES.has(value['stage']) && typeof value['error'] === 'string'
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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
    (value['authProvider'] === null || typeof value['authProvider'] === 'string')
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
