/** Exit statuses shared by every command, as kubectl plugins use them. */
export const EXIT_OK = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_USAGE = 2;

/** A mistake in how the command was called: reported in one line, exit status 2, no stack. */
export class UsageError extends Error {
  readonly code = 'usage';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UsageError';
  }
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
