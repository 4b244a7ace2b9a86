import { open } from 'node:fs/promises';
import { RemoteSecretError } from '../shared/errors.ts';
import {
  decodeText,
  MANIFEST_LIMITS,
  readSecretManifests,
  type ManifestError,
  type SkippedObject,
} from '../shared/remote-secret/manifests.ts';
import type { RemoteSecret } from '../shared/remote-secret/model.ts';
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

/** The secrets, and what could not be read, of every manifest named on the command line. */
export interface ManifestInputs {
  readonly secrets: RemoteSecret[];
  readonly errors: ManifestError[];
  readonly skipped: SkippedObject[];
  /** An input could not be read at all (missing, a directory, too large): exit status 2. */
  readonly unreadable: boolean;
}

/** Read and parse the manifests of `check` and `verify -f`, in order; "-" is standard input. */
export async function readManifestInputs(
  files: readonly string[],
  stdin: NodeJS.ReadableStream,
): Promise<ManifestInputs> {
  const inputs: ManifestInputs = { secrets: [], errors: [], skipped: [], unreadable: false };
  let unreadable = false;
  for (const file of files) {
    const source = file === '-' ? 'stdin' : file;
    const input = await readInput(file, MANIFEST_LIMITS.maxLength, stdin);
    if (!input.ok) {
      inputs.errors.push({ source, message: input.message });
      unreadable ||= input.unreadable;
      continue;
    }
    const read = readSecretManifests(input.text, source);
    inputs.secrets.push(...read.secrets);
    inputs.errors.push(...read.errors);
    inputs.skipped.push(...read.skipped);
  }
  return { ...inputs, unreadable };
}

class TooLargeError extends RemoteSecretError {
  override readonly name = 'TooLargeError';
  declare readonly code: 'too-large';

  constructor(size: string) {
    super('too-large', size);
  }
}

async function readFileCapped(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (stat.size > maxBytes) throw new TooLargeError(formatSize(stat.size));
    // The same capped reader as standard input: a file that grew since stat is still refused.
    return await readStream(handle.createReadStream({ autoClose: false }), maxBytes);
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
