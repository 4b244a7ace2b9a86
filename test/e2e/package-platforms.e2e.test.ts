import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { load } from 'js-yaml';
import { DEFAULT_BASE_URL, type KrewPlugin } from '../../scripts/krew-manifest.ts';
import { RCODESIGN_VERSION } from '../../scripts/rcodesign.ts';
import { buildRelease, type BuiltTarget, type Release } from '../../scripts/release.ts';
import {
  cacheDir,
  hostTarget,
  rcodesignSigner,
  SEA_FUSE,
  TARGETS,
  targetName,
  verifySingleExecutable,
} from '../../scripts/sea.ts';
import { REPO_ROOT } from '../cli.ts';
import { runProcess } from '../harness/process.ts';

/**
 * All five release targets built on this Linux machine, as `npm run package` builds them: the
 * macOS executables signed ad hoc by rcodesign and checked page by page against the signature's
 * hashes and by `rcodesign print-signature-info` (its `verify` refuses every ad hoc signature,
 * docs/packaging.md), the Windows
 * one a PE with the blob as its NODE_SEA_BLOB resource, in a .zip; one krew manifest for all five,
 * checked by krew-index's validate-krew-manifest. Only linux-amd64 runs here (package.e2e.test.ts);
 * the others are checked byte by byte. (Wine from Debian 12, 8.0, cannot start Node 26's node.exe:
 * V8 aborts with "Fatal process out of memory: SegmentedTable::InitializeTable", so there is no
 * Windows smoke test; docs/packaging.md.)
 */
const rcodesign = inject('rcodesignBinary');
const krewValidateBinary = inject('krewValidateBinary');
const host = hostTarget();
const onLinuxAmd64 = host !== undefined && targetName(host) === 'linux-amd64';
const BANNER = '!'.repeat(78);

if (rcodesign === null || !onLinuxAmd64) {
  if (process.env['CI'] === 'true')
    throw new Error('the platform packaging test needs linux-amd64 and rcodesign');
  process.stderr.write(
    `\n${BANNER}\n!! PLATFORM PACKAGING TEST SKIPPED: it needs rcodesign (Rust) on linux-amd64.\n${BANNER}\n`,
  );
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * What macOS checks of an ad hoc signature, done here: the LC_CODE_SIGNATURE load command points at
 * a superblob whose CodeDirectory holds a SHA-256 for every page of the file up to its code limit,
 * and one for the requirements blob. Returns the problems (none: the signature covers the file as
 * it is). rcodesign's own `verify` cannot judge this: it fails on every ad hoc signature, its own
 * included ("CMS error: missing further values"), as its banner warns it is unreliable.
 */
function adHocSignatureProblems(bytes: Buffer): string[] {
  const problems: string[] = [];
  const commandCount = bytes.readUInt32LE(16);
  let at = 32;
  let signature: { offset: number; size: number } | undefined;
  for (let index = 0; index < commandCount; index += 1) {
    const command = bytes.readUInt32LE(at);
    if (command === 0x1d)
      signature = { offset: bytes.readUInt32LE(at + 8), size: bytes.readUInt32LE(at + 12) };
    at += bytes.readUInt32LE(at + 4);
  }
  if (signature === undefined) return ['no LC_CODE_SIGNATURE load command'];
  const blob = bytes.subarray(signature.offset, signature.offset + signature.size);
  if (blob.readUInt32BE(0) !== 0xfade0cc0) return ['the signature is not an embedded signature superblob'];
  const slots = new Map<number, Buffer>();
  for (let index = 0; index < blob.readUInt32BE(8); index += 1) {
    const offset = blob.readUInt32BE(16 + index * 8);
    slots.set(
      blob.readUInt32BE(12 + index * 8),
      blob.subarray(offset, offset + blob.readUInt32BE(offset + 4)),
    );
  }
  const directory = slots.get(0);
  if (directory?.readUInt32BE(0) !== 0xfade0c02) return ['no CodeDirectory'];
  const flags = directory.readUInt32BE(12);
  if ((flags & 0x2) === 0) problems.push('the CodeDirectory is not ad hoc');
  const hashOffset = directory.readUInt32BE(16);
  const specialSlots = directory.readUInt32BE(24);
  const codeSlots = directory.readUInt32BE(28);
  const codeLimit = directory.readUInt32BE(32);
  const hashSize = directory.readUInt8(36);
  const hashType = directory.readUInt8(37);
  const pageSize = 2 ** directory.readUInt8(39);
  if (hashType !== 2 || hashSize !== 32) return ['the CodeDirectory does not hash with SHA-256'];
  if (codeLimit !== signature.offset)
    problems.push(`the code limit ${codeLimit} is not where the signature starts`);
  if (codeSlots !== Math.ceil(codeLimit / pageSize))
    problems.push(`${codeSlots} page hashes for ${codeLimit} bytes`);
  let wrong = 0;
  for (let page = 0; page < codeSlots; page += 1) {
    const start = page * pageSize;
    const digest = createHash('sha256')
      .update(bytes.subarray(start, Math.min(start + pageSize, codeLimit)))
      .digest();
    const stored = directory.subarray(hashOffset + page * hashSize, hashOffset + (page + 1) * hashSize);
    if (!digest.equals(stored)) wrong += 1;
  }
  if (wrong > 0) problems.push(`${wrong} of ${codeSlots} page hashes do not match the file`);
  const requirements = slots.get(2);
  if (requirements !== undefined && specialSlots >= 2) {
    const stored = directory.subarray(hashOffset - 2 * hashSize, hashOffset - hashSize);
    if (!createHash('sha256').update(requirements).digest().equals(stored))
      problems.push('the requirements hash does not match');
  }
  return problems;
}

describe.skipIf(rcodesign === null || !onLinuxAmd64)(
  'the release for every krew platform, built on Linux',
  () => {
    let release: Release;
    let dir: string;
    let plainBlob: string;
    const built = (name: string): BuiltTarget => {
      const found = release.built.find((item) => targetName(item.target) === name);
      if (found === undefined) throw new Error(`${name} was not built`);
      return found;
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'package-platforms-e2e-'));
      const started = performance.now();
      release = await buildRelease({
        root: REPO_ROOT,
        outDir: join(dir, 'release'),
        workDir: join(dir, 'work'),
        targets: TARGETS,
        targetsRequired: true,
        baseUrl: DEFAULT_BASE_URL,
        codeCache: true,
        cacheDir: cacheDir(process.env),
        macSigner: rcodesignSigner(rcodesign ?? '', RCODESIGN_VERSION),
        env: process.env,
        progress: (line) => process.stderr.write(`${line}\n`),
        warn: (line) => process.stderr.write(`${line}\n`),
      });
      // Every target but this machine's gets the blob without V8's code cache.
      plainBlob = join(dir, 'work', 'sea-plain.blob');
      process.stderr.write(
        `npm run package for all five targets took ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
    }, 900_000);

    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('builds all five targets, none skipped', () => {
      expect(release.skipped).toEqual([]);
      expect(release.built.map((item) => item.name).sort()).toEqual([
        `kubectl-remote_secret_${release.version}_darwin_amd64.tar.gz`,
        `kubectl-remote_secret_${release.version}_darwin_arm64.tar.gz`,
        `kubectl-remote_secret_${release.version}_linux_amd64.tar.gz`,
        `kubectl-remote_secret_${release.version}_linux_arm64.tar.gz`,
        `kubectl-remote_secret_${release.version}_windows_amd64.zip`,
      ]);
    });

    describe.each([
      { target: 'darwin-amd64', cputype: 0x01000007 },
      { target: 'darwin-arm64', cputype: 0x0100000c },
    ])('$target', ({ target, cputype }) => {
      it('is a 64-bit Mach-O of its CPU with a NODE_SEA segment, the fuse set and the blob inside', () => {
        const item = built(target);
        const bytes = readFileSync(item.binary);
        expect(bytes.readUInt32LE(0).toString(16)).toBe('feedfacf'); // MH_MAGIC_64
        expect(bytes.readUInt32LE(4)).toBe(cputype);
        expect(bytes.readUInt32LE(12)).toBe(2); // MH_EXECUTE
        // Load commands: 32-byte header, then sizeofcmds bytes; postject's segment is named there.
        const commands = bytes.subarray(32, 32 + bytes.readUInt32LE(20));
        expect(commands.includes(Buffer.from('NODE_SEA\0'))).toBe(true);
        expect(commands.includes(Buffer.from('__NODE_SEA_BLOB'))).toBe(true);
        expect(bytes.includes(`${SEA_FUSE}:1`)).toBe(true);
        expect(bytes.includes(readFileSync(plainBlob))).toBe(true);
        expect(() => {
          verifySingleExecutable(item.binary, plainBlob, item.target);
        }).not.toThrow();
      });

      it('carries an ad hoc signature that covers every page of the file, blob included', () => {
        const item = built(target);
        const bytes = readFileSync(item.binary);
        expect(adHocSignatureProblems(bytes)).toEqual([]);
        // rcodesign reads the same signature: ad hoc, no CMS signer, named after the executable.
        const info = spawnSync(rcodesign ?? '', ['print-signature-info', item.binary], { encoding: 'utf8' });
        expect(info.status, info.stderr).toBe(0);
        expect(info.stdout).toContain('flags: CodeSignatureFlags(ADHOC)');
        expect(info.stdout).toContain('identifier: kubectl-remote_secret');
        expect(info.stdout).toContain('cms: null');
        // A control: one byte of the blob changed after signing is caught.
        const tampered = Buffer.from(bytes);
        const blobAt = tampered.indexOf(readFileSync(plainBlob));
        tampered[blobAt + 100] = (tampered[blobAt + 100] ?? 0) ^ 0xff;
        expect(adHocSignatureProblems(tampered)).toEqual([
          expect.stringMatching(/^1 of \d+ page hashes do not match/),
        ]);
      });

      it('is in its .tar.gz byte for byte, with the completion helper and the license', () => {
        const item = built(target);
        const out = join(dir, `unpacked-${target}`);
        mkdirSync(out);
        const untar = spawnSync('tar', ['-xzf', item.archive, '-C', out], { encoding: 'utf8' });
        expect(untar.status, untar.stderr).toBe(0);
        expect(item.files).toEqual(['kubectl-remote_secret', 'kubectl_complete-remote_secret', 'LICENSE']);
        expect(sha256(join(out, 'kubectl-remote_secret'))).toBe(sha256(item.binary));
      });
    });

    describe('windows-amd64', () => {
      it('is a PE for AMD64 with a NODE_SEA_BLOB resource, the fuse set and the blob inside', () => {
        const item = built('windows-amd64');
        expect(item.binary.endsWith('kubectl-remote_secret.exe')).toBe(true);
        const bytes = readFileSync(item.binary);
        expect(bytes.subarray(0, 2).toString('latin1')).toBe('MZ');
        const pe = bytes.readUInt32LE(0x3c);
        expect(bytes.subarray(pe, pe + 4).toString('latin1')).toBe('PE\0\0');
        expect(bytes.readUInt16LE(pe + 4)).toBe(0x8664); // IMAGE_FILE_MACHINE_AMD64
        expect(bytes.readUInt16LE(pe + 24)).toBe(0x20b); // PE32+
        // Resource names are UTF-16 in the resource directory; postject stores the name upper-case.
        expect(bytes.includes(Buffer.from('NODE_SEA_BLOB', 'utf16le'))).toBe(true);
        expect(bytes.includes(`${SEA_FUSE}:1`)).toBe(true);
        expect(bytes.includes(readFileSync(plainBlob))).toBe(true);
        expect(() => {
          verifySingleExecutable(item.binary, plainBlob, item.target);
        }).not.toThrow();
      });

      it('is in a .zip as kubectl-remote_secret.exe with the license, byte for byte (read by Python zipfile)', () => {
        const item = built('windows-amd64');
        const script = [
          'import hashlib, json, sys, zipfile',
          'z = zipfile.ZipFile(sys.argv[1])',
          'print(json.dumps({i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist()}))',
        ].join('\n');
        const run = spawnSync('python3', ['-c', script, item.archive], { encoding: 'utf8' });
        expect(run.status, run.stderr).toBe(0);
        expect(JSON.parse(run.stdout)).toEqual({
          'kubectl-remote_secret.exe': sha256(item.binary),
          LICENSE: sha256(join(REPO_ROOT, 'LICENSE')),
        });
      });
    });

    it('lists all five in SHA256SUMS and the krew manifest, with each archive sha256 and bin', () => {
      const sums = readFileSync(release.sums, 'utf8');
      const plugin = load(readFileSync(release.manifest, 'utf8')) as KrewPlugin;
      for (const item of release.built) {
        expect(sha256(item.archive)).toBe(item.sha256);
        expect(sums).toContain(`${item.sha256}  ${item.name}\n`);
      }
      expect(
        plugin.spec.platforms.map(({ selector, sha256: digest, bin, uri }) => [
          selector.matchLabels.os,
          selector.matchLabels.arch,
          bin,
          digest,
          uri.replace(/^.*\//, ''),
        ]),
      ).toEqual(
        [...release.built]
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((item) => [
            item.target.os,
            item.target.arch,
            item.target.os === 'windows' ? 'kubectl-remote_secret.exe' : 'kubectl-remote_secret',
            item.sha256,
            item.name,
          ]),
      );
    });

    it.skipIf(krewValidateBinary === null)(
      "passes krew-index's own manifest validation with all five platforms (validate-krew-manifest)",
      async () => {
        const cwd = join(dir, 'empty');
        mkdirSync(cwd, { recursive: true });
        const run = await runProcess(
          krewValidateBinary ?? '',
          ['-manifest', release.manifest, '-skip-install'],
          {
            cwd,
            env: { PATH: '', HOME: cwd },
          },
        );
        expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
      },
    );
  },
);
