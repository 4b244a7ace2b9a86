import { RemoteSecretError } from '../shared/errors.ts';

import { EXIT_FINDINGS, EXIT_USAGE } from '../shared/exit-status.ts';
import { parseNumber, type NumberRule } from '../shared/numbers.ts';
import { parseDuration } from '../shared/time/duration.ts';

export { EXIT_FINDINGS, EXIT_OK, EXIT_USAGE } from '../shared/exit-status.ts';

/** A mistake in how the command was called: reported in one line, exit status 2, no stack. */
export class UsageError extends RemoteSecretError {
  override readonly name = 'UsageError';
  declare readonly code: 'usage';

  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('usage', message, options);
  }
}

/**
 * Codes of errors about how the command was called or what it was pointed at (flags, the
 * operator's kubeconfig and context): exit status 2. Every other error of ours is 1.
 */
const USAGE_CODES: ReadonlySet<string> = new Set([
  'usage',
  'invalid-allow-list',
  'no-kubeconfig',
  'unreadable-kubeconfig',
  'unknown-context',
  'no-context',
  'unusable-server',
  'unreadable-ca-file',
  'no-ca',
]);

/** The exit status for one of our errors: 2 for a usage problem, else 1. */
export function exitStatusOf(error: RemoteSecretError): number {
  return USAGE_CODES.has(error.code) ? EXIT_USAGE : EXIT_FINDINGS;
}

/** A numeric flag, read from the text the user wrote; a usage error names the flag and the range. */
export function numberFlag(text: string, flag: string, rule: NumberRule): number {
  const parsed = parseNumber(text, flag, rule);
  if (!parsed.ok) throw new UsageError(parsed.message);
  return parsed.value;
}

/** A positive Go-style duration flag (`30s`, `2m`, `720h`), in milliseconds. */
export function durationFlag(text: string, flag: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    throw new UsageError(`${flag} "${text}" is not a positive duration; write it like 30s, 2m or 24h`);
  }
  return ms;
}

/** A repeatable string flag arrives as undefined, one string, or an array of them. */
export function toList(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : [...value];
}

/** A flag given as "" counts as not given. */
export function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

export function writeError(message: string): void {
  process.stderr.write(`error: ${message}\n`);
}

export function writeWarning(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}

/** An error that says what to check: printed as `error: ...` and, when it has one, `hint: ...`. */
export function writeErrorWithHint(error: {
  readonly message: string;
  readonly hint?: string | undefined;
}): void {
  writeError(error.hint === undefined ? error.message : `${error.message}\nhint: ${error.hint}`);
}
