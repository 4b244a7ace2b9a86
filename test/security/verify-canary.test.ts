import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPlugin } from '../cli.ts';
import { useCanary } from './canary-fixture.ts';

/**
 * verify builds a client from each secret's kubeconfig, so it is where an untrusted kubeconfig
 * comes closest to client-node. It must sanitize first and never hand client-node the original:
 * a canary file where `token-file`/`tokenFile` point must not be read, an exec plugin must not
 * run. (canary.test.ts shows that client-node itself would do both.)
 */
describe('canary: verify never reads token files nor runs exec plugins', () => {
  const fx = useCanary('remote-secret-verify-canary-');

  function secret(user: Record<string, unknown>, extraUsers: object[] = []): string {
    const kubeconfig = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:9' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
      users: [{ name: 'u', user }, ...extraUsers],
    });
    const file = join(fx.dir, 'secret.json');
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: 'istio-remote-secret-canary',
          namespace: 'istio-system',
          labels: { 'istio/multiCluster': 'true' },
        },
        data: { canary: Buffer.from(kubeconfig).toString('base64') },
      }),
    );
    return file;
  }

  const exec = () => fx.execPlugin();

  it.each([
    {
      name: 'exec and token-file on the current user',
      user: () => ({ 'token-file': fx.tokenFile, exec: exec() }),
      extra: () => [],
    },
    { name: 'tokenFile on the current user', user: () => ({ tokenFile: fx.tokenFile }), extra: () => [] },
    {
      name: 'exec on another user only',
      user: () => ({ token: 'x' }),
      extra: () => [{ name: 'spare', user: { exec: exec() } }],
    },
  ])('$name: refused before any client exists', ({ user, extra }) => {
    for (const output of ['table', 'json']) {
      const run = runPlugin(['verify', '-f', secret(user(), extra()), '-o', output]);
      expect(run.status).toBe(1);
      expect(run.stdout).toMatch(/exec|token-file/);
      expect(run.stdout).not.toContain('canary-token-value');
    }
    expect(fx.accessed()).toBe(false);
    expect(existsSync(fx.marker)).toBe(false);
  });
});
