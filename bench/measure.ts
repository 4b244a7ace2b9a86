import { readFileSync } from 'node:fs';

/** Operations per second of `fn`, after a warm-up, over about `seconds`. */
export function opsPerSecond(fn: () => unknown, seconds = 2): number {
  const warmUpUntil = performance.now() + 300;
  while (performance.now() < warmUpUntil) fn();
  let operations = 0;
  const start = performance.now();
  const until = start + seconds * 1000;
  let now = start;
  while (now < until) {
    for (let i = 0; i < 100; i += 1) fn();
    operations += 100;
    now = performance.now();
  }
  return operations / ((now - start) / 1000);
}

export function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
}

/** The machine's CPU time so far, per state, from Linux's /proc/stat; undefined elsewhere. */
export function cpuTimes(): readonly number[] | undefined {
  try {
    const [line] = readFileSync('/proc/stat', 'utf8').split('\n', 1);
    return line?.startsWith('cpu ') === true ? line.trim().split(/\s+/).slice(1).map(Number) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The share of the machine's CPU time between two `cpuTimes` that the hypervisor gave to other
 * guests while ours waited (Linux's `steal`): what makes a VM's latency noisy.
 */
export function stealShare(
  before: readonly number[] | undefined,
  after: readonly number[] | undefined,
): number | undefined {
  if (before === undefined || after === undefined) return undefined;
  const total = after.reduce((sum, value, index) => sum + value - (before[index] ?? 0), 0);
  const STEAL = 7; // user nice system idle iowait irq softirq steal ...
  return total > 0 ? ((after[STEAL] ?? 0) - (before[STEAL] ?? 0)) / total : undefined;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

export function verdict(ok: boolean): string {
  return ok ? 'meets the target' : 'MISSES the target';
}
