import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import { createServingCertificate } from '../harness/tls.ts';

const binaryPath = inject('kubeTestenvBinary');

const NAMESPACE = 'webhook-smoke';
const DENIED_NAME = 'forbidden-secret';
const DENY_MESSAGE = `the test webhook refuses Secrets named ${DENIED_NAME}`;
const WEBHOOK_NAME = 'deny-named-secret.kube-testenv.test';

interface AdmissionDecision {
  readonly uid: string;
  readonly allowed: boolean;
  /** namespace/name of the object under review, for asserting that the webhook was asked. */
  readonly object: string;
}

/** AdmissionReview in, decision out: refuse exactly one Secret name. */
function decide(review: unknown): AdmissionDecision | undefined {
  if (typeof review !== 'object' || review === null || !('request' in review)) return undefined;
  const request = review.request;
  if (typeof request !== 'object' || request === null) return undefined;
  const field = (key: string): unknown => (request as Record<string, unknown>)[key];
  const uid = field('uid');
  const name = field('name');
  const namespace = field('namespace');
  if (typeof uid !== 'string' || typeof name !== 'string') return undefined;
  return { uid, allowed: name !== DENIED_NAME, object: `${String(namespace)}/${name}` };
}

function admissionResponse(decision: AdmissionDecision): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: {
      uid: decision.uid,
      allowed: decision.allowed,
      ...(decision.allowed ? {} : { status: { code: 403, message: DENY_MESSAGE } }),
    },
  });
}

function secretManifest(name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE },
    stringData: { note: 'created by the webhook smoke test' },
  });
}

describe.skipIf(binaryPath === null)('kube-testenv: the API server calls a validating webhook', () => {
  let cluster: TestCluster;
  let server: Server;
  const reviewed: string[] = [];

  beforeAll(async () => {
    const tls = await createServingCertificate();
    server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        let decision: AdmissionDecision | undefined;
        try {
          decision = decide(JSON.parse(body));
        } catch {
          decision = undefined;
        }
        if (decision === undefined) {
          res.writeHead(400).end();
          return;
        }
        reviewed.push(decision.object);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(admissionResponse(decision));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;

    cluster = await startCluster('webhook', binaryPath === null ? {} : { binaryPath });
    const namespace = await kubectl(cluster.kubeconfigPath, ['create', 'namespace', NAMESPACE]);
    expect(namespace.status, namespace.stderr).toBe(0);

    const registered = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: { name: 'deny-named-secret' },
        webhooks: [
          {
            name: WEBHOOK_NAME,
            clientConfig: {
              url: `https://127.0.0.1:${String(port)}/validate`,
              caBundle: Buffer.from(tls.caPem).toString('base64'),
            },
            rules: [
              {
                apiGroups: [''],
                apiVersions: ['v1'],
                operations: ['CREATE', 'UPDATE'],
                resources: ['secrets'],
              },
            ],
            // Only this test's namespace: the control plane's own writes never depend on the test.
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NAMESPACE } },
            failurePolicy: 'Fail',
            sideEffects: 'None',
            admissionReviewVersions: ['v1'],
            timeoutSeconds: 5,
          },
        ],
      }),
    });
    expect(registered.status, registered.stderr).toBe(0);

    // The API server picks up new webhook configurations asynchronously: probe with a server-side
    // dry run (which calls webhooks declaring sideEffects None) until the webhook answers.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const probe = await kubectl(cluster.kubeconfigPath, ['apply', '--dry-run=server', '-f', '-'], {
        input: secretManifest(DENIED_NAME),
      });
      if (probe.stderr.includes(DENY_MESSAGE)) break;
      if (Date.now() > deadline) throw new Error(`the webhook never answered: ${probe.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    reviewed.length = 0;
  });

  afterAll(async () => {
    server.close();
    await stopAllClusters();
  });

  it('kubectl apply of the denied Secret fails with the webhook message, and nothing is stored', async () => {
    const result = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: secretManifest(DENIED_NAME),
    });

    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(
      `admission webhook "${WEBHOOK_NAME}" denied the request: ${DENY_MESSAGE}`,
    );
    expect(reviewed).toContain(`${NAMESPACE}/${DENIED_NAME}`);

    const stored = await kubectl(cluster.kubeconfigPath, ['get', 'secret', DENIED_NAME, '-n', NAMESPACE]);
    expect(stored.status).not.toBe(0);
    expect(stored.stderr).toContain('NotFound');
  });

  it('another Secret passes the same webhook and is created', async () => {
    const result = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: secretManifest('allowed-secret'),
    });

    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe('secret/allowed-secret created');
    expect(reviewed).toContain(`${NAMESPACE}/allowed-secret`);

    const stored = await kubectl(cluster.kubeconfigPath, [
      'get',
      'secret',
      'allowed-secret',
      '-n',
      NAMESPACE,
      '-o',
      'jsonpath={.data.note}',
    ]);
    expect(Buffer.from(stored.stdout, 'base64').toString('utf8')).toBe('created by the webhook smoke test');
  });
});
