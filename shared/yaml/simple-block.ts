/**
 * A reader for the one shape nearly every kubeconfig has (what kubectl, client-go's writer and
 * cloud CLIs emit): block mappings and `- ` sequences, two-space or other consistent indentation,
 * keys and values that are plain words, URLs, base64 or JWTs, an occasional `{}`, `[]` or simply
 * quoted value. It reads that shape in one pass over the lines, several times faster than the
 * event parser, and returns undefined for anything else, which then takes the full path
 * (parse.ts: js-yaml's events and every go-yaml check).
 *
 * It must never accept a text that the full path reads differently or refuses: only text that
 * is printable ASCII and line feeds, no comments, tabs, anchors, aliases, tags, block scalars,
 * documents markers, duplicate keys or trailing spaces, and only scalars that both YAML 1.1
 * (client-go) and 1.2 read as the same string. `simple-block.test.ts` holds it to that with
 * generated documents, each compared with what the full path builds.
 */

/** Plain scalars this reader takes: a letter or `/` first (no number, no YAML indicator, no `~`). */
const PLAIN = /^[A-Za-z/][A-Za-z0-9._/:+=@%-]*$/;
/** Keys: a letter first, then what kubeconfig keys and names are made of. */
const KEY = /^[A-Za-z][A-Za-z0-9._/-]*$/;
/** Quoted scalars without escapes (a `\` or `''` takes the full path). */
const DOUBLE_QUOTED = /^"[ !#-[\]-~]*"$/;
const SINGLE_QUOTED = /^'[ -&(-~]*'$/;
/** Words YAML 1.2's core schema reads as null or a boolean, or YAML 1.1 (client-go) as a boolean. */
const NOT_A_STRING = new Set([
  'null', 'Null', 'NULL', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE',
  'y', 'Y', 'yes', 'Yes', 'YES', 'n', 'N', 'no', 'No', 'NO',
  'on', 'On', 'ON', 'off', 'Off', 'OFF',
]); // prettier-ignore

/** Characters and pairs the patterns below never admit. */
const SOON_DECLINED = ['#', '\t', '\r', '&', '*', '!', '|', '>', '\\'];

/** The first `[` (or `{`) opens a flow collection that is not empty. */
function openFlow(text: string, open: string, close: number): boolean {
  const at = text.indexOf(open);
  return at !== -1 && text.charCodeAt(at + 1) !== close;
}

interface Line {
  readonly indent: number;
  /** The line without its indentation; never empty. */
  readonly text: string;
}

class Lines {
  position = 0;
  constructor(readonly lines: Line[]) {}
  get current(): Line | undefined {
    return this.lines[this.position];
  }
}

/** Thrown inside the reader only: the text is not of the simple shape. */
const NOT_SIMPLE = Symbol('not simple');

/**
 * The single document of a simple block-style text, or undefined when the text is not of that
 * shape (the caller then reads it in full). The root must be a mapping.
 */
export function readSimpleBlockYaml(text: string, maxDepth: number): Record<string, unknown> | undefined {
  // Every character of every line goes through one of the patterns below (key, plain or quoted
  // value), which admit printable ASCII only, no `#` outside quotes, no tab, no carriage return;
  // a document marker (`---`, `...`) is neither key nor item. These native searches only decline
  // early what the patterns would decline late (an exec's `args: [...]` at the end, say).
  if (
    SOON_DECLINED.some((part) => text.includes(part)) ||
    openFlow(text, '[', 93) ||
    openFlow(text, '{', 125)
  ) {
    return undefined;
  }
  const lines: Line[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    let indent = start;
    while (indent < end && text.charCodeAt(indent) === 32) indent += 1;
    if (indent < end) {
      // Trailing spaces are trimmed by YAML; not by this reader.
      if (text.charCodeAt(end - 1) === 32) return undefined;
      lines.push({ indent: indent - start, text: text.slice(indent, end) });
    } else if (indent > start) {
      return undefined;
    }
    start = end + 1;
  }
  const first = lines[0];
  if (first?.indent !== 0 || first.text.startsWith('-')) return undefined;
  const reader = new Lines(lines);
  try {
    // Kubeconfigs are five levels deep; well under any limit, so the limit is the full path's.
    const root = readMapping(reader, 0, 1, Math.min(maxDepth, 8));
    return reader.current === undefined ? root : undefined;
  } catch (error) {
    if (error === NOT_SIMPLE) return undefined;
    throw error;
  }
}

function notSimple(): never {
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- a private signal, caught above
  throw NOT_SIMPLE;
}

/** The keys of a mapping whose lines start at `indent`. */
function readMapping(
  lines: Lines,
  indent: number,
  depth: number,
  maxDepth: number,
  firstText?: string,
): Record<string, unknown> {
  if (depth > maxDepth) notSimple();
  const mapping = Object.create(null) as Record<string, unknown>;
  let pending = firstText;
  for (;;) {
    let text: string;
    if (pending !== undefined) {
      text = pending;
      pending = undefined;
    } else {
      const line = lines.current;
      if (line === undefined || line.indent < indent) break;
      if (line.indent > indent || line.text.startsWith('-')) notSimple();
      text = line.text;
    }
    lines.position += 1;
    const colon = text.indexOf(':');
    if (colon <= 0) notSimple();
    const key = text.slice(0, colon);
    // go-yaml drops a key over 1024 characters (parse.ts refuses over 1000).
    if (
      key.length > 1000 ||
      !KEY.test(key) ||
      (key.length <= 5 && NOT_A_STRING.has(key)) ||
      Object.hasOwn(mapping, key)
    ) {
      notSimple();
    }
    if (colon === text.length - 1) {
      mapping[key] = readNested(lines, indent, depth, maxDepth);
    } else {
      // `key: value`, one space; `key:value` is a plain scalar the full path may read.
      if (text.charCodeAt(colon + 1) !== 32 || text.charCodeAt(colon + 2) === 32) notSimple();
      mapping[key] = readScalar(text.slice(colon + 2));
    }
  }
  return mapping;
}

/** What follows `key:` at the end of a line: a deeper mapping, a sequence, or nothing (null). */
function readNested(lines: Lines, indent: number, depth: number, maxDepth: number): unknown {
  const next = lines.current;
  if (next === undefined || next.indent < indent) return null;
  const isSequence = next.text === '-' || next.text.startsWith('- ');
  // A sequence may sit at its key's own indentation (as kubectl writes it); a mapping may not.
  if (isSequence && next.indent >= indent) return readSequence(lines, next.indent, depth + 1, maxDepth);
  if (next.indent === indent) return null;
  return readMapping(lines, next.indent, depth + 1, maxDepth);
}

/** The items of a `- ` sequence whose dashes are at `indent`. */
function readSequence(lines: Lines, indent: number, depth: number, maxDepth: number): unknown[] {
  if (depth > maxDepth) notSimple();
  const items: unknown[] = [];
  for (;;) {
    const line = lines.current;
    if (line === undefined || line.indent < indent) break;
    if (line.indent > indent || !line.text.startsWith('- ')) {
      // Only the end of the sequence; anything else (a bare `-`, `-x`) takes the full path.
      if (line.indent === indent && !line.text.startsWith('-')) break;
      notSimple();
    }
    const rest = line.text.slice(2);
    if (rest.startsWith(' ') || rest.startsWith('-')) notSimple();
    const colon = rest.indexOf(':');
    const isMapping =
      colon > 0 && (colon === rest.length - 1 || rest.charCodeAt(colon + 1) === 32) && !/^["']/.test(rest);
    if (isMapping) {
      // `- key: value`: a mapping whose keys line up with this first one, two columns in.
      items.push(readMapping(lines, indent + 2, depth + 1, maxDepth, rest));
    } else {
      lines.position += 1;
      items.push(readScalar(rest));
    }
  }
  return items;
}

function readScalar(text: string): unknown {
  if (text === '{}') return Object.create(null) as Record<string, unknown>;
  if (text === '[]') return [];
  const first = text.charCodeAt(0);
  if (first === 34) {
    if (!DOUBLE_QUOTED.test(text)) notSimple();
    return text.slice(1, -1);
  }
  if (first === 39) {
    if (!SINGLE_QUOTED.test(text)) notSimple();
    return text.slice(1, -1);
  }
  // The words are at most 5 characters: a long value (a token) is not hashed to look it up.
  if (!PLAIN.test(text) || text.endsWith(':') || (text.length <= 5 && NOT_A_STRING.has(text))) notSimple();
  return text;
}
