/**
 * Durations as Go's `time.ParseDuration` writes them (`30s`, `1h30m`, `720h`, `1.5h`), because
 * kubectl, istioctl and the Kubernetes docs all use that form and users copy it between them.
 */
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Milliseconds, or undefined when `text` is not a Go duration. Negative durations are refused. */
export function parseDuration(text: string): number | undefined {
  const value = text.trim();
  if (value === '0') return 0;
  if (value === '' || value.startsWith('-')) return undefined;
  const body = value.startsWith('+') ? value.slice(1) : value;
  PART.lastIndex = 0;
  let total = 0;
  let matched = 0;
  while (PART.lastIndex < body.length) {
    const match = PART.exec(body);
    if (match === null) return undefined;
    const [, number = '', unit = ''] = match;
    total += Number(number) * (UNIT_MS[unit] ?? Number.NaN);
    matched += 1;
  }
  return matched > 0 && Number.isFinite(total) ? total : undefined;
}

/** `1h30m`, `45s`, `720h`: the shortest Go-style spelling of whole seconds. */
export function formatDuration(milliseconds: number): string {
  let seconds = Math.round(milliseconds / 1000);
  if (seconds === 0) return milliseconds > 0 ? `${Math.round(milliseconds)}ms` : '0s';
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  return `${hours > 0 ? `${hours}h` : ''}${minutes > 0 ? `${minutes}m` : ''}${seconds > 0 ? `${seconds}s` : ''}`;
}
