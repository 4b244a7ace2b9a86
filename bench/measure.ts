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
