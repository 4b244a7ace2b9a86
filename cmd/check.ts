import { decideRemoteSecrets, type ClusterDecision } from '../shared/remote-secret/decide.ts';
import type { ManifestError, SkippedObject } from '../shared/remote-secret/manifests.ts';
import { EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, writeError, writeWarning } from './cli-io.ts';
import { parseAllowList } from './allow.ts';
import { readManifestInputs } from './inputs.ts';
import { renderCheckJson, renderCheckText } from './render-check.ts';

export interface CheckOptions {
  readonly files: readonly string[];
  readonly localClusterId: string | undefined;
  readonly allow: readonly string[];
  readonly output: 'text' | 'json';
}

export interface CheckIo {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly stdout: NodeJS.WritableStream;
}

export interface CheckReport {
  readonly results: ClusterDecision[];
  readonly errors: ManifestError[];
  readonly skipped: SkippedObject[];
}

/** `kubectl remote-secret check`: parse the inputs, decide, render. Returns the exit status. */
export async function runCheck(
  options: CheckOptions,
  io: CheckIo = { stdin: process.stdin, stdout: process.stdout },
): Promise<number> {
  const allow = parseAllowList(options.allow);
  if (options.localClusterId === '') throw new UsageError('--local-cluster-id must not be empty');
  let files = options.files;
  if (files.length === 0) {
    if (io.stdin.isTTY === true) {
      throw new UsageError('name the manifest files to check, or pipe them in (use - for standard input)');
    }
    files = ['-'];
  }
  if (files.filter((file) => file === '-').length > 1)
    throw new UsageError('standard input (-) can be read only once');

  const { secrets, errors, skipped, unreadable } = await readManifestInputs(files, io.stdin);
  const report: CheckReport = { results: [], errors, skipped };
  report.results.push(...decideRemoteSecrets(secrets, { allow, localClusterId: options.localClusterId }));

  io.stdout.write(options.output === 'json' ? renderCheckJson(report) : renderCheckText(report));
  // Data on stdout, errors on stderr; with -o json the errors are also part of the document.
  if (options.output === 'text' || unreadable) {
    for (const error of report.errors) writeError(`${error.source}: ${error.message}`);
  }
  if (unreadable) return EXIT_USAGE;
  if (report.results.length === 0 && report.errors.length === 0) {
    writeWarning(
      'no remote secrets (Secrets labelled istio/multiCluster: "true") were found; nothing was checked',
    );
  }
  const rejected = report.results.some((result) => !result.allowed);
  return rejected || report.errors.length > 0 ? EXIT_FINDINGS : EXIT_OK;
}
