import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** package.json's version, which the plugin prints and the release files are named after. */
export function projectVersion(root: string): string {
  const manifest: unknown = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  if (typeof manifest === 'object' && manifest !== null && 'version' in manifest) {
    const { version } = manifest;
    if (typeof version === 'string' && version !== '') return version;
  }
  throw new Error(`${join(root, 'package.json')} has no "version"`);
}

/**
 * The commit the build comes from: `git rev-parse --short HEAD`, with `-dirty` when a tracked file
 * differs from it (untracked files do not count, as with `git describe --dirty`); "unknown" when
 * git or the repository is missing (a source tarball).
 */
export function gitCommit(root: string): string {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.error !== undefined || head.status !== 0) return 'unknown';
  const status = git('status', '--porcelain', '--untracked-files=no');
  const dirty = status.status !== 0 || status.stdout.trim() !== '';
  return `${head.stdout.trim()}${dirty ? '-dirty' : ''}`;
}

/**
 * The time stamped on the files in release archives, so that one commit gives the same bytes:
 * $SOURCE_DATE_EPOCH (reproducible-builds.org), else the commit's time, else 0.
 */
export function sourceDateEpoch(root: string, env: NodeJS.ProcessEnv): number {
  const fromEnv = Number(env['SOURCE_DATE_EPOCH']);
  if (env['SOURCE_DATE_EPOCH'] !== undefined && Number.isInteger(fromEnv) && fromEnv >= 0) return fromEnv;
  const log = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8' });
  const fromGit = Number(log.stdout.trim());
  return log.status === 0 && Number.isInteger(fromGit) && fromGit > 0 ? fromGit : 0;
}
