import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { V1Secret } from '@kubernetes/client-node';
import { Auditor, type DuplicateFinding } from '../shared/audit/audit.ts';
import {
  storedSecretStatus,
  unreadableSecretStatus,
  withDuplicates,
  type StoredSecretRef,
  type StoredSecretStatus,
} from '../shared/audit/background.ts';
import { forEachPage, type FetchPage } from '../shared/audit/pages.ts';
import { DEFAULT_EXPIRING_WITHIN_MS } from '../shared/audit/risk-notes.ts';
import { errorCode, RemoteSecretError } from '../shared/errors.ts';
import type { DirectConnection } from '../shared/kube/direct.ts';
import { wireSecret } from '../shared/kube/primary.ts';
import type { AllowList } from '../shared/kubeconfig/sanitize.ts';
import type { SecretManifest } from '../shared/remote-secret/build.ts';
import { readRemoteSecretObject } from '../shared/remote-secret/manifests.ts';
import { secretRef } from '../shared/remote-secret/model.ts';
import { compareStrings } from '../shared/text.ts';

/** What the audit knows of one stored secret: its status and the hash of the data it came from. */
export interface KnownSecret {
  readonly status: StoredSecretStatus;
  readonly hash: string;
}

/** A known secret with its key (`namespace/name`), as a pass hands it on. */
export type KnownEntry = readonly [key: string, known: KnownSecret];

/** What every decision of the background audit is made with. */
export interface AuditSettings {
  readonly namespaces: readonly string[];
  readonly allow: AllowList;
  readonly localClusterId: string | undefined;
}

/** One full pass: every labelled Secret of every namespace, decided as of `now`. */
export type RunPass = (now: Date, signal?: AbortSignal) => Promise<ReadonlyMap<string, KnownSecret>>;

/** A stored Secret as the audit decides it: where it is, and its manifest (data included). */
export interface StoredObject {
  readonly ref: StoredSecretRef;
  readonly manifest: SecretManifest;
}

export function storedObject(item: V1Secret, namespace: string): StoredObject {
  const metadata = item.metadata;
  return {
    ref: {
      namespace: metadata?.namespace ?? namespace,
      name: metadata?.name ?? '',
      uid: metadata?.uid,
      resourceVersion: metadata?.resourceVersion,
    },
    manifest: wireSecret(item),
  };
}

/** What a secret is decided from: its data, key by key (istiod hashes each kubeconfig likewise). */
export function contentHash({ manifest }: StoredObject): string {
  const hash = createHash('sha256');
  const fields = [
    ['data', manifest.data],
    ['stringData', manifest.stringData],
  ] as const;
  for (const [field, values] of fields) {
    for (const [key, value] of Object.entries(values ?? {}).sort(([a], [b]) => compareStrings(a, b)))
      hash.update(`${field}\u0000${key}\u0000${value}\u0000`);
  }
  return hash.digest('hex');
}

/** The plugin's `audit` decision, keeping codes and paths only (no findings held across pages). */
export function auditorFor(settings: AuditSettings, now: Date): Auditor {
  return new Auditor(
    {
      allow: settings.allow,
      localClusterId: settings.localClusterId,
      now,
      expiringWithinMs: DEFAULT_EXPIRING_WITHIN_MS,
    },
    { keepFindings: false },
  );
}

/** One stored Secret, decided; undefined if it is no remote secret after all. */
export function decideStored(
  { ref, manifest }: StoredObject,
  auditor: Auditor,
): StoredSecretStatus | undefined {
  const read = readRemoteSecretObject(manifest, secretRef(ref));
  const findings = auditor.add(read.secrets, read.errors);
  if (read.secrets.length > 0) return storedSecretStatus(ref, findings);
  return read.errors.length > 0 ? unreadableSecretStatus(ref) : undefined;
}

/** Add, to the statuses one auditor decided, the duplicate cluster IDs it found among them. */
export function addDuplicates(decided: Map<string, KnownSecret>, auditor: Auditor): void {
  const duplicates = new Map<string, DuplicateFinding[]>();
  for (const found of auditor.duplicates()) {
    const secret = secretRef(found);
    duplicates.set(secret, [...(duplicates.get(secret) ?? []), found]);
  }
  for (const [secret, found] of duplicates) {
    const entry = decided.get(secret);
    if (entry !== undefined) decided.set(secret, { ...entry, status: withDuplicates(entry.status, found) });
  }
}

export interface ListAndDecideInput extends AuditSettings {
  readonly pages: (namespace: string) => FetchPage<V1Secret>;
  readonly now: Date;
}

/**
 * The pass itself: list the labelled Secrets of each namespace page by page, decide each one
 * (the shared `Auditor`), and add the duplicate cluster IDs once every claimant is known (a later
 * claimant may be listed first). Holds one page of kubeconfigs at a time.
 */
export async function listAndDecide(input: ListAndDecideInput): Promise<Map<string, KnownSecret>> {
  const auditor = auditorFor(input, input.now);
  const known = new Map<string, KnownSecret>();
  for (const namespace of input.namespaces) {
    await forEachPage(input.pages(namespace), (items) => {
      for (const item of items) {
        const stored = storedObject(item, namespace);
        const status = decideStored(stored, auditor);
        if (status !== undefined) known.set(status.secret, { status, hash: contentHash(stored) });
      }
    });
  }
  addDuplicates(known, auditor);
  return known;
}

/**
 * The share of the time a worker's pass keeps busy (listing and deciding); it waits the rest.
 * Unpaced, a pass over 10,000 secrets kept both cores of a two-core node busy (the worker, V8's
 * collector threads and the API server), and admission waited for a core.
 */
export const AUDIT_WORKER_DUTY_CYCLE = 0.25;

export interface Pacing {
  /** The share of the time to be busy, in (0, 1]. */
  readonly duty: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * `fetchPage`, paced: before asking for the next page, wait so that fetching and deciding the
 * previous one (the time since it was asked for) is `duty` of the time spent on it in all.
 */
export function pacedPages<T>(fetchPage: FetchPage<T>, pacing: Pacing): FetchPage<T> {
  const now = pacing.now ?? (() => performance.now());
  const sleep = pacing.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let askedAt: number | undefined;
  return async (token) => {
    if (askedAt !== undefined && pacing.duty < 1) {
      const busy = now() - askedAt;
      const rest = (busy * (1 - pacing.duty)) / pacing.duty;
      if (rest > 0) await sleep(rest);
    }
    askedAt = now();
    return fetchPage(token);
  };
}

/** A pass on this thread, over `pages` (tests, and the cross-path table). */
export function inProcessPass(
  settings: AuditSettings & { readonly pages: (namespace: string) => FetchPage<V1Secret> },
): RunPass {
  return (now) => listAndDecide({ ...settings, now });
}

// ---- the pass in a worker thread ----

/** What the worker thread is started with (structured-cloned: no Sets, no functions). */
export interface AuditWorkerData {
  readonly auditPassWorker: true;
  /** Secrets a page asks the API server for (--audit-page-size). */
  readonly pageSize: number;
  readonly namespaces: readonly string[];
  readonly allow: readonly string[];
  readonly localClusterId: string | undefined;
}

/** From the main thread to the worker. */
export type AuditWorkerRequest =
  /**
   * Run one pass with this clock (milliseconds since the epoch), and send what changed since
   * pass `base`, the last one whose results the main thread holds.
   */
  | {
      readonly type: 'pass';
      readonly pass: number;
      readonly now: number;
      readonly base: number | undefined;
      /** How to list by itself; undefined: ask the main thread for each page (`fetch`). */
      readonly connection: DirectConnection | undefined;
    }
  /** The page the worker asked for: the API server's JSON, its buffer moved, not copied. */
  | { readonly type: 'page'; readonly pass: number; readonly id: number; readonly body: ArrayBuffer }
  | {
      readonly type: 'page-failed';
      readonly pass: number;
      readonly id: number;
      readonly code: string | undefined;
      readonly message: string;
    };

/**
 * From the worker to the main thread, each for one pass: requests for pages (the main thread
 * lists with the webhook's client, so the worker needs no client of its own), then the entries
 * that differ from pass `base` (every entry when `base` is undefined), a chunk at a time, then
 * the keys gone since.
 */
export type AuditWorkerMessage = { readonly pass: number } & (
  | {
      readonly type: 'fetch';
      readonly id: number;
      readonly namespace: string;
      readonly continueToken: string | undefined;
    }
  | { readonly type: 'changed'; readonly entries: readonly KnownEntry[] }
  | ({
      readonly type: 'done';
      readonly base: number | undefined;
      readonly removed: readonly string[];
    } & Omit<AuditWorkerInfo, 'changed'>)
  | { readonly type: 'failed'; readonly code: string | undefined; readonly message: string }
);

/** Entries a `changed` message carries at most, so the main thread takes each in well under 1 ms. */
export const AUDIT_WORKER_CHUNK = 200;

/** Which thread ran a pass, at what niceness (undefined where it could not be lowered), and its heap. */
export interface AuditWorkerInfo {
  readonly threadId: number;
  readonly nice: number | undefined;
  /** The worker's V8 heap in use and held (bytes) when the pass was done. */
  readonly heapUsed: number;
  readonly heapTotal: number;
  /** Entries sent because they differ from the base pass's (all of them without one). */
  readonly changed: number;
}

export function isAuditWorkerData(data: unknown): data is AuditWorkerData {
  return (
    typeof data === 'object' &&
    data !== null &&
    (data as { auditPassWorker?: unknown }).auditPassWorker === true
  );
}

/** The worker's heap: a pass over 10,000 secrets peaks near 50 MB; a runaway one fails alone. */
export const AUDIT_WORKER_MAX_OLD_GENERATION_MB = 128;

/** One page of labelled Secrets of a namespace, as the API server's JSON bytes. */
export type FetchRawPage = (namespace: string, continueToken: string | undefined) => Promise<Buffer>;

export interface WorkerPassOptions extends AuditSettings {
  readonly pageSize: number;
  /**
   * Before each pass, how the worker reaches the API server by itself (KubeClient's
   * directConnection: the credential as of now); undefined when it cannot (a proxy), and then
   * `fetchPage` lists for it on this thread.
   */
  readonly connect: () => Promise<DirectConnection | undefined>;
  /** Lists one page on this thread, with the webhook's own client (rawSecretPage). */
  readonly fetchPage: FetchRawPage;
  /** The worker's module; by default the one built beside the webhook (or the source's). */
  readonly workerUrl?: URL;
  /** Which worker thread ran a pass that is done, at what niceness (the debug log, tests). */
  readonly onDone?: (info: AuditWorkerInfo) => void;
  /** Aborted on shutdown: stops the worker for good. */
  readonly signal?: AbortSignal;
}

/**
 * Passes in a worker thread of its own, so that admission never waits behind one. Before each
 * pass the main thread resolves the webhook's credentials (its client's login, TLS, timeout);
 * the worker lists with them over its own connection, parses the JSON, decides with the same
 * code as everywhere (`listAndDecide`), and sends back only the statuses
 * (codes and paths, no kubeconfig) that differ from the previous pass's. Its heap and garbage
 * collector are its own (a pass over 10,000 secrets on the main thread paused it for 6-28 ms at
 * a time), it runs at a lower CPU priority than the thread answering the API server, and it
 * paces itself (AUDIT_WORKER_DUTY_CYCLE), so admission finds a core free.
 *
 * One worker serves every pass: it starts with the first and stays (unref'd), since a new thread
 * per pass gets a new malloc arena and the process's RSS grew by tens of MiB a pass (measured).
 * It holds no client-node (a separate, small module: loading client-node in a worker cost about
 * 60 MiB). Aborting a pass's `signal` stops the worker; a failed or stopped worker is replaced by
 * the next pass.
 */
export function workerPass(options: WorkerPassOptions): RunPass {
  const url = options.workerUrl ?? defaultWorkerUrl();
  let worker: Worker | undefined;
  let passes = 0;
  /** The pass in progress: at most one, as BackgroundAudit runs them one after another. */
  let current:
    { readonly pass: number; readonly on: Worker; readonly fail: (error: Error) => void } | undefined;
  /** The last pass's results, which the worker's next changes apply to. */
  let last: { readonly pass: number; readonly known: ReadonlyMap<string, KnownSecret> } | undefined;

  options.signal?.addEventListener(
    'abort',
    () => {
      void worker?.terminate();
    },
    { once: true },
  );
  const start = (): Worker => {
    const data: AuditWorkerData = {
      auditPassWorker: true,
      pageSize: options.pageSize,
      namespaces: options.namespaces,
      allow: [...options.allow],
      localClusterId: options.localClusterId,
    };
    const started = new Worker(url, {
      workerData: data,
      // The TypeScript sources (tests) need a loader; the built code does not.
      ...(url.pathname.endsWith('.ts') ? { execArgv: ['--import', 'tsx'] } : {}),
      resourceLimits: { maxOldGenerationSizeMb: AUDIT_WORKER_MAX_OLD_GENERATION_MB },
      stdout: false,
      stderr: false,
    });
    started.unref();
    const gone = (error: Error): void => {
      if (worker === started) worker = undefined;
      if (current?.on === started) current.fail(error);
    };
    started.on('error', (error: Error) => {
      gone(
        new RemoteSecretError(
          'audit-worker-failed',
          `the background audit's worker failed: ${error.message}`,
          {
            cause: error,
          },
        ),
      );
    });
    started.on('exit', (code) => {
      gone(
        new RemoteSecretError(
          'audit-worker-failed',
          `the background audit's worker exited (code ${String(code)}) before the pass was done`,
        ),
      );
    });
    return started;
  };

  return (now, signal) =>
    new Promise((resolve, reject) => {
      if (current !== undefined) {
        reject(new RemoteSecretError('audit-pass-running', 'a background audit pass is already running'));
        return;
      }
      if (options.signal?.aborted === true) {
        reject(new RemoteSecretError('aborted', 'the background audit is stopped'));
        return;
      }
      const running = (worker ??= start());
      passes += 1;
      const pass = passes;
      const changed: KnownEntry[] = [];
      const finish = (outcome: () => void): void => {
        if (current?.pass !== pass) return;
        current = undefined;
        running.off('message', onMessage);
        signal?.removeEventListener('abort', abort);
        outcome();
      };
      const fail = (error: Error): void => {
        finish(() => {
          reject(error);
        });
      };
      const abort = (): void => {
        fail(new RemoteSecretError('aborted', 'the background audit pass was stopped'));
        if (worker === running) worker = undefined;
        void running.terminate();
      };
      const send = (request: AuditWorkerRequest, transfer: ArrayBuffer[] = []): void => {
        if (current?.pass === pass) running.postMessage(request, transfer);
      };
      const fetchFor = (id: number, namespace: string, continueToken: string | undefined): void => {
        options.fetchPage(namespace, continueToken).then(
          (bytes) => {
            // A Buffer may be a view of a shared pool: move a copy of exactly its bytes.
            const body = new Uint8Array(bytes).buffer;
            send({ type: 'page', pass, id, body }, [body]);
          },
          (error: unknown) => {
            send({
              type: 'page-failed',
              pass,
              id,
              code: errorCode(error),
              message: error instanceof Error ? error.message : String(error),
            });
          },
        );
      };
      const onMessage = (message: AuditWorkerMessage): void => {
        if (message.pass !== pass) return;
        if (message.type === 'fetch') {
          fetchFor(message.id, message.namespace, message.continueToken);
        } else if (message.type === 'changed') {
          changed.push(...message.entries);
        } else if (message.type === 'done') {
          const base = message.base === undefined ? undefined : last;
          if (message.base !== undefined && base?.pass !== message.base) {
            fail(
              new RemoteSecretError(
                'audit-worker-failed',
                `the worker sent changes to pass ${String(message.base)}, which this thread does not hold`,
              ),
            );
            return;
          }
          const known = new Map<string, KnownSecret>(base?.known);
          for (const key of message.removed) known.delete(key);
          for (const [key, entry] of changed) known.set(key, entry);
          last = { pass, known };
          const { threadId, nice, heapUsed, heapTotal } = message;
          options.onDone?.({ threadId, nice, heapUsed, heapTotal, changed: changed.length });
          finish(() => {
            resolve(known);
          });
        } else {
          // The code survives the thread boundary (a KubeError's `forbidden`, say); the class need not.
          fail(new RemoteSecretError(message.code ?? 'audit-worker-failed', message.message));
        }
      };
      current = { pass, on: running, fail };
      if (signal?.aborted === true) {
        abort();
        return;
      }
      signal?.addEventListener('abort', abort, { once: true });
      running.on('message', onMessage);
      options.connect().then(
        (connection) => {
          send({ type: 'pass', pass, now: now.getTime(), base: last?.pass, connection });
        },
        (error: unknown) => {
          fail(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
}

/** The worker's bundle beside the webhook's (`npm run build`, the image), or the source's module. */
export const AUDIT_WORKER_BUNDLE = 'remote-secret-audit-worker.mjs';

function defaultWorkerUrl(): URL {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.mjs')) return new URL(`./${AUDIT_WORKER_BUNDLE}`, here);
  return new URL(here.pathname.endsWith('.ts') ? './audit-pass-worker.ts' : './audit-pass-worker.js', here);
}
