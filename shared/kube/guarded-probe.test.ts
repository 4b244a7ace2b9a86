import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { reviewKubeconfig } from '../kubeconfig/review.ts';
import type { SanitizedKubeconfig } from '../kubeconfig/sanitize.ts';
import { createCertificateAuthority, issueServingCertificate, type Certificate } from '../pki/certificate.ts';
import { UnverifiableError } from '../remote-secret/verify.ts';
import { KubeError } from './errors.ts';
import {
  createGuardedProbe,
  guardedLookup,
  refusedAddress,
  type GuardedProbeOptions,
  type ResolveAll,
} from './guarded-probe.ts';

const TOKEN = 'probe-test-token-4f1c9e';
const LOOPBACK_OK: GuardedProbeOptions = { allowLoopback: true, requestTimeoutMs: 10_000 };
const IN_CLUSTER: GuardedProbeOptions = { allowLoopback: false, requestTimeoutMs: 10_000 };
const READ_SECRETS = { group: '', resource: 'secrets', verb: 'list' };

interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  /** The SNI the client sent, when it sent one. */
  readonly servername: string | false | undefined;
  readonly body: string;
}

/** A local HTTPS server: what it was asked, and how many TCP connections it accepted. */
interface TestServer {
  readonly origin: string;
  readonly port: number;
  readonly requests: SeenRequest[];
  readonly connections: () => number;
}

type Answer = (request: SeenRequest, response: ServerResponse) => void;

let ca: Certificate;
/** Names 127.0.0.1 and localhost. */
let loopbackLeaf: Certificate;
/** Names east.example only. */
let eastLeaf: Certificate;
const servers: Server[] = [];

beforeAll(() => {
  ca = createCertificateAuthority({ commonName: 'guarded-probe-test-ca', validityDays: 1 });
  loopbackLeaf = issueServingCertificate(ca, { hosts: ['127.0.0.1', 'localhost'], validityDays: 1 });
  eastLeaf = issueServingCertificate(ca, { hosts: ['east.example'], validityDays: 1 });
});

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => {
            resolve();
          });
        }),
    ),
  );
});

/** As an API server answers the probe's three questions. */
const apiServer: Answer = (request, response) => {
  const json = (status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
  const path = new URL(request.url, 'https://any').pathname.replace(/^\/prefix/, '');
  if (request.method === 'GET' && path === '/version') {
    json(200, { gitVersion: 'v1.34.1' });
  } else if (request.method === 'POST' && path === '/apis/authentication.k8s.io/v1/selfsubjectreviews') {
    json(201, { status: { userInfo: { username: 'system:serviceaccount:istio-system:reader' } } });
  } else if (request.method === 'POST' && path === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
    const review = JSON.parse(request.body) as {
      spec: { resourceAttributes: { resource: string } };
    };
    json(201, { status: { allowed: review.spec.resourceAttributes.resource === 'secrets' } });
  } else {
    json(404, { kind: 'Status', reason: 'NotFound', message: 'the server could not find it' });
  }
};

async function startServer(leaf: Certificate, answer: Answer = apiServer): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  let connections = 0;
  const server = createServer(
    { cert: leaf.certificatePem, key: leaf.privateKeyPem },
    (request: IncomingMessage, response: ServerResponse) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const seen: SeenRequest = {
          method: request.method ?? '',
          url: request.url ?? '',
          authorization: request.headers.authorization,
          servername: (request.socket as { servername?: string | false }).servername,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        requests.push(seen);
        // The probe may hang up in the middle of a large answer.
        response.on('error', () => undefined);
        answer(seen, response);
      });
    },
  );
  server.on('connection', () => {
    connections += 1;
  });
  server.on('tlsClientError', () => undefined);
  servers.push(server);
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { origin: `https://127.0.0.1:${port}`, port, requests, connections: () => connections };
}

interface ConfigSpec {
  readonly server: string;
  readonly tlsServerName?: string;
  readonly proxyUrl?: string;
}

/** A kubeconfig as a remote secret holds it, through the same review the webhook runs. */
function sanitized(spec: ConfigSpec): SanitizedKubeconfig {
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: remote',
    '  cluster:',
    `    server: ${spec.server}`,
    `    certificate-authority-data: ${Buffer.from(ca.certificatePem).toString('base64')}`,
    ...(spec.tlsServerName === undefined ? [] : [`    tls-server-name: ${spec.tlsServerName}`]),
    ...(spec.proxyUrl === undefined ? [] : [`    proxy-url: ${spec.proxyUrl}`]),
    'contexts:',
    '- name: remote',
    '  context: {cluster: remote, user: reader}',
    'current-context: remote',
    'users:',
    '- name: reader',
    `  user: {token: ${TOKEN}}`,
    '',
  ].join('\n');
  const review = reviewKubeconfig(text, { allow: new Set() });
  if (!review.allowed) throw new Error(review.violations.map((found) => found.message).join('; '));
  return review.config;
}

/** Build a probe, ask for the version, close it: what failed, construction or call. */
async function failure(spec: ConfigSpec, options: GuardedProbeOptions): Promise<unknown> {
  try {
    const probe = createGuardedProbe(sanitized(spec), new AbortController().signal, options);
    try {
      await probe.serverVersion();
    } finally {
      await probe.close();
    }
  } catch (error) {
    return error;
  }
  throw new Error('the probe was expected to fail');
}

function codeOf(error: unknown): string | undefined {
  return error instanceof KubeError || error instanceof UnverifiableError ? error.code : undefined;
}

describe('createGuardedProbe against a real TLS server', () => {
  it('asks the three questions with the bearer token, under the path prefix of the server URL', async () => {
    const server = await startServer(loopbackLeaf);
    const probe = createGuardedProbe(
      sanitized({ server: `${server.origin}/prefix` }),
      new AbortController().signal,
      LOOPBACK_OK,
    );
    try {
      expect(await probe.serverVersion()).toBe('v1.34.1');
      expect(await probe.whoAmI()).toBe('system:serviceaccount:istio-system:reader');
      expect(await probe.can(READ_SECRETS)).toBe(true);
      expect(await probe.can({ group: '', resource: 'nodes', verb: 'list' })).toBe(false);
    } finally {
      await probe.close();
    }
    expect(server.requests.map(({ method, url }) => `${method} ${url}`)).toEqual([
      'GET /prefix/version',
      'POST /prefix/apis/authentication.k8s.io/v1/selfsubjectreviews',
      'POST /prefix/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      'POST /prefix/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    ]);
    expect(server.requests.every(({ authorization }) => authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(JSON.parse(server.requests[2]?.body ?? '')).toEqual({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { group: '', resource: 'secrets', verb: 'list' } },
    });
  });

  it('checks the certificate against tls-server-name, and against the address without it', async () => {
    const server = await startServer(eastLeaf);
    const probe = createGuardedProbe(
      sanitized({ server: server.origin, tlsServerName: 'east.example' }),
      new AbortController().signal,
      LOOPBACK_OK,
    );
    try {
      expect(await probe.serverVersion()).toBe('v1.34.1');
    } finally {
      await probe.close();
    }
    expect(server.requests.map(({ servername }) => servername)).toEqual(['east.example']);

    const mismatch = await failure({ server: server.origin }, LOOPBACK_OK);
    expect(mismatch).toBeInstanceOf(KubeError);
    expect(codeOf(mismatch)).toBe('tls-name-mismatch');
    expect(server.requests).toHaveLength(1);
  });

  it('never follows a redirect, and names only the origin of its Location', async () => {
    const elsewhere = await startServer(loopbackLeaf);
    const redirecting = await startServer(loopbackLeaf, (_request, response) => {
      response.writeHead(302, {
        location: `${elsewhere.origin}/login/steal?next=%2Fversion&session=abc123`,
      });
      response.end();
    });
    const error = await failure({ server: redirecting.origin }, LOOPBACK_OK);
    expect(codeOf(error)).toBe('redirect');
    const message = (error as Error).message;
    expect(message).toContain(`to ${elsewhere.origin},`);
    expect(message).not.toContain('/login');
    expect(message).not.toContain('steal');
    expect(message).not.toContain('session');
    expect(redirecting.requests).toHaveLength(1);
    expect(elsewhere.requests).toHaveLength(0);
    expect(elsewhere.connections()).toBe(0);
  });

  it.each([
    { name: 'a loopback address', host: () => '127.0.0.1' },
    { name: 'localhost', host: () => 'localhost' },
  ])('does not dial $name from inside the primary, not even a TCP connection', async ({ host }) => {
    const server = await startServer(loopbackLeaf);
    const error = await failure({ server: `https://${host()}:${server.port}` }, IN_CLUSTER);
    expect(error).toBeInstanceOf(KubeError);
    expect(codeOf(error)).toBe('blocked-address');
    expect(server.connections()).toBe(0);
  });

  it('does not dial a name that resolves only to loopback from inside the primary', async () => {
    const server = await startServer(eastLeaf);
    const resolved: string[] = [];
    const resolve: ResolveAll = (hostname, _options, callback) => {
      resolved.push(hostname);
      callback(null, [{ address: '127.0.0.1', family: 4 }]);
    };
    const spec = { server: `https://east.example:${server.port}` };
    const error = await failure(spec, { ...IN_CLUSTER, resolve });
    expect(codeOf(error)).toBe('blocked-address');
    expect((error as Error).message).toContain('loopback');
    expect(resolved).toEqual(['east.example']);
    expect(server.connections()).toBe(0);
    // The same name, with loopback allowed: the resolver's address is the one dialed.
    const probe = createGuardedProbe(sanitized(spec), new AbortController().signal, {
      ...LOOPBACK_OK,
      resolve,
    });
    try {
      expect(await probe.serverVersion()).toBe('v1.34.1');
    } finally {
      await probe.close();
    }
    expect(server.connections()).toBe(1);
  });

  it.each([
    { server: 'https://169.254.169.254', refused: '169.254.169.254 is link-local' },
    { server: 'https://[fe80::1]:6443', refused: 'fe80::1 is link-local' },
    { server: 'https://[::ffff:169.254.169.254]', refused: 'is link-local' },
    { server: 'https://metadata.google.internal', refused: 'metadata.google.internal is link-local' },
  ])('refuses $server even with loopback allowed, before anything is dialed', ({ server, refused }) => {
    const resolve: ResolveAll = () => {
      throw new Error('nothing may be resolved for a refused server');
    };
    let thrown: unknown;
    try {
      // The refusal comes from the constructor: no agent, no lookup, no socket exists yet.
      createGuardedProbe(sanitized({ server }), new AbortController().signal, {
        ...LOOPBACK_OK,
        resolve,
      });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(KubeError);
    expect(codeOf(thrown)).toBe('blocked-address');
    expect((thrown as Error).message).toContain(refused);
  });

  it('reports a refused credential as unauthorized', async () => {
    const server = await startServer(loopbackLeaf, (_request, response) => {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ kind: 'Status', reason: 'Unauthorized', message: 'Unauthorized' }));
    });
    const error = await failure({ server: server.origin }, LOOPBACK_OK);
    expect(codeOf(error)).toBe('unauthorized');
    expect((error as Error).message).not.toContain(TOKEN);
  });

  it('gives up on an answer over 1 MiB, and the next call still works', async () => {
    const huge = `{"gitVersion":"${'v'.repeat(2 * 1024 * 1024)}"}`;
    const server = await startServer(loopbackLeaf, (request, response) => {
      if (request.url === '/version') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(huge);
      } else {
        apiServer(request, response);
      }
    });
    const probe = createGuardedProbe(
      sanitized({ server: server.origin }),
      new AbortController().signal,
      LOOPBACK_OK,
    );
    try {
      const error = await probe.serverVersion().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(KubeError);
      expect((error as Error).message).toContain('larger than 1048576 bytes');
      expect(await probe.whoAmI()).toBe('system:serviceaccount:istio-system:reader');
    } finally {
      await probe.close();
    }
  });

  it('does not probe through a proxy-url', async () => {
    const proxy = await startServer(loopbackLeaf);
    const error = await failure(
      { server: 'https://east.example:6443', proxyUrl: `http://127.0.0.1:${proxy.port}` },
      LOOPBACK_OK,
    );
    expect(error).toBeInstanceOf(UnverifiableError);
    expect(codeOf(error)).toBe('unverifiable');
    expect(proxy.connections()).toBe(0);
  });
});

describe('refusedAddress', () => {
  it.each([
    { host: '127.0.0.1', allowLoopback: false, refused: true },
    { host: '127.0.0.1', allowLoopback: true, refused: false },
    { host: '[::1]', allowLoopback: false, refused: true },
    { host: 'localhost', allowLoopback: false, refused: true },
    { host: '169.254.169.254', allowLoopback: true, refused: true },
    { host: '[fe80::1]', allowLoopback: true, refused: true },
    { host: 'metadata.google.internal', allowLoopback: true, refused: true },
    { host: '192.0.2.1', allowLoopback: false, refused: false },
    { host: 'east.example', allowLoopback: false, refused: false },
  ])('$host with allowLoopback $allowLoopback: refused $refused', ({ host, allowLoopback, refused }) => {
    expect(refusedAddress(host, { allowLoopback }) !== undefined).toBe(refused);
  });
});

describe('guardedLookup', () => {
  /** A resolver that answers every name with `addresses`, and records the options it got. */
  function resolving(addresses: LookupAddress[]) {
    const asked: { hostname: string; all: boolean | undefined }[] = [];
    const resolve: ResolveAll = (hostname, options, callback) => {
      asked.push({ hostname, all: options.all });
      callback(null, addresses);
    };
    return { resolve, asked };
  }

  /** Run the lookup as net.connect would, and collect what its callback got. */
  function lookUp(
    resolve: ResolveAll,
    all: boolean,
  ): { error: Error | null; address: string | LookupAddress[]; family: number | undefined } {
    let answer:
      { error: Error | null; address: string | LookupAddress[]; family: number | undefined } | undefined;
    guardedLookup({ allowLoopback: false }, resolve)('api.example', { all }, (error, address, family) => {
      answer = { error, address, family };
    });
    if (answer === undefined) throw new Error('the lookup did not answer');
    return answer;
  }

  it('refuses a name that resolves only to the metadata address', () => {
    const { resolve } = resolving([{ address: '169.254.169.254', family: 4 }]);
    const { error } = lookUp(resolve, true);
    expect(error?.message).toContain('api.example resolves only to addresses a probe does not dial');
    expect(error?.message).toContain('169.254.169.254 is link-local');
  });

  it('drops the refused addresses of a name and keeps the rest', () => {
    const { resolve, asked } = resolving([
      { address: '192.0.2.1', family: 4 },
      { address: '169.254.169.254', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ]);
    expect(lookUp(resolve, true)).toEqual({
      error: null,
      address: [{ address: '192.0.2.1', family: 4 }],
      family: undefined,
    });
    // Every address is asked for, whatever the caller wanted, so none escapes the rules.
    expect(asked).toEqual([{ hostname: 'api.example', all: true }]);
  });

  it('hands the first usable address to a caller that wants one', () => {
    const { resolve, asked } = resolving([
      { address: 'fe80::1', family: 6 },
      { address: '192.0.2.2', family: 4 },
      { address: '192.0.2.1', family: 4 },
    ]);
    expect(lookUp(resolve, false)).toEqual({ error: null, address: '192.0.2.2', family: 4 });
    expect(asked).toEqual([{ hostname: 'api.example', all: true }]);
  });

  it('passes a resolver error on', () => {
    const failed = Object.assign(new Error('getaddrinfo ENOTFOUND api.example'), { code: 'ENOTFOUND' });
    const resolve: ResolveAll = (_hostname, _options, callback) => {
      callback(failed, []);
    };
    expect(lookUp(resolve, true).error).toBe(failed);
  });
});
