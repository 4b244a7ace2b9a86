import { open } from 'node:fs/promises';
import { decodeText } from '../shared/remote-secret/manifests.ts';
import { formatSize } from '../shared/yaml/parse.ts';

/** A file (or standard input) read as text, or why it could not be. */
export type Input =
  | { readonly name: string; readonly ok: true; readonly text: string }
  | { readonly name: string; readonly ok: false; readonly message: string; readonly unreadable: boolean };

/**
 * Read one input within `maxBytes`, without loading a larger one into memory. `unreadable` marks
 * I/O problems (missing, a directory, too large: exit status 2) apart from content that is not
 * text (binary data: a finding about the document, exit status 1).
 */
export async function readInput(
  name: string,
  maxBytes: number,
  stdin: NodeJS.ReadableStream,
): Promise<Input> {
  let bytes: Buffer;
  try {
    bytes = name === '-' ? await readStream(stdin, maxBytes) : await readFileCapped(name, maxBytes);
  } catch (error) {
    return {
      name,
      ok: false,
      unreadable: true,
      message: `cannot read it: ${describeIoError(error, maxBytes)}`,
    };
  }
  const decoded = decodeText(bytes, name === '-' ? 'standard input' : 'the file');
  if (!decoded.ok) return { name, ok: false, unreadable: false, message: decoded.reason };
  return { name, ok: true, text: decoded.text };
}

class TooLargeError extends Error {
  readonly code = 'too-large';
}

async function readFileCapped(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (stat.size > maxBytes) throw new TooLargeError(formatSize(stat.size));
    // Read up to one byte past the cap: a file that grew since stat is still refused.
    const buffer = Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new TooLargeError(`more than ${formatSize(maxBytes)}`);
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

async function readStream(stream: NodeJS.ReadableStream, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    length += buffer.length;
    if (length > maxBytes) throw new TooLargeError(`more than ${formatSize(maxBytes)}`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function describeIoError(error: unknown, maxBytes: number): string {
  if (error instanceof TooLargeError) {
    return `it is ${error.message}; the limit is ${formatSize(maxBytes)} (a remote secret is at most 1 MiB)`;
  }
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory; name the manifest files inside it';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}
