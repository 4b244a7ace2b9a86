import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeClient } from './client.ts';

const dir = mkdtempSync(join(tmpdir(), 'kube-client-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The operator's own kubeconfig, logging in through `command`; port 1 of loopback is never dialed. */
function clientWithExec(command: string): KubeClient {
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
    users: [
      {
        name: 'sso',
        exec: { apiVersion: 'client.authentication.k8s.io/v1', command, interactiveMode: 'Never' },
      },
    ],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'sso' }],
    currentContext: 'ctx',
  });
  return new KubeClient(k8s, kubeConfig, { requestTimeoutMs: 5000 });
}

const list = (client: KubeClient) =>
  client.call('list Namespaces', (options) => client.core.listNamespace({}, options));

describe('KubeClient login (the operator exec credential plugin)', () => {
  it('reports a missing program as kubectl does, not as a network error', async () => {
    const missing = join(dir, 'no-such-login');
    await expect(list(clientWithExec(missing))).rejects.toMatchObject({
      code: 'credential-plugin',
      message: `exec: executable ${missing} not found`,
      hint: expect.stringContaining('client-go credential plugin that is not installed'),
    });
  });

  it('runs the program once for calls made in parallel, not once each', async () => {
    const runs = join(dir, 'runs');
    writeFileSync(runs, '');
    const plugin = join(dir, 'login.sh');
    writeFileSync(
      plugin,
      `#!/bin/sh\necho run >> '${runs}'\nsleep 0.2\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t"}}'\n`,
    );
    chmodSync(plugin, 0o755);
    const client = clientWithExec(plugin);
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => list(client)));
    // Each call got as far as the network (port 1 is refused by fetch): the login worked.
    expect(results.map((result) => result.status)).toEqual(Array(6).fill('rejected'));
    expect(results[0]).toMatchObject({ reason: { code: 'unreachable' } });
    expect(
      readFileSync(runs, 'utf8')
        .split('\n')
        .filter((line) => line !== ''),
    ).toHaveLength(1);
  });

  it('names a program that fails with its first line', async () => {
    const plugin = join(dir, 'failing.sh');
    writeFileSync(plugin, '#!/bin/sh\necho "error: the SSO session has expired" >&2\nexit 1\n');
    chmodSync(plugin, 0o755);
    await expect(list(clientWithExec(plugin))).rejects.toMatchObject({
      code: 'credential-plugin',
      message: `getting credentials: exec: ${plugin} failed: error: the SSO session has expired`,
    });
  });
});
