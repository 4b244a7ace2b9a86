import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { HarnessError } from './errors.ts';
import { TailBuffer, formatDuration } from './format.ts';
import { kubeGet } from './https.ts';
import { isRunning, terminate } from './process.ts';

/** A running single-node control plane (etcd, kube-apiserver, kube-controller-manager). */
export interface TestCluster {
  readonly name: string;
  /** Admin kubeconfig (client certificate in group system:masters), self-contained. */
  readonly kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** Loaded from the admin kubeconfig that kube-testenv wrote: the trusted admin identity. */
  readonly kubeConfig: KubeConfig;
  /** The cluster's CA certificate (PEM file): it signs the serving cert and the token Secrets' ca.crt. */
  readonly caFile: string;
  /**
   * With `{ webhookClientCert: true }`: the CA (PEM file) that signed the client certificate
   * kube-apiserver presents to admission webhooks; a webhook's `--client-ca-file`.
   */
  readonly webhookClientCaFile: string | undefined;
  /** With `auditPolicyFile`: kube-apiserver's audit log (JSON lines), in logs/. */
  readonly auditLogPath: string | undefined;
  /** Holds pki/, logs/ (etcd, kube-apiserver, kube-controller-manager) and the kubeconfigs. */
  readonly dir: string;
  readonly pid: number;
  readonly startMilliseconds: number;
  /** Stops the control plane and removes its files. Safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * A cluster started with `{ keepData: true }`: it can be stopped and started again over the same
 * etcd data, certificates and API server port (`kube-testenv cluster --keep-data`), so clients
 * holding its kubeconfig see a real restart. `pid` is the current supervisor's.
 */
export interface KeptTestCluster extends TestCluster {
  /** Stops etcd, kube-apiserver and the controller manager; the directory and the data stay. */
  stopKeepingData(): Promise<void>;
  /**
   * Starts the stopped cluster again (a new supervisor: etcd reads its data back from disk) and
   * resolves, with how long it took, once /readyz is ok on the same server as before.
   */
  startAgain(): Promise<number>;
}

export interface StartClusterOptions {
  /** The kube-testenv binary; defaults to $KUBE_TESTENV_BINARY, which the e2e global setup sets. */
  readonly binaryPath?: string;
  /** Parent of the cluster's temporary directory; defaults to the OS temp dir. */
  readonly parentDir?: string;
  readonly startTimeoutMs?: number;
  /** Keep the cluster's directory (certificates, logs) after stop, for debugging. */
  readonly keepDir?: boolean;
  /**
   * Allow `stopKeepingData()` and `startAgain()`. Such a cluster's directory is removed by
   * `stop()` (or `stopAllClusters()`), not by kube-testenv, so it stays behind when this process
   * is killed before it could call either.
   */
  readonly keepData?: boolean;
  /** Start and exit reports; defaults to stderr. */
  readonly log?: (line: string) => void;
  /**
   * kube-apiserver presents a client certificate to every admission webhook (kube-testenv
   * `--webhook-client-cert`: an AdmissionConfiguration whose kubeconfig holds it); its CA is
   * `webhookClientCaFile`.
   */
  readonly webhookClientCert?: boolean;
  /** kube-apiserver writes an audit log by this audit.k8s.io/v1 Policy (kube-testenv --audit-policy). */
  readonly auditPolicyFile?: string;
}

const STOP_GRACE_MS = 30_000;

interface ReadyLine {
  readonly kubeconfig: string;
  readonly server: string;
  readonly caFile: string;
  readonly pid: number;
  readonly webhookClientCaFile: string | undefined;
  readonly auditLog: string | undefined;
}

type ClusterChild = ChildProcessByStdio<Writable, Readable, Readable>;

/** What the exit hook and `stopAllClusters` stop: a supervisor, or a kept cluster's current one. */
interface LiveCluster {
  stop(): Promise<void>;
  abandon(): void;
}

// Process-wide on purpose: exit hooks are process-wide, and every cluster this process started must
// be stopped when it exits, whoever started it.
const liveClusters = new Set<LiveCluster>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' allows only synchronous work: signal each supervisor, which then stops its components
  // in order. A process killed outright never gets here; then each supervisor sees its stdin close
  // and stops by itself.
  process.once('exit', () => {
    for (const cluster of liveClusters) cluster.abandon();
  });
}

/** Stops every cluster this process started and has not stopped yet. */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...liveClusters].map((cluster) => cluster.stop()));
}

/**
 * Starts an independent cluster on free loopback ports and resolves once kube-apiserver's /readyz
 * is ok and the token controllers are working.
 */
export function startCluster(
  name: string,
  options: StartClusterOptions & { readonly keepData: true },
): Promise<KeptTestCluster>;
export function startCluster(name: string, options?: StartClusterOptions): Promise<TestCluster>;
export async function startCluster(
  name: string,
  options: StartClusterOptions = {},
): Promise<KeptTestCluster> {
  const binaryPath = options.binaryPath ?? process.env['KUBE_TESTENV_BINARY'];
  if (binaryPath === undefined || binaryPath === '') {
    throw new HarnessError(
      'BINARY_MISSING',
      'no kube-testenv binary: pass { binaryPath } from ensureTestenvBinary(), ' +
        'or run under the e2e vitest project, whose global setup builds it',
    );
  }
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), `kube-testenv-${name}-`));
  const started = Date.now();
  const keepDir = options.keepDir ?? false;
  const keepData = options.keepData ?? false;
  const timeoutMs = options.startTimeoutMs ?? 180_000;
  // Without --remove-dir kube-testenv keeps certificates and logs; with it, it removes the whole
  // directory on exit, even when this process was killed and can no longer clean up. A kept
  // cluster's directory outlives each supervisor, so this process removes it in stop().
  const args = [
    ...['cluster', '--dir', dir, '--name', name],
    ...(keepData ? ['--keep-data'] : keepDir ? [] : ['--remove-dir']),
    ...(options.webhookClientCert === true ? ['--webhook-client-cert'] : []),
    ...(options.auditPolicyFile === undefined ? [] : ['--audit-policy', options.auditPolicyFile]),
  ];
  const launch = (): Promise<Launched> =>
    launchSupervisor({
      binaryPath,
      name,
      dir,
      args,
      removeDir: !keepDir && !keepData,
      keepDir,
      log,
      timeoutMs,
    });

  let current: Launched | undefined = await launch().catch(async (error: unknown) => {
    // kube-testenv removes no kept data, even of a cluster that never started.
    if (keepData && !keepDir) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    throw error;
  });
  let supervisor = current.supervisor;
  const first = current;
  const startMilliseconds = Date.now() - started;
  log(
    `kube-testenv: cluster "${name}" ready in ${formatDuration(startMilliseconds)} at ${first.ready.server}`,
  );
  const requireKept = (method: string): void => {
    if (!keepData) {
      throw new HarnessError(
        'CLUSTER_NOT_KEPT',
        `${method}() needs a cluster started with { keepData: true }`,
      );
    }
  };
  let stopping: Promise<void> | undefined;
  const kept: LiveCluster = {
    stop: () =>
      (stopping ??= (async () => {
        await current?.supervisor.stop();
        current = undefined;
        liveClusters.delete(kept);
        if (!keepDir) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      })()),
    abandon: () => {
      liveClusters.delete(kept);
      current?.supervisor.abandon();
    },
  };
  if (keepData) {
    // The kept cluster stands for each of its supervisors in turn.
    liveClusters.delete(supervisor);
    liveClusters.add(kept);
  }
  return {
    name,
    kubeconfigPath: first.ready.kubeconfig,
    server: first.ready.server,
    kubeConfig: first.kubeConfig,
    caFile: first.ready.caFile,
    webhookClientCaFile: first.ready.webhookClientCaFile,
    auditLogPath: first.ready.auditLog,
    dir,
    get pid() {
      return supervisor.pid;
    },
    startMilliseconds,
    stop: () => (keepData ? kept.stop() : supervisor.stop()),
    stopKeepingData: async () => {
      requireKept('stopKeepingData');
      await current?.supervisor.stop();
      current = undefined;
    },
    startAgain: async () => {
      requireKept('startAgain');
      if (stopping !== undefined)
        throw new HarnessError('CLUSTER_NOT_KEPT', `cluster "${name}" was stopped for good`);
      if (current !== undefined)
        throw new HarnessError('CLUSTER_START_FAILED', `cluster "${name}" is running`);
      const restarted = Date.now();
      current = await launch();
      supervisor = current.supervisor;
      liveClusters.delete(supervisor);
      if (
        current.ready.server !== first.ready.server ||
        current.ready.kubeconfig !== first.ready.kubeconfig
      ) {
        throw new HarnessError(
          'CLUSTER_START_FAILED',
          `cluster "${name}" came back on ${current.ready.server}, not ${first.ready.server}`,
        );
      }
      const milliseconds = Date.now() - restarted;
      log(
        `kube-testenv: cluster "${name}" started again in ${formatDuration(milliseconds)} at ${current.ready.server}`,
      );
      return milliseconds;
    },
  };
}

interface Launched {
  readonly supervisor: ClusterProcess;
  readonly ready: ReadyLine;
  readonly kubeConfig: KubeConfig;
}

/** Spawns one kube-testenv supervisor and waits until it is ready and reachable from here. */
async function launchSupervisor(options: {
  readonly binaryPath: string;
  readonly name: string;
  readonly dir: string;
  readonly args: readonly string[];
  readonly removeDir: boolean;
  readonly keepDir: boolean;
  readonly log: (line: string) => void;
  readonly timeoutMs: number;
}): Promise<Launched> {
  const { name, dir, keepDir } = options;
  const child = spawn(options.binaryPath, options.args, {
    // stdin stays open and unused: kube-testenv stops when it closes, i.e. when this process dies.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const supervisor = new ClusterProcess(name, dir, child, options.removeDir, options.log);
  liveClusters.add(supervisor);
  installExitHook();
  try {
    const ready = await supervisor.ready(options.timeoutMs);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(ready.kubeconfig);
    // kube-testenv checked /readyz already; asking again from here proves that this kubeconfig,
    // as loaded by client-node, reaches and authenticates to the cluster.
    const readyz = await kubeGet(kubeConfig, '/readyz');
    if (readyz.status !== 200) throw new Error(`/readyz answered ${String(readyz.status)}: ${readyz.body}`);
    supervisor.detach();
    return { supervisor, ready, kubeConfig };
  } catch (error) {
    await supervisor.stop();
    throw new HarnessError(
      'CLUSTER_START_FAILED',
      `cluster "${name}" did not start: ${error instanceof Error ? error.message : String(error)}\n` +
        `kube-testenv said:\n${supervisor.stderrTail()}\n` +
        (keepDir ? `Logs: ${dir}/logs` : 'Pass { keepDir: true } to keep its logs.'),
      { cause: error },
    );
  }
}

function parseReadyLine(line: string): ReadyLine {
  const value: unknown = JSON.parse(line);
  if (typeof value !== 'object' || value === null) throw new Error(`unexpected ready line: ${line}`);
  const field = (key: string): unknown => (value as Record<string, unknown>)[key];
  const kubeconfig = field('kubeconfig');
  const server = field('server');
  const caFile = field('caFile');
  const pid = field('pid');
  const webhookClientCaFile = field('webhookClientCaFile');
  const auditLog = field('auditLog');
  if (
    typeof kubeconfig !== 'string' ||
    typeof server !== 'string' ||
    !server.startsWith('https://127.0.0.1:') ||
    typeof caFile !== 'string' ||
    typeof pid !== 'number' ||
    (webhookClientCaFile !== undefined && typeof webhookClientCaFile !== 'string') ||
    (auditLog !== undefined && typeof auditLog !== 'string')
  ) {
    throw new Error(`unexpected ready line: ${line}`);
  }
  return { kubeconfig, server, caFile, pid, webhookClientCaFile, auditLog };
}

/** One kube-testenv supervisor process and what this process knows about it. */
class ClusterProcess {
  private readonly stderr = new TailBuffer(16_384);
  private readonly exited: Promise<void>;
  private stopping: Promise<void> | undefined;
  private detached = false;

  constructor(
    private readonly name: string,
    private readonly dir: string,
    private readonly child: ClusterChild,
    /** Whether stop() removes the directory (kube-testenv's --remove-dir did already, mostly). */
    private readonly removeDir: boolean,
    private readonly log: (line: string) => void,
  ) {
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr.push(chunk);
    });
    this.exited = new Promise((resolve) => {
      // A binary that cannot be executed never spawns, so never emits 'exit'.
      child.on('error', () => {
        if (child.pid === undefined) resolve();
      });
      child.once('exit', (code, signal) => {
        // Before detach() a failure is reported by startCluster's error instead.
        if (this.detached && this.stopping === undefined) {
          this.log(
            `kube-testenv: cluster "${name}" exited unexpectedly (${signal ?? `exit status ${String(code)}`}):\n` +
              this.stderr.lines(30),
          );
        }
        resolve();
      });
    });
  }

  /** Resolves with the JSON line kube-testenv prints once the cluster is usable. */
  ready(timeoutMs: number): Promise<ReadyLine> {
    return new Promise((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => {
        reject(new Error(`not ready after ${formatDuration(timeoutMs)}`));
      }, timeoutMs);
      const onData = (chunk: string): void => {
        stdout += chunk;
        const newline = stdout.indexOf('\n');
        if (newline < 0) return;
        clearTimeout(timer);
        this.child.stdout.off('data', onData);
        try {
          resolve(parseReadyLine(stdout.slice(0, newline)));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      };
      this.child.stdout.setEncoding('utf8').on('data', onData);
      this.child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error('kube-testenv exited before the cluster was ready'));
      });
    });
  }

  /** Lets this process exit while the cluster runs; the exit hook still stops it then. */
  detach(): void {
    this.detached = true;
    this.child.unref();
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) {
      if (stream instanceof Socket) stream.unref();
    }
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  stderrTail(): string {
    return this.stderr.lines(40);
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopProcess();
    return this.stopping;
  }

  /** For the 'exit' hook, which cannot wait: kube-testenv stops and removes its directory itself. */
  abandon(): void {
    liveClusters.delete(this);
    this.stopping ??= Promise.resolve();
    if (isRunning(this.child)) this.child.kill('SIGTERM');
  }

  private async stopProcess(): Promise<void> {
    await terminate(this.child, this.exited, STOP_GRACE_MS);
    liveClusters.delete(this);
    if (this.removeDir) await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}
