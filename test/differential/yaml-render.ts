/**
 * A tiny YAML syntax tree and a renderer that can write the same tree many ways (block or flow,
 * five scalar styles, anchors, tags, comments, JSON), so the differential tests can ask both
 * readers about one kubeconfig written in forms a person would never choose.
 */

export type ScalarStyle =
  /** Written as is, unquoted: may be read as a number, a boolean or null, or may not parse. */
  | 'plain'
  | 'single'
  | 'double'
  /** Double-quoted with some letters written as \x, \u or \U escapes. */
  | 'escaped'
  | 'literal'
  | 'folded';

export interface Props {
  readonly anchor?: string;
  readonly tag?: string;
}

export interface YScalar extends Props {
  readonly kind: 'scalar';
  readonly value: string;
  readonly style: ScalarStyle;
}

export interface YMap extends Props {
  readonly kind: 'map';
  readonly entries: readonly YEntry[];
  readonly flow: boolean;
}

export interface YSeq extends Props {
  readonly kind: 'seq';
  readonly items: readonly YNode[];
  readonly flow: boolean;
}

export interface YAlias {
  readonly kind: 'alias';
  readonly name: string;
}

export type YNode = YScalar | YMap | YSeq | YAlias;

export interface YEntry {
  /** A scalar, or an alias to one (go-yaml and js-yaml both resolve alias keys). */
  readonly key: YScalar | YAlias;
  readonly value: YNode;
  /** Write the key as `? key` on its own line (block maps only). */
  readonly explicitKey?: boolean;
  readonly comment?: string;
}

export const plain = (value: string): YScalar => ({ kind: 'scalar', value, style: 'plain' });

/** A string: plain when that reads back as the same string in both YAML versions, else quoted. */
export const str = (value: string): YScalar => ({
  kind: 'scalar',
  value,
  style: isSafePlain(value, false) ? 'plain' : 'double',
});

export const map = (entries: readonly YEntry[], flow = false): YMap => ({ kind: 'map', entries, flow });
export const seq = (items: readonly YNode[], flow = false): YSeq => ({ kind: 'seq', items, flow });
export const entry = (key: string | YScalar, value: YNode): YEntry => ({
  key: typeof key === 'string' ? str(key) : key,
  value,
});

/** Build a tree from JSON-like data, every string a quoted-if-needed scalar. */
export function fromData(data: unknown): YNode {
  if (data === null) return plain('null');
  if (typeof data === 'string') return str(data);
  if (typeof data === 'number' || typeof data === 'boolean') return plain(String(data));
  if (Array.isArray(data)) return seq(data.map(fromData));
  if (typeof data === 'object') {
    return map(Object.entries(data).map(([key, value]) => entry(key, fromData(value))));
  }
  throw new TypeError(`cannot render ${typeof data}`);
}

const YAML_WORDS = /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE)$/;
const NUMBERISH = /^[-+.0-9]/;

/** Whether `value` may be written unquoted and still be that string in YAML 1.1 and 1.2 alike. */
export function isSafePlain(value: string, flow: boolean): boolean {
  if (value === '' || value !== value.trim()) return false;
  if (YAML_WORDS.test(value) || NUMBERISH.test(value) || /^[yYnNoO]/.test(value)) return false;
  if (/^[-?:,[\]{}#&*!|>'"%@`<=]/.test(value)) return false;
  if (/[\p{Cc}\u2028\u2029\ufeff]/u.test(value)) return false;
  if (value.includes(': ') || value.includes(' #') || value.endsWith(':')) return false;
  if (flow && /[,[\]{}:]/.test(value)) return false;
  return true;
}

export interface RenderOptions {
  readonly indent: 2 | 4;
  /** Indent a block sequence under its key (`key:\n  - a`) or not (`key:\n- a`). */
  readonly indentSequences: boolean;
  /** The separator between a key and its value in flow maps: go-yaml also accepts a bare colon. */
  readonly flowColon: ': ' | ':';
  readonly newline: '\n' | '\r\n' | '\r';
  /** What follows `key:` and `-` before an inline value: YAML allows a tab as well as a space. */
  readonly separator: ' ' | '\t';
  /** Chomping of literal and folded scalars: strip, clip or keep the final line breaks. */
  readonly chomping: '-' | '' | '+';
  /** Break flow collections after each comma, indenting the next entry this many spaces. */
  readonly flowBreak: number | null;
}

export const DEFAULT_RENDER: RenderOptions = {
  indent: 2,
  indentSequences: false,
  flowColon: ': ',
  newline: '\n',
  separator: ' ',
  chomping: '-',
  flowBreak: null,
};

/** Render a tree as one YAML document. */
export function renderYaml(node: YNode, options: RenderOptions = DEFAULT_RENDER): string {
  const renderer = new Renderer(options);
  const text =
    node.kind === 'map' && !node.flow && node.entries.length > 0 && props(node) === ''
      ? renderer.blockMap(node, 0)
      : `${renderer.inline(node, false)}\n`;
  return options.newline === '\n' ? text : text.replace(/\n/g, options.newline);
}

class Renderer {
  readonly options: RenderOptions;
  constructor(options: RenderOptions) {
    this.options = options;
  }

  blockMap(node: YMap, indent: number): string {
    const pad = ' '.repeat(indent);
    return node.entries
      .map(({ key, value, explicitKey, comment }) => {
        const note = comment === undefined ? '' : ` # ${comment}`;
        if (explicitKey === true) {
          return `${pad}? ${this.key(key, false)}\n${pad}:${this.blockValue(value, indent, note, true)}`;
        }
        return `${pad}${this.key(key, false)}:${this.blockValue(value, indent, note, false)}`;
      })
      .join('');
  }

  blockSeq(node: YSeq, indent: number): string {
    const pad = ' '.repeat(indent);
    return node.items
      .map((item) => {
        if (isBlockCollection(item) && props(item) === '') {
          const inner = this.blockCollection(item, indent + 2);
          return `${pad}- ${inner.slice(indent + 2)}`;
        }
        return `${pad}-${this.blockValue(item, indent, '', true)}`;
      })
      .join('');
  }

  /**
   * The text after `key:` or `-`: on the same line, or a newline and an indented block. Only a
   * sequence under a plain `key:` may stay at the key's indentation.
   */
  blockValue(value: YNode, indent: number, note: string, mustIndent: boolean): string {
    if (isBlockCollection(value)) {
      const properties = props(value);
      const head = `${properties === '' ? '' : ` ${properties}`}${note}\n`;
      const sameLevel = value.kind === 'seq' && !this.options.indentSequences && !mustIndent;
      const childIndent = sameLevel ? indent : indent + this.options.indent;
      return head + this.blockCollection(value, childIndent);
    }
    if (value.kind === 'scalar' && (value.style === 'literal' || value.style === 'folded')) {
      if (isBlockScalarSafe(value.value)) {
        const properties = props(value);
        const indicator = (value.style === 'literal' ? '|' : '>') + this.options.chomping;
        const pad = ' '.repeat(indent + this.options.indent);
        const body = value.value
          .split('\n')
          .map((line) => (line === '' ? '' : pad + line))
          .join('\n');
        return ` ${properties === '' ? '' : `${properties} `}${indicator}${note}\n${body}\n`;
      }
    }
    return `${this.options.separator}${this.inline(value, false)}${note}\n`;
  }

  blockCollection(node: YMap | YSeq, indent: number): string {
    return node.kind === 'map' ? this.blockMap(node, indent) : this.blockSeq(node, indent);
  }

  inline(node: YNode, flow: boolean): string {
    if (node.kind === 'alias') return `*${node.name}`;
    const properties = props(node);
    const prefix = properties === '' ? '' : `${properties} `;
    if (node.kind === 'scalar') return prefix + this.scalar(node, flow);
    const colon = this.options.flowColon;
    const comma = this.options.flowBreak === null ? ', ' : `,\n${' '.repeat(this.options.flowBreak)}`;
    if (node.kind === 'map') {
      const body = node.entries
        .map(({ key, value }) => `${this.key(key, true)}${colon}${this.inline(value, true)}`)
        .join(comma);
      return `${prefix}{${body}}`;
    }
    return `${prefix}[${node.items.map((item) => this.inline(item, true)).join(comma)}]`;
  }

  key(key: YScalar | YAlias, flow: boolean): string {
    // An alias key needs a space before the colon: YAML 1.2 allows ":" in anchor names.
    if (key.kind === 'alias') return `*${key.name} `;
    const properties = props(key);
    return (properties === '' ? '' : `${properties} `) + this.scalar(key, flow);
  }

  scalar(node: YScalar, flow: boolean): string {
    const { value } = node;
    switch (node.style) {
      case 'plain':
        // Plain means "as written": an empty plain value is a null, and that is the point.
        return flow && /[,[\]{}]/.test(value) ? doubleQuoted(value, false) : value;
      case 'single':
        return /[\n\r\u0085\u2028\u2029]/.test(value)
          ? doubleQuoted(value, false)
          : `'${value.replace(/'/g, "''")}'`;
      case 'double':
        return doubleQuoted(value, false);
      case 'escaped':
        return doubleQuoted(value, true);
      case 'literal':
      case 'folded':
        // Block scalars cannot appear inside flow collections or keys.
        return isSafePlain(value, flow) ? value : doubleQuoted(value, false);
    }
  }
}

function isBlockCollection(node: YNode): node is YMap | YSeq {
  return (
    (node.kind === 'map' && !node.flow && node.entries.length > 0) ||
    (node.kind === 'seq' && !node.flow && node.items.length > 0)
  );
}

/** Block scalars may hold several lines, but no other line breaks and no leading blank. */
function isBlockScalarSafe(value: string): boolean {
  return value !== '' && !/^\s/.test(value) && !/[\r\u0085\u2028\u2029]/.test(value) && !/\n$/.test(value);
}

function props(node: YNode): string {
  if (node.kind === 'alias') return '';
  return [node.anchor === undefined ? '' : `&${node.anchor}`, node.tag ?? '']
    .filter((part) => part !== '')
    .join(' ');
}

/**
 * A YAML double-quoted scalar. Control and line-break characters are always escaped; with
 * `escapeLetters`, ASCII letters are too (in rotating \x, \u and \U forms), which both readers
 * must decode to the same key.
 */
export function doubleQuoted(value: string, escapeLetters: boolean): string {
  let out = '"';
  let index = 0;
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"' || char === '\\') out += `\\${char}`;
    else if (
      code < 0x20 ||
      code === 0x7f ||
      (code >= 0x80 && code <= 0x9f) ||
      code === 0x2028 ||
      code === 0x2029 ||
      code === 0xfeff
    ) {
      out += code <= 0xff ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`;
    } else if (escapeLetters && /[A-Za-z]/.test(char)) {
      const form = index % 3;
      out += form === 0 ? `\\x${hex(code, 2)}` : form === 1 ? `\\u${hex(code, 4)}` : `\\U${hex(code, 8)}`;
      index += 1;
    } else out += char;
  }
  return `${out}"`;
}

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}

/** Options for writing a tree as JSON text (YAML 1.2 is a superset of JSON; go-yaml reads it too). */
export interface JsonOptions {
  readonly pretty: boolean;
  /** Write some key letters as \u escapes. */
  readonly escapeKeys: boolean;
  /** Write / as \/ in strings, as some JSON encoders do (go-yaml v2 does not know that escape). */
  readonly escapeSlash: boolean;
  /** Write non-ASCII characters as \u escapes, astral ones as surrogate pairs (Python's default). */
  readonly asciiOnly: boolean;
}

/** Render a tree as JSON, keeping duplicate keys; undefined when it has aliases or tags. */
export function renderJson(node: YNode, options: JsonOptions, depth = 0): string | undefined {
  if (node.kind === 'alias' || props(node) !== '') return undefined;
  const space = options.pretty ? `\n${'  '.repeat(depth + 1)}` : '';
  const close = options.pretty ? `\n${'  '.repeat(depth)}` : '';
  if (node.kind === 'scalar') {
    const scalar = jsonScalar(node);
    const slashed = options.escapeSlash ? scalar.replace(/\//g, '\\/') : scalar;
    return options.asciiOnly ? asciiOnly(slashed) : slashed;
  }
  if (node.kind === 'seq') {
    const items: string[] = [];
    for (const item of node.items) {
      const rendered = renderJson(item, options, depth + 1);
      if (rendered === undefined) return undefined;
      items.push(rendered);
    }
    return items.length === 0 ? '[]' : `[${space}${items.join(`,${space}`)}${close}]`;
  }
  const members: string[] = [];
  for (const { key, value } of node.entries) {
    if (key.kind === 'alias' || props(key) !== '') return undefined;
    const rendered = renderJson(value, options, depth + 1);
    if (rendered === undefined) return undefined;
    const name = options.escapeKeys ? jsonEscapeLetters(key.value) : JSON.stringify(key.value);
    members.push(`${name}:${options.pretty ? ' ' : ''}${rendered}`);
  }
  return members.length === 0 ? '{}' : `{${space}${members.join(`,${space}`)}${close}}`;
}

function jsonScalar(node: YScalar): string {
  if (node.style === 'plain') {
    const { value } = node;
    if (value === '' || value === '~' || value === 'null') return 'null';
    if (value === 'true' || value === 'false') return value;
    if (/^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$/.test(value)) return value;
  }
  return JSON.stringify(node.value);
}

function asciiOnly(json: string): string {
  return json.replace(/[^\x20-\x7e]/g, (unit) => `\\u${hex(unit.charCodeAt(0), 4)}`);
}

function jsonEscapeLetters(value: string): string {
  let index = 0;
  const body = JSON.stringify(value)
    .slice(1, -1)
    .replace(/[A-Za-z]/g, (char) => {
      index += 1;
      return index % 2 === 1 ? `\\u${hex(char.charCodeAt(0), 4)}` : char;
    });
  return `"${body}"`;
}
