import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runPlugin } from '../test/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'audit-cli-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A primary whose server nothing answers on (port 9, discard): listing fails fast. */
const KUBECONFIG = join(dir, 'primary.kubeconfig');
writeFileSync(
  KUBECONFIG,
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'west', cluster: { server: 'https://127.0.0.1:9' } }],
    users: [{ name: 'west', user: { token: 't' } }],
    contexts: [{ name: 'west', context: { cluster: 'west', user: 'west' } }],
    'current-context': 'west',
  }),
);
const env = { KUBECONFIG: '', HOME: dir };

describe('kubectl remote-secret audit', () => {
  it('--help lists every flag and the exit statuses', () => {
    const run = runPlugin(['audit', '--help'], { env });
    expect(run.status).toBe(0);
    for (const flag of [
      '--kubeconfig',
      '--context',
      '--namespace',
      '--all-namespaces',
      '--local-cluster-id',
      '--allow',
      '--output',
      '--strict',
      '--expiring-within',
      '--limit',
      '--request-timeout',
      '--rejections',
      '--since',
    ]) {
      expect(run.stdout).toContain(flag);
    }
    expect(run.stdout).toContain('Exit status: 0 no violations');
  });

  it.each([
    { args: ['--since', '24h'], stderr: 'error: --since goes with --rejections' },
    {
      args: ['--rejections', '--since', 'yesterday'],
      stderr: '--since "yesterday" is not a positive duration',
    },
    { args: ['--limit', '0'], stderr: '--limit 0 is out of range; use a whole number from 1 to 10000' },
    { args: ['--limit', 'lots'], stderr: '--limit "lots" is not a whole number' },
    { args: ['--expiring-within', '-1h'], stderr: '--expiring-within "-1h" is not a positive duration' },
    { args: ['-o', 'xml'], stderr: 'Invalid values' },
    { args: ['--context', 'east'], stderr: `error: context "east" is not in ${KUBECONFIG}` },
    {
      args: ['--request-timeout', '2s'],
      stderr: 'error: cannot reach the API server at https://127.0.0.1:9',
    },
  ])('exits 2: $args', ({ args, stderr }) => {
    const run = runPlugin(['audit', '--kubeconfig', KUBECONFIG, ...args], { env });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(stderr);
    expect(run.stdout).toBe('');
  });
});
