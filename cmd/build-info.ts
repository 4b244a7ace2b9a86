// Replaced by the bundler (scripts/bundle.ts, esbuild `define`) with string literals; undeclared
// when the sources run unbundled (tsx, vitest), where both read "unknown".
declare const KUBECTL_REMOTE_SECRET_VERSION: string | undefined;
declare const KUBECTL_REMOTE_SECRET_COMMIT: string | undefined;

/** What the build baked into the plugin: package.json's version and the git commit it came from. */
export interface BuildInfo {
  readonly version: string;
  /** `git rev-parse --short HEAD`, with `-dirty` when tracked files had changes; or "unknown". */
  readonly commit: string;
}

export function buildInfo(): BuildInfo {
  return {
    version: typeof KUBECTL_REMOTE_SECRET_VERSION === 'string' ? KUBECTL_REMOTE_SECRET_VERSION : 'unknown',
    commit: typeof KUBECTL_REMOTE_SECRET_COMMIT === 'string' ? KUBECTL_REMOTE_SECRET_COMMIT : 'unknown',
  };
}
