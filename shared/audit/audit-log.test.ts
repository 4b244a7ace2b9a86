import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MAX_LINE_BYTES, mergeRejections, readAuditLog, readAuditLogLine } from './audit-log.ts';
import type { Rejection } from './rejections.ts';
import { auditLine } from './testdata/audit-log.ts';

describe('readAuditLogLine', () => {
  it('reads a refusal: who, what, which secret, clusters, codes and where, and the request uid', () => {
    expect(
      readAuditLogLine(auditLine({ verdict: 'rejected', requestUid: 'r-1', codes: ['exec', 'token-file'] })),
    ).toEqual({
      time: '2026-12-01T10:00:00.000Z',
      user: 'alice@example.com',
      operation: 'CREATE',
      secret: 'istio-system/istio-remote-secret-east',
      clusters: ['east'],
      codes: ['exec', 'token-file'],
      violations: [
        { cluster: 'east', code: 'exec', path: 'users[0].user.exec' },
        { cluster: 'east', code: 'token-file', path: 'users[0].user.exec' },
      ],
      count: 1,
      verdict: 'rejected',
      source: 'audit-log',
      authenticated: true,
      requestUid: 'r-1',
      auditId: '4b5ad0e2-7f3e-4c4b-a0f4-0c6f6e9c1a01',
    } satisfies Rejection);
  });

  it.each([
    {
      why: 'warn mode',
      spec: { verdict: 'warned' as const, verb: 'patch' },
      verdict: 'warned',
      operation: 'UPDATE',
    },
    {
      why: 'audit mode',
      spec: { verdict: 'audited' as const, verb: 'update' },
      verdict: 'audited',
      operation: 'UPDATE',
    },
  ])('lists an admission with violations in $why', ({ spec, verdict, operation }) => {
    expect(readAuditLogLine(auditLine(spec))).toMatchObject({ verdict, operation });
  });

  it('names the impersonated user as well as the one who asked', () => {
    expect(
      readAuditLogLine(auditLine({ verdict: 'rejected', user: 'argocd', impersonated: 'bob' }))?.valueOf(),
    ).toMatchObject({
      user: 'argocd as bob',
    });
  });

  it.each([
    { why: 'a request the webhook did not decide', line: auditLine() },
    {
      why: 'the RequestReceived stage (no annotations yet)',
      line: auditLine({ verdict: 'rejected', stage: 'RequestReceived' }),
    },
    { why: 'another stage of a listed request', line: auditLine({ verdict: 'allowed' }) },
    { why: 'a line that is not JSON at all', line: 'I1202 10:00:00 something' },
  ])('skips $why', ({ line }) => {
    expect(readAuditLogLine(line)).toBeUndefined();
  });

  it('calls a line malformed that mentions our annotation but is not a JSON audit Event', () => {
    expect(readAuditLogLine('{"annotations": {"x/violation-codes": "exec"')).toBe('malformed');
    expect(readAuditLogLine('["x/violation-codes", 1]')).toBe('malformed');
  });
});

describe('readAuditLog', () => {
  it('streams lines, keeps each request once (by request uid, else audit ID), and counts malformed ones', async () => {
    const lines = [
      auditLine({ verdict: 'rejected', requestUid: 'r-1', auditId: 'a-1', stage: 'RequestReceived' }),
      auditLine({ verdict: 'rejected', requestUid: 'r-1', auditId: 'a-1' }),
      auditLine({ verdict: 'rejected', requestUid: 'r-1', auditId: 'a-1' }),
      auditLine({ verdict: 'warned', auditId: 'a-2' }),
      auditLine({ verdict: 'warned', auditId: 'a-2' }),
      auditLine({ auditId: 'a-3' }),
      '{"broken": "x/violation-codes"',
    ];
    const read = await readAuditLog(Readable.from([`${lines.join('\r\n')}\n`]));
    expect(read.lines).toBe(7);
    expect(read.malformed).toBe(1);
    expect(read.rejections.map((rejection) => [rejection.verdict, rejection.auditId])).toEqual([
      ['rejected', 'a-1'],
      ['warned', 'a-2'],
    ]);
  });
});

describe('readAuditLog, chunk by chunk', () => {
  const line = auditLine({ verdict: 'rejected', auditId: 'a-1' });

  it('reads a line split across chunks at every byte, and a last line without a newline', async () => {
    const text = `${auditLine({ auditId: 'x' })}\n${line}`;
    for (let cut = 1; cut < text.length; cut += 97) {
      const read = await readAuditLog(
        Readable.from([Buffer.from(text.slice(0, cut)), Buffer.from(text.slice(cut))]),
      );
      expect(read.lines).toBe(2);
      expect(read.rejections.map((rejection) => rejection.auditId)).toEqual(['a-1']);
    }
  });

  it('skips a line longer than MAX_LINE_BYTES as malformed, holding no more than that', async () => {
    const long = Buffer.alloc(MAX_LINE_BYTES + 10, 'x');
    const read = await readAuditLog(
      Readable.from([long.subarray(0, 1000), long.subarray(1000), Buffer.from(`\n${line}\n`)]),
    );
    expect(read.malformed).toBe(1);
    expect(read.lines).toBe(2);
    expect(read.rejections).toHaveLength(1);
  });
});

describe('mergeRejections', () => {
  it('drops an Event whose request the log holds, and keeps Events the log does not know', async () => {
    const fromLog = (
      await readAuditLog(Readable.from([auditLine({ verdict: 'rejected', requestUid: 'r-1' })]))
    ).rejections;
    const [logged] = fromLog;
    if (logged === undefined) throw new Error('the log line was not read');
    const { requestUid: _uid, auditId: _id, ...fields } = logged;
    const event = (requestUid?: string): Rejection => ({
      ...fields,
      source: 'event',
      count: 3,
      ...(requestUid === undefined ? {} : { requestUid }),
    });
    const merged = mergeRejections(fromLog, [event('r-1'), event('r-2'), event()]);
    expect(merged.map((rejection) => [rejection.source, rejection.requestUid])).toEqual([
      ['audit-log', 'r-1'],
      ['event', 'r-2'],
      ['event', undefined],
    ]);
  });
});
