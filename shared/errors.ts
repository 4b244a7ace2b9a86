/** What an error of ours may carry besides its message. */
export interface ErrorDetails {
  /** What to do about it, in a line. */
  readonly hint?: string | undefined;
  readonly cause?: unknown;
}

/**
 * The base class of every error this project throws on purpose, as jose's `JOSEError`: a stable
 * `code` to switch on, a `hint` that says what to do (when there is one), and the `cause`.
 * Callers test `instanceof RemoteSecretError` once and then switch on `code`; they never match
 * messages, subclasses one by one, or HTTP status numbers. Subclasses narrow `code` to their
 * own string-literal union.
 */
export class RemoteSecretError extends Error {
  override readonly name: string = 'RemoteSecretError';
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(message, 'cause' in details ? { cause: details.cause } : undefined);
    this.code = code;
    this.hint = details.hint;
  }
}

/** The `code` of one of our errors, or undefined for anything else (a bug, a foreign error). */
export function errorCode(error: unknown): string | undefined {
  return error instanceof RemoteSecretError ? error.code : undefined;
}
