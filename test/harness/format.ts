/** "3.1s" under a minute, "4m23s" above: how build and start times are reported. */
export function formatDuration(milliseconds: number): string {
  const seconds = milliseconds / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}

/** Keeps the last `limit` characters written to it: enough context for an error message. */
export class TailBuffer {
  private text = '';

  constructor(private readonly limit: number) {}

  push(chunk: string): void {
    this.text = (this.text + chunk).slice(-this.limit);
  }

  lines(count: number): string {
    return this.text.trimEnd().split('\n').slice(-count).join('\n');
  }
}
