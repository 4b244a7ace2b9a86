import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { auditLine } from '../shared/audit/testdata/audit-log.ts';
import { runAudit, type AuditCommandOptions } from './audit.ts';

const dir = mkdtempSync(join(tmpdir(), 'audit-progress-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

// Several read chunks' worth of lines that say nothing about the webhook, and one refusal.
// Random names, so that even gzipped it is several chunks long.
const filler = Array.from(
  { length: 20_000 },
  () =>
    `{"kind":"Event","verb":"get","requestURI":"/api/v1/namespaces/default/pods/${randomBytes(24).toString('hex')}"}\n`,
).join('');
const content = `${filler}${auditLine({ verdict: 'rejected', auditId: 'a-1' })}\n`;

function options(auditLogs: string[]): AuditCommandOptions {
  return {
    kubeconfig: undefined,
    context: undefined,
    scope: { namespace: 'istio-system' },
    localClusterId: undefined,
    allow: new Set(),
    output: 'json',
    strict: false,
    pageSize: 500,
    expiringWithinMs: 0,
    requestTimeoutMs: 5000,
    timeoutMs: 30_000,
    rejections: { since: undefined, auditLogs, events: false },
  };
}

/** Run `audit --rejections --no-events` with a terminal for progress and a clock that moves 1 s a call. */
async function progressOf(path: string): Promise<string[]> {
  let clock = 0;
  vi.spyOn(Date, 'now').mockImplementation(() => (clock += 1000));
  const progress = new PassThrough();
  const written: string[] = [];
  progress.on('data', (chunk: Buffer) => written.push(chunk.toString()));
  const stdout = new PassThrough();
  stdout.resume();
  const status = await runAudit(options([path]), {
    stdout,
    progress,
    env: { kubeconfig: '', home: dir },
    now: () => new Date('2026-12-03T00:00:00Z'),
  });
  expect(status).toBe(0);
  return written;
}

function shares(lines: string[]): number[] {
  return lines.flatMap((line) => [...line.matchAll(/\((\d+)%\)/g)].map((match) => Number(match[1])));
}

describe('audit --audit-log progress on a terminal', () => {
  it.each([
    ['a plain log', 'audit.log', content],
    ['a gzipped log', 'audit.log.gz', gzipSync(content)],
  ])(
    'counts every byte of %s once: the share rises to 100%% and no further, then the line is cleared',
    async (_, name, body) => {
      const path = join(dir, name);
      writeFileSync(path, body);
      expect(statSync(path).size).toBeGreaterThan(0);
      const written = await progressOf(path);
      const seen = shares(written);
      expect(seen.length).toBeGreaterThan(1);
      expect(seen.at(-1)).toBe(100);
      expect(Math.max(...seen)).toBe(100);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(written[0]).toMatch(
        new RegExp(`^\\r\\u001b\\[Kreading ${path.replaceAll('.', '\\.')}: \\d+ MiB \\(\\d+%\\)$`),
      );
      expect(written.at(-1)).toBe('\r\u001b[K');
    },
  );
});
