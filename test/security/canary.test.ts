import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runPlugin } from '../cli.ts';

/**
 * The security invariant: an untrusted kubeconfig goes through our parser and sanitizer, and
 * never reaches code that reads its files or runs its programs. A canary file stands where
 * `token-file`/`tokenFile` point (any read moves its access time, as the atime is set before
 * the mtime and the disk is mounted relatime), and an exec plugin would create a marker file.
 * Positive controls show that both trip when client-node is handed the same kubeconfig.
 */
describe('canary: check never reads token files nor runs exec plugins', () => {
  let dir: string;
  let canary: string;
  let marker: string;
  const OLD = new Date('2001-01-01T00:00:00Z');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'remote-secret-canary-'));
    canary = join(dir, 'canary-token');
    marker = join(dir, 'exec-ran');
    writeFileSync(canary, 'canary-token-value\n');
    utimesSync(canary, OLD, new Date());
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const accessed = () => statSync(canary).atimeMs !== OLD.getTime();

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
            'token-file': canary,
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1',
              command: '/bin/sh',
              args: [
                '-c',
                `touch '${marker}'; echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"x"}}'`,
              ],
              interactiveMode: 'Never',
            },
          },
        },
        { name: 'spare', user: { tokenFile: canary } },
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
    expect(accessed()).toBe(true);
    await config.applyToHTTPSOptions({});
    expect(existsSync(marker)).toBe(true);
  });

  it('the whole check path rejects it and touches neither the canary nor the marker', () => {
    const manifest = join(dir, 'secret.json');
    writeFileSync(manifest, secretManifest(hostileKubeconfig()));
    for (const output of ['text', 'json']) {
      const run = runPlugin(['check', manifest, '-o', output]);
      expect(run.status).toBe(1);
      expect(run.stdout).toContain('exec');
      expect(run.stdout).toContain('token-file');
    }
    const fromStdin = runPlugin(['check', '-'], { input: readFileSync(manifest, 'utf8') });
    expect(fromStdin.status).toBe(1);
    expect(accessed()).toBe(false);
    expect(existsSync(marker)).toBe(false);
  });
});
