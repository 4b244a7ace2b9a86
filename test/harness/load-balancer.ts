import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { send } from '../../webhook/testdata/client.ts';

/**
 * A stand-in for a Service and kube-proxy in front of webhook processes on 127.0.0.1: TCP
 * passthrough (TLS ends at the webhook), each new connection to the next ready backend in turn.
 * Readiness as a kubelet sees it: each backend's /readyz polled every `probeIntervalMs`
 * (failureThreshold 1, as the Deployment's probe), and a backend that fails it gets no new
 * connections; connections already open stay, as conntrack keeps them.
 */
export interface LoadBalancer {
  readonly port: number;
  /** Add a backend; it gets connections once its /readyz has passed. */
  add(port: number): void;
  /** Forget a backend (its process has exited). */
  remove(port: number): void;
  /** Backends currently taking new connections. */
  ready(): number[];
  /** Connections accepted with no ready backend (closed at once), and backend connections that failed. */
  readonly errors: { noBackend: number; backendFailed: number };
  close(): Promise<void>;
}

export interface LoadBalancerOptions {
  /** The CA the webhook's certificate is signed by, to probe /readyz over TLS. */
  readonly ca: string;
  readonly probeIntervalMs?: number;
}

interface Backend {
  readonly port: number;
  ready: boolean;
  probing: boolean;
}

export async function startLoadBalancer(options: LoadBalancerOptions): Promise<LoadBalancer> {
  const backends = new Map<number, Backend>();
  const sockets = new Set<Socket>();
  const errors = { noBackend: 0, backendFailed: 0 };
  let next = 0;

  const probe = (backend: Backend) => {
    if (backend.probing) return;
    backend.probing = true;
    send(undefined, { port: backend.port, ca: options.ca, path: '/readyz' })
      .then(
        (reply) => reply.status === 200,
        () => false,
      )
      .then(
        (ready) => {
          backend.probing = false;
          if (backends.get(backend.port) === backend) backend.ready = ready;
        },
        () => undefined,
      );
  };
  const prober = setInterval(() => {
    for (const backend of backends.values()) probe(backend);
  }, options.probeIntervalMs ?? 250);

  const server: Server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    const ready = [...backends.values()].filter((backend) => backend.ready);
    if (ready.length === 0) {
      errors.noBackend += 1;
      client.destroy();
      return;
    }
    const backend = ready[next % ready.length] as Backend;
    next += 1;
    const upstream = connect({ host: '127.0.0.1', port: backend.port });
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    // Whichever side ends or fails, the other follows, as a NAT'd connection would.
    upstream.on('error', () => {
      errors.backendFailed += 1;
      client.destroy();
    });
    client.on('error', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  return {
    port: (server.address() as AddressInfo).port,
    add: (port) => {
      const backend = { port, ready: false, probing: false };
      backends.set(port, backend);
      probe(backend);
    },
    remove: (port) => {
      backends.delete(port);
    },
    ready: () => [...backends.values()].filter((backend) => backend.ready).map((backend) => backend.port),
    errors,
    close: async () => {
      clearInterval(prober);
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
