import { once } from 'node:events';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { AdmissionDecision } from '../shared/admission/decide.ts';
import type { AdmissionRequest } from '../shared/admission/review.ts';
import { admissionReview, kubeconfigFixture, secretObject } from '../shared/admission/testdata/reviews.ts';
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServingCertificate,
  type Certificate,
} from '../shared/pki/certificate.ts';
import { ClusterIdScope } from '../shared/remote-secret/cluster-id-scope.ts';
import type { Caller } from './caller.ts';
import { EventRecorder, type EventSink } from './events.ts';
import { Lifecycle } from './lifecycle.ts';
import { createMetrics } from './metrics.ts';
import { createWebhookApp, createWebhookServer } from './server.ts';
import { readClientCa, readKeyPair, TlsFilesError, TlsReloader } from './tls.ts';
import { send, type PostOptions } from './testdata/client.ts';
import { writePair, writeTlsFixture, type TlsFixture } from './testdata/tls.ts';

interface Running {
  readonly port: number;
  readonly server: Server;
  readonly records: { request: AdmissionRequest; decision: AdmissionDecision; caller: Caller }[];
  readonly metrics: ReturnType<typeof createMetrics>;
  readonly reloader: TlsReloader;
  /** Every Event write the recorder made (create or patch), as the API server would see them. */
  readonly eventWrites: { kind: 'create' | 'patch'; name: string; count: number }[];
  readonly events: EventRecorder;
}

/** The webhook's HTTP stack as `main` builds it, with or without `--client-ca-file`. */
async function start(tls: TlsFixture, clientCaFile: string | undefined): Promise<Running> {
  const records: Running['records'] = [];
  const eventWrites: Running['eventWrites'] = [];
  const metrics = createMetrics(() => ({ secretCount: 0, clusterCount: 0 }), { defaultMetrics: false });
  const sink: EventSink = {
    create: (event) => {
      eventWrites.push({ kind: 'create', name: event.metadata.name, count: event.count });
      return Promise.resolve({});
    },
    patch: (_namespace, name, patch) => {
      eventWrites.push({ kind: 'patch', name, count: patch.count });
      return Promise.resolve({});
    },
  };
  const events = new EventRecorder({ sink, onResult: () => undefined, instance: 'webhook-0' });
  const clientCa = clientCaFile === undefined ? undefined : readClientCa(clientCaFile);
  const app = createWebhookApp({
    admission: {
      mode: 'enforce',
      allow: new Set(),
      localClusterId: 'primary',
      clusterIds: new ClusterIdScope(),
    },
    clientAuth: clientCa !== undefined,
    indexSynced: () => true,
    readiness: new Lifecycle({ notReady: () => undefined }),
    metrics,
    log: pino({ level: 'silent' }),
    record: (request, decision, caller) => {
      records.push({ request, decision, caller });
      events.record(request, decision, caller);
    },
    requestTimeoutMs: 2000,
  });
  const keyPair = readKeyPair(tls.certFile, tls.keyFile);
  const server = createWebhookServer(app, {
    keyPair,
    clientCa: clientCa?.pem,
    requestTimeoutMs: 2000,
    keepAliveTimeoutMs: 100_000,
  });
  const reloader = new TlsReloader(
    {
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      clientCaFile,
      intervalMs: 20,
      apply: (options) => {
        server.setSecureContext(options);
      },
      onReload: () => undefined,
    },
    keyPair,
    clientCa,
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    server,
    records,
    metrics,
    reloader,
    eventWrites,
    events,
  };
}

function stop(running: Running): void {
  running.reloader.stop();
  running.server.close();
  running.server.closeAllConnections();
}

const EXEC_REVIEW = JSON.stringify(
  admissionReview({ uid: 'uid-exec', object: secretObject({ data: { east: kubeconfigFixture('exec') } }) }),
);

function forgedReview(user: string, secret = 'istio-remote-secret-forged'): string {
  return JSON.stringify(
    admissionReview({
      uid: `forged-${user}`,
      user,
      object: secretObject({ name: secret, data: { east: kubeconfigFixture('exec') } }),
    }),
  );
}

const presenting = (certificate: Certificate) => ({
  clientCertificate: { cert: certificate.certificatePem, key: certificate.privateKeyPem },
});

describe('--client-ca-file: POST /validate only from callers with a certificate the CA signed', () => {
  let tls: TlsFixture;
  let running: Running;
  let apiServerCa: Certificate;
  let apiServer: Certificate;
  let caFile: string;
  const post = (body: string | undefined, options: Partial<PostOptions> = {}) =>
    send(body, { port: running.port, ca: tls.ca.certificatePem, ...options });
  const metric = async (series: string): Promise<number> => {
    const text = (await post(undefined, { path: '/metrics' })).body;
    const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
    return Number(line?.split(' ').at(-1) ?? 0);
  };

  beforeAll(async () => {
    tls = writeTlsFixture();
    apiServerCa = createCertificateAuthority({ commonName: 'webhook-client-ca', validityDays: 1 });
    apiServer = issueClientCertificate(apiServerCa, { commonName: 'kube-apiserver', validityDays: 1 });
    caFile = join(tls.dir, 'client-ca.crt');
    writeFileSync(caFile, apiServerCa.certificatePem);
    running = await start(tls, caFile);
  });
  afterAll(() => {
    stop(running);
    rmSync(tls.dir, { recursive: true, force: true });
  });

  it('decides a review from the API server, and records the caller as authenticated', async () => {
    const reply = await post(EXEC_REVIEW, presenting(apiServer));
    expect(reply.status).toBe(200);
    expect(reply.body).toContain('"uid":"uid-exec"');
    expect(running.records.at(-1)?.caller).toEqual({ authenticated: true, subject: 'CN=kube-apiserver' });
  });

  it.each([
    {
      why: 'no client certificate',
      certificate: () => undefined,
      status: 401,
      reason: 'client-certificate-required',
      says: 'needs a client certificate signed by the CA in --client-ca-file',
    },
    {
      why: 'a certificate from another CA',
      certificate: () => {
        const other = createCertificateAuthority({ commonName: 'forger-ca', validityDays: 1 });
        return issueClientCertificate(other, { commonName: 'kube-apiserver', validityDays: 1 });
      },
      status: 403,
      reason: 'client-certificate-untrusted',
      says: 'does not chain to --client-ca-file',
    },
  ])(
    'refuses a forged review with $why ($status), decides nothing, records nothing',
    async ({ certificate, status, reason, says }) => {
      const recordsBefore = running.records.length;
      const writesBefore = running.eventWrites.length;
      const refusedBefore = await metric(
        `remote_secret_webhook_http_errors_total{status="${String(status)}",reason="${reason}"}`,
      );
      const presented = certificate();
      const reply = await post(forgedReview('mallory'), presented === undefined ? {} : presenting(presented));
      expect(reply.status).toBe(status);
      expect(JSON.parse(reply.body)).toMatchObject({ error: reason, message: expect.stringContaining(says) });
      expect(reply.headers['connection']).toBe('close');
      await running.events.flush();
      expect(running.records).toHaveLength(recordsBefore);
      expect(running.eventWrites).toHaveLength(writesBefore);
      expect(
        await metric(
          `remote_secret_webhook_http_errors_total{status="${String(status)}",reason="${reason}"}`,
        ),
      ).toBe(refusedBefore + 1);
    },
  );

  it('serves /healthz, /readyz and /metrics without a client certificate (kubelet, Prometheus)', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      expect((await post(undefined, { path })).status, path).toBe(200);
    }
  });

  it('takes a new client CA from the file without a restart, and keeps it across a serving-pair rotation', async () => {
    const nextCa = createCertificateAuthority({ commonName: 'webhook-client-ca-2', validityDays: 1 });
    const nextClient = issueClientCertificate(nextCa, { commonName: 'kube-apiserver-2', validityDays: 1 });
    writeFileSync(`${caFile}.new`, nextCa.certificatePem);
    renameSync(`${caFile}.new`, caFile);
    running.reloader.check();
    expect((await post(EXEC_REVIEW, presenting(nextClient))).status).toBe(200);
    expect((await post(EXEC_REVIEW, presenting(apiServer))).status).toBe(403);
    // A new serving pair: the client CA in use stays.
    const nextLeaf = issueServingCertificate(tls.ca, { hosts: ['localhost', '127.0.0.1'], validityDays: 1 });
    writePair(tls, nextLeaf);
    running.reloader.check();
    expect((await post(undefined, { path: '/healthz' })).serial).toBe(nextLeaf.certificate.serialNumber);
    expect((await post(EXEC_REVIEW)).status).toBe(401);
    expect((await post(EXEC_REVIEW, presenting(nextClient))).status).toBe(200);
    // A broken CA file is not taken: the last good CA stays.
    writeFileSync(caFile, 'not a certificate');
    running.reloader.check();
    expect((await post(EXEC_REVIEW, presenting(nextClient))).status).toBe(200);
    writeFileSync(caFile, apiServerCa.certificatePem);
    running.reloader.check();
    expect((await post(EXEC_REVIEW, presenting(apiServer))).status).toBe(200);
  });
});

describe('--client-ca-file that cannot work: a clear error at start', () => {
  const tls = writeTlsFixture();
  afterAll(() => {
    rmSync(tls.dir, { recursive: true, force: true });
  });
  it.each([
    { why: 'a missing file', content: undefined, message: 'cannot read it' },
    { why: 'no PEM in it', content: 'hello', message: 'no PEM certificate in it' },
    {
      why: 'a leaf, not a CA',
      content: () => tls.leaf.certificatePem,
      message: '(CN=localhost) is not a CA',
    },
    {
      why: 'a broken PEM block',
      content: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
      message: 'certificate 1 cannot be read',
    },
  ])('refuses $why', ({ content, message }) => {
    const file = join(tls.dir, `ca-${String(Math.random()).slice(2)}.crt`);
    if (content !== undefined) writeFileSync(file, typeof content === 'function' ? content() : content);
    expect(() => readClientCa(file)).toThrow(TlsFilesError);
    expect(() => readClientCa(file)).toThrow(
      new RegExp(`^--client-ca-file ${file}: .*${message.replace(/[()]/g, '\\$&')}`),
    );
    expect(() => readClientCa(file)).toThrow(
      /the CA that signs the API server's client certificate|cannot read/,
    );
  });
});

describe('without --client-ca-file: reviews are unauthenticated, marked so, and bounded in Events', () => {
  let tls: TlsFixture;
  let running: Running;

  beforeAll(async () => {
    tls = writeTlsFixture();
    running = await start(tls, undefined);
  });
  afterAll(() => {
    stop(running);
    rmSync(tls.dir, { recursive: true, force: true });
  });

  it('records every decided review as unauthenticated', async () => {
    expect((await send(EXEC_REVIEW, { port: running.port, ca: tls.ca.certificatePem })).status).toBe(200);
    expect(running.records.at(-1)?.caller).toEqual({ authenticated: false });
  });

  it('turns 500 forged reviews of one secret, each claiming another user, into one Event and at most 27 writes', async () => {
    const before = running.eventWrites.length;
    const forged = 500;
    // 10 at a time over real TLS, on 10 keep-alive connections, as a forger would send them.
    const agent = new Agent({ keepAlive: true, maxSockets: 10 });
    onTestFinished(() => {
      agent.destroy();
    });
    for (let batch = 0; batch < forged / 10; batch += 1) {
      const replies = await Promise.all(
        Array.from({ length: 10 }, (_, index) =>
          send(forgedReview(`forged-${String(batch * 10 + index)}`), {
            port: running.port,
            ca: tls.ca.certificatePem,
            agent,
          }),
        ),
      );
      expect(replies.map((reply) => reply.status)).toEqual(Array.from({ length: 10 }, () => 200));
    }
    await running.events.flush();
    const writes = running.eventWrites.slice(before);
    expect(new Set(writes.map((write) => write.name)).size).toBe(1);
    expect(writes.filter((write) => write.kind === 'create')).toHaveLength(1);
    // The per-secret burst (25) plus the held-back count at flush, however many reviews came.
    expect(writes.length).toBeLessThanOrEqual(27);
    expect(writes.at(-1)?.count).toBe(forged);
  }, 60_000);

  it('turns 300 forged reviews naming 300 secrets into at most 100 Event writes (the shared unauthenticated budget)', async () => {
    const before = running.eventWrites.length;
    const started = Date.now();
    const agent = new Agent({ keepAlive: true, maxSockets: 10 });
    onTestFinished(() => {
      agent.destroy();
    });
    for (let batch = 0; batch < 30; batch += 1) {
      const replies = await Promise.all(
        Array.from({ length: 10 }, (_, index) => {
          const n = String(batch * 10 + index);
          return send(forgedReview(`spray-${n}`, `istio-remote-secret-spray-${n}`), {
            port: running.port,
            ca: tls.ca.certificatePem,
            agent,
          });
        }),
      );
      expect(replies.map((reply) => reply.status)).toEqual(Array.from({ length: 10 }, () => 200));
    }
    // The shared bucket holds at most 100 and gains one a second; the rest wait, counted.
    const seconds = Math.ceil((Date.now() - started) / 1000);
    expect(running.eventWrites.length - before).toBeLessThanOrEqual(100 + seconds);
    expect(running.eventWrites.length - before).toBeLessThan(300);
  }, 60_000);
});
