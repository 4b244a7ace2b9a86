/** Why the local control plane could not be built or run. */
export type HarnessErrorCode =
  | 'GO_MISSING'
  | 'GO_TOO_OLD'
  | 'BUILD_FAILED'
  | 'BINARY_MISSING'
  | 'CLUSTER_START_FAILED'
  | 'CLUSTER_NOT_KEPT'
  | 'COMPONENT_NOT_FOUND';

export class HarnessError extends Error {
  override readonly name = 'HarnessError';
  readonly code: HarnessErrorCode;

  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The codes that mean "this machine has no usable Go", as opposed to a broken build. */
export function isMissingToolchain(error: unknown): error is HarnessError {
  return error instanceof HarnessError && (error.code === 'GO_MISSING' || error.code === 'GO_TOO_OLD');
}
