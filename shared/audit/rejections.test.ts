import { describe, expect, it } from 'vitest';
import { readRejection, REJECTED_REASON, selectRejections, type Rejection } from './rejections.ts';

function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    metadata: { name: 'e1', namespace: 'istio-system', annotations: {} },
    involvedObject: { kind: 'Secret', namespace: 'istio-system', name: 'istio-remote-secret-east' },
    reason: REJECTED_REASON,
    message:
      'UPDATE by bob rejected: 2 violations: exec at east: users[0].user.exec; local-cluster-id at west: data.west',
    lastTimestamp: '2026-06-01T10:00:00Z',
    count: 2,
    ...overrides,
  };
}

describe('readRejection', () => {
  it.each([
    { name: 'not an object', input: 'text' },
    { name: 'another reason', input: event({ reason: 'RemoteSecretAdmittedWithViolations' }) },
    { name: 'null', input: null },
  ])('ignores $name', ({ input }) => {
    expect(readRejection(input)).toBeUndefined();
  });

  it('reads the message when there are no annotations', () => {
    expect(readRejection(event())).toEqual({
      time: '2026-06-01T10:00:00.000Z',
      user: 'bob',
      operation: 'UPDATE',
      secret: 'istio-system/istio-remote-secret-east',
      clusters: ['east', 'west'],
      codes: ['exec', 'local-cluster-id'],
      violations: [
        { code: 'exec', cluster: 'east', path: 'users[0].user.exec' },
        { code: 'local-cluster-id', cluster: 'west', path: 'data.west' },
      ],
      count: 2,
      verdict: 'rejected',
      source: 'event',
    } satisfies Rejection);
  });

  it.each([
    {
      name: 'lastTimestamp',
      fields: { lastTimestamp: '2026-06-01T10:00:00Z' },
      time: '2026-06-01T10:00:00.000Z',
    },
    {
      name: 'eventTime when there is no lastTimestamp',
      fields: { lastTimestamp: null, eventTime: '2026-06-02T00:00:00.5Z' },
      time: '2026-06-02T00:00:00.500Z',
    },
    {
      name: 'a Date, as client-node returns it',
      fields: { lastTimestamp: new Date(0) },
      time: '1970-01-01T00:00:00.000Z',
    },
    { name: 'nothing', fields: { lastTimestamp: 'yesterday' }, time: '' },
  ])('takes its time from $name', ({ fields, time }) => {
    expect(readRejection(event(fields))?.time).toBe(time);
  });

  it('ignores malformed annotations and falls back to the message', () => {
    const read = readRejection(
      event({
        metadata: {
          annotations: { 'remote-secret-webhook/violations': '{not json', 'remote-secret-webhook/user': 7 },
        },
      }),
    );
    expect(read?.user).toBe('bob');
    expect(read?.codes).toEqual(['exec', 'local-cluster-id']);
  });
});

describe('selectRejections', () => {
  const at = (time: string, secret = 's'): Rejection => ({
    time,
    user: 'u',
    operation: 'CREATE',
    secret,
    clusters: [],
    codes: [],
    violations: [],
    count: 1,
    verdict: 'rejected',
    source: 'event',
  });

  it('sorts newest first with undated ones last, and applies --since', () => {
    const list = [
      at('2026-06-01T00:00:00.000Z'),
      at(''),
      at('2026-06-03T00:00:00.000Z'),
      at('2026-06-02T00:00:00.000Z'),
    ];
    expect(selectRejections(list, undefined).map((r) => r.time)).toEqual([
      '2026-06-03T00:00:00.000Z',
      '2026-06-02T00:00:00.000Z',
      '2026-06-01T00:00:00.000Z',
      '',
    ]);
    expect(selectRejections(list, new Date('2026-06-02T00:00:00Z')).map((r) => r.time)).toEqual([
      '2026-06-03T00:00:00.000Z',
      '2026-06-02T00:00:00.000Z',
    ]);
  });
});
