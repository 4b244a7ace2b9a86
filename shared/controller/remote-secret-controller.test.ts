import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig, type KubernetesListObject, type V1Secret } from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import { RemoteSecretController, type ListFn, type WatchFn } from './remote-secret-controller.ts';

/** A fake API server for one namespace: a list to return and a watch stream to push events into. */
function fakeServer() {
  let listed: V1Secret[] = [];
  let failLists = 0;
  let pending: ((value: KubernetesListObject<V1Secret>) => void) | undefined;
  let hold = false;
  const streams: { push: (phase: string, object: V1Secret) => void; end: (error: unknown) => void }[] = [];
  const list: ListFn = () => {
    if (failLists > 0) {
      failLists -= 1;
      return Promise.reject(new Error('connection refused'));
    }
    const result = secretList(listed);
    if (!hold) return Promise.resolve(result);
    return new Promise((resolve) => (pending = resolve));
  };
  const watch: WatchFn = (_path, _params, callback, done) => {
    streams.push({
      push: (phase, object) => {
        callback(phase, object);
      },
      end: done,
    });
    return Promise.resolve(new AbortController());
  };
  return {
    list,
    watch,
    streams,
    setList: (items: V1Secret[]) => {
      listed = items;
    },
    failNextLists: (count: number) => {
      failLists = count;
    },
    holdList: () => {
      hold = true;
    },
    releaseList: () => {
      pending?.(secretList(listed));
    },
  };
}

/**
 * The informer gets parsed JSON off the wire, not model class instances; so do these fakes.
 * Secrets are created in name order (a first), a second apart.
 */
function secret(name: string, rv: string, ...clusters: string[]): V1Secret {
  return inNamespace('istio-system', name, rv, ...clusters);
}

function inNamespace(namespace: string, name: string, rv: string, ...clusters: string[]): V1Secret {
  const wire = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      creationTimestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, name.charCodeAt(0) - 96)).toISOString(),
      resourceVersion: rv,
      labels: { 'istio/multiCluster': 'true' },
    },
    data: Object.fromEntries(
      clusters.map((id) => [id, Buffer.from(`kubeconfig of ${id}`).toString('base64')]),
    ),
  });
  return JSON.parse(wire) as V1Secret;
}

function secretList(items: V1Secret[]): KubernetesListObject<V1Secret> {
  const wire = JSON.stringify({ apiVersion: 'v1', kind: 'SecretList', metadata: { resourceVersion: '10' } });
  return { ...(JSON.parse(wire) as KubernetesListObject<V1Secret>), items };
}

const log = { debug: vi.fn(), info: vi.fn(), warn: vi.fn() };

/** Who a running istiod would keep for `id` if `candidate` (never stored) claimed it too. */
function holder(
  controller: RemoteSecretController,
  id: string,
  candidate: string,
  namespace = 'istio-system',
) {
  return controller.clusterIds.conflictFor({ namespace, name: candidate }, id)?.holder;
}
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('RemoteSecretController', () => {
  it('is not synced until the first list is in the index', async () => {
    const server = fakeServer();
    server.setList([secret('a', '1', 'east')]);
    server.holdList();
    const controller = new RemoteSecretController({
      kubeConfig: new KubeConfig(),
      namespaces: ['istio-system'],
      log,
      ...server,
    });
    const started = controller.start();
    await settle();
    expect(controller.synced).toBe(false);
    server.releaseList();
    await started;
    expect(controller.synced).toBe(true);
    expect(holder(controller, 'east', 'b')).toBe('istio-system/a');
    await controller.stop();
  });

  it('follows adds, updates and deletes with Istio semantics, keeping no kubeconfig', async () => {
    const server = fakeServer();
    const a = secret('a', '1', 'east');
    server.setList([a]);
    const controller = new RemoteSecretController({
      kubeConfig: new KubeConfig(),
      namespaces: ['istio-system'],
      log,
      ...server,
    });
    await controller.start();
    expect(a.data).toBeUndefined();
    const stream = server.streams[0];
    stream?.push('ADDED', secret('b', '2', 'east', 'west'));
    expect(holder(controller, 'east', 'b')).toBe('istio-system/a');
    expect(holder(controller, 'west', 'c')).toBe('istio-system/b');
    expect(holder(controller, 'west', 'b')).toBeUndefined();
    stream?.push('MODIFIED', secret('a', '3', 'north'));
    expect(holder(controller, 'east', 'c')).toBe('istio-system/b');
    stream?.push('DELETED', secret('b', '4'));
    expect(holder(controller, 'east', 'c')).toBeUndefined();
    expect([controller.clusterIds.secretCount, controller.clusterIds.clusterCount]).toEqual([1, 1]);
    await controller.stop();
  });

  it('scopes cluster IDs per namespace and orders claimants by creation, not by arrival', async () => {
    const server = fakeServer();
    // b (created second) arrives first, then a; the same ID in another namespace is no claim.
    const stored = () => [
      secret('b', '1', 'east'),
      secret('a', '2', 'east'),
      inNamespace('mesh-2', 'c', '3', 'east'),
    ];
    const controller = new RemoteSecretController({
      kubeConfig: new KubeConfig(),
      namespaces: ['istio-system', 'mesh-2'],
      log,
      list: (namespace) =>
        Promise.resolve(secretList(stored().filter((item) => item.metadata?.namespace === namespace))),
      watch: server.watch,
    });
    await controller.start();
    expect(controller.clusterIds.conflicts()).toEqual([
      {
        namespace: 'istio-system',
        cluster: 'east',
        claimants: ['istio-system/a', 'istio-system/b'],
        holder: 'istio-system/a',
        later: ['istio-system/b'],
        afterRestart: 'istio-system/a',
        createdWithHolder: [],
      },
    ]);
    expect(holder(controller, 'east', 'd', 'mesh-2')).toBe('mesh-2/c');
    await controller.stop();
  });

  it('tells onChange about each secret of the first list and every add, update and delete, data included', async () => {
    const server = fakeServer();
    server.setList([secret('a', '1', 'east'), secret('b', '2', 'west')]);
    const changes: string[] = [];
    const controller = new RemoteSecretController({
      kubeConfig: new KubeConfig(),
      namespaces: ['istio-system'],
      log,
      onChange: ({ type, secret: changed }) =>
        changes.push(`${type} ${changed.metadata?.name ?? ''} ${Object.keys(changed.data ?? {}).join(',')}`),
      ...server,
    });
    await controller.start();
    expect(changes).toEqual(['upsert a east', 'upsert b west']);
    const stream = server.streams[0];
    stream?.push('ADDED', secret('c', '3', 'north'));
    stream?.push('MODIFIED', secret('a', '4', 'east'));
    stream?.push('DELETED', secret('b', '5'));
    expect(changes.slice(2)).toEqual(['upsert c north', 'upsert a east', 'delete b ']);
    await controller.stop();
  });

  it('retries a failed list and becomes synced when the API server answers', async () => {
    const server = fakeServer();
    server.setList([secret('a', '1', 'east')]);
    server.failNextLists(2);
    const controller = new RemoteSecretController({
      kubeConfig: new KubeConfig(),
      namespaces: ['istio-system'],
      log,
      retryDelayMs: 5,
      ...server,
    });
    await controller.start();
    expect(controller.synced).toBe(false);
    await vi.waitFor(() => {
      expect(controller.synced).toBe(true);
    });
    expect(log.warn).toHaveBeenCalledWith(
      { namespace: 'istio-system', error: 'connection refused', retryInMs: 5 },
      'remote secret informer failed; retrying with backoff up to 30 s',
    );
    expect(log.info).toHaveBeenCalledWith(
      expect.objectContaining({ namespace: 'istio-system', retries: 2 }),
      'remote secret informer recovered',
    );
    await controller.stop();
  });

  it('backs off a watch that keeps failing, doubling to 30 s, and logs the outage once', async () => {
    vi.useFakeTimers();
    try {
      const server = fakeServer();
      server.setList([secret('a', '1', 'east')]);
      const attempts: number[] = [];
      let down = false;
      // After the first list and watch, the API server goes away: every watch fails at once.
      const watch: WatchFn = async (path, params, callback, done) => {
        if (!down) return server.watch(path, params, callback, done);
        attempts.push(Date.now());
        await Promise.resolve();
        done(new Error('connect ECONNREFUSED 127.0.0.1:6443'));
        return new AbortController();
      };
      const warn = vi.fn();
      const info = vi.fn();
      const controller = new RemoteSecretController({
        kubeConfig: new KubeConfig(),
        namespaces: ['istio-system'],
        log: { debug: vi.fn(), info, warn },
        list: server.list,
        watch,
      });
      await controller.start();
      expect(controller.synced).toBe(true);
      expect(controller.watches).toEqual([
        { namespace: 'istio-system', connected: true, failingSince: undefined },
      ]);
      expect(controller.staleFor('istio-system', 0)).toBeUndefined();
      down = true;
      const start = Date.now();
      server.streams[0]?.end(new Error('connection reset'));
      // Stale once it has failed for the tolerance, and only for the namespace that failed.
      await vi.advanceTimersByTimeAsync(29_999);
      expect(controller.staleFor('istio-system', 30_000)).toBeUndefined();
      expect(controller.staleFor('istio-system', 0)).toBe(29_999);
      await vi.advanceTimersByTimeAsync(1);
      expect(controller.staleFor('istio-system', 30_000)).toBe(30_000);
      expect(controller.staleFor('other', 0)).toBeUndefined();
      await vi.advanceTimersByTimeAsync(100_000);
      // The index is stale from the first failure on, and says since when.
      expect(controller.watches).toEqual([
        { namespace: 'istio-system', connected: false, failingSince: start },
      ]);
      // client-go's reflector backs off the same way (doubling, at most 30 s).
      expect(attempts.map((at) => at - start)).toEqual([
        1_000, 3_000, 7_000, 15_000, 31_000, 61_000, 91_000, 121_000,
      ]);
      // One line for the outage, not one (with a stack trace) per retry.
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn).toHaveBeenCalledWith(
        { namespace: 'istio-system', error: 'connection reset', retryInMs: 1_000 },
        'remote secret informer failed; retrying with backoff up to 30 s',
      );

      // Back up: one line says so, and how long it was down.
      down = false;
      await vi.advanceTimersByTimeAsync(30_000);
      expect(info).toHaveBeenLastCalledWith(
        { namespace: 'istio-system', downForMs: 151_000, retries: 9 },
        'remote secret informer recovered',
      );
      expect(warn).toHaveBeenCalledTimes(1);
      expect(controller.watches).toEqual([
        { namespace: 'istio-system', connected: true, failingSince: undefined },
      ]);
      expect(controller.staleFor('istio-system', 0)).toBeUndefined();

      // Connected for over 2 minutes: the next outage starts from the first delay again.
      await vi.advanceTimersByTimeAsync(130_000);
      down = true;
      attempts.length = 0;
      const again = Date.now();
      server.streams.at(-1)?.end(new Error('connection reset'));
      await vi.advanceTimersByTimeAsync(4_000);
      expect(attempts.map((at) => at - again)).toEqual([1_000, 3_000]);
      expect(warn).toHaveBeenCalledTimes(2);
      await controller.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('is synced only when every watched namespace is', async () => {
    const server = fakeServer();
    let calls = 0;
    const list: ListFn = (namespace) => {
      calls += 1;
      return namespace === 'slow' ? new Promise(() => undefined) : server.list(namespace);
    };
    const controller = new RemoteSecretController({
      kubeConfig: new KubeConfig(),
      namespaces: ['istio-system', 'slow'],
      log,
      list,
      watch: server.watch,
    });
    void controller.start();
    await settle();
    expect(calls).toBe(2);
    expect(controller.synced).toBe(false);
    await controller.stop();
  });
});

/**
 * A loopback HTTP server standing in for the API server's watch: it answers the watch's headers
 * (and writes `events`) only when `answer` is true, else holds the request unanswered.
 */
async function watchServer(answer: boolean, events: V1Secret[] = []) {
  const sockets: Socket[] = [];
  const requested: string[] = [];
  const server = createServer((req, res) => {
    requested.push(req.url ?? '');
    if (!answer) return;
    res.writeHead(200, { 'content-type': 'application/json' });
    for (const object of events) res.write(`${JSON.stringify({ type: 'ADDED', object })}\n`);
  });
  server.on('connection', (socket) => sockets.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'local', server: `http://127.0.0.1:${String(port)}`, skipTLSVerify: true }],
    users: [{ name: 'nobody' }],
    contexts: [{ name: 'local', cluster: 'local', user: 'nobody' }],
    currentContext: 'local',
  });
  return {
    kubeConfig,
    requested,
    /** Resolves once every connection the watch opened has closed. */
    closed: () =>
      Promise.all(sockets.map((socket) => (socket.closed ? Promise.resolve([]) : once(socket, 'close')))),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

const until = async (check: () => boolean) => {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('RemoteSecretController with its own watch (stoppableWatch)', () => {
  it('follows a real watch stream: path, label selector, resourceVersion and events', async () => {
    const server = await watchServer(true, [secret('b', '11', 'west')]);
    const controller = new RemoteSecretController({
      kubeConfig: server.kubeConfig,
      namespaces: ['istio-system'],
      log,
      list: () => Promise.resolve(secretList([secret('a', '1', 'east')])),
    });
    try {
      await controller.start();
      await until(() => holder(controller, 'west', 'c') !== undefined);
      expect(holder(controller, 'east', 'c')).toBe('istio-system/a');
      expect(holder(controller, 'west', 'c')).toBe('istio-system/b');
      const url = new URL(server.requested[0] ?? '', 'http://x');
      expect(url.pathname).toBe('/api/v1/namespaces/istio-system/secrets');
      expect(url.searchParams.get('watch')).toBe('true');
      expect(url.searchParams.get('labelSelector')).toBe('istio/multiCluster=true');
      expect(url.searchParams.get('resourceVersion')).toBe('10');
      expect(controller.watches[0]?.connected).toBe(true);
      await controller.stop();
      await server.closed();
    } finally {
      server.close();
    }
  });

  // client-node's Watch hands back its AbortController only with the response headers: a stop
  // before then left the request open until its 30 s timeout, and the webhook's process with it.
  it('ends a watch that is still connecting when it stops', async () => {
    const server = await watchServer(false);
    const quiet = { debug: vi.fn(), info: vi.fn(), warn: vi.fn() };
    const controller = new RemoteSecretController({
      kubeConfig: server.kubeConfig,
      namespaces: ['istio-system'],
      log: quiet,
      list: () => Promise.resolve(secretList([])),
    });
    try {
      const started = controller.start();
      await until(() => server.requested.length === 1);
      await controller.stop();
      await server.closed();
      await started;
      expect(controller.watches[0]?.connected).toBe(false);
      expect(quiet.warn).not.toHaveBeenCalled();
    } finally {
      server.close();
    }
  }, 10_000);
});
