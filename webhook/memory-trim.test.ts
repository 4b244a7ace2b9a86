import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectionMemoryTrimmer, loadMallocTrim } from './memory-trim.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('ConnectionMemoryTrimmer', () => {
  function setup() {
    vi.useFakeTimers();
    const trims: number[] = [];
    const start = Date.now();
    const trimmer = new ConnectionMemoryTrimmer(() => trims.push(Date.now() - start), {
      minClosed: 3,
      quietMs: 1000,
      maxDelayMs: 5000,
      rss: () => 1,
    });
    const open = (count: number) => {
      for (let index = 0; index < count; index += 1) trimmer.onConnections(1);
    };
    const close = (count: number) => {
      for (let index = 0; index < count; index += 1) trimmer.onConnections(-1);
    };
    return { trims, open, close };
  }

  it('trims once after a burst has closed and a quiet period passed', () => {
    const { trims, open, close } = setup();
    open(5);
    close(4);
    vi.advanceTimersByTime(999);
    expect(trims).toHaveLength(0);
    // Another close restarts the quiet period.
    close(1);
    vi.advanceTimersByTime(999);
    expect(trims).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(trims).toHaveLength(1);
    vi.advanceTimersByTime(10_000);
    expect(trims).toHaveLength(1);
  });

  it('trims by the deadline when connections keep closing', () => {
    const { trims, open, close } = setup();
    open(5);
    close(4);
    // One connection opened and closed every half second, for ever.
    for (let step = 0; step < 12; step += 1) {
      vi.advanceTimersByTime(500);
      open(1);
      close(1);
    }
    expect(trims).toEqual([5000]);
  });

  it('does not trim for the few connections a quiet webhook opens and closes', () => {
    const { trims, open, close } = setup();
    for (let round = 0; round < 20; round += 1) {
      open(2);
      close(2);
    }
    vi.advanceTimersByTime(5000);
    expect(trims).toHaveLength(0);
  });

  it('counts the next burst from what stayed open after a trim', () => {
    const { trims, open, close } = setup();
    open(10);
    close(8);
    vi.advanceTimersByTime(1000);
    open(1);
    close(2);
    vi.advanceTimersByTime(1000);
    expect(trims).toHaveLength(1);
    open(4);
    close(4);
    vi.advanceTimersByTime(1000);
    expect(trims).toHaveLength(2);
  });
});

describe.runIf(process.platform === 'linux')('loadMallocTrim', () => {
  it('gives glibc’s malloc_trim, which runs, without a warning on stderr', async () => {
    const warnings: unknown[] = [];
    const listener = (warning: unknown) => warnings.push(warning);
    process.on('warning', listener);
    try {
      const trim = await loadMallocTrim();
      expect(trim).toBeTypeOf('function');
      trim?.();
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', listener);
    }
  });
});
