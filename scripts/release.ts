// The plugin's release: a single executable per platform, each in a .tar.gz, SHA256SUMS, and the
// krew plugin manifest generated from them.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gitCommit, projectVersion, sourceDateEpoch } from './build-info.ts';
import { bundlePluginForSea, CLIENT_NODE_ASSET } from './bundle-plugin.ts';
import {
  archiveName,
  COMPLETION_BINARY,
  krewManifest,
  PLUGIN_BINARY,
  PLUGIN_NAME,
  renderKrewManifest,
  type ReleaseArchive,
} from './krew-manifest.ts';
import {
  executableName,
  findMacSigner,
  hostTarget,
  injectBlob,
  nodeBinary,
  PackagingError,
  seaBlob,
  targetName,
  verifySingleExecutable,
  type MacSigner,
  type Target,
} from './sea.ts';
import { writeTarGz } from './tar.ts';
import { writeZip } from './zip.ts';

export interface ReleaseOptions {
  readonly root: string;
  /** Where the archives, SHA256SUMS and plugins/remote-secret.yaml go (dist/release). */
  readonly outDir: string;
  /** Bundles, blobs and the unpacked executables (dist/sea). */
  readonly workDir: string;
  readonly targets: readonly Target[];
  /** A target given by name fails the build when its Node binary cannot be had; a default one is skipped. */
  readonly targetsRequired: boolean;
  readonly baseUrl: string;
  /**
   * V8's code cache in the executable for this machine's platform: about 10% off its start-up,
   * but V8 writes it differently each time, so that archive is no longer reproducible.
   */
  readonly codeCache: boolean;
  /** Node binaries of other platforms, downloaded once. */
  readonly cacheDir: string;
  /**
   * Signs the macOS executables ad hoc after the blob is injected: rcodesign (see
   * scripts/rcodesign.ts) or, when left out, macOS's own codesign on a Mac. Without either the
   * darwin targets cannot be built.
   */
  readonly macSigner?: MacSigner | undefined;
  readonly env: NodeJS.ProcessEnv;
  /** Progress, for a terminal. */
  readonly progress: (line: string) => void;
  /** What the user must know even when the output is piped: targets skipped, and why. */
  readonly warn: (line: string) => void;
}

export interface BuiltTarget extends ReleaseArchive {
  /** The executable itself, as it is inside the archive. */
  readonly binary: string;
  readonly archive: string;
}

export interface Release {
  readonly version: string;
  readonly commit: string;
  readonly built: readonly BuiltTarget[];
  readonly skipped: readonly { readonly target: Target; readonly reason: string }[];
  readonly sums: string;
  readonly manifest: string;
}

export async function buildRelease(options: ReleaseOptions): Promise<Release> {
  const { root, progress } = options;
  const version = projectVersion(root);
  const commit = gitCommit(root);
  const pinnedNode = join(root, 'node_modules/node/bin/node');
  const nodeVersion = pinnedNodeVersion(pinnedNode);
  const postject = join(root, 'node_modules/.bin/postject');
  const host = hostTarget();
  const signer = options.macSigner ?? findMacSigner();
  const mtime = sourceDateEpoch(root, options.env);

  rmSync(options.workDir, { recursive: true, force: true });
  mkdirSync(options.workDir, { recursive: true });
  mkdirSync(join(options.outDir, 'plugins'), { recursive: true });
  // What an earlier run left (another version, other targets) must not sit next to SHA256SUMS
  // and a manifest that do not list it.
  const earlier = readdirSync(options.outDir).filter(
    (file) => file.startsWith(`${PLUGIN_BINARY}_`) && (file.endsWith('.tar.gz') || file.endsWith('.zip')),
  );
  for (const stale of [...earlier, 'SHA256SUMS', `plugins/${PLUGIN_NAME}.yaml`]) {
    rmSync(join(options.outDir, stale), { force: true });
  }

  let started = performance.now();
  const step = (line: string) => {
    const now = performance.now();
    progress(`${line} (${((now - started) / 1000).toFixed(1)} s)`);
    started = now;
  };
  const scripts = await bundlePluginForSea(root, options.workDir, { version, commit });
  step(`bundled ${PLUGIN_BINARY} ${version} (commit ${commit}) for Node ${nodeVersion}`);

  const blobs = new Map<boolean, string>();
  const blobFor = (useCodeCache: boolean): string => {
    const existing = blobs.get(useCodeCache);
    if (existing !== undefined) return existing;
    const blob = seaBlob({
      node: pinnedNode,
      main: scripts.main,
      assets: { [CLIENT_NODE_ASSET]: scripts.clientNode },
      useCodeCache,
      workDir: options.workDir,
    });
    blobs.set(useCodeCache, blob);
    step(`wrote the preparation blob${useCodeCache ? ' with code cache' : ''}`);
    return blob;
  };

  const built: BuiltTarget[] = [];
  const skipped: { target: Target; reason: string }[] = [];
  const skip = (target: Target, reason: string) => {
    skipped.push({ target, reason });
    options.warn(`skipped ${targetName(target)}: ${reason}`);
  };
  for (const target of options.targets) {
    const name = targetName(target);
    if (target.os === 'darwin' && signer === undefined) {
      const reason =
        'a macOS executable must be signed again after the blob is injected (arm64 macOS kills unsigned ones), and there is no signer: neither rcodesign nor macOS codesign';
      const hint = 'install Rust (cargo) so that `npm run package` can build rcodesign, or run it on a Mac';
      if (options.targetsRequired) throw new PackagingError('tool-failed', `${name}: ${reason}`, hint);
      skip(target, `${reason}; ${hint}`);
      continue;
    }
    const isHost = host !== undefined && targetName(host) === name;
    let node: string;
    try {
      // The pinned Node is this platform's binary from the same npm package: no download.
      node = isHost ? pinnedNode : nodeBinary(target, nodeVersion, options.cacheDir);
    } catch (error) {
      if (
        !options.targetsRequired &&
        error instanceof PackagingError &&
        error.code === 'node-binary-unavailable'
      ) {
        skip(target, `${error.message}; ${error.hint ?? ''}`);
        continue;
      }
      throw error;
    }
    step(`[${name}] Node ${nodeVersion} binary ready`);
    // V8's code cache is only valid for the platform that wrote it.
    const blob = blobFor(isHost && options.codeCache);
    const dir = join(options.workDir, name);
    mkdirSync(dir, { recursive: true });
    const binary = join(dir, executableName(target));
    injectBlob({ nodeBinary: node, blob, output: binary, postject, target, sign: signer });
    verifySingleExecutable(binary, blob, target);
    if (isHost) smokeTest(binary, version, commit);
    step(
      `[${name}] single executable ${isHost ? 'built and run' : 'built and checked'}${target.os === 'darwin' ? `, signed ad hoc by ${signer?.name ?? ''}` : ''}`,
    );

    const license = join(root, 'LICENSE');
    const licenses = existsSync(license) ? [license] : [];
    const archive = join(options.outDir, archiveName(version, target));
    let files: string[];
    if (target.os === 'windows') {
      // The completion helper is a POSIX shell script: of no use to kubectl on Windows.
      files = [binary, ...licenses];
      writeZip(archive, files, mtime);
    } else {
      const completion = join(dir, COMPLETION_BINARY);
      copyFileSync(join(root, 'bin', COMPLETION_BINARY), completion);
      files = [binary, completion, ...licenses];
      await writeTarGz(archive, files, mtime);
    }
    built.push({
      target,
      name: archiveName(version, target),
      sha256: sha256(archive),
      files: files.map((file) => file.replace(/^.*\//, '')),
      binary,
      archive,
    });
    step(`[${name}] ${archiveName(version, target)}`);
  }
  if (built.length === 0) {
    throw new PackagingError('tool-failed', 'no target could be built', 'see the reasons printed above');
  }

  const sums = join(options.outDir, 'SHA256SUMS');
  writeFileSync(
    sums,
    [...built]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((item) => `${item.sha256}  ${item.name}\n`)
      .join(''),
  );
  const manifest = join(options.outDir, 'plugins', `${PLUGIN_NAME}.yaml`);
  writeFileSync(manifest, renderKrewManifest(krewManifest(version, options.baseUrl, built)));
  step(`wrote SHA256SUMS and plugins/${PLUGIN_NAME}.yaml`);
  return { version, commit, built, skipped, sums, manifest };
}

function pinnedNodeVersion(node: string): string {
  const run = spawnSync(node, ['--version'], { encoding: 'utf8' });
  if (run.error !== undefined || run.status !== 0) {
    throw new PackagingError(
      'blob-failed',
      `the project's pinned Node (${node}) does not run`,
      'run `npm ci`: the "node" devDependency installs it',
      { cause: run.error },
    );
  }
  return run.stdout.trim().replace(/^v/, '');
}

/** The executable for this machine must start, with no node_modules, and know its version. */
function smokeTest(binary: string, version: string, commit: string): void {
  const run = spawnSync(binary, ['version', '-o', 'json'], { encoding: 'utf8', cwd: '/', env: { PATH: '' } });
  const report = run.status === 0 ? (JSON.parse(run.stdout) as Record<string, unknown>) : undefined;
  if (report?.['version'] !== version || report['commit'] !== commit || report['singleExecutable'] !== true) {
    throw new PackagingError(
      'not-a-single-executable',
      `${binary} version -o json did not report ${version} (${commit}) as a single executable: ${run.stdout}${run.stderr}`,
    );
  }
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
