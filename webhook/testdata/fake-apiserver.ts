import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/**
 * Just enough of an API server for the webhook process to become ready, and for `audit` and
 * the background audit to list: the given secrets (none by default), by namespace or all, in
 * one page, and a watch that stays open. Plain HTTP on loopback; the end-to-end tests use a
 * real kube-apiserver.
 */
export interface FakeApiServer {
  readonly kubeconfigPath: string;
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startFakeApiServer(
  dir: string,
  secrets: readonly { readonly metadata: { readonly namespace: string } }[] = [],
): Promise<FakeApiServer> {
  const requests: string[] = [];
  const watches = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push(`${req.method ?? ''} ${url.pathname}${url.search}`);
    if (url.pathname.endsWith('/secrets') && url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      watches.add(res);
      res.on('close', () => watches.delete(res));
      return;
    }
    if (url.pathname.endsWith('/secrets')) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const namespace = /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/.exec(url.pathname)?.[1];
      const items = secrets.filter((item) => namespace === undefined || item.metadata.namespace === namespace);
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'SecretList', metadata: { resourceVersion: '1' }, items }));
      return;
    }
    if (url.pathname.endsWith('/events')) {
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end('{}');
      return;
    }
    res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake', user: {} }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
      'current-context': 'fake',
    }),
  );
  return {
    kubeconfigPath,
    requests,
    close: async () => {
      for (const watch of watches) watch.end();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
