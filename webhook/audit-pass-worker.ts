// The background audit's worker thread (see workerPass in audit-pass.ts), bundled on its own into
// dist/remote-secret-audit-worker.mjs: the decision and nothing else (no client-node, no server).
// Started as a worker with the audit's workerData, it runs the passes the main thread asks for.
import { getPriority, setPriority } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { isMainThread, parentPort, threadId, workerData, type MessagePort } from 'node:worker_threads';
import type { V1Secret } from '@kubernetes/client-node';
import { secretListAction, secretListPath } from '../shared/audit/list.ts';
import type { FetchPage, Page } from '../shared/audit/pages.ts';
import { directClient, type DirectClient } from '../shared/kube/direct.ts';
import { errorCode, RemoteSecretError } from '../shared/errors.ts';
import { isRecord } from '../shared/json.ts';
import {
  AUDIT_WORKER_CHUNK,
  AUDIT_WORKER_DUTY_CYCLE,
  isAuditWorkerData,
  listAndDecide,
  pacedPages,
  type AuditWorkerData,
  type AuditWorkerMessage,
  type AuditWorkerRequest,
  type KnownEntry,
} from './audit-pass.ts';

/**
 * How much nicer than the webhook the worker's thread runs. On Linux a niceness belongs to one
 * thread, and `setpriority(PRIO_PROCESS, 0)` sets the calling thread's, so admission (the main
 * thread) keeps its share of the CPU while a pass runs.
 */
export const AUDIT_WORKER_NICENESS = 10;

/** A SecretList's JSON as one page: its items and `metadata.continue`. */
export function parseSecretList(body: ArrayBuffer | Buffer): Page<V1Secret> {
  const list: unknown = JSON.parse((Buffer.isBuffer(body) ? body : Buffer.from(body)).toString('utf8'));
  if (!isRecord(list) || !Array.isArray(list['items'])) {
    throw new RemoteSecretError('invalid-list', 'the API server answered a list of Secrets without items');
  }
  const metadata = isRecord(list['metadata']) ? list['metadata'] : {};
  const token = metadata['continue'];
  return {
    // As parsed JSON off the wire: what the audit reads of a Secret is plain data.
    items: list['items'] as V1Secret[],
    continueToken: typeof token === 'string' && token !== '' ? token : undefined,
  };
}

type PassRequest = Extract<AuditWorkerRequest, { type: 'pass' }>;

/**
 * The worker thread: lower its priority, then run a pass for each request from the main thread,
 * asking it for each page, and post the results. A failed pass is a `failed` message; the worker
 * goes on.
 */
function serveAuditPasses(data: AuditWorkerData, port: MessagePort): void {
  let nice: number | undefined;
  try {
    if (getPriority(0) < AUDIT_WORKER_NICENESS) setPriority(0, AUDIT_WORKER_NICENESS);
    nice = getPriority(0);
  } catch {
    // Not every platform lets a thread lower its priority; the passes run all the same.
  }
  const post = (message: AuditWorkerMessage): void => {
    port.postMessage(message);
  };
  /** Pages asked of the main thread and not yet answered, by request id. */
  const waiting = new Map<number, { resolve: (body: ArrayBuffer) => void; reject: (error: Error) => void }>();
  let requests = 0;
  /** A page fetched by the main thread, which the worker asks for. */
  const askFor = (pass: number, namespace: string, continueToken: string | undefined) => {
    requests += 1;
    const id = requests;
    return new Promise<ArrayBuffer>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      post({ pass, type: 'fetch', id, namespace, continueToken });
    });
  };
  const pagesFor =
    (pass: number, direct: DirectClient | undefined) =>
    (namespace: string): FetchPage<V1Secret> =>
      pacedPages(
        async (continueToken) =>
          parseSecretList(
            direct === undefined
              ? await askFor(pass, namespace, continueToken)
              : await direct.getBytes(
                  secretListAction(namespace),
                  secretListPath(namespace, data.pageSize, continueToken),
                ),
          ),
        { duty: AUDIT_WORKER_DUTY_CYCLE },
      );

  /** The last pass done: its number and each entry as JSON, to send only what changed. */
  let last: { readonly pass: number; readonly entries: ReadonlyMap<string, string> } | undefined;
  const run = async ({ pass, now, base, connection }: PassRequest): Promise<void> => {
    const direct = connection === undefined ? undefined : directClient(connection);
    try {
      const known = await listAndDecide({
        namespaces: data.namespaces,
        allow: new Set(data.allow),
        localClusterId: data.localClusterId,
        now: new Date(now),
        pages: pagesFor(pass, direct),
      });
      const previous = base !== undefined && last?.pass === base ? last.entries : undefined;
      const entries = new Map<string, string>();
      let chunk: KnownEntry[] = [];
      for (const [key, entry] of known) {
        const json = JSON.stringify(entry);
        entries.set(key, json);
        if (previous?.get(key) === json) continue;
        chunk.push([key, entry]);
        if (chunk.length === AUDIT_WORKER_CHUNK) {
          post({ pass, type: 'changed', entries: chunk });
          chunk = [];
        }
      }
      if (chunk.length > 0) post({ pass, type: 'changed', entries: chunk });
      const removed = previous === undefined ? [] : [...previous.keys()].filter((key) => !known.has(key));
      const heap = getHeapStatistics();
      post({
        pass,
        type: 'done',
        base: previous === undefined ? undefined : base,
        removed,
        threadId,
        nice,
        heapUsed: heap.used_heap_size,
        heapTotal: heap.total_heap_size,
      });
      last = { pass, entries };
    } catch (error) {
      post({
        pass,
        type: 'failed',
        code: errorCode(error),
        message: error instanceof Error ? error.message : String(error),
      });
    } finally {
      direct?.close();
    }
  };
  // Passes one at a time, in the order asked; page answers go straight to the pass waiting.
  let lane = Promise.resolve();
  port.on('message', (request: AuditWorkerRequest) => {
    if (request.type === 'pass') {
      lane = lane.then(() => run(request));
      return;
    }
    const waiter = waiting.get(request.id);
    if (waiter === undefined) return;
    waiting.delete(request.id);
    if (request.type === 'page') waiter.resolve(request.body);
    else waiter.reject(new RemoteSecretError(request.code ?? 'audit-page-failed', request.message));
  });
}

if (!isMainThread && parentPort !== null && isAuditWorkerData(workerData))
  serveAuditPasses(workerData, parentPort);
