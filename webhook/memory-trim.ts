import { readFileSync } from 'node:fs';

/**
 * glibc's `malloc_trim(0)` through `node:ffi`, or undefined where it cannot be had (not Linux,
 * not glibc, Node's permission model without --allow-ffi). `node:ffi` is experimental in Node 26;
 * its warning about that is kept off stderr, where it would be the one line that is not JSON.
 */
export async function loadMallocTrim(): Promise<(() => void) | undefined> {
  if (process.platform !== 'linux') return undefined;
  const emitWarning = process.emitWarning.bind(process);
  process.emitWarning = (warning: string | Error, ...rest: unknown[]) => {
    const [options] = rest;
    const type = typeof options === 'string' ? options : (options as { type?: unknown } | undefined)?.type;
    if (type === 'ExperimentalWarning' && String(warning).includes('FFI')) return;
    (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
  };
  try {
    const ffi = await import('node:ffi');
    const { functions } = ffi.dlopen('libc.so.6', { malloc_trim: { arguments: ['u64'], return: 'i32' } });
    const trim = functions.malloc_trim as (pad: bigint) => number;
    return () => {
      trim(0n);
    };
  } catch {
    return undefined;
  } finally {
    process.emitWarning = emitWarning;
  }
}

export interface TrimmerOptions {
  /** Trims once at least this many connections closed since the most that were open. */
  readonly minClosed: number;
  /** ...and none closed for this long (the burst is over), ... */
  readonly quietMs: number;
  /** ...or this long has passed since the burst's first close (connections keep closing). */
  readonly maxDelayMs: number;
  /** Called after each trim, with the process's RSS before and after (bytes). */
  readonly onTrim?: (result: {
    readonly rssBefore: number;
    readonly rssAfter: number;
    readonly open: number;
  }) => void;
  readonly rss?: () => number;
}

/** The trimmer's defaults: after a burst of 64 closed connections, once 1 s passed without one (10 s at most). */
export const TRIM_AFTER_CLOSED = 64;
export const TRIM_QUIET_MS = 1000;
export const TRIM_MAX_DELAY_MS = 10_000;

/**
 * Gives the memory of a burst of TLS connections back to the system once the burst is over.
 * Each connection's OpenSSL and socket state (100-200 KB) is malloc'd on the main thread; when
 * the connections close, glibc keeps the freed memory (fragmented small chunks, which its own
 * trimming of the heap's top cannot return), so RSS stayed at the level of the most connections
 * open at once. `malloc_trim(0)` returns the free pages; it runs only after a burst (most
 * connections of a quiet webhook are the API server's few keep-alive ones) and at most once a
 * quiet period.
 */
export class ConnectionMemoryTrimmer {
  private open = 0;
  private peak = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When the trim is due at the latest, once a burst has closed. */
  private deadline: number | undefined;

  constructor(
    private readonly trim: () => void,
    private readonly options: TrimmerOptions,
  ) {}

  /** Count a connection opened (+1) or closed (-1). */
  onConnections(delta: 1 | -1): void {
    this.open = Math.max(0, this.open + delta);
    this.peak = Math.max(this.peak, this.open);
    if (delta > 0 || this.peak - this.open < this.options.minClosed) return;
    const now = Date.now();
    this.deadline ??= now + this.options.maxDelayMs;
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.fire();
      },
      Math.max(0, Math.min(this.options.quietMs, this.deadline - now)),
    );
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private fire(): void {
    this.timer = undefined;
    this.deadline = undefined;
    const rss = this.options.rss ?? residentSetSize;
    const rssBefore = rss();
    this.trim();
    this.peak = this.open;
    this.options.onTrim?.({ rssBefore, rssAfter: rss(), open: this.open });
  }
}

/** VmRSS from /proc (what a memory limit counts), or Node's own figure elsewhere. */
function residentSetSize(): number {
  try {
    const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kib !== undefined) return Number(kib) * 1024;
  } catch {
    // Not Linux: Node's own figure.
  }
  return process.memoryUsage.rss();
}
