import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { auditLine } from '../shared/audit/testdata/audit-log.ts';
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
      '--audit-log',
      '--no-events',
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

describe('kubectl remote-secret audit --rejections --audit-log', () => {
  const log = join(dir, 'audit.log');
  const rotated = join(dir, 'audit-2026-12-01T00-00-00.000.log.gz');
  writeFileSync(
    log,
    [
      auditLine({ verdict: 'rejected', auditId: 'a-1', requestUid: 'r-1', user: 'alice@example.com' }),
      auditLine({ auditId: 'a-2' }),
      auditLine({
        verdict: 'warned',
        verb: 'patch',
        auditId: 'a-3',
        user: 'bob',
        time: '2026-12-01T11:00:00Z',
      }),
      '',
    ].join('\n'),
  );
  // The same refusal in a rotated, compressed file too: it is listed once.
  writeFileSync(
    rotated,
    gzipSync(
      `${auditLine({ verdict: 'rejected', auditId: 'a-1', requestUid: 'r-1' })}\n${auditLine({ verdict: 'rejected', auditId: 'a-4', namespace: 'other', name: 'x' })}\n`,
    ),
  );

  it('lists refusals and warnings from plain and gzipped logs, once each, without a cluster (--no-events)', () => {
    const run = runPlugin(
      [
        'audit',
        '--rejections',
        '--no-events',
        '--audit-log',
        log,
        '--audit-log',
        rotated,
        '-n',
        'istio-system',
        '-o',
        'json',
      ],
      { env },
    );
    expect(run.status, run.stderr).toBe(0);
    const document = JSON.parse(run.stdout) as {
      rejections: { user: string; operation: string; verdict: string; source: string }[];
    };
    expect(
      document.rejections.map(({ user, operation, verdict, source }) => [user, operation, verdict, source]),
    ).toEqual([
      ['bob', 'UPDATE', 'warned', 'audit-log'],
      ['alice@example.com', 'CREATE', 'rejected', 'audit-log'],
    ]);
  });

  it('reads - from standard input, and says in the table what was only a warning', () => {
    const run = runPlugin(['audit', '--rejections', '--no-events', '--audit-log', '-'], {
      env,
      input: `${auditLine({ verdict: 'warned', verb: 'update', user: 'bob' })}\n`,
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('UPDATE (warned)');
    expect(run.stdout).toContain('bob');
  });

  it.each([
    { args: ['--audit-log', log], stderr: 'error: --audit-log goes with --rejections' },
    {
      args: ['--rejections', '--no-events'],
      stderr: 'error: --no-events leaves nothing to read: give --audit-log FILE',
    },
    {
      args: ['--rejections', '--no-events', '--audit-log', join(dir, 'missing.log')],
      stderr: `error: --audit-log ${join(dir, 'missing.log')}: cannot read it (ENOENT)`,
    },
  ])('exits 2: $args', ({ args, stderr }) => {
    const run = runPlugin(['audit', ...args], { env });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(stderr);
    expect(run.stdout).toBe('');
  });
});
