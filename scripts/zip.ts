import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';

/**
 * Writes a .zip of regular files (the Windows archive krew expects), each at the archive's top
 * level under its base name, deflated, the same bytes on every machine: entries in the given order,
 * the modification time given (as an MS-DOS time in UTC), no extra fields, "made by" MS-DOS so no
 * Unix modes are stored. The files are read whole: a release has a few, of about 100 MB.
 */
export function writeZip(output: string, files: readonly string[], mtimeSeconds: number): void {
  const { date, time } = dosDateTime(mtimeSeconds);
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const file of files) {
    const name = Buffer.from(basename(file), 'utf8');
    const data = readFileSync(file);
    // Level 6, as the .tar.gz: level 9 takes much longer for little.
    const compressed = deflateRawSync(data, { level: 6 });
    const checksum = crc32(data);
    if (data.length >= 0xffffffff || offset >= 0xffffffff) {
      throw new Error(`${file}: a zip without ZIP64 holds files and archives below 4 GiB`);
    }
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); // local file header
    local.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
    local.writeUInt16LE(0x0800, 6); // flags: the name is UTF-8
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(checksum, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28); // no extra field
    locals.push(local, name, compressed);

    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0); // central directory header
    entry.writeUInt16LE(20, 4); // made by: MS-DOS, 2.0
    entry.writeUInt16LE(20, 6);
    entry.writeUInt16LE(0x0800, 8);
    entry.writeUInt16LE(8, 10);
    entry.writeUInt16LE(time, 12);
    entry.writeUInt16LE(date, 14);
    entry.writeUInt32LE(checksum, 16);
    entry.writeUInt32LE(compressed.length, 20);
    entry.writeUInt32LE(data.length, 24);
    entry.writeUInt16LE(name.length, 28);
    // extra, comment, disk number, internal attributes, external attributes: all 0
    entry.writeUInt32LE(offset, 42);
    central.push(entry, name);
    offset += local.length + name.length + compressed.length;
  }
  const centralSize = central.reduce((sum, part) => sum + part.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); // end of central directory
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  writeFileSync(output, Buffer.concat([...locals, ...central, end]));
}

/** MS-DOS date and time fields (2-second resolution, from 1980), of a UTC time. */
export function dosDateTime(seconds: number): { date: number; time: number } {
  const at = new Date(Math.max(seconds, Date.UTC(1980, 0, 1) / 1000) * 1000);
  return {
    date: ((at.getUTCFullYear() - 1980) << 9) | ((at.getUTCMonth() + 1) << 5) | at.getUTCDate(),
    time: (at.getUTCHours() << 11) | (at.getUTCMinutes() << 5) | Math.floor(at.getUTCSeconds() / 2),
  };
}
