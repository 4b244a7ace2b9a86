import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { runPlugin } from '../cli.ts';
import { useCanary } from './canary-fixture.ts';

/**
 * The security invariant: an untrusted kubeconfig goes through our parser and sanitizer, and
 * never reaches code that reads its files or runs its programs. A canary file stands where
 * `token-file`/`tokenFile` point (any read moves its access time, as the atime is set before
 * the mtime and the disk is mounted relatime), and an exec plugin would create a marker file.
 * Positive controls show that both trip when client-node is handed the same kubeconfig.
 */
describe('canary: check never reads token files nor runs exec plugins', () => {
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

  function secretManifest(kubeconfig: string): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'istio-remote-secret-canary',
        namespace: 'istio-system',
        labels: { 'istio/multiCluster': 'true' },
      },
      data: { canary: Buffer.from(kubeconfig).toString('base64') },
    });
  }

  it('positive control: client-node reads the canary while loading and runs exec on first use', async () => {
    const config = new KubeConfig();
    config.loadFromString(hostileKubeconfig());
    expect(fx.accessed()).toBe(true);
    await config.applyToHTTPSOptions({});
    expect(existsSync(fx.marker)).toBe(true);
  });

  it('the whole check path rejects it and touches neither the canary nor the marker', () => {
    const manifest = join(fx.dir, 'secret.json');
    writeFileSync(manifest, secretManifest(hostileKubeconfig()));
    for (const output of ['text', 'json']) {
      const run = runPlugin(['check', manifest, '-o', output]);
      expect(run.status).toBe(1);
      expect(run.stdout).toContain('exec');
      expect(run.stdout).toContain('token-file');
    }
    const fromStdin = runPlugin(['check', '-'], { input: readFileSync(manifest, 'utf8') });
    expect(fromStdin.status).toBe(1);
    expect(fx.accessed()).toBe(false);
    expect(existsSync(fx.marker)).toBe(false);
  });
});
