import { connect } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import type { Server } from 'node:https';
import { Agent, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdmissionDecision } from '../shared/admission/decide.ts';
import type { AdmissionRequest } from '../shared/admission/review.ts';
import { admissionReview, kubeconfigFixture, secretObject } from '../shared/admission/testdata/reviews.ts';
import { createCertificateAuthority, issueServingCertificate } from '../shared/pki/certificate.ts';
import { ClusterIdScope } from '../shared/remote-secret/cluster-id-scope.ts';
import { Lifecycle } from './lifecycle.ts';
import { createMetrics } from './metrics.ts';
import { BODY_LIMIT_BYTES, createWebhookApp, createWebhookServer } from './server.ts';
import { readKeyPair, TlsReloader } from './tls.ts';
import { send } from './testdata/client.ts';
import { writePair, writeTlsFixture, type TlsFixture } from './testdata/tls.ts';

interface Running {
  readonly port: number;
  readonly server: Server;
  readonly lifecycle: Lifecycle;
  readonly records: { request: AdmissionRequest; decision: AdmissionDecision }[];
  readonly metrics: ReturnType<typeof createMetrics>;
  readonly reloader: TlsReloader;
  readonly state: { synced: boolean; throws: boolean; recordThrows: boolean };
}

/** The informer's view: istio-system/owner holds "west". */
function ownerOfWest(): ClusterIdScope {
  const scope = new ClusterIdScope();
  scope.set({ namespace: 'istio-system', name: 'owner', created: 0 }, ['west']);
  return scope;
}

async function start(tls: TlsFixture, requestTimeoutMs = 2000): Promise<Running> {
  const state = { synced: true, throws: false, recordThrows: false };
  const records: Running['records'] = [];
  const metrics = createMetrics(() => ({ secretCount: 3, clusterCount: 4 }), { defaultMetrics: false });
  const lifecycle = new Lifecycle({ notReady: () => (state.synced ? undefined : 'index not synced') });
  const app = createWebhookApp({
    admission: {
      mode: 'enforce',
      allow: new Set(),
      localClusterId: 'primary',
      clusterIds: ownerOfWest(),
    },
    indexSynced: () => {
      if (state.throws) throw new Error('a bug');
      return state.synced;
    },
    readiness: lifecycle,
    metrics,
    log: pino({ level: 'silent' }),
    record: (req, decision) => {
      if (state.recordThrows) throw new Error('a bug after the answer');
      records.push({ request: req, decision });
    },
    requestTimeoutMs,
  });
  const keyPair = readKeyPair(tls.certFile, tls.keyFile);
  const server = createWebhookServer(app, {
    keyPair,
    requestTimeoutMs,
    keepAliveTimeoutMs: 100_000,
    onClientError: (status, reason) => {
      metrics.httpErrors.inc({ status: String(status), reason });
    },
  });
  const reloader = new TlsReloader(
    {
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      intervalMs: 20,
      apply: (options) => {
        server.setSecureContext(options);
      },
      onReload: () => undefined,
    },
    keyPair,
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    server,
    lifecycle,
    records,
    metrics,
    reloader,
    state,
  };
}

const EXEC_REVIEW = JSON.stringify(
  admissionReview({ uid: 'uid-exec', object: secretObject({ data: { east: kubeconfigFixture('exec') } }) }),
);

describe('webhook HTTP over real TLS', () => {
  let tls: TlsFixture;
  let running: Running;
  const post = (
    body: string | Buffer | undefined,
    options: { contentType?: string; path?: string; headers?: Record<string, string> } = {},
  ) => send(body, { port: running.port, ca: tls.ca.certificatePem, ...options });

  beforeAll(async () => {
    tls = writeTlsFixture();
    running = await start(tls);
  });
  afterAll(() => {
    running.server.close();
    running.server.closeAllConnections();
    rmSync(tls.dir, { recursive: true, force: true });
  });

  it('answers a review with the v1 envelope, its uid, and the denial kubectl shows', async () => {
    const reply = await post(EXEC_REVIEW);
    expect(reply.status).toBe(200);
    const review = JSON.parse(reply.body) as {
      apiVersion: string;
      kind: string;
      response: { uid: string; allowed: boolean; status: { code: number; message: string } };
    };
    expect([review.apiVersion, review.kind]).toEqual(['admission.k8s.io/v1', 'AdmissionReview']);
    expect(review.response.uid).toBe('uid-exec');
    expect(review.response.allowed).toBe(false);
    expect(review.response.status.code).toBe(403);
    expect(review.response.status.message).toContain('exec at users[0].user.exec');
    expect(Object.keys(review.response)).not.toContain('patch');
    expect(running.records.at(-1)?.decision.verdict).toBe('rejected');
  });

  it('takes an UPDATE of a near-1 MiB Secret (object and oldObject, about 2.7 MB)', async () => {
    const padding = 'x'.repeat(1000 * 1024);
    const big = secretObject({ data: { east: kubeconfigFixture('clean'), notes: `# ${padding}` } });
    const body = JSON.stringify(
      admissionReview({ uid: 'uid-big', operation: 'UPDATE', object: big, oldObject: big }),
    );
    expect(body.length).toBeGreaterThan(2.5 * 1024 * 1024);
    const reply = await post(body);
    expect(reply.status).toBe(200);
    expect(reply.body).toContain('"uid":"uid-big"');
  });

  it.each([
    { why: 'a body that is not JSON', body: '{"apiVersion":', status: 400, error: 'entity.parse.failed' },
    { why: 'a JSON array', body: '[]', status: 400, error: 'not-an-object' },
    {
      why: 'AdmissionReview v1beta1',
      body: JSON.stringify({ ...admissionReview(), apiVersion: 'admission.k8s.io/v1beta1' }),
      status: 400,
      error: 'wrong-api-version',
    },
    {
      why: 'another kind',
      body: JSON.stringify({ ...admissionReview(), kind: 'ConversionReview' }),
      status: 400,
      error: 'wrong-kind',
    },
    { why: 'an empty body', body: '', status: 400, error: 'empty-body' },
  ])('answers $why with $status', async ({ body, status, error }) => {
    const reply = await post(body);
    expect(reply.status).toBe(status);
    expect((JSON.parse(reply.body) as { error: string }).error).toBe(error);
  });

  it('answers a wrong content type with 400', async () => {
    const reply = await post(EXEC_REVIEW, { contentType: 'text/plain' });
    expect(reply.status).toBe(400);
    expect(reply.body).toContain('Content-Type must be application/json');
  });

  it('answers a compressed body with 415 and says to send it uncompressed, as the API server does', async () => {
    const reply = await post(gzipSync(EXEC_REVIEW), { headers: { 'Content-Encoding': 'gzip' } });
    expect(reply.status).toBe(415);
    expect(reply.headers['accept-encoding']).toBe('identity');
    expect(JSON.parse(reply.body)).toMatchObject({ error: 'content-encoding' });
    expect(reply.body).toContain('Content-Encoding gzip');
    const metrics = await send(undefined, {
      port: running.port,
      ca: tls.ca.certificatePem,
      path: '/metrics',
    });
    expect(metrics.body).toMatch(
      /^remote_secret_webhook_http_errors_total\{status="415",reason="content-encoding"\} 1$/m,
    );
    // identity is no encoding at all.
    expect((await post(EXEC_REVIEW, { headers: { 'Content-Encoding': 'identity' } })).status).toBe(200);
  });

  it('answers a body over the 6 MiB limit with 413, and keeps serving', async () => {
    const reply = await post(Buffer.alloc(BODY_LIMIT_BYTES + 1024, 0x20));
    expect(reply.status).toBe(413);
    expect((await post(EXEC_REVIEW)).status).toBe(200);
  });

  it('refuses to decide (503) before the index has synced, and /readyz says why', async () => {
    running.state.synced = false;
    try {
      expect((await post(EXEC_REVIEW)).status).toBe(503);
      const ready = await post(undefined, { path: '/readyz' });
      expect([ready.status, ready.body]).toEqual([503, 'not ready: index not synced\n']);
    } finally {
      running.state.synced = true;
    }
    expect((await post(undefined, { path: '/readyz' })).status).toBe(200);
    expect((await post(undefined, { path: '/healthz' })).status).toBe(200);
  });

  it('exports requests, violations, latency and the index size on /metrics', async () => {
    await post(EXEC_REVIEW);
    const metrics = (await post(undefined, { path: '/metrics' })).body;
    expect(metrics).toMatch(
      /remote_secret_webhook_admission_requests_total\{operation="CREATE",verdict="rejected"\} [1-9]/,
    );
    expect(metrics).toMatch(/remote_secret_webhook_violations_total\{code="exec"\} [1-9]/);
    expect(metrics).toContain('remote_secret_webhook_admission_duration_seconds_bucket');
    expect(metrics).toContain('remote_secret_webhook_index_secrets 3');
    expect(metrics).toMatch(/remote_secret_webhook_http_errors_total\{status="413",reason="too-large"\} 1/);
  });

  it('answers 404 for other paths, and 405 naming POST for another method on /validate', async () => {
    expect((await post(EXEC_REVIEW, { path: '/mutate' })).status).toBe(404);
    const get = await post(undefined);
    expect([get.status, get.headers['allow']]).toEqual([405, 'POST']);
    expect((JSON.parse(get.body) as { message: string }).message).toContain('POST /validate');
  });

  it.each([
    { method: 'GET', path: '/healthz', status: 200, allow: undefined },
    { method: 'HEAD', path: '/healthz', status: 200, allow: undefined },
    { method: 'GET', path: '/readyz', status: 200, allow: undefined },
    { method: 'GET', path: '/metrics?name[]=x', status: 200, allow: undefined },
    { method: 'POST', path: '/healthz', status: 405, allow: 'GET' },
    { method: 'DELETE', path: '/metrics', status: 405, allow: 'GET' },
    { method: 'PUT', path: '/validate', status: 405, allow: 'POST' },
    { method: 'GET', path: '/validate/', status: 404, allow: undefined },
    { method: 'GET', path: '/', status: 404, allow: undefined },
  ])(
    'answers $method $path with $status (one stack for every route)',
    async ({ method, path, status, allow }) => {
      const reply = await send(undefined, { port: running.port, ca: tls.ca.certificatePem, path, method });
      expect([reply.status, reply.headers['allow']]).toEqual([status, allow]);
      if (status >= 400) expect(JSON.parse(reply.body)).toMatchObject({ error: expect.any(String) });
    },
  );

  it('answers 500 when deciding throws, and keeps serving', async () => {
    running.state.throws = true;
    try {
      const reply = await post(EXEC_REVIEW);
      expect([reply.status, JSON.parse(reply.body)]).toEqual([
        500,
        { error: 'internal', message: 'internal error' },
      ]);
    } finally {
      running.state.throws = false;
    }
    expect((await post(EXEC_REVIEW)).status).toBe(200);
  });

  it('keeps the decided answer when recording it throws (no 500 in its place)', async () => {
    running.state.recordThrows = true;
    try {
      const reply = await post(EXEC_REVIEW);
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toMatchObject({ response: { uid: 'uid-exec', allowed: false } });
    } finally {
      running.state.recordThrows = false;
    }
  });

  it('gives each of many reviews arriving together its own answer', async () => {
    const reviews = Array.from({ length: 24 }, (_, i) =>
      JSON.stringify(
        admissionReview({
          uid: `uid-${i}`,
          object: secretObject({ data: { [i % 2 === 0 ? 'east' : 'west']: kubeconfigFixture('clean') } }),
        }),
      ),
    );
    const replies = await Promise.all(reviews.map((review) => post(review)));
    expect(
      replies.map((reply) => {
        const { response } = JSON.parse(reply.body) as { response: { uid: string; allowed: boolean } };
        return [reply.status, response.uid, response.allowed];
      }),
    ).toEqual(reviews.map((_, i) => [200, `uid-${i}`, i % 2 === 0]));
  });

  it.each([
    { why: 'a query string (the API server adds ?timeout=10s)', path: '/validate?timeout=10s' },
    { why: 'a charset parameter', contentType: 'application/json; charset=utf-8' },
    { why: 'upper case', contentType: 'Application/JSON' },
  ])('takes a review with $why', async (options) => {
    const reply = await post(EXEC_REVIEW, options);
    expect(reply.status).toBe(200);
    expect(reply.body).toContain('"uid":"uid-exec"');
  });
});

describe('webhook timeouts', () => {
  it('gives up on a request whose body does not arrive in time', async () => {
    const tls = writeTlsFixture();
    const running = await start(tls, 300);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            servername: 'localhost',
            port: running.port,
            path: '/validate',
            method: 'POST',
            ca: tls.ca.certificatePem,
            headers: { 'Content-Type': 'application/json', 'Content-Length': '1000' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.write('{"apiVersion":'); // and never the rest
      });
      expect(status).toBe(503);
    } finally {
      running.server.close();
      running.server.closeAllConnections();
      rmSync(tls.dir, { recursive: true, force: true });
    }
  });
});

describe('requests Node answers before any handler', () => {
  it('answers headers that do not arrive in time with 408, and counts it', async () => {
    const tls = writeTlsFixture();
    const running = await start(tls, 300);
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(
          { host: '127.0.0.1', port: running.port, servername: 'localhost', ca: tls.ca.certificatePem },
          () => {
            socket.write('POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n'); // and never the end
          },
        );
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('end', () => {
          resolve(text);
        });
        socket.on('error', reject);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      const metrics = await send(undefined, {
        port: running.port,
        ca: tls.ca.certificatePem,
        path: '/metrics',
      });
      expect(metrics.body).toMatch(
        /^remote_secret_webhook_http_errors_total\{status="408",reason="request-timeout"\} 1$/m,
      );
    } finally {
      running.server.close();
      running.server.closeAllConnections();
      rmSync(tls.dir, { recursive: true, force: true });
    }
  });
});

describe('certificate rotation', () => {
  it('serves the new certificate to new connections without dropping a request', async () => {
    const tls = writeTlsFixture();
    const running = await start(tls);
    const nextCa = createCertificateAuthority({ commonName: 'webhook-test-ca-2', validityDays: 1 });
    const nextLeaf = issueServingCertificate(nextCa, { hosts: ['localhost', '127.0.0.1'], validityDays: 1 });
    const trust = [tls.ca.certificatePem, nextCa.certificatePem];
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });
    running.reloader.start();
    const serials = new Set<string>();
    const failures: unknown[] = [];
    let rotated = false;
    let afterRotation = 0;
    try {
      const worker = async (agent: Agent | false) => {
        while (afterRotation < 40) {
          try {
            const reply = await send(EXEC_REVIEW, { port: running.port, ca: trust, agent });
            if (reply.status !== 200) failures.push(reply.status);
            serials.add(reply.serial);
            if (rotated) afterRotation += 1;
          } catch (error) {
            failures.push(error);
          }
        }
      };
      const workers = [worker(false), worker(false), worker(keepAlive), worker(keepAlive)];
      await new Promise((resolve) => setTimeout(resolve, 100));
      writePair(tls, nextLeaf);
      // The reloader polls every 20 ms; wait until a new connection is served the new certificate.
      for (;;) {
        const probe = await send(undefined, { port: running.port, ca: trust, path: '/healthz' });
        if (probe.serial === nextLeaf.certificate.serialNumber) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      rotated = true;
      await Promise.all(workers);
      expect(failures).toEqual([]);
      expect(serials).toEqual(
        new Set([tls.leaf.certificate.serialNumber, nextLeaf.certificate.serialNumber]),
      );
      // A connection made now gets the new certificate, verified against the new CA alone.
      const fresh = await send(EXEC_REVIEW, { port: running.port, ca: nextCa.certificatePem });
      expect(fresh.serial).toBe(nextLeaf.certificate.serialNumber);
    } finally {
      keepAlive.destroy();
      running.reloader.stop();
      running.server.close();
      running.server.closeAllConnections();
      rmSync(tls.dir, { recursive: true, force: true });
    }
  });

  it('keeps the old certificate when the new files are not a pair', async () => {
    const tls = writeTlsFixture();
    const running = await start(tls);
    try {
      const other = issueServingCertificate(tls.ca, { hosts: ['localhost'], validityDays: 1 });
      // Certificate of one pair, key of another: a half-finished rotation.
      writePair({ certFile: tls.certFile, keyFile: `${tls.keyFile}.unused` }, other);
      running.reloader.check();
      const reply = await send(EXEC_REVIEW, { port: running.port, ca: tls.ca.certificatePem });
      expect(reply.serial).toBe(tls.leaf.certificate.serialNumber);
    } finally {
      running.server.close();
      running.server.closeAllConnections();
      rmSync(tls.dir, { recursive: true, force: true });
    }
  });
});
