import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { kubeconfigFixture } from '../../shared/admission/testdata/reviews.ts';
import { send } from '../../webhook/testdata/client.ts';
import type { TlsFixture } from '../../webhook/testdata/tls.ts';
import { kubectl } from './kubectl.ts';

const BIN = fileURLToPath(new URL('../../bin/remote-secret-webhook', import.meta.url));

export type WebhookProcess = ChildProcessByStdio<null, Readable, Readable> & {
  readonly port: number;
  /** Everything it logged so far (pino JSON lines). */
  output(): string;
};

export interface WebhookProcessOptions {
  readonly kubeconfigPath: string;
  readonly tls: TlsFixture;
  readonly mode: 'enforce' | 'warn' | 'audit';
  readonly localClusterId: string;
  readonly namespace: string;
  /** `--shutdown-delay`: 0 unless a test needs the drain as it runs in a cluster. */
  readonly shutdownDelaySeconds?: number;
  /** More flags, e.g. `--audit-interval 1`. */
  readonly extraArgs?: readonly string[];
  /**
   * `--client-ca-file`: then /validate needs a client certificate from this CA (a cluster started
   * with `{ webhookClientCert: true }` gives its `webhookClientCaFile`).
   */
  readonly clientCaFile?: string;
}

/**
 * Start the built webhook (`bin/remote-secret-webhook`, so run `npm run build` first) outside the
 * cluster on a free loopback port, and wait until `/readyz` answers 200 (its index has synced).
 */
export async function startWebhookProcess(options: WebhookProcessOptions): Promise<WebhookProcess> {
  const child = spawn(
    BIN,
    [
      ...['--kubeconfig', options.kubeconfigPath],
      ...['--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile],
      ...['--address', '127.0.0.1', '--port', '0'],
      ...['--local-cluster-id', options.localClusterId, '--namespace', options.namespace],
      ...['--mode', options.mode, '--shutdown-delay', String(options.shutdownDelaySeconds ?? 0)],
      ...(options.clientCaFile === undefined ? [] : ['--client-ca-file', options.clientCaFile]),
      ...(options.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const line = output.split('\n').find((entry) => entry.includes('remote-secret-webhook listening'));
      if (line !== undefined) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.on('exit', (code) => {
      reject(new Error(`the webhook exited ${String(code)}:\n${output}`));
    });
  });
  const webhook = Object.assign(child, { port, output: () => output });
  await eventually(
    async () =>
      (await send(undefined, { port, ca: options.tls.ca.certificatePem, path: '/readyz' })).status === 200,
  );
  return webhook;
}

/** Every sample of one metric on the webhook's /metrics, as `{labels}` -> value (`''` without labels). */
export async function scrapeMetric(
  webhook: WebhookProcess,
  tls: TlsFixture,
  name: string,
): Promise<Record<string, number>> {
  const text = (await send(undefined, { port: webhook.port, ca: tls.ca.certificatePem, path: '/metrics' }))
    .body;
  const samples: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] === name) samples[match[2] ?? ''] = Number(match[3]);
  }
  return samples;
}

/** SIGTERM, and wait for the process to exit (it finishes in-flight requests first). */
export async function stopWebhookProcess(webhook: WebhookProcess | undefined): Promise<void> {
  if (webhook === undefined || webhook.exitCode !== null) return;
  const exited = new Promise((resolve) => webhook.on('exit', resolve));
  webhook.kill('SIGTERM');
  await exited;
}

/** Retry `check` until it holds: registration and informer sync take a moment to be seen. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const SHIPPED_CONFIGURATION = fileURLToPath(
  new URL('../../manifests/base/validatingwebhookconfiguration.yaml', import.meta.url),
);

/**
 * Register the shipped ValidatingWebhookConfiguration with its clientConfig pointed at a local
 * webhook process (url form, our CA), then wait until the API server really calls it: a
 * server-side dry run of a remote secret with exec is denied. Fails if registration fails.
 */
export async function registerShippedWebhook(
  kubeconfigPath: string,
  webhook: Pick<WebhookProcess, 'port'> & Partial<Pick<WebhookProcess, 'output'>>,
  tls: TlsFixture,
  namespace: string,
): Promise<void> {
  const shipped = load(readFileSync(SHIPPED_CONFIGURATION, 'utf8')) as {
    webhooks: { clientConfig: unknown }[];
  };
  const configuration = {
    ...shipped,
    webhooks: shipped.webhooks.map((entry) => ({
      ...entry,
      clientConfig: {
        url: `https://127.0.0.1:${String(webhook.port)}/validate`,
        caBundle: Buffer.from(tls.ca.certificatePem).toString('base64'),
      },
    })),
  };
  const registered = await kubectl(kubeconfigPath, ['apply', '-f', '-'], {
    input: JSON.stringify(configuration),
  });
  if (registered.status !== 0) throw new Error(`registering the webhook failed: ${registered.stderr}`);
  const probe = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'webhook-probe', namespace, labels: { 'istio/multiCluster': 'true' } },
    stringData: { probe: kubeconfigFixture('exec') },
  });
  await eventually(async () => {
    const result = await kubectl(kubeconfigPath, ['apply', '--dry-run=server', '-f', '-'], { input: probe });
    // A webhook in audit mode denies nothing: then its own log shows that it was asked.
    return (
      result.stderr.includes('denied the request') ||
      (result.status === 0 && (webhook.output?.().includes('webhook-probe') ?? false))
    );
  });
}
