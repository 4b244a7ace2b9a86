import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
import { WEBHOOK_CERTIFICATE_DEFAULTS } from '../../shared/pki/webhook-certificate.ts';
import { send } from '../../webhook/testdata/client.ts';
import { writeTlsFixture, type TlsFixture } from '../../webhook/testdata/tls.ts';
import { startCluster, stopAllClusters, type TestCluster } from '../harness/cluster.ts';
import { kubectl } from '../harness/kubectl.ts';
import {
  eventually,
  startWebhookProcess,
  stopWebhookProcess,
  type WebhookProcess,
} from '../harness/webhook.ts';

/**
 * The webhook on a real kube-apiserver: registered from the shipped manifest's rules (url form,
 * pointing at the local process), driven by the real kubectl.
 */
const binaryPath = inject('kubeTestenvBinary');
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MANIFEST = fileURLToPath(
  new URL('../../manifests/base/validatingwebhookconfiguration.yaml', import.meta.url),
);
const NAMESPACE = 'istio-system';
const LOCAL_CLUSTER_ID = 'primary';

interface WebhookConfiguration {
  metadata: { name: string };
  webhooks: {
    name: string;
    clientConfig: { url?: string; caBundle?: string; service?: unknown };
    failurePolicy: string;
    sideEffects: string;
  }[];
}
const SHIPPED = load(readFileSync(MANIFEST, 'utf8')) as WebhookConfiguration;
const WEBHOOK_NAME = SHIPPED.webhooks[0]?.name ?? '';

function remoteSecret(name: string, clusters: Record<string, string>, labelled = true): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: NAMESPACE,
      ...(labelled ? { labels: { 'istio/multiCluster': 'true' } } : {}),
      annotations: { 'networking.istio.io/cluster': Object.keys(clusters)[0] ?? '' },
    },
    stringData: clusters,
  });
}

describe.skipIf(binaryPath === null)('the admission webhook on a real API server', () => {
  let cluster: TestCluster;
  let tls: TlsFixture;
  let webhook: WebhookProcess;
  const apply = (manifest: string, ...flags: string[]) =>
    kubectl(cluster.kubeconfigPath, ['apply', ...flags, '-f', '-'], { input: manifest });
  const metricOf = (series: string) => async (): Promise<number> => {
    const text = (await send(undefined, { port: webhook.port, ca: tls.ca.certificatePem, path: '/metrics' }))
      .body;
    const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
    return Number(line?.split(' ').at(-1) ?? 0);
  };
  const metric = async (name: string): Promise<number> => {
    const text = (await send(undefined, { port: webhook.port, ca: tls.ca.certificatePem, path: '/metrics' }))
      .body;
    return text
      .split('\n')
      .filter((line) => line.startsWith(name))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  };

  /** Register the shipped webhook, with its clientConfig pointed at the local process. */
  async function register(port: number, probe: (stderr: string, status: number | null) => boolean) {
    const configuration: WebhookConfiguration = {
      ...SHIPPED,
      webhooks: SHIPPED.webhooks.map((entry) => ({
        ...entry,
        clientConfig: {
          url: `https://127.0.0.1:${String(port)}/validate`,
          caBundle: Buffer.from(tls.ca.certificatePem).toString('base64'),
        },
      })),
    };
    const registered = await apply(JSON.stringify(configuration));
    expect(registered.status, registered.stderr).toBe(0);
    // The API server picks up webhook configurations asynchronously: probe with a server-side
    // dry run (NoneOnDryRun webhooks are called for it) until this process answers.
    await eventually(async () => {
      const result = await apply(
        remoteSecret('probe', { probe: kubeconfigFixture('exec') }),
        '--dry-run=server',
      );
      return probe(result.stderr, result.status);
    });
  }

  beforeAll(async () => {
    const built = spawnSync('npm', ['run', 'bundle:webhook'], { cwd: REPO, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    tls = writeTlsFixture();
    cluster = await startCluster('remote-secret-webhook', binaryPath === null ? {} : { binaryPath });
    for (const namespace of [NAMESPACE, 'remote-secret-webhook']) {
      const created = await kubectl(cluster.kubeconfigPath, ['create', 'namespace', namespace]);
      expect(created.status, created.stderr).toBe(0);
    }
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'enforce',
      localClusterId: LOCAL_CLUSTER_ID,
      namespace: NAMESPACE,
    });
    await register(webhook.port, (stderr) =>
      stderr.includes(`admission webhook "${WEBHOOK_NAME}" denied the request`),
    );
  });

  afterAll(async () => {
    // beforeAll may have stopped half-way: stop and remove whatever it started.
    await Promise.allSettled([
      (async () => {
        await stopWebhookProcess(webhook);
      })(),
      Promise.resolve().then(() => {
        rmSync(tls.dir, { recursive: true, force: true });
      }),
    ]);
    await stopAllClusters();
  });

  it('accepts a clean remote secret', async () => {
    const result = await apply(
      remoteSecret('istio-remote-secret-east', { east: kubeconfigFixture('clean') }),
    );
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('secret/istio-remote-secret-east created');
  });

  it.each([
    { name: 'exec', clusters: { west: kubeconfigFixture('exec') }, shows: ['exec at users[0].user.exec'] },
    {
      name: 'token-file',
      clusters: { west: kubeconfigFixture('token-file') },
      shows: ['token-file at users[0].user.tokenFile'],
    },
    {
      name: 'client-key',
      clusters: { west: kubeconfigFixture('client-key') },
      shows: ['client-key at users[0].user.client-key'],
    },
    {
      name: 'client-certificate',
      clusters: { west: kubeconfigFixture('client-certificate') },
      shows: ['client-certificate at users[0].user.client-certificate'],
    },
    {
      name: 'gcp-auth-provider',
      clusters: { west: kubeconfigFixture('auth-provider') },
      shows: ['auth-provider at users[0].user.auth-provider', 'the auth provider "gcp"'],
    },
    {
      name: 'local-cluster-id',
      clusters: { [LOCAL_CLUSTER_ID]: kubeconfigFixture('clean') },
      shows: ['local-cluster-id at data.primary'],
    },
    {
      name: 'duplicate-cluster-id',
      clusters: { east: kubeconfigFixture('clean') },
      shows: [
        'duplicate-cluster-id at data.east',
        'also claimed by secret istio-system/istio-remote-secret-east, created earlier',
        'then touch the one you keep',
      ],
    },
  ])(
    'refuses a secret with $name, saying what to fix, and stores nothing',
    async ({ name, clusters, shows }) => {
      // The duplicate needs the informer to have seen the clean secret first.
      await eventually(async () => (await metric('remote_secret_webhook_index_secrets')) >= 1);
      const secretName = `istio-remote-secret-${name}`;
      const result = await apply(remoteSecret(secretName, clusters));
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(`admission webhook "${WEBHOOK_NAME}" denied the request`);
      expect(result.stderr).toContain(`remote secret istio-system/${secretName} is rejected`);
      for (const text of shows) expect(result.stderr).toContain(text);
      expect(result.stderr).toContain('fix: ');
      const stored = await kubectl(cluster.kubeconfigPath, ['get', 'secret', secretName, '-n', NAMESPACE]);
      expect(stored.stderr).toContain('NotFound');
    },
  );

  it('refuses an UPDATE that adds exec to an accepted secret', async () => {
    const result = await apply(remoteSecret('istio-remote-secret-east', { east: kubeconfigFixture('exec') }));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('exec at users[0].user.exec');
    const stored = await kubectl(cluster.kubeconfigPath, [
      'get',
      'secret',
      'istio-remote-secret-east',
      '-n',
      NAMESPACE,
      '-o',
      'jsonpath={.data.east}',
    ]);
    expect(Buffer.from(stored.stdout, 'base64').toString('utf8')).toBe(kubeconfigFixture('clean'));
  });

  it('records a Warning Event for a rejection, but none for a server-side dry run', async () => {
    const events = async (name: string) => {
      const listed = await kubectl(cluster.kubeconfigPath, [
        'get',
        'events',
        '-n',
        NAMESPACE,
        '-o',
        'json',
        '--field-selector',
        `involvedObject.name=${name}`,
      ]);
      return (JSON.parse(listed.stdout) as { items: { reason: string; type: string; message: string }[] })
        .items;
    };
    const dryRun = await apply(
      remoteSecret('istio-remote-secret-dry', { dry: kubeconfigFixture('exec') }),
      '--dry-run=server',
    );
    expect(dryRun.stderr).toContain('denied the request');
    await eventually(async () => (await events('istio-remote-secret-exec')).length > 0);
    const [event] = await events('istio-remote-secret-exec');
    expect(event).toMatchObject({ type: 'Warning', reason: 'RemoteSecretRejected' });
    expect(event?.message).toContain('exec at west: users[0].user.exec');
    expect(await events('istio-remote-secret-dry')).toEqual([]);
  });

  it('aggregates 50 identical refusals into one Event with count 50 (a GitOps loop re-applying)', async () => {
    const name = 'istio-remote-secret-retried';
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const body = JSON.parse(remoteSecret(name, { retried: kubeconfigFixture('exec') })) as V1Secret;
    const refusals = metricOf(
      'remote_secret_webhook_admission_requests_total{operation="CREATE",verdict="rejected"}',
    );
    const before = await refusals();
    for (let attempt = 0; attempt < 50; attempt += 1) {
      await expect(core.createNamespacedSecret({ namespace: NAMESPACE, body })).rejects.toMatchObject({
        code: 403,
        body: expect.stringContaining(`denied the request: remote secret ${NAMESPACE}/${name} is rejected`),
      });
    }
    expect((await refusals()) - before).toBe(50);
    const listed = async () =>
      (
        await core.listNamespacedEvent({
          namespace: NAMESPACE,
          fieldSelector: `involvedObject.name=${name}`,
        })
      ).items;
    // Writes past the per-secret burst wait for the next token (10 s): the count catches up.
    await eventually(async () => (await listed()).some((event) => event.count === 50), 60_000);
    const events = await listed();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ reason: 'RemoteSecretRejected', type: 'Warning', count: 50 });
    expect(events[0]?.message).toContain('exec at retried: users[0].user.exec');
  });

  it('is never asked about a Secret without the istio/multiCluster label', async () => {
    const before = await metric('remote_secret_webhook_admission_requests_total');
    const result = await apply(remoteSecret('plain-secret', { note: kubeconfigFixture('exec') }, false));
    expect(result.stdout.trim()).toBe('secret/plain-secret created');
    expect(await metric('remote_secret_webhook_admission_requests_total')).toBe(before);
  });

  it('in warn mode admits the secret and kubectl prints a Warning', async () => {
    await stopWebhookProcess(webhook);
    webhook = await startWebhookProcess({
      tls,
      kubeconfigPath: cluster.kubeconfigPath,
      mode: 'warn',
      localClusterId: LOCAL_CLUSTER_ID,
      namespace: NAMESPACE,
    });
    await register(
      webhook.port,
      (stderr, status) => status === 0 && stderr.includes('Warning: remote secret'),
    );
    const result = await apply(
      remoteSecret('istio-remote-secret-warned', { north: kubeconfigFixture('exec') }),
    );
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(
      /^Warning: remote secret istio-system\/istio-remote-secret-warned cluster "north": exec at users\[0\]\.user\.exec/m,
    );
    expect(result.stdout.trim()).toBe('secret/istio-remote-secret-warned created');
  });

  it('with the webhook down, labelled writes fail closed and other Secrets are unaffected', async () => {
    await stopWebhookProcess(webhook);
    const labelled = await apply(
      remoteSecret('istio-remote-secret-south', { south: kubeconfigFixture('clean') }),
    );
    expect(labelled.status).not.toBe(0);
    expect(labelled.stderr).toContain(`failed calling webhook "${WEBHOOK_NAME}"`);
    const plain = await apply(remoteSecret('another-plain-secret', { note: 'hello' }, false));
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout.trim()).toBe('secret/another-plain-secret created');
  });

  it('`kubectl remote-secret webhook-cert` writes the serving Secret and caBundle, keeping the previous CA on rotation', async () => {
    const options = { ...WEBHOOK_CERTIFICATE_DEFAULTS, webhookConfiguration: SHIPPED.metadata.name };
    const readSecret = async () => {
      const secret = await kubectl(cluster.kubeconfigPath, [
        'get',
        'secret',
        options.secretName,
        '-n',
        options.namespace,
        '-o',
        'json',
      ]);
      return JSON.parse(secret.stdout) as { type: string; data: Record<string, string> };
    };
    const args = [
      'remote-secret',
      'webhook-cert',
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--webhook-configuration',
      options.webhookConfiguration,
    ];
    const env = {
      ...process.env,
      PATH: `${fileURLToPath(new URL('../../bin', import.meta.url))}:${process.env['PATH'] ?? ''}`,
    };
    const firstRun = spawnSync('kubectl', args, { encoding: 'utf8', env });
    expect(firstRun.status, firstRun.stderr).toBe(0);
    expect(firstRun.stdout).toContain(
      `secret/${options.secretName} written in namespace ${options.namespace}`,
    );
    const first = await readSecret();
    const secondRun = spawnSync('kubectl', args, { encoding: 'utf8', env });
    expect(secondRun.status, secondRun.stderr).toBe(0);
    const second = await readSecret();
    expect(second.type).toBe('kubernetes.io/tls');
    expect(second.data['tls.crt']).not.toBe(first.data['tls.crt']);
    const configuration = await kubectl(cluster.kubeconfigPath, [
      'get',
      'validatingwebhookconfiguration',
      options.webhookConfiguration,
      '-o',
      'jsonpath={.webhooks[0].clientConfig.caBundle}',
    ]);
    const bundle = Buffer.from(configuration.stdout, 'base64').toString('utf8');
    const pem = (data: string | undefined) =>
      Buffer.from(data ?? '', 'base64')
        .toString('utf8')
        .trim();
    expect(bundle).toContain(pem(second.data['ca.crt']));
    expect(bundle).toContain(pem(first.data['ca.crt']));
  });
});
