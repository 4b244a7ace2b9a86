import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { admissionReview } from '../../shared/admission/testdata/reviews.ts';
import { send } from '../../webhook/testdata/client.ts';
import { startFakeApiServer } from '../../webhook/testdata/fake-apiserver.ts';
import { writeTlsFixture } from '../../webhook/testdata/tls.ts';
import { runPlugin, runPluginAsync } from '../cli.ts';
import { eventually, startWebhookProcess, stopWebhookProcess } from '../harness/webhook.ts';
import { useCanary, type Canary } from './canary-fixture.ts';

/**
 * The security invariant: an untrusted kubeconfig goes through our parser and sanitizer, and
 * never reaches code that reads its files or runs its programs. A canary file stands where
 * `token-file`/`tokenFile` point (any read moves its access time, as the atime is set before
 * the mtime and the disk is mounted relatime), and an exec plugin would create a marker file.
 * Positive controls show that both trip when client-node is handed the same kubeconfig; then
 * the same secret goes through every entry point that reads a stored or given secret: `check`,
 * `audit`, `verify`, the webhook's admission, and its background audit.
 */
describe('canary: no entry point reads token files or runs exec plugins', () => {
  const fx = useCanary('remote-secret-canary-');

  function hostileKubeconfig(): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
      users: [
        {
          name: 'u',
          user: {
            'token-file': fx.tokenFile,
            exec: fx.execPlugin(),
          },
        },
        { name: 'spare', user: { tokenFile: fx.tokenFile } },
      ],
    });
  }

  function hostileSecret() {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'istio-remote-secret-canary',
        namespace: 'istio-system',
        creationTimestamp: '2025-01-01T00:00:00Z',
        labels: { 'istio/multiCluster': 'true' },
      },
      data: { canary: Buffer.from(hostileKubeconfig()).toString('base64') },
    };
  }

  function untouched(canary: Canary): void {
    expect(canary.accessed()).toBe(false);
    expect(existsSync(canary.marker)).toBe(false);
  }

  it('positive control: client-node reads the canary while loading and runs exec on first use', async () => {
    const config = new KubeConfig();
    config.loadFromString(hostileKubeconfig());
    expect(fx.accessed()).toBe(true);
    await config.applyToHTTPSOptions({});
    expect(existsSync(fx.marker)).toBe(true);
  });

  it('check: files and standard input', () => {
    const manifest = join(fx.dir, 'secret.json');
    writeFileSync(manifest, JSON.stringify(hostileSecret()));
    for (const output of ['text', 'json']) {
      const run = runPlugin(['check', manifest, '-o', output]);
      expect(run.status).toBe(1);
      expect(run.stdout).toContain('exec');
      expect(run.stdout).toContain('token-file');
    }
    const fromStdin = runPlugin(['check', '-'], { input: readFileSync(manifest, 'utf8') });
    expect(fromStdin.status).toBe(1);
    untouched(fx);
  });

  it('verify: refused before any client exists', () => {
    const manifest = join(fx.dir, 'secret.json');
    writeFileSync(manifest, JSON.stringify(hostileSecret()));
    const run = runPlugin(['verify', '-f', manifest, '-o', 'json']);
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/exec|token-file/);
    untouched(fx);
  });

  it('audit: the secret as an API server stores it', async () => {
    const api = await startFakeApiServer(fx.dir, [hostileSecret()]);
    try {
      const run = await runPluginAsync(['audit', '--kubeconfig', api.kubeconfigPath, '-o', 'json']);
      expect(run.status, run.stderr).toBe(1);
      expect(run.stdout).toContain('"code": "exec"');
      expect(run.stdout).toContain('"code": "token-file"');
    } finally {
      await api.close();
    }
    untouched(fx);
  });

  it.each([
    { entry: 'the webhook, admitting it', background: false },
    { entry: 'the webhook’s background audit, finding it stored', background: true },
  ])(
    '$entry',
    async ({ background }) => {
      const tls = writeTlsFixture();
      const api = await startFakeApiServer(fx.dir, background ? [hostileSecret()] : []);
      const webhook = await startWebhookProcess({
        kubeconfigPath: api.kubeconfigPath,
        tls,
        mode: 'enforce',
        localClusterId: 'primary',
        namespace: 'istio-system',
        // The stand-in API server serves Secrets only, no Leases: one process, no election.
        extraArgs: ['--no-events', ...(background ? ['--audit-interval', '1', '--no-leader-elect'] : [])],
      });
      try {
        if (background) {
          await eventually(() =>
            Promise.resolve(webhook.output().includes('stored remote secret is non-compliant')),
          );
          expect(webhook.output()).toContain('"codes":["ambiguous-yaml","exec","token-file"]');
        } else {
          const reply = await send(JSON.stringify(admissionReview({ object: hostileSecret() })), {
            port: webhook.port,
            ca: tls.ca.certificatePem,
          });
          expect(reply.status).toBe(200);
          const { response } = JSON.parse(reply.body) as {
            response: { allowed: boolean; status?: { message: string } };
          };
          expect(response.allowed).toBe(false);
          expect(response.status?.message).toContain('exec at users[0].user.exec');
        }
      } finally {
        await stopWebhookProcess(webhook);
        await api.close();
      }
      untouched(fx);
    },
    30_000,
  );
});
