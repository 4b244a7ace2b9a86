import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { request, Agent } from 'node:https';
import type { Readable } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admissionReview, kubeconfigFixture, secretObject } from '../shared/admission/testdata/reviews.ts';
import { FLAG_NAMES } from './config.ts';
import { send } from './testdata/client.ts';
import { startFakeApiServer, type FakeApiServer } from './testdata/fake-apiserver.ts';
import { writeTlsFixture, type TlsFixture } from './testdata/tls.ts';

/** The built webhook as an operator starts it: bin/remote-secret-webhook (npm test builds first). */
const BIN = fileURLToPath(new URL('../bin/remote-secret-webhook', import.meta.url));
const BUILT = new URL('../dist/remote-secret-webhook.mjs', import.meta.url);

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  if (!existsSync(BUILT))
    throw new Error('the webhook is not built: run `npm run build` first (npm test does)');
  const result = spawnSync(BIN, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const REVIEW = JSON.stringify(
  admissionReview({ object: secretObject({ data: { east: kubeconfigFixture('exec') } }) }),
);

describe('bin/remote-secret-webhook', () => {
  let tls: TlsFixture;
  let api: FakeApiServer;
  /** The webhook against the stand-in API server, on a free loopback port, without Events. */
  const serve = (args: readonly string[]) =>
    spawn(
      BIN,
      [
        ...[
          '--kubeconfig',
          api.kubeconfigPath,
          '--tls-cert-file',
          tls.certFile,
          '--tls-key-file',
          tls.keyFile,
        ],
        ...['--address', '127.0.0.1', '--port', '0', '--no-events', ...args],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );

  beforeAll(async () => {
    tls = writeTlsFixture();
    api = await startFakeApiServer(tls.dir);
  });
  afterAll(async () => {
    await api.close();
    rmSync(tls.dir, { recursive: true, force: true });
  });

  it('--help lists every flag and exits 0', () => {
    const help = run(['--help']);
    expect(help.status).toBe(0);
    for (const flag of FLAG_NAMES) expect(help.stdout).toContain(`--${flag}`);
    expect(help.stdout).toContain('REMOTE_SECRET_WEBHOOK_<FLAG>');
  });

  it.each<{ why: string; args: string[]; env: Record<string, string>; message: string }>([
    { why: 'no certificate', args: [], env: {}, message: 'error: --tls-cert-file is required' },
    {
      why: 'an unreadable key',
      args: ['--tls-cert-file', '/etc/hostname', '--tls-key-file', '/nonexistent'],
      env: {},
      message: '--tls-key-file /nonexistent: cannot read it (ENOENT)',
    },
    {
      why: 'an unknown mode from the environment',
      args: [],
      env: { REMOTE_SECRET_WEBHOOK_MODE: 'block' },
      message: 'Invalid values',
    },
    {
      why: 'a cluster ID that is no label value',
      args: ['--local-cluster-id', 'has space'],
      env: {},
      message: '--local-cluster-id "has space"',
    },
    {
      why: 'a namespace that is no name',
      args: ['--namespace', 'Istio_System'],
      env: {},
      message: '--namespace Istio_System: not a namespace name',
    },
    { why: 'an unknown flag', args: ['--tls-cert'], env: {}, message: 'Unknown argument' },
  ])('refuses $why with exit status 2 and one clear line', ({ args, env, message }) => {
    const withFiles =
      args.includes('--tls-key-file') || message.includes('--tls-cert-file')
        ? args
        : ['--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, ...args];
    const result = run(withFiles, env);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('refuses to start outside a cluster without --kubeconfig', () => {
    const result = run(['--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--port', '0'], {
      KUBERNETES_SERVICE_HOST: '',
    });
    expect(result.status).toBe(2);
    expect(result.stdout).toContain('not running in a cluster: pass --kubeconfig');
  });

  it.runIf(process.platform === 'linux')(
    'gives back the memory of a burst of connections once it is over, with nothing on stderr',
    async () => {
      const child = serve(['--no-leader-elect', '--audit-interval', '0', '--log-level', 'debug']);
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      try {
        const port = await listeningPort(child);
        const ca = tls.ca.certificatePem;
        // Scraped over one kept-alive connection, as Prometheus does.
        const scraper = new Agent({ keepAlive: true, maxSockets: 1 });
        const trims = async () => {
          const text = (await send(undefined, { port, ca, path: '/metrics', agent: scraper })).body;
          const line = text
            .split('\n')
            .find((entry) => entry.startsWith('remote_secret_webhook_memory_trims_total '));
          return Number(line?.split(' ')[1] ?? Number.NaN);
        };
        expect(await trims()).toBe(0);
        // A burst of 80 TLS connections (over the trimmer's 64), all open at once, then closed.
        const sockets = await Promise.all(
          Array.from(
            { length: 80 },
            () =>
              new Promise<TLSSocket>((resolve, reject) => {
                const socket = tlsConnect({ host: '127.0.0.1', port, ca }, () => {
                  resolve(socket);
                });
                socket.on('error', reject);
              }),
          ),
        );
        for (const socket of sockets) socket.destroy();
        await waitFor(async () => (await trims()) === 1);
        expect(stderr).toBe('');
        scraper.destroy();
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
    30_000,
  );

  it('finishes every request in flight on SIGTERM, fails readiness first, and exits 0', async () => {
    const child = serve(['--shutdown-delay', '0.6', '--shutdown-timeout', '10']);
    try {
      const port = await listeningPort(child);
      const ca = tls.ca.certificatePem;
      await waitFor(async () => (await send(undefined, { port, ca, path: '/readyz' })).status === 200);

      // A request whose body is still on its way when SIGTERM arrives.
      const slow = slowRequest(port, ca, REVIEW);
      // And a steady stream over keep-alive connections, as the API server sends.
      const agent = new Agent({ keepAlive: true, maxSockets: 4 });
      const statuses: number[] = [];
      const failures: unknown[] = [];
      let sending = true;
      const stream = Promise.all(
        [0, 1, 2, 3].map(async () => {
          while (sending) {
            try {
              statuses.push((await send(REVIEW, { port, ca, agent })).status);
            } catch (error) {
              failures.push(error);
            }
          }
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const exited = new Promise<number | null>((resolve) =>
        child.on('exit', (code) => {
          resolve(code);
        }),
      );
      child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 150));
      const readiness = await send(undefined, { port, ca, path: '/readyz' });
      expect([readiness.status, readiness.body]).toEqual([503, 'not ready: shutting down\n']);
      // Endpoints have caught up: the API server stops sending new requests here.
      await new Promise((resolve) => setTimeout(resolve, 200));
      sending = false;
      await stream;
      slow.finish();
      expect(await slow.status).toBe(200);
      expect(failures).toEqual([]);
      expect(statuses.length).toBeGreaterThan(10);
      expect(statuses.every((status) => status === 200)).toBe(true);
      expect(await exited).toBe(0);
      agent.destroy();
    } finally {
      // A failed assertion must not leave the webhook running.
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});

function listeningPort(child: ChildProcessByStdio<null, Readable, Readable>): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (const line of buffered.split('\n')) {
        if (!line.includes('remote-secret-webhook listening')) continue;
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.on('exit', (code) => {
      reject(new Error(`the webhook exited ${String(code)}: ${stderr}${buffered}`));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('timed out waiting');
}

function slowRequest(
  port: number,
  ca: string,
  body: string,
): { status: Promise<number>; finish: () => void } {
  const half = Math.floor(body.length / 2);
  let finish: () => void = () => undefined;
  const status = new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path: '/validate',
        method: 'POST',
        ca,
        agent: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, half));
    finish = () => {
      req.end(body.slice(half));
    };
  });
  return {
    status,
    finish: () => {
      finish();
    },
  };
}
