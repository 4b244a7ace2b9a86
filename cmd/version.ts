import type { BuildInfo } from './build-info.ts';

/** `kubectl remote-secret version`: what is running, for bug reports and upgrade checks. */
export interface VersionReport {
  readonly version: string;
  readonly commit: string;
  /** The Node.js that runs the plugin: embedded in the single executable, or on the machine. */
  readonly node: string;
  /** os/arch, spelled as kubectl and krew spell them (linux/amd64, darwin/arm64). */
  readonly platform: string;
  /** True in the released single executable, false when run by a Node.js from a checkout. */
  readonly singleExecutable: boolean;
}

export interface Runtime {
  readonly nodeVersion: string;
  readonly platform: string;
  readonly arch: string;
  readonly singleExecutable: boolean;
}

// Node's names where Go's (and so kubectl's and krew's) differ.
const GO_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', ia32: '386' };
const GO_OS: Readonly<Record<string, string>> = { win32: 'windows' };

export function versionReport(build: BuildInfo, runtime: Runtime): VersionReport {
  return {
    version: build.version,
    commit: build.commit,
    node: runtime.nodeVersion,
    platform: `${GO_OS[runtime.platform] ?? runtime.platform}/${GO_ARCH[runtime.arch] ?? runtime.arch}`,
    singleExecutable: runtime.singleExecutable,
  };
}

/** One line, printed by `--version` too, so that the two always agree. */
export function versionLine(build: BuildInfo): string {
  return `kubectl remote-secret ${build.version} (commit ${build.commit})`;
}

export function renderVersion(report: VersionReport, output: 'text' | 'json'): string {
  if (output === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  return [
    versionLine(report),
    `node: ${report.node}${report.singleExecutable ? ' (single executable)' : ''}`,
    `platform: ${report.platform}`,
    '',
  ].join('\n');
}
