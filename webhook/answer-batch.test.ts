import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { AnswerBatch } from './answer-batch.ts';

/** What the batch touches of a ServerResponse, recording what was written. */
function response(written: string[], state: { destroyed?: boolean } = {}) {
  const res = {
    statusCode: 0,
    headers: new Map<string, string>(),
    headersSent: false,
    writableEnded: false,
    get destroyed() {
      return state.destroyed ?? false;
    },
    setHeader(name: string, value: string) {
      this.headers.set(name, value);
    },
    end(body: string) {
      this.headersSent = true;
      this.writableEnded = true;
      written.push(body);
    },
  };
  return res;
}
const asResponse = (res: ReturnType<typeof response>) => res as unknown as ServerResponse;

describe('AnswerBatch', () => {
  it('writes the answers of one turn together, in order, after the turn', () => {
    const flushes: (() => void)[] = [];
    const batch = new AnswerBatch((flush) => flushes.push(flush));
    const written: string[] = [];
    const [a, b] = [response(written), response(written)];
    batch.send(asResponse(a), 200, '{"a":1}');
    batch.send(asResponse(b), 200, '{"b":2}');
    // One flush scheduled for both; nothing written yet, but both count as answered.
    expect(flushes).toHaveLength(1);
    expect(written).toEqual([]);
    expect([batch.answered(asResponse(a)), batch.queued(asResponse(b)), batch.size]).toEqual([true, true, 2]);
    expect([a.statusCode, a.headers.get('Content-Type')]).toEqual([200, 'application/json']);
    flushes[0]?.();
    expect(written).toEqual(['{"a":1}', '{"b":2}']);
    expect([batch.queued(asResponse(a)), batch.answered(asResponse(a)), batch.size]).toEqual([
      false,
      true,
      0,
    ]);
    // The next turn schedules its own flush.
    batch.send(asResponse(response(written)), 200, '{"c":3}');
    expect(flushes).toHaveLength(2);
  });

  it('drops the answer to a caller that went away, and one answered meanwhile', () => {
    const flushes: (() => void)[] = [];
    const batch = new AnswerBatch((flush) => flushes.push(flush));
    const written: string[] = [];
    const state = { destroyed: false };
    const gone = response(written, state);
    const refused = response(written);
    batch.send(asResponse(gone), 200, '{"gone":true}');
    batch.send(asResponse(refused), 200, '{"late":true}');
    state.destroyed = true;
    refused.end('{"error":"internal"}');
    flushes[0]?.();
    expect(written).toEqual(['{"error":"internal"}']);
  });

  it('answers on the real event loop after the callbacks of the turn', async () => {
    const batch = new AnswerBatch();
    const order: string[] = [];
    const res = response(order);
    batch.send(asResponse(res), 200, 'answer');
    order.push('rest of the turn');
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['rest of the turn', 'answer']);
  });
});
