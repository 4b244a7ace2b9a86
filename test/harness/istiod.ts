import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchIstiodClusters, type IstiodCluster } from '../../shared/kube/istiod.ts';
import { HarnessError } from './errors.ts';
import { TailBuffer, formatDuration } from './format.ts';
import { kubectl } from './kubectl.ts';
import { isRunning, runProcess, terminate } from './process.ts';

/**
 * A real istiod (`pilot-discovery discovery`, built from istio.io/istio as part of istio-testenv)
 * running as a local process against a test control plane: every listener on 127.0.0.1, no data
 * plane. Its own view of the remote clusters comes from its debug endpoint `/debug/clusterz`, its
 * metrics and its log.
 */
export interface Istiod {
  /** http://127.0.0.1:<port>: readiness (/ready) and the debug endpoints (/debug/...). */
  readonly httpUrl: string;
  /** http://127.0.0.1:<port>/metrics */
  readonly metricsUrl: string;
  readonly clusterId: string;
  readonly namespace: string;
  readonly pid: number;
  /** From spawn to the first 200 of /ready. */
  readonly startMilliseconds: number;
  /** istiod's `ListRemoteClusters`: the config cluster and every remote, with its secret and sync status. */
  clusterz(): Promise<ClusterzEntry[]>;
  /** `istiod_managed_clusters{cluster_type="remote"}` and the per-cluster sync-state gauge. */
  metrics(): Promise<IstiodMetrics>;
  /** Every log line so far (istiod logs to stdout and stderr). */
  logLines(): readonly string[];
  /** Resolves with the first log line (from `since`, a count of lines) that matches. */
  waitForLog(pattern: RegExp, options?: { timeoutMs?: number; since?: number }): Promise<string>;
  /** Polls /debug/clusterz until `predicate` holds for the remote `id` (undefined when absent). */
  waitForCluster(
    id: string,
    predicate: (entry: ClusterzEntry | undefined) => boolean,
    timeoutMs?: number,
  ): Promise<ClusterzEntry | undefined>;
  /** SIGTERM, then SIGKILL after a grace period; removes its working directory. Safe twice. */
  stop(): Promise<void>;
}

/** One entry of /debug/clusterz: cluster ID, the secret it came from ("" for the config cluster), sync status. */
export type ClusterzEntry = IstiodCluster;

export interface IstiodMetrics {
  readonly managedRemoteClusters: number | undefined;
  /** cluster ID -> the sync status whose gauge is 1. */
  readonly syncStatus: ReadonlyMap<string, string>;
}

export interface StartIstiodOptions {
  /** The istio-testenv binary; defaults to $ISTIO_TESTENV_BINARY, which the e2e global setup sets. */
  readonly binaryPath?: string;
  /** The primary's admin kubeconfig (trusted: the test's own control plane). */
  readonly kubeconfigPath: string;
  /** istiod's CLUSTER_ID: the primary's own cluster ID. */
  readonly clusterId: string;
  /** istiod's namespace, where it reads remote secrets; defaults to istio-system. */
  readonly namespace?: string;
  /**
   * istiod's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS; unset unless given, never inherited
   * from the test's environment.
   */
  readonly insecureKubeconfigOptions?: string;
  readonly startTimeoutMs?: number;
  /** Start and exit reports; defaults to stderr. */
  readonly log?: (line: string) => void;
}

const STOP_GRACE_MS = 15_000;
const ALLOW_LIST_ENV = 'PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS';

/**
 * Applies Istio's CRDs from the same module (istio-testenv crds) and the istiod namespace. Server
 * side: the CRDs are too large for a client-side apply's last-applied annotation.
 */
export async function prepareIstioPrimary(
  kubeconfigPath: string,
  options: { binaryPath?: string; namespace?: string } = {},
): Promise<void> {
  const binaryPath = binaryOf(options.binaryPath);
  const crds = await runProcess(binaryPath, ['crds']);
  if (crds.status !== 0)
    throw new HarnessError('CLUSTER_START_FAILED', `istio-testenv crds failed: ${crds.stderr}`);
  const applied = await kubectl(kubeconfigPath, ['apply', '--server-side', '--force-conflicts', '-f', '-'], {
    input: crds.stdout,
    timeoutMs: 120_000,
  });
  if (applied.status !== 0) {
    throw new HarnessError('CLUSTER_START_FAILED', `applying Istio's CRDs failed: ${applied.stderr}`);
  }
  const established = await kubectl(
    kubeconfigPath,
    ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '-l', 'app=istio-pilot'],
    { timeoutMs: 90_000 },
  );
  if (established.status !== 0) {
    throw new HarnessError(
      'CLUSTER_START_FAILED',
      `Istio's CRDs did not become established: ${established.stderr}`,
    );
  }
  const namespace = options.namespace ?? 'istio-system';
  const created = await kubectl(kubeconfigPath, ['create', 'namespace', namespace]);
  if (created.status !== 0 && !created.stderr.includes('AlreadyExists')) {
    throw new HarnessError(
      'CLUSTER_START_FAILED',
      `creating namespace ${namespace} failed: ${created.stderr}`,
    );
  }
}

// Process-wide on purpose, as for clusters: every istiod this process started stops with it.
const liveIstiods = new Set<IstiodProcess>();
let exitHookInstalled = false;

/** Starts istiod and resolves once its /ready answers 200. */
export async function startIstiod(options: StartIstiodOptions): Promise<Istiod> {
  const binaryPath = binaryOf(options.binaryPath);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const namespace = options.namespace ?? 'istio-system';
  const dir = await mkdtemp(join(tmpdir(), 'istiod-'));
  const [http, grpc, secureGrpc, https, monitoring, ctrlz] = await freePorts(6);
  const meshConfig = join(dir, 'mesh.yaml');
  await writeFile(meshConfig, `defaultConfig:\n  discoveryAddress: 127.0.0.1:${String(secureGrpc)}\n`);
  const args = [
    'pilot-discovery',
    'discovery',
    '--kubeconfig',
    options.kubeconfigPath,
    '--clusterID',
    options.clusterId,
    '--meshConfig',
    meshConfig,
    // Missing on purpose: istiod then uses its default (empty) mesh networks.
    '--networksConfig',
    join(dir, 'no-mesh-networks.yaml'),
    '--httpAddr',
    `127.0.0.1:${String(http)}`,
    '--grpcAddr',
    `127.0.0.1:${String(grpc)}`,
    '--secureGRPCAddr',
    `127.0.0.1:${String(secureGrpc)}`,
    '--httpsAddr',
    `127.0.0.1:${String(https)}`,
    '--monitoringAddr',
    `127.0.0.1:${String(monitoring)}`,
    '--ctrlz_address',
    '127.0.0.1',
    '--ctrlz_port',
    String(ctrlz),
    '--log_output_level',
    'default:info',
  ];
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== ALLOW_LIST_ENV)),
    POD_NAMESPACE: namespace,
    POD_NAME: `istiod-${options.clusterId}`,
    CLUSTER_ID: options.clusterId,
    // No webhooks in this control plane to patch, and no data plane to inject.
    INJECTION_WEBHOOK_CONFIG_NAME: '',
    VALIDATION_WEBHOOK_CONFIG_NAME: '',
    // istio-testenv stops when this process dies and closes its stdin.
    ISTIO_TESTENV_EXIT_WITH_STDIN: '1',
  };
  if (options.insecureKubeconfigOptions !== undefined)
    env[ALLOW_LIST_ENV] = options.insecureKubeconfigOptions;
  const started = Date.now();
  const child = spawn(binaryPath, args, { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const istiod = new IstiodProcess(child, dir, options.clusterId, log);
  liveIstiods.add(istiod);
  installExitHook();
  const httpUrl = `http://127.0.0.1:${String(http)}`;
  try {
    await istiod.waitReady(`${httpUrl}/ready`, options.startTimeoutMs ?? 120_000);
  } catch (error) {
    await istiod.stop();
    throw new HarnessError(
      'CLUSTER_START_FAILED',
      `istiod did not become ready: ${error instanceof Error ? error.message : String(error)}\n` +
        `istiod said:\n${istiod.tail()}`,
      { cause: error },
    );
  }
  istiod.detach();
  const startMilliseconds = Date.now() - started;
  log(`istiod: cluster "${options.clusterId}" ready in ${formatDuration(startMilliseconds)} at ${httpUrl}`);
  const pid = child.pid ?? -1;
  return {
    httpUrl,
    metricsUrl: `http://127.0.0.1:${String(monitoring)}/metrics`,
    clusterId: options.clusterId,
    namespace,
    pid,
    startMilliseconds,
    clusterz: () => clusterz(httpUrl),
    metrics: () => metrics(`http://127.0.0.1:${String(monitoring)}/metrics`),
    logLines: () => istiod.lines,
    waitForLog: (pattern, waitOptions) => istiod.waitForLog(pattern, waitOptions),
    waitForCluster: async (id, predicate, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const entry = (await clusterz(httpUrl)).find((item) => item.id === id);
        if (predicate(entry)) return entry;
        if (Date.now() > deadline) {
          throw new Error(
            `istiod's view of cluster "${id}" did not reach the expected state within ${formatDuration(timeoutMs)}: ${JSON.stringify(entry ?? null)}\n${istiod.tail()}`,
          );
        }
        await sleep(200);
      }
    },
    stop: () => istiod.stop(),
  };
}

function binaryOf(binaryPath: string | undefined): string {
  const path = binaryPath ?? process.env['ISTIO_TESTENV_BINARY'];
  if (path === undefined || path === '') {
    throw new HarnessError(
      'BINARY_MISSING',
      'no istio-testenv binary: pass { binaryPath } from ensureIstioBinary(), or run under the e2e vitest project, whose global setup builds it',
    );
  }
  return path;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const istiod of liveIstiods) istiod.abandon();
  });
}

/** Ports the kernel hands out for 127.0.0.1:0, closed again before istiod binds them. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => {
            resolve(server);
          });
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** The product's own reader of /debug/clusterz (what `verify --istiod` uses). */
function clusterz(httpUrl: string): Promise<ClusterzEntry[]> {
  return fetchIstiodClusters(httpUrl, 10_000);
}

async function metrics(url: string): Promise<IstiodMetrics> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  const managed = /^istiod_managed_clusters\{cluster_type="remote"\} (\S+)$/m.exec(text)?.[1];
  const syncStatus = new Map<string, string>();
  for (const match of text.matchAll(/^istiod_remote_cluster_sync_status\{([^}]*)\} 1$/gm)) {
    const labels = new Map<string, string>();
    for (const label of (match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g))
      labels.set(label[1] ?? '', label[2] ?? '');
    const cluster = labels.get('cluster');
    const status = labels.get('status');
    if (cluster !== undefined && status !== undefined) syncStatus.set(cluster, status);
  }
  return { managedRemoteClusters: managed === undefined ? undefined : Number(managed), syncStatus };
}

type IstiodChild = ChildProcessByStdio<Writable, Readable, Readable>;

class IstiodProcess {
  readonly lines: string[] = [];
  private readonly recent = new TailBuffer(16_384);
  private readonly exited: Promise<void>;
  private stopping: Promise<void> | undefined;
  private waiters: { pattern: RegExp; since: number; resolve: (line: string) => void }[] = [];
  private detached = false;

  constructor(
    private readonly child: IstiodChild,
    private readonly dir: string,
    private readonly clusterId: string,
    private readonly log: (line: string) => void,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      let pending = '';
      stream.setEncoding('utf8').on('data', (chunk: string) => {
        this.recent.push(chunk);
        const parts = (pending + chunk).split('\n');
        pending = parts.pop() ?? '';
        for (const line of parts) this.addLine(line);
      });
    }
    this.exited = new Promise((resolve) => {
      child.on('error', () => {
        if (child.pid === undefined) resolve();
      });
      child.once('exit', (code, signal) => {
        if (this.detached && this.stopping === undefined) {
          this.log(
            `istiod "${clusterId}" exited unexpectedly (${signal ?? `exit status ${String(code)}`}):\n${this.tail()}`,
          );
        }
        resolve();
      });
    });
  }

  private addLine(line: string): void {
    this.lines.push(line);
    const index = this.lines.length - 1;
    this.waiters = this.waiters.filter((waiter) => {
      if (index < waiter.since || !waiter.pattern.test(line)) return true;
      waiter.resolve(line);
      return false;
    });
  }

  tail(): string {
    return this.recent.lines(40);
  }

  async waitReady(url: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const state = { exited: false };
    void this.exited.then(() => (state.exited = true));
    for (;;) {
      if (state.exited) throw new Error('istiod exited before it was ready');
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`not ready after ${formatDuration(timeoutMs)}`);
      await sleep(250);
    }
  }

  waitForLog(pattern: RegExp, options: { timeoutMs?: number; since?: number } = {}): Promise<string> {
    const since = options.since ?? 0;
    const found = this.lines.slice(since).find((line) => pattern.test(line));
    if (found !== undefined) return Promise.resolve(found);
    const timeoutMs = options.timeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter.resolve !== done);
        reject(
          new Error(`istiod logged nothing matching ${String(pattern)} within ${formatDuration(timeoutMs)}`),
        );
      }, timeoutMs);
      const done = (line: string): void => {
        clearTimeout(timer);
        resolve(line);
      };
      this.waiters.push({ pattern, since, resolve: done });
    });
  }

  detach(): void {
    this.detached = true;
    this.child.unref();
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) {
      if (stream instanceof Socket) stream.unref();
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopProcess();
    return this.stopping;
  }

  abandon(): void {
    liveIstiods.delete(this);
    this.stopping ??= Promise.resolve();
    if (isRunning(this.child)) this.child.kill('SIGKILL');
  }

  private async stopProcess(): Promise<void> {
    await terminate(this.child, this.exited, STOP_GRACE_MS);
    liveIstiods.delete(this);
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}
