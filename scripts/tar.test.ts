import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ustarHeader, writeTarGz } from './tar.ts';

const dir = mkdtempSync(join(tmpdir(), 'tar-test-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('writeTarGz', () => {
  const tool = join(dir, 'kubectl-tool');
  const notes = join(dir, 'NOTES');
  // Over one 512-byte block and not a multiple of it, so the padding is exercised.
  writeFileSync(tool, Buffer.from(Array.from({ length: 1300 }, (_, i) => i % 251)));
  chmodSync(tool, 0o700);
  writeFileSync(notes, 'read me\n');
  chmodSync(notes, 0o600);
  const MTIME = 1_700_000_000;

  it('writes the files at the top level, owned by root, executables 0755, others 0644, with the given time', async () => {
    const archive = join(dir, 'a.tar.gz');
    await writeTarGz(archive, [tool, notes], MTIME);
    const list = spawnSync('tar', ['--numeric-owner', '--utc', '-tvzf', archive], { encoding: 'utf8' });
    expect(list.stderr).toBe('');
    expect(list.stdout).toBe(
      [
        '-rwxr-xr-x 0/0            1300 2023-11-14 22:13 kubectl-tool',
        '-rw-r--r-- 0/0               8 2023-11-14 22:13 NOTES',
        '',
      ].join('\n'),
    );
  });

  it('round-trips the bytes through tar', async () => {
    const archive = join(dir, 'b.tar.gz');
    await writeTarGz(archive, [tool, notes], MTIME);
    const out = join(dir, 'out');
    mkdirSync(out);
    const extract = spawnSync('tar', ['-xzf', archive, '-C', out], { encoding: 'utf8' });
    expect(extract.status, extract.stderr).toBe(0);
    expect(readFileSync(join(out, 'kubectl-tool'))).toEqual(readFileSync(tool));
    expect(readFileSync(join(out, 'NOTES'), 'utf8')).toBe('read me\n');
  });

  it('gives the same bytes every time (reproducible sha256 in SHA256SUMS and the krew manifest)', async () => {
    await writeTarGz(join(dir, 'c1.tar.gz'), [tool, notes], MTIME);
    await writeTarGz(join(dir, 'c2.tar.gz'), [tool, notes], MTIME);
    expect(readFileSync(join(dir, 'c1.tar.gz'))).toEqual(readFileSync(join(dir, 'c2.tar.gz')));
  });

  it('refuses a name a ustar header cannot hold', () => {
    expect(() => ustarHeader('x'.repeat(101), 0, 0o644, 0)).toThrow('at most 100 bytes');
  });
});
