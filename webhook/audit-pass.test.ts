import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getPriority, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { kubeconfigText } from '../shared/audit/testdata/kubeconfigs.ts';
import { rawSecretPage } from '../shared/audit/list.ts';
import type { FetchPage } from '../shared/audit/pages.ts';
import { KubeClient } from '../shared/kube/client.ts';
import { errorCode } from '../shared/errors.ts';
import {
  inProcessPass,
  pacedPages,
  workerPass,
  type AuditWorkerInfo,
  type KnownSecret,
} from './audit-pass.ts';
import { AUDIT_WORKER_NICENESS } from './audit-pass-worker.ts';

const NAMESPACE = 'istio-system';
const SETTINGS = { namespaces: [NAMESPACE], allow: new Set<string>(), localClusterId: 'primary' };
const NOW = new Date('2026-12-01T00:00:00Z');

/** A labelled Secret as parsed JSON off the wire (as the other tests build them). */
function secret(name: string, data: Record<string, string>, created: string): V1Secret {
  const wire = {
    metadata: {
      name,
      namespace: NAMESPACE,
      uid: `uid-${name}`,
      resourceVersion: '7',
      creationTimestamp: created,
      labels: { 'istio/multiCluster': 'true' },
    },
    data: Object.fromEntries(
      Object.entries(data).map(([id, text]) => [id, Buffer.from(text).toString('base64')]),
    ),
  };
  return JSON.parse(JSON.stringify(wire)) as V1Secret;
}

// A duplicate whose later claimant is listed first (pages of two), an exec login, a clean one.
const SECRETS = [
  secret('a-newer', { east: kubeconfigText() }, '2025-06-01T00:00:00Z'),
  secret('b-exec', { west: kubeconfigText({ exec: true }) }, '2025-02-01T00:00:00Z'),
  secret('c-clean', { north: kubeconfigText() }, '2025-03-01T00:00:00Z'),
  secret('z-older', { east: kubeconfigText() }, '2025-01-01T00:00:00Z'),
];

/** The list API of one namespace, `limit` at a time; `answer` can refuse or never answer. */
type Answer = 'list' | 'forbidden' | 'hang' | 'not-a-list';

async function standIn(initial: Answer = 'list') {
  const requests: string[] = [];
  const authorizations: string[] = [];
  // What the API server holds and how it answers; tests change both between passes.
  const state: { secrets: V1Secret[]; answer: Answer } = { secrets: [...SECRETS], answer: initial };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push(`${url.pathname}${url.search}`);
    authorizations.push(req.headers.authorization ?? '');
    const { secrets, answer } = state;
    if (answer === 'hang') return;
    if (answer === 'not-a-list') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status' }));
      return;
    }
    if (answer === 'forbidden' || url.pathname !== `/api/v1/namespaces/${NAMESPACE}/secrets`) {
      res.writeHead(403, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason: 'Forbidden',
          code: 403,
        }),
      );
      return;
    }
    const limit = Number(url.searchParams.get('limit') ?? secrets.length);
    const start = Number(url.searchParams.get('continue') ?? 0);
    const end = start + limit;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'SecretList',
        metadata: { resourceVersion: '9', ...(end < secrets.length ? { continue: String(end) } : {}) },
        items: secrets.slice(start, end),
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const dir = mkdtempSync(join(tmpdir(), 'audit-pass-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'c',
          // Plain HTTP on loopback: client-node asks for this to allow it.
          cluster: {
            server: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
            'insecure-skip-tls-verify': true,
          },
        },
      ],
      users: [{ name: 'u', user: { token: 'operator-token' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
    }),
  );
  return {
    requests,
    authorizations,
    state,
    kubeconfig,
    close: async () => {
      server.closeAllConnections();
      server.close();
      rmSync(dir, { recursive: true, force: true });
      await once(server, 'close');
    },
  };
}

const servers: { close: () => Promise<void> }[] = [];
const workers: AbortController[] = [];
afterEach(async () => {
  for (const stop of workers.splice(0)) stop.abort();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function started(answer?: Answer) {
  const api = await standIn(answer);
  servers.push(api);
  return api;
}

/** Passes in a worker, its pages fetched here, two at a time, as the webhook's main thread does. */
function inWorker(kubeconfig: string, onDone?: (info: AuditWorkerInfo) => void, viaMain = false) {
  const stop = new AbortController();
  workers.push(stop);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  const client = new KubeClient(k8s, kubeConfig, { requestTimeoutMs: 5000, signal: stop.signal });
  return workerPass({
    signal: stop.signal,
    ...SETTINGS,
    pageSize: 2,
    connect: () => (viaMain ? Promise.resolve(undefined) : client.directConnection()),
    fetchPage: (namespace, token) => rawSecretPage(client, namespace, 2, token),
    ...(onDone === undefined ? {} : { onDone }),
  });
}

/** The same pass on this thread, over the same secrets, pages of two. */
function here(secrets: readonly V1Secret[]): Promise<ReadonlyMap<string, KnownSecret>> {
  const pages = (): FetchPage<V1Secret> => (token) => {
    const start = Number(token ?? 0);
    return Promise.resolve({
      items: secrets.slice(start, start + 2),
      continueToken: start + 2 < secrets.length ? String(start + 2) : undefined,
    });
  };
  return inProcessPass({ ...SETTINGS, pages })(NOW);
}

const sorted = (known: ReadonlyMap<string, KnownSecret>) => [...known].sort(([a], [b]) => a.localeCompare(b));

describe('pacedPages', () => {
  it('rests between pages so that fetching and deciding one is the duty share of its time', async () => {
    let clock = 0;
    const slept: number[] = [];
    const fetched: (string | undefined)[] = [];
    const pages = pacedPages<string>(
      (token) => {
        fetched.push(token);
        clock += 30; // the API server takes 30 ms to answer
        return Promise.resolve({ items: [], continueToken: undefined });
      },
      {
        duty: 0.25,
        now: () => clock,
        sleep: (ms) => {
          slept.push(ms);
          clock += ms;
          return Promise.resolve();
        },
      },
    );
    await pages(undefined);
    clock += 10; // deciding the page takes 10 ms
    await pages('1');
    await pages('2');
    // Busy 40 ms, then 30 ms: rest three times as long at a duty of a quarter; none before the first.
    expect(slept).toEqual([120, 90]);
    expect(fetched).toEqual([undefined, '1', '2']);
  });

  it('never rests at a duty of 1', async () => {
    const slept: number[] = [];
    const pages = pacedPages<string>(() => Promise.resolve({ items: [], continueToken: undefined }), {
      duty: 1,
      sleep: (ms) => {
        slept.push(ms);
        return Promise.resolve();
      },
    });
    await pages(undefined);
    await pages('1');
    expect(slept).toEqual([]);
  });
});

describe('workerPass: the background audit pass in a worker thread', () => {
  it('lists page by page with its own client and decides as the pass on this thread does', async () => {
    const api = await started();
    const inWorkerKnown = await inWorker(api.kubeconfig)(NOW);
    expect(sorted(inWorkerKnown)).toEqual(sorted(await here(SECRETS)));
    // Two pages of two, with the labelled selector and the continue token.
    expect(api.requests).toHaveLength(2);
    expect(api.requests[0]).toContain('labelSelector=istio%2FmultiCluster%3Dtrue');
    expect(api.requests[1]).toContain('continue=2');
    // With the webhook's own credential, which the worker was handed for the pass.
    expect(api.authorizations).toEqual(['Bearer operator-token', 'Bearer operator-token']);
    // The later claimant is blamed although it was listed first; the exec login is refused.
    expect(inWorkerKnown.get(`${NAMESPACE}/a-newer`)?.status.violations.map((found) => found.code)).toEqual([
      'duplicate-cluster-id',
    ]);
    expect(inWorkerKnown.get(`${NAMESPACE}/z-older`)?.status.violations).toEqual([]);
    expect(inWorkerKnown.get(`${NAMESPACE}/b-exec`)?.status.violations.map((found) => found.code)).toContain(
      'exec',
    );
    // Codes and paths only: nothing of a kubeconfig crosses from the worker.
    const posted = JSON.stringify([...inWorkerKnown]);
    for (const value of ['eyJ', 'east.example', 'LS0tLS1CRUdJTi', 'apiVersion'])
      expect(posted).not.toContain(value);
  });

  it.runIf(platform() === 'linux')(
    'runs the worker nicer than the webhook, which keeps its own priority',
    async () => {
      const api = await started();
      const before = getPriority(0);
      let nice: number | undefined;
      await inWorker(api.kubeconfig, (info) => {
        nice = info.nice;
      })(NOW);
      expect(nice).toBe(Math.max(before, AUDIT_WORKER_NICENESS));
      expect(getPriority(0)).toBe(before);
    },
  );

  it('fails the pass with the API error’s code, and a message naming the call', async () => {
    const api = await started('forbidden');
    const failure = await inWorker(api.kubeconfig)(NOW).catch((error: unknown) => error);
    expect(errorCode(failure)).toBe('forbidden');
    expect((failure as Error).message).toContain(
      'list Secrets labelled istio/multiCluster=true in namespace istio-system',
    );
  });

  it('stops the worker when aborted, while a list is unanswered', async () => {
    const api = await started('hang');
    const abort = new AbortController();
    const pass = inWorker(api.kubeconfig)(NOW, abort.signal).catch((error: unknown) => error);
    while (api.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    abort.abort();
    expect(errorCode(await pass)).toBe('aborted');
  });

  it('runs every pass on one worker, and starts a new one after a pass was stopped', async () => {
    const api = await started();
    const threads: number[] = [];
    const pass = inWorker(api.kubeconfig, (info) => threads.push(info.threadId));
    expect((await pass(NOW)).size).toBe(SECRETS.length);
    expect((await pass(NOW)).size).toBe(SECRETS.length);
    const abort = new AbortController();
    const stopped = pass(NOW, abort.signal).catch((error: unknown) => error);
    abort.abort();
    expect(errorCode(await stopped)).toBe('aborted');
    expect((await pass(NOW)).size).toBe(SECRETS.length);
    expect(threads).toHaveLength(3);
    expect(threads[1]).toBe(threads[0]);
    expect(threads[2]).not.toBe(threads[0]);
  });

  it('sends only what changed since the last pass, and gives the whole result every time', async () => {
    const api = await started();
    const sent: number[] = [];
    const pass = inWorker(api.kubeconfig, (info) => sent.push(info.changed));
    await pass(NOW);
    expect(sorted(await pass(NOW))).toEqual(sorted(await here(SECRETS)));
    // One gone, one fixed, one new; a pass that fails in between changes nothing.
    api.state.answer = 'forbidden';
    expect(errorCode(await pass(NOW).catch((error: unknown) => error))).toBe('forbidden');
    api.state.answer = 'list';
    const [newer, , , older] = SECRETS as [V1Secret, V1Secret, V1Secret, V1Secret];
    api.state.secrets = [
      newer,
      secret('b-exec', { west: kubeconfigText() }, '2025-02-01T00:00:00Z'),
      secret('d-new', { south: kubeconfigText({ exec: true }) }, '2025-04-01T00:00:00Z'),
      older,
    ];
    const after = await pass(NOW);
    expect(sorted(after)).toEqual(sorted(await here(api.state.secrets)));
    expect(after.has(`${NAMESPACE}/c-clean`)).toBe(false);
    expect(sent).toEqual([4, 0, 2]);
  });

  it('lists on this thread for the worker when it cannot reach the API server itself (a proxy)', async () => {
    const api = await started();
    const known = await inWorker(api.kubeconfig, undefined, true)(NOW);
    expect(sorted(known)).toEqual(sorted(await here(SECRETS)));
    expect(api.requests).toHaveLength(2);
    // A kubeconfig with proxy-url gives no direct connection: only client-node's agents proxy.
    const proxied = new KubeConfig();
    proxied.loadFromOptions({
      clusters: [
        {
          name: 'c',
          server: 'https://api.example:6443',
          proxyUrl: 'http://127.0.0.1:9',
          skipTLSVerify: false,
        },
      ],
      users: [{ name: 'u', token: 'operator-token' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    expect(await new KubeClient(k8s, proxied, { requestTimeoutMs: 1000 }).directConnection()).toBeUndefined();
  });

  it('fails the pass clearly when a page is not a list of Secrets', async () => {
    const api = await started('not-a-list');
    const failure = await inWorker(api.kubeconfig)(NOW).catch((error: unknown) => error);
    expect(errorCode(failure)).toBe('invalid-list');
    expect((failure as Error).message).toContain('without items');
  });
});
