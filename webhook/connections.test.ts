import { once } from 'node:events';
import { rmSync } from 'node:fs';
import type { Server } from 'node:https';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { admissionReview, kubeconfigFixture, secretObject } from '../shared/admission/testdata/reviews.ts';
import { ClusterIdScope } from '../shared/remote-secret/cluster-id-scope.ts';
import { Lifecycle } from './lifecycle.ts';
import { createMetrics } from './metrics.ts';
import { createWebhookApp, createWebhookServer } from './server.ts';
import { readKeyPair } from './tls.ts';
import { send } from './testdata/client.ts';
import { writeTlsFixture, type TlsFixture } from './testdata/tls.ts';

// Connection limits and the drain on SIGTERM, over real TLS on loopback.

const REVIEW = JSON.stringify(
  admissionReview({ object: secretObject({ data: { east: kubeconfigFixture('clean') } }) }),
);

interface Running {
  readonly server: Server;
  readonly port: number;
  readonly lifecycle: Lifecycle;
  readonly metrics: ReturnType<typeof createMetrics>;
}

/** The server as main.ts wires it: metrics for refused and open connections, the lifecycle tracking. */
async function start(tls: TlsFixture, maxConnections = 0, requestTimeoutMs = 5000): Promise<Running> {
  const metrics = createMetrics(() => ({ secretCount: 0, clusterCount: 0 }), { defaultMetrics: false });
  const lifecycle = new Lifecycle({ notReady: () => undefined });
  const app = createWebhookApp({
    admission: {
      mode: 'enforce',
      allow: new Set(),
      localClusterId: 'primary',
      clusterIds: new ClusterIdScope(),
    },
    indexSynced: () => true,
    readiness: lifecycle,
    metrics,
    log: pino({ level: 'silent' }),
    record: () => undefined,
    requestTimeoutMs,
  });
  const server = createWebhookServer(app, {
    keyPair: readKeyPair(tls.certFile, tls.keyFile),
    requestTimeoutMs,
    keepAliveTimeoutMs: 100_000,
    maxConnections,
    onConnectionRefused: () => {
      metrics.connectionsRefused.inc();
    },
    onConnections: (delta) => {
      metrics.connections.inc(delta);
    },
  });
  lifecycle.track(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, lifecycle, metrics };
}

/** A TLS connection, open once its handshake is done, or the reason it could not be. */
function open(port: number, ca: string): Promise<{ socket: TLSSocket } | { refused: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    socket.once('secureConnect', () => {
      resolve({ socket });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      resolve({ refused: error.code ?? error.message });
    });
    socket.once('close', () => {
      resolve({ refused: 'closed' });
    });
  });
}

/** One POST /validate on an open connection: the status line, the Connection header, and whether it ended. */
function exchange(
  socket: TLSSocket,
  body = REVIEW,
): Promise<{ head: string; ended: Promise<'end' | 'error'> }> {
  const ended = new Promise<'end' | 'error'>((resolve) => {
    socket.once('end', () => {
      resolve('end');
    });
    socket.once('error', () => {
      resolve('error');
    });
  });
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    const onData = (chunk: string) => {
      text += chunk;
      const head = text.indexOf('\r\n\r\n');
      if (head === -1) return;
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(text.slice(0, head))?.[1] ?? 0);
      if (text.length - head - 4 < length) return;
      socket.off('data', onData);
      resolve({ head: text.slice(0, head), ended });
    };
    socket.on('data', onData);
    socket.once('close', () => {
      reject(new Error(`the connection closed before an answer: ${JSON.stringify(text)}`));
    });
    socket.write(
      `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
}

async function metric(running: Running, name: string): Promise<number> {
  const text = await running.metrics.registry.getSingleMetricAsString(name);
  return Number(/ (\d+)$/m.exec(text)?.[1]);
}

describe('--max-connections over real TLS', () => {
  let tls: TlsFixture;
  let running: Running;
  const held: TLSSocket[] = [];
  beforeEach(async () => {
    tls = writeTlsFixture();
    running = await start(tls, 2);
  });
  afterEach(() => {
    for (const socket of held) socket.destroy();
    running.server.close();
    running.server.closeAllConnections();
    rmSync(tls.dir, { recursive: true, force: true });
  });

  it('refuses the connection over the limit before its handshake, counts it, and keeps answering the others', async () => {
    const ca = tls.ca.certificatePem;
    const first = await open(running.port, ca);
    const second = await open(running.port, ca);
    if (!('socket' in first) || !('socket' in second))
      throw new Error('the first two connections were refused');
    held.push(first.socket, second.socket);
    expect(await metric(running, 'remote_secret_webhook_connections')).toBe(2);

    const third = await open(running.port, ca);
    expect(third).toEqual({ refused: expect.any(String) as string });
    expect(await metric(running, 'remote_secret_webhook_connections_refused_total')).toBe(1);

    // The two open connections are served as before, one after the other on each.
    for (const socket of [first.socket, second.socket, first.socket]) {
      expect((await exchange(socket)).head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    }
    // Once one closes, a new connection is taken again.
    first.socket.destroy();
    await once(first.socket, 'close');
    for (;;) {
      if ((await metric(running, 'remote_secret_webhook_connections')) === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const reply = await send(REVIEW, { port: running.port, ca });
    expect(reply.status).toBe(200);
  });
});

describe('a connection that sends nothing', () => {
  it('is closed once headers would have timed out, and frees its slot', async () => {
    const tls = writeTlsFixture();
    const running = await start(tls, 1, 300);
    try {
      const silent = await open(running.port, tls.ca.certificatePem);
      if (!('socket' in silent)) throw new Error(`refused: ${silent.refused}`);
      silent.socket.resume(); // to see the server's FIN
      const outcome = await Promise.race([
        once(silent.socket, 'close').then(() => 'closed'),
        new Promise((resolve) => setTimeout(resolve, 8000, 'still open')),
      ]);
      expect(outcome).toBe('closed');
      // Its slot (the only one) is free again.
      expect((await send(REVIEW, { port: running.port, ca: tls.ca.certificatePem })).status).toBe(200);
    } finally {
      running.server.close();
      running.server.closeAllConnections();
      rmSync(tls.dir, { recursive: true, force: true });
    }
  }, 15_000);
});

describe('a connection that never starts its TLS handshake', () => {
  it("is closed after the handshake timeout (10 s, not Node's 120 s), and frees its slot", async () => {
    const tls = writeTlsFixture();
    const running = await start(tls, 1);
    try {
      // TCP only: no ClientHello is ever sent.
      const socket = netConnect({ host: '127.0.0.1', port: running.port });
      await once(socket, 'connect');
      socket.resume();
      const opened = Date.now();
      for (;;) {
        if ((await metric(running, 'remote_secret_webhook_connections')) === 1) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // The only slot is held: a real client is refused meanwhile.
      expect(await open(running.port, tls.ca.certificatePem)).toEqual({
        refused: expect.any(String) as string,
      });
      const outcome = await Promise.race([
        once(socket, 'close').then(() => 'closed'),
        new Promise((resolve) => setTimeout(resolve, 13_000, 'still open')),
      ]);
      expect(outcome).toBe('closed');
      expect(Date.now() - opened).toBeGreaterThanOrEqual(9_000);
      for (;;) {
        if ((await metric(running, 'remote_secret_webhook_connections')) === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect((await send(REVIEW, { port: running.port, ca: tls.ca.certificatePem })).status).toBe(200);
    } finally {
      running.server.close();
      running.server.closeAllConnections();
      rmSync(tls.dir, { recursive: true, force: true });
    }
  }, 20_000);
});

describe('the drain on SIGTERM, over real TLS', () => {
  let tls: TlsFixture;
  let running: Running;
  beforeEach(async () => {
    tls = writeTlsFixture();
    running = await start(tls);
  });
  afterEach(() => {
    running.server.close();
    running.server.closeAllConnections();
    rmSync(tls.dir, { recursive: true, force: true });
  });

  it('answers a connection accepted just before the listener closed, whose first request comes after', async () => {
    const ca = tls.ca.certificatePem;
    const fresh = await open(running.port, ca);
    if (!('socket' in fresh)) throw new Error(`refused: ${fresh.refused}`);
    const drained = running.lifecycle.drain(running.server, { delayMs: 0, timeoutMs: 10_000 });
    while (running.server.listening) await new Promise((resolve) => setTimeout(resolve, 5));

    const answer = await exchange(fresh.socket);
    expect(answer.head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer.head).toMatch(/\r\nConnection: close/i);
    // The server closes it after the answer: a FIN (and TLS close_notify), not a reset.
    expect(await answer.ended).toBe('end');
    expect(await drained).toMatchObject({
      clean: true,
      requestsServed: 1,
      idleClosed: 0,
      forciblyClosed: 0,
      requestsCutOff: 0,
    });
  });

  it('keeps the listener open while admission requests still arrive after the delay', async () => {
    const ca = tls.ca.certificatePem;
    // The API server, sending before SIGTERM and after, on new connections (each answer during
    // the drain says Connection: close), because its endpoints lag behind the delay.
    expect((await send(REVIEW, { port: running.port, ca })).status).toBe(200);
    // The client can read that answer before the server has seen its write complete; served
    // counts only the answers finished during the drain.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const drained = running.lifecycle.drain(running.server, { delayMs: 0, timeoutMs: 20_000, quietMs: 300 });
    const statuses: number[] = [];
    const failures: unknown[] = [];
    for (let i = 0; i < 8; i += 1) {
      try {
        statuses.push((await send(REVIEW, { port: running.port, ca })).status);
      } catch (error) {
        failures.push(error);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(failures).toEqual([]);
    expect(statuses).toEqual(Array.from({ length: 8 }, () => 200));
    // Then the endpoints have caught up: no more come, and the listener closes.
    expect(await drained).toMatchObject({ clean: true, waitedForQuiet: true, requestsServed: 8 });
    expect(running.server.listening).toBe(false);
  });

  it('closes an idle keep-alive connection gracefully once it has been idle', async () => {
    const ca = tls.ca.certificatePem;
    const kept = await open(running.port, ca);
    if (!('socket' in kept)) throw new Error(`refused: ${kept.refused}`);
    const first = await exchange(kept.socket);
    expect(first.head).not.toMatch(/\r\nConnection: close/i);
    const report = await running.lifecycle.drain(running.server, {
      delayMs: 0,
      timeoutMs: 10_000,
      idleMs: 50,
    });
    expect(await first.ended).toBe('end');
    expect(report).toMatchObject({ clean: true, idleClosed: 1, forciblyClosed: 0, requestsCutOff: 0 });
  });

  it('says what it cut off at the timeout: the connection destroyed and its request unanswered', async () => {
    const ca = tls.ca.certificatePem;
    const slow = await open(running.port, ca);
    if (!('socket' in slow)) throw new Error(`refused: ${slow.refused}`);
    // Headers and a little of the body: the request is in progress and cannot finish.
    const requested = once(running.server, 'request');
    slow.socket.write(
      `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${REVIEW.length}\r\n\r\n${REVIEW.slice(0, 10)}`,
    );
    const closed = once(slow.socket, 'close');
    await requested;
    const report = await running.lifecycle.drain(running.server, { delayMs: 0, timeoutMs: 300 });
    await closed;
    expect(report).toMatchObject({ clean: false, forciblyClosed: 1, requestsCutOff: 1, idleClosed: 0 });
  });
});
