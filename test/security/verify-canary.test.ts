import { existsSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runPlugin } from '../cli.ts';

/**
 * verify builds a client from each secret's kubeconfig, so it is where an untrusted kubeconfig
 * comes closest to client-node. It must sanitize first and never hand client-node the original:
 * a canary file where `token-file`/`tokenFile` point must not be read, an exec plugin must not
 * run. (canary.test.ts shows that client-node itself would do both.)
 */
describe('canary: verify never reads token files nor runs exec plugins', () => {
  let dir: string;
  let canary: string;
  let marker: string;
  const OLD = new Date('2001-01-01T00:00:00Z');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'remote-secret-verify-canary-'));
    canary = join(dir, 'canary-token');
    marker = join(dir, 'exec-ran');
    writeFileSync(canary, 'canary-token-value\n');
    utimesSync(canary, OLD, new Date());
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const accessed = () => statSync(canary).atimeMs !== OLD.getTime();

  function secret(user: Record<string, unknown>, extraUsers: object[] = []): string {
    const kubeconfig = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:9' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
      users: [{ name: 'u', user }, ...extraUsers],
    });
    const file = join(dir, 'secret.json');
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

  const exec = () => ({
    apiVersion: 'client.authentication.k8s.io/v1',
    command: '/bin/sh',
    args: [
      '-c',
      `touch '${marker}'; echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"x"}}'`,
    ],
    interactiveMode: 'Never',
  });

  it.each([
    {
      name: 'exec and token-file on the current user',
      user: () => ({ 'token-file': canary, exec: exec() }),
      extra: () => [],
    },
    { name: 'tokenFile on the current user', user: () => ({ tokenFile: canary }), extra: () => [] },
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
    expect(accessed()).toBe(false);
    expect(existsSync(marker)).toBe(false);
  });
});
