import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'node:https';
import { CoreV1Api, type CoreV1Event } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { admissionReview, kubeconfigFixture, secretObject } from '../../shared/admission/testdata/reviews.ts';
import { createCertificateAuthority, issueClientCertificate } from '../../shared/pki/certificate.ts';
import { send } from '../../webhook/testdata/client.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { REPO_ROOT, runPluginAsync } from '../cli.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import {
  eventually,
  registerShippedWebhook,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * Who may call /validate, on a real kube-apiserver that presents a client certificate to
 * webhooks (kube-testenv --webhook-client-cert: an AdmissionConfiguration kubeconfig), with real
 * TLS throughout: the webhook with --client-ca-file decides for the API server and refuses a
 * forger; without it, a forger is answered but marked, and cannot multiply Events.
 */
const binaryPath = inject('kubeTestenvBinary');
const NAMESPACE = 'istio-system';

function remoteSecret(name: string, clusters: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE, labels: { 'istio/multiCluster': 'true' } },
    stringData: clusters,
  });
}

/** What a forger POSTs: a review in the API server's shape, naming any user it likes. */
function forgedReview(secret: string, user: string): string {
  return JSON.stringify(
    admissionReview({
      uid: `forged-${user}`,
      user,
      object: secretObject({ name: secret, data: { east: kubeconfigFixture('exec') } }),
    }),
  );
}

describe.skipIf(binaryPath === null)('who may call /validate, on a real API server', () => {
  let cluster: TestCluster;
  let tls: TlsFixture;
  let webhook: WebhookProcess | undefined;
  let open: WebhookProcess | undefined;
  let core: CoreV1Api;
  const events = async (name: string): Promise<CoreV1Event[]> =>
    (await core.listNamespacedEvent({ namespace: NAMESPACE, fieldSelector: `involvedObject.name=${name}` }))
      .items;
  const metric = async (process: WebhookProcess, series: string): Promise<number> => {
    const text = (await send(undefined, { port: process.port, ca: tls.ca.certificatePem, path: '/metrics' }))
      .body;
    const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
    return Number(line?.split(' ').at(-1) ?? 0);
  };
  const logLines = (process: WebhookProcess): Record<string, unknown>[] =>
    process
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    tls = writeTlsFixture();
    cluster = await startCluster('webhook-auth', {
      ...(binaryPath === null ? {} : { binaryPath }),
      webhookClientCert: true,
    });
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const created = await kubectl(cluster.kubeconfigPath, ['create', 'namespace', NAMESPACE]);
    expect(created.status, created.stderr).toBe(0);
    expect(cluster.webhookClientCaFile).toMatch(/webhook-client-ca\.crt$/);
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
      clientCaFile: cluster.webhookClientCaFile ?? '',
    });
    // Registration probes with a server-side dry run until the webhook denies it: that already
    // needs the API server's client certificate to pass.
    await registerShippedWebhook(cluster.kubeconfigPath, webhook, tls, NAMESPACE);
  });

  afterAll(async () => {
    await Promise.allSettled([stopWebhookProcess(webhook), stopWebhookProcess(open)]);
    rmSync(tls.dir, { recursive: true, force: true });
    await stopAllClusters();
  });

  it('with --client-ca-file: refuses an unsafe secret applied through the API server, as before, and marks the Event authenticated', async () => {
    const applied = await kubectl(cluster.kubeconfigPath, ['apply', '-f', '-'], {
      input: remoteSecret('istio-remote-secret-refused', { west: kubeconfigFixture('exec') }),
    });
    expect(applied.status).not.toBe(0);
    expect(applied.stderr).toContain(
      'denied the request: remote secret istio-system/istio-remote-secret-refused',
    );
    expect(applied.stderr).toContain('exec at users[0].user.exec');
    await eventually(async () => (await events('istio-remote-secret-refused')).length > 0);
    const [event] = await events('istio-remote-secret-refused');
    expect(event?.metadata.annotations).toMatchObject({
      'remote-secret-webhook/user': 'kube-testenv-admin',
      'remote-secret-webhook/authenticated': 'true',
      'remote-secret-webhook/caller': 'CN=kube-apiserver-webhook-client',
    });
    expect(event?.message).toMatch(/^CREATE by kube-testenv-admin rejected: /);
    const said = logLines(webhook as WebhookProcess).map((entry) => String(entry['msg']));
    expect(said).toContain('POST /validate needs a client certificate from this CA');
    expect(said.filter((msg) => msg.startsWith('POST /validate is unauthenticated'))).toEqual([]);
    const line = logLines(webhook as WebhookProcess).find(
      (entry) => entry['name'] === 'istio-remote-secret-refused',
    );
    expect(line).toMatchObject({
      audit: true,
      authenticated: true,
      caller: 'CN=kube-apiserver-webhook-client',
    });
    const rejections = await runPluginAsync([
      'audit',
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--rejections',
      '-o',
      'json',
    ]);
    expect(rejections.status, rejections.stderr).toBe(0);
    expect(
      (JSON.parse(rejections.stdout) as { rejections: { secret: string; authenticated?: boolean }[] })
        .rejections,
    ).toContainEqual(
      expect.objectContaining({ secret: `${NAMESPACE}/istio-remote-secret-refused`, authenticated: true }),
    );
  });

  it.each([
    {
      why: 'without a client certificate',
      status: 401,
      reason: 'client-certificate-required',
      certificate: false,
    },
    {
      why: 'with a certificate from another CA',
      status: 403,
      reason: 'client-certificate-untrusted',
      certificate: true,
    },
  ])(
    'with --client-ca-file: refuses a forged review POSTed straight to the webhook $why ($status) and writes no Event',
    async ({ status, reason, certificate }) => {
      const running = webhook as WebhookProcess;
      const secret = `istio-remote-secret-forged-${String(status)}`;
      const decidedBefore = await metric(
        running,
        'remote_secret_webhook_admission_requests_total{operation="CREATE",verdict="rejected"}',
      );
      const other = createCertificateAuthority({ commonName: 'forger-ca', validityDays: 1 });
      const forgerCertificate = issueClientCertificate(other, {
        commonName: 'kube-apiserver-webhook-client',
        validityDays: 1,
      });
      for (let attempt = 0; attempt < 20; attempt += 1) {
        const reply = await send(forgedReview(secret, `mallory-${String(attempt)}`), {
          port: running.port,
          ca: tls.ca.certificatePem,
          ...(certificate
            ? {
                clientCertificate: {
                  cert: forgerCertificate.certificatePem,
                  key: forgerCertificate.privateKeyPem,
                },
              }
            : {}),
        });
        expect(reply.status).toBe(status);
        expect(JSON.parse(reply.body)).toMatchObject({ error: reason });
      }
      expect(
        await metric(
          running,
          `remote_secret_webhook_http_errors_total{status="${String(status)}",reason="${reason}"}`,
        ),
      ).toBe(20);
      expect(
        await metric(
          running,
          'remote_secret_webhook_admission_requests_total{operation="CREATE",verdict="rejected"}',
        ),
      ).toBe(decidedBefore);
      // An Event is written within milliseconds of a decision; give one every chance to show up.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(await events(secret)).toEqual([]);
      expect(running.output()).not.toContain('mallory');
      // And the API server's own calls still pass.
      const dryRun = await kubectl(cluster.kubeconfigPath, ['apply', '--dry-run=server', '-f', '-'], {
        input: remoteSecret('istio-remote-secret-dry', { west: kubeconfigFixture('exec') }),
      });
      expect(dryRun.stderr).toContain('denied the request');
    },
  );

  it('a --client-ca-file that is not a CA certificate: exit status 2 and one line saying what to give', () => {
    const leafAsCa = join(tls.dir, 'not-a-ca.crt');
    writeFileSync(leafAsCa, tls.leaf.certificatePem);
    const result = spawnSync(
      join(REPO_ROOT, 'bin/remote-secret-webhook'),
      [
        ...['--kubeconfig', cluster.kubeconfigPath],
        ...['--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile],
        ...['--address', '127.0.0.1', '--port', '0', '--client-ca-file', leafAsCa],
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(result.status).toBe(2);
    const lines = `${result.stdout}${result.stderr}`.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(
      `--client-ca-file ${leafAsCa}: certificate 1 (CN=localhost) is not a CA; give the PEM certificate of the CA that signs the API server's client certificate`,
    );
    expect(lines[0]).not.toMatch(/\n\s+at /);
  });

  it('without --client-ca-file: warns once at start, answers a forger, marks it, and 300 forged reviews of one secret are one Event', async () => {
    open = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'enforce',
      localClusterId: 'primary',
      namespace: NAMESPACE,
    });
    const running = open;
    const warnings = logLines(running).filter((line) =>
      String(line['msg']).startsWith('POST /validate is unauthenticated'),
    );
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]?.['msg'])).toContain('set --client-ca-file');

    const secret = 'istio-remote-secret-flood';
    const forged = 300;
    const agent = new Agent({ keepAlive: true, maxSockets: 10 });
    const started = Date.now();
    try {
      for (let batch = 0; batch < forged / 10; batch += 1) {
        const replies = await Promise.all(
          Array.from({ length: 10 }, (_, index) =>
            send(forgedReview(secret, `forged-user-${String(batch * 10 + index)}`), {
              port: running.port,
              ca: tls.ca.certificatePem,
              agent,
            }),
          ),
        );
        expect(replies.map((reply) => reply.status)).toEqual(Array.from({ length: 10 }, () => 200));
      }
    } finally {
      agent.destroy();
    }
    await eventually(async () => (await events(secret)).length > 0);
    const created = await metric(running, 'remote_secret_webhook_events_total{result="created"}');
    const patched = await metric(running, 'remote_secret_webhook_events_total{result="patched"}');
    // One Event; the per-secret burst of 25 writes, then one more per 10 s at most, the rest held
    // back and folded into the count.
    expect(created).toBe(1);
    expect(created + patched).toBeLessThanOrEqual(25 + Math.ceil((Date.now() - started) / 10_000));
    const lines = logLines(running).filter((line) => line['name'] === secret && line['audit'] === true);
    expect(lines).toHaveLength(forged);
    expect(lines.every((line) => line['authenticated'] === false)).toBe(true);
    // SIGTERM flushes the held-back count in one more write.
    await stopWebhookProcess(running);
    const [event, ...others] = await events(secret);
    expect(others).toEqual([]);
    expect(event?.count).toBe(forged);
    expect(event?.metadata.annotations?.['remote-secret-webhook/authenticated']).toBe('false');
    expect(event?.message).toMatch(/^CREATE by forged-user-\d+ \(unauthenticated caller\) rejected: /);

    const table = await runPluginAsync(['audit', '--kubeconfig', cluster.kubeconfigPath, '--rejections']);
    expect(table.status, table.stderr).toBe(0);
    const row = table.stdout.split('\n').find((entry) => entry.includes(`${NAMESPACE}/${secret}`));
    expect(row).toMatch(new RegExp(` ${String(forged)} +no$`));
  });
});
