import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dosDateTime, writeZip } from './zip.ts';

const dir = mkdtempSync(join(tmpdir(), 'zip-test-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Python's zipfile, an independent reader: each entry's name, time, size, CRC check and bytes. */
function readWithPython(archive: string): { name: string; time: number[]; size: number; hex: string }[] {
  const script = [
    'import json, sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    'bad = z.testzip()',
    'if bad: sys.exit("bad CRC: " + bad)',
    'print(json.dumps([{"name": i.filename, "time": list(i.date_time), "size": i.file_size, "hex": z.read(i).hex()} for i in z.infolist()]))',
  ].join('\n');
  const run = spawnSync('python3', ['-c', script, archive], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as { name: string; time: number[]; size: number; hex: string }[];
}

describe('writeZip', () => {
  const exe = join(dir, 'kubectl-tool.exe');
  const license = join(dir, 'LICENSE');
  const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
  writeFileSync(exe, bytes);
  writeFileSync(license, 'Apache License\n');
  const MTIME = 1_700_000_000; // 2023-11-14 22:13:20 UTC

  it('writes the files at the top level, deflated, with the given time, readable by another zip reader', () => {
    const archive = join(dir, 'a.zip');
    writeZip(archive, [exe, license], MTIME);
    expect(readWithPython(archive)).toEqual([
      {
        name: 'kubectl-tool.exe',
        time: [2023, 11, 14, 22, 13, 20],
        size: 70_000,
        hex: bytes.toString('hex'),
      },
      {
        name: 'LICENSE',
        time: [2023, 11, 14, 22, 13, 20],
        size: 15,
        hex: Buffer.from('Apache License\n').toString('hex'),
      },
    ]);
    expect(readFileSync(archive).length).toBeLessThan(70_000);
  });

  it('gives the same bytes every time (reproducible sha256 in SHA256SUMS and the krew manifest)', () => {
    writeZip(join(dir, 'b1.zip'), [exe, license], MTIME);
    writeZip(join(dir, 'b2.zip'), [exe, license], MTIME);
    expect(readFileSync(join(dir, 'b1.zip'))).toEqual(readFileSync(join(dir, 'b2.zip')));
  });

  it('stores MS-DOS time in UTC, from 1980 on', () => {
    expect(dosDateTime(MTIME)).toEqual({
      date: (43 << 9) | (11 << 5) | 14,
      time: (22 << 11) | (13 << 5) | 10,
    });
    expect(dosDateTime(0)).toEqual({ date: (1 << 5) | 1, time: 0 });
  });
});
