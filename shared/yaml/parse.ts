import {
  CHOMPING_MODE,
  COLLECTION_STYLE,
  CORE_SCHEMA,
  getScalarValue,
  EVENT_ID,
  SCALAR_STYLE,
  YAMLException,
  constructFromEvents,
  defineMappingTag,
  parseEvents,
  type Event,
} from 'js-yaml';
import { violation, type Violation } from '../violations.ts';
import { parseEventsCut } from './long-runs.ts';
import { readSimpleBlockYaml } from './simple-block.ts';

/**
 * Limits for untrusted YAML. A Secret holds at most 1 MiB, so a kubeconfig never needs more;
 * real kubeconfigs are a few levels deep and use no aliases at all.
 */
export interface YamlLimits {
  /** Largest input accepted, in UTF-16 code units (the text is already decoded). */
  readonly maxLength: number;
  /** Deepest nesting of mappings and sequences. */
  readonly maxDepth: number;
  /** Most nodes that aliases may add when expanded (what a consumer that copies them would build). */
  readonly maxAliasExpansion: number;
}

export const KUBECONFIG_LIMITS: YamlLimits = {
  maxLength: 1024 * 1024,
  maxDepth: 32,
  maxAliasExpansion: 10_000,
};

/** How to read the text. */
export interface YamlReadOptions {
  readonly limits: YamlLimits;
  /**
   * Reject constructs that a Go reader (go-yaml v2 via sigs.k8s.io/yaml, which client-go uses)
   * could read differently from us: several documents, explicit tags, merge keys, YAML 1.1-only
   * plain scalars, duplicate keys. Used for kubeconfigs, where a difference could hide an `exec`.
   */
  readonly strict: boolean;
}

export type YamlReadResult =
  | { readonly ok: true; readonly documents: readonly unknown[] }
  | { readonly ok: false; readonly violation: Violation };

const DUPLICATE_KEY = 'duplicate mapping key';
const COMPLEX_KEY = 'mapping keys must be scalars';
const NULL_KEY = 'a mapping key is null (~, null or empty), which client-go refuses';

/**
 * Mappings become null-prototype records, so a key such as `__proto__` or `constructor` is
 * plain data. Keys are stringified as sigs.k8s.io/yaml does when it converts YAML to JSON;
 * two keys that stringify alike (`1` and `"1"`) are a duplicate, which we refuse rather than
 * guess which one a Go reader keeps.
 */
const recordMapTag = defineMappingTag<Record<string, unknown>>('tag:yaml.org,2002:map', {
  create: () => Object.create(null) as Record<string, unknown>,
  addPair: (carrier, key, value) => {
    if (key !== null && typeof key === 'object') return COMPLEX_KEY;
    const name = String(key);
    // sigs.k8s.io/yaml cannot turn a null key into JSON, so client-go refuses the whole document.
    if (key === null) return NULL_KEY;
    if (Object.hasOwn(carrier, name)) return `${DUPLICATE_KEY} "${truncate(name)}"`;
    carrier[name] = value;
    return '';
  },
  has: () => false,
  keys: (result) => Object.keys(result),
  get: (result, key) => result[String(key)],
  identify: () => false,
});

const SCHEMA = CORE_SCHEMA.withTags(recordMapTag);

/**
 * Parse YAML (or JSON, which is YAML) from an untrusted source into plain data, within limits.
 * Never throws for bad input: every problem is a violation with a line number.
 */
export function readYaml(text: string, options: YamlReadOptions): YamlReadResult {
  const { limits } = options;
  if (text.length > limits.maxLength) {
    return fail(
      'input-too-large',
      `the input is ${formatSize(text.length)}, more than the ${formatSize(limits.maxLength)} allowed`,
      'a kubeconfig or Secret is far smaller than this; check that this is the right file',
    );
  }
  // Nearly every kubeconfig has the simple shape kubectl writes: read in one pass over the lines.
  const simple = readSimpleBlockYaml(text, limits.maxDepth);
  if (simple !== undefined) return { ok: true, documents: [simple] };
  return readYamlInFull(text, options);
}

/**
 * readYaml without the simple-shape reader: js-yaml's events, every go-yaml check, then the
 * values. Exported for the tests that hold the simple reader to it.
 */
export function readYamlInFull(text: string, options: YamlReadOptions): YamlReadResult {
  const { limits, strict } = options;
  // In plain ASCII text (nearly every kubeconfig; a native byte count tells) js-yaml itself refuses
  // the C0 controls go-yaml refuses, except DEL and controls in comments: only those need the full
  // scan (see failFromException for what js-yaml refuses).
  if (
    strict &&
    (Buffer.byteLength(text, 'utf8') !== text.length || text.includes('\x7f') || text.includes('#'))
  ) {
    const odd = unsharedCharacter(text);
    if (odd !== undefined) return { ok: false, violation: odd };
  }
  let events: Event[];
  try {
    // Most kubeconfigs take the fast path (long-runs.ts); the rest, and every error, the full scan.
    events =
      parseEventsCut(text, { maxDepth: limits.maxDepth }) ?? parseEvents(text, { maxDepth: limits.maxDepth });
  } catch (error) {
    return failFromException(error, text);
  }
  const problem =
    scanEvents(text, events, options) ??
    (strict ? (goYamlTab(text, events) ?? goYamlFinalBlockScalar(text, events)) : undefined);
  if (problem !== undefined) return { ok: false, violation: problem };
  try {
    // Expansion is bounded by scanEvents, so building the values is safe.
    const documents = constructFromEvents(events, { source: text, schema: SCHEMA, json: false });
    return { ok: true, documents };
  } catch (error) {
    return failFromException(error, text, strict);
  }
}

/**
 * Characters go-yaml v2 refuses (controls other than tab, LF and CR; U+FFFE, U+FFFF) or takes as
 * line breaks where YAML 1.2 does not (NEL, LS, PS), so a quoted or plain value holding one reads
 * differently. A byte-order mark is fine only where both skip it, at the very start.
 */
const UNSHARED_CHARACTER =
  /[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\u{10000}-\u{10ffff}]/u;

function unsharedCharacter(text: string): Violation | undefined {
  const match = UNSHARED_CHARACTER.exec(text.startsWith('\ufeff') ? text.slice(1) : text);
  if (match === null) return undefined;
  const code = match[0].codePointAt(0) ?? 0;
  const name = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  const position = match.index + (text.startsWith('\ufeff') ? 1 : 0);
  return ambiguous(
    text,
    position,
    `the character ${name} is refused by client-go or read as a line break by one YAML version and not the other; remove it`,
  );
}

/**
 * go-yaml v2 refuses a tab where a block-context token may start: at the start of a line (even
 * after spaces) and after `-`, `?` or an explicit-key `:`; YAML 1.2 takes it as white space.
 * Inside a flow collection ({...}, [...]) tabs are white space to both, so a document written
 * all in flow style (JSON) may hold them anywhere inside its root; before the root and on the
 * lines after it (blank or comments) go-yaml is in block context again and refuses them there.
 */
const BLOCK_TAB = /(?:^|[\n\r])[ ?:-]*\t/;
const LINE_START_TAB = /(?:^|[\n\r]) *\t/;

function goYamlTab(text: string, events: readonly Event[]): Violation | undefined {
  if (!text.includes('\t')) return undefined;
  const root = events.find((event) => event.type !== EVENT_ID.DOCUMENT);
  const flowRoot =
    (root?.type === EVENT_ID.MAPPING || root?.type === EVENT_ID.SEQUENCE) &&
    root.style === COLLECTION_STYLE.FLOW;
  if (!flowRoot) {
    const match = BLOCK_TAB.exec(text);
    return match === null ? undefined : tabViolation(text, match.index + match[0].length - 1);
  }
  const before = LINE_START_TAB.exec(text.slice(0, root.start));
  if (before !== null) return tabViolation(text, before.index + before[0].length - 1);
  const trailing = trailingLinesStart(text);
  const after = LINE_START_TAB.exec(text.slice(trailing));
  return after === null ? undefined : tabViolation(text, trailing + after.index + after[0].length - 1);
}

/** Where the blank and comment-only lines at the end of the text begin (the text's length if none). */
function trailingLinesStart(text: string): number {
  let end = text.length;
  for (;;) {
    const lineStart = Math.max(text.lastIndexOf('\n', end - 1), text.lastIndexOf('\r', end - 1)) + 1;
    const line = text.slice(lineStart, end);
    if (lineStart === 0 || !/^[ \t]*(?:#.*)?[\r\n]*$/.test(line)) return end;
    end = lineStart - 1;
  }
}

function tabViolation(text: string, position: number): Violation {
  return ambiguous(
    text,
    position,
    'client-go refuses a tab at the start of a line or after -, ? or :; use spaces',
  );
}

/**
 * A literal or folded scalar that keeps its final line break (`|`, `>`, `|+`, `>+`) and ends the
 * text without one: go-yaml v2 reads no final line break there, YAML 1.2 readers add one, so the
 * last value (a token, a server) would differ by a newline.
 */
function goYamlFinalBlockScalar(text: string, events: readonly Event[]): Violation | undefined {
  // The last character of the text that is not a space or tab (a loop: an end-anchored regular
  // expression would retry at every run of spaces in the text).
  let end = text.length - 1;
  while (end >= 0 && (text.charCodeAt(end) === 32 || text.charCodeAt(end) === 9)) end -= 1;
  if (end < 0 || text.charCodeAt(end) === 10 || text.charCodeAt(end) === 13) return undefined;
  // A final line break never came.
  const last = events.findLast((event) => event.type === EVENT_ID.SCALAR);
  if (last?.type !== EVENT_ID.SCALAR) return undefined;
  const block = last.style === SCALAR_STYLE.LITERAL_BLOCK || last.style === SCALAR_STYLE.FOLDED_BLOCK;
  if (!block || last.chomping === CHOMPING_MODE.STRIP || end < last.valueStart || end >= last.valueEnd) {
    return undefined;
  }
  return ambiguous(
    text,
    last.valueStart,
    'the text ends inside a | or > block without a final newline, which YAML readers keep or drop; end the text with a newline',
  );
}

/**
 * One pass over the parser's events: counts what aliases would expand to, and in strict mode
 * refuses what go-yaml v2 reads differently from the YAML 1.2 core schema.
 */
function scanEvents(text: string, events: readonly Event[], options: YamlReadOptions): Violation | undefined {
  const { limits, strict } = options;
  // Nodes below each open collection, and the anchors awaiting their node's size.
  const counts: number[] = [0];
  const pendingAnchors: (string | undefined)[] = [];
  // Each open collection, in parallel arrays (this loop runs on every admission request): flow
  // style ({...} or [...]) or not, mapping or not, and how many children it has so far.
  const flows: boolean[] = [];
  const mappings: boolean[] = [];
  const children: number[] = [];
  /** Count a new node in its parent; true when it is a mapping key. */
  const enter = (): boolean => {
    const top = children.length - 1;
    if (top < 0) return false;
    const count = (children[top] ?? 0) + 1;
    children[top] = count;
    return mappings[top] === true && count % 2 === 1;
  };
  const anchorSizes = new Map<string, number>();
  let expanded = 0;
  let documents = 0;

  const closeNode = (size: number, anchor: string | undefined): void => {
    if (anchor !== undefined) anchorSizes.set(anchor, size);
    const top = counts.length - 1;
    counts[top] = (counts[top] ?? 0) + size;
  };

  for (const event of events) {
    switch (event.type) {
      case EVENT_ID.DOCUMENT:
        documents += 1;
        if (strict && documents > 1) {
          return ambiguous(
            text,
            0,
            'the text holds more than one YAML document; a kubeconfig is one document',
          );
        }
        // %YAML and %TAG change how a reader resolves what follows; go-yaml v2 and js-yaml differ.
        if (strict && event.directives.length > 0) {
          return ambiguous(
            text,
            0,
            'YAML directives (%YAML, %TAG) are read differently by YAML libraries; remove them',
          );
        }
        break;
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE:
        if (strict && event.tagStart !== -1) return explicitTag(text, event.tagStart, event.tagEnd);
        enter();
        if (strict && !isGoYamlAnchor(text, event.anchorStart, event.anchorEnd)) {
          return goYamlAnchorViolation(text, event.anchorStart);
        }
        counts.push(0);
        flows.push(event.style === COLLECTION_STYLE.FLOW);
        mappings.push(event.type === EVENT_ID.MAPPING);
        children.push(0);
        pendingAnchors.push(
          event.anchorStart === -1 ? undefined : text.slice(event.anchorStart, event.anchorEnd),
        );
        break;
      case EVENT_ID.POP: {
        // A POP closes a collection or a document; documents have no pending anchor entry.
        if (counts.length > 1) {
          const size = (counts.pop() ?? 0) + 1;
          flows.pop();
          mappings.pop();
          children.pop();
          closeNode(size, pendingAnchors.pop());
        }
        break;
      }
      case EVENT_ID.SCALAR: {
        const isKey = enter();
        if (strict) {
          if (event.tagStart !== -1) return explicitTag(text, event.tagStart, event.tagEnd);
          if (!isGoYamlAnchor(text, event.anchorStart, event.anchorEnd)) {
            return goYamlAnchorViolation(text, event.anchorStart);
          }
          if (isKey && !isGoYamlSimpleKey(text, event.valueStart, event.valueEnd)) {
            return ambiguous(
              text,
              event.valueStart,
              'client-go refuses a mapping key longer than 1024 characters or written over several lines',
            );
          }
          if (
            event.style === SCALAR_STYLE.DOUBLE_QUOTED &&
            GO_YAML_UNKNOWN_ESCAPE.test(text.slice(event.valueStart, event.valueEnd))
          ) {
            return ambiguous(
              text,
              event.valueStart,
              'client-go refuses the escapes \\/ and \\u surrogate pairs (JSON has them, YAML 1.1 does not); write the character itself',
            );
          }
          if (event.style === SCALAR_STYLE.PLAIN && flows[flows.length - 1] === true) {
            const reason = goYamlFlowDisagreement(text, event.valueStart, event.valueEnd);
            if (reason !== undefined) return ambiguous(text, event.valueStart, reason);
          }
          if (event.style === SCALAR_STYLE.PLAIN) {
            // Most scalars (names, URLs, base64, tokens) start with a letter no YAML 1.1 rule
            // cares about; only the others are decoded and compared.
            if (isInterestingFirstChar(text.charCodeAt(event.valueStart))) {
              const value = event.fast
                ? text.slice(event.valueStart, event.valueEnd)
                : getScalarValue(text, event);
              const reason = goYamlDisagreement(value, isKey);
              if (reason !== undefined) return ambiguous(text, event.valueStart, reason);
            }
          }
        }
        closeNode(1, event.anchorStart === -1 ? undefined : text.slice(event.anchorStart, event.anchorEnd));
        break;
      }
      case EVENT_ID.ALIAS: {
        enter();
        if (strict && !isGoYamlAnchor(text, event.anchorStart, event.anchorEnd)) {
          return goYamlAnchorViolation(text, event.anchorStart);
        }
        const size = anchorSizes.get(text.slice(event.anchorStart, event.anchorEnd)) ?? 1;
        expanded += size;
        if (expanded > limits.maxAliasExpansion) {
          return violationAt(
            'yaml-alias-limit',
            text,
            event.anchorStart,
            `aliases expand to more than ${limits.maxAliasExpansion} nodes (a "billion laughs" document)`,
            'write the values out instead of repeating them through aliases',
          );
        }
        counts[counts.length - 1] = (counts[counts.length - 1] ?? 0) + size;
        break;
      }
    }
  }
  if (strict && documents === 0) {
    return violation('empty-kubeconfig', '', 'the kubeconfig is empty', 'put a complete kubeconfig here');
  }
  return undefined;
}

// Plain scalars that go-yaml v2 resolves by YAML 1.1 rules and the YAML 1.2 core schema does not.
const YAML11_BOOLEANS = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'n', 'N', 'no', 'No', 'NO']);
const YAML11_ON_OFF = new Set(['on', 'On', 'ON', 'off', 'Off', 'OFF']);
// Forms both readers take as the same number.
const PLAIN_DECIMAL = /^[-+]?(?:0|[1-9][0-9]*)$/;
const PLAIN_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const INF_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
// Forms that either reader may take as a number, though not as the same one.
const OTHER_NUMBER =
  /^[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9_]+)$/;
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * Why go-yaml v2 could read this plain scalar differently, or undefined when it reads it alike.
 * Messages never quote the value unless it is one of YAML's fixed words: it may be a token.
 * YAML 1.1 timestamps need no rule: go-yaml hands them to sigs.k8s.io/yaml as the text they are.
 */
export function goYamlDisagreement(value: string, isKey = false): string | undefined {
  // The words are at most 3 characters; checking the length first spares hashing a long value.
  if (value.length <= 3 && (YAML11_BOOLEANS.has(value) || YAML11_ON_OFF.has(value))) {
    return `the plain value "${value}" is a boolean in YAML 1.1 (client-go) but a string in YAML 1.2; quote it`;
  }
  if (value === '<<') return 'merge keys (<<) are read differently by YAML libraries; write the keys out';
  if (INF_NAN.test(value)) {
    return 'client-go cannot turn .inf or .nan into JSON and refuses the whole kubeconfig; quote it';
  }
  if (PLAIN_DECIMAL.test(value)) return isKey ? integerKeyDisagreement(value) : undefined;
  // A number as a key becomes text: sigs.k8s.io/yaml writes floats with float32 precision in Go's
  // notation (1e+06), YAML 1.2 readers with JavaScript's; only small integers read alike.
  if (isKey && PLAIN_FLOAT.test(value)) {
    return 'a number as a mapping key becomes different text in client-go and in YAML 1.2 readers; quote it';
  }
  // go-yaml keeps a float too large for 64 bits as a string; YAML 1.2 makes it Infinity.
  if (PLAIN_FLOAT.test(value) && !Number.isFinite(Number(value))) {
    return 'this number is too large for client-go, which reads it as text; quote it';
  }
  // A float needs a point or an exponent: go-yaml reads digits with a leading zero as octal.
  if (PLAIN_FLOAT.test(value) && /[.eE]/.test(value)) return undefined;
  if (OTHER_NUMBER.test(value)) {
    return 'this plain value is a number in one YAML version and not the same one in the other; quote it';
  }
  return undefined;
}

/**
 * An integer key: go-yaml makes a key above int64 an unsigned integer, which sigs.k8s.io/yaml
 * cannot turn into JSON (the whole load fails), and one beyond 64 bits a float; JavaScript loses
 * digits beyond 2^53. Smaller integers read as the same text in both.
 */
function integerKeyDisagreement(value: string): string | undefined {
  const digits = value.replace(/^[-+]/, '');
  if (digits.length < 16) return undefined;
  const number = BigInt(value.startsWith('+') ? value.slice(1) : value);
  if (number > INT64_MAX && number <= UINT64_MAX) {
    return 'client-go cannot load an integer mapping key between 2^63 and 2^64 (an unsigned integer it cannot turn into JSON); quote it';
  }
  if (number > BigInt(Number.MAX_SAFE_INTEGER) || number < BigInt(Number.MIN_SAFE_INTEGER)) {
    return 'an integer mapping key this large becomes different text in client-go and in YAML 1.2 readers; quote it';
  }
  return undefined;
}

/** go-yaml v2 anchor names are letters, digits, `-` and `_`; YAML 1.2 allows far more (even `:`). */
function isGoYamlAnchor(text: string, start: number, end: number): boolean {
  return start === -1 || /^[A-Za-z0-9_-]+$/.test(text.slice(start, end));
}

function goYamlAnchorViolation(text: string, position: number): Violation {
  return ambiguous(
    text,
    position,
    'client-go reads anchor names of letters, digits, - and _ only; rename the anchor (or write the value out)',
  );
}

/** go-yaml v2 drops a would-be key that spans lines or runs past 1024 characters, failing the load. */
function isGoYamlSimpleKey(text: string, start: number, end: number): boolean {
  if (end - start > 1000) return false;
  for (let index = start; index < end; index += 1) {
    const code = text.charCodeAt(index);
    if (code === 10 || code === 13) return false;
  }
  return true;
}

/**
 * A `\/` escape or a `\u` escape of a UTF-16 surrogate (not a `\\` followed by them) in the
 * source of a double-quoted scalar: JSON writers use both, go-yaml v2 refuses both.
 */
const GO_YAML_UNKNOWN_ESCAPE = /(?<!\\)(?:\\\\)*\\(?:\/|u[dD][89a-fA-F][0-9a-fA-F]{2})/;

/**
 * Inside `{...}` and `[...]`, go-yaml v2 takes `?` as the explicit-key indicator wherever a
 * token starts (so `{?exec: ...}` is the key `exec`) and ends a plain scalar at any `?`, and
 * takes a leading `:` as the value indicator; YAML 1.2 reads these as text. And where YAML 1.2
 * ends a plain key at a `:` followed by `[`, `{` or `,`, go-yaml keeps the `:` in the scalar.
 */
export function goYamlFlowDisagreement(text: string, start: number, end: number): string | undefined {
  const raw = text.slice(start, end);
  if (raw.includes('?') || raw.startsWith(':')) {
    return 'in a flow collection client-go reads "?" and a leading ":" as indicators, not text; quote this value';
  }
  if (text.charAt(end) === ':' && !/^[ \t\r\n]?$/.test(text.charAt(end + 1))) {
    return 'in a flow collection client-go needs a space after the ":" that ends a plain key; add one';
  }
  return undefined;
}

function isInterestingFirstChar(code: number): boolean {
  return (
    (code >= 48 && code <= 57) || // 0-9
    code === 43 || // +
    code === 45 || // -
    code === 46 || // .
    code === 60 || // <
    code === 121 ||
    code === 89 || // y Y
    code === 110 ||
    code === 78 || // n N
    code === 111 ||
    code === 79 // o O
  );
}

function explicitTag(text: string, start: number, end: number): Violation {
  return ambiguous(
    text,
    start,
    `the explicit tag ${truncate(text.slice(start, end))} is resolved differently by YAML libraries; remove it`,
  );
}

function ambiguous(text: string, position: number, reason: string): Violation {
  return violationAt(
    'ambiguous-yaml',
    text,
    position,
    reason,
    'write the kubeconfig as a tool would (kubectl config view --raw --minify, or kubectl remote-secret create)',
  );
}

function failFromException(error: unknown, text: string, strict = true): YamlReadResult {
  // js-yaml refuses control characters as "non-printable"; say which one and why, as for the rest.
  if (
    strict &&
    error instanceof YAMLException &&
    (error.reason.includes('non-printable') || error.reason.includes('expected valid JSON character'))
  ) {
    const odd = unsharedCharacter(text);
    if (odd !== undefined) return { ok: false, violation: odd };
  }
  if (!(error instanceof YAMLException)) {
    // js-yaml documents that anything may be thrown on hostile input; deep recursion is the known case.
    if (error instanceof RangeError) {
      return fail('yaml-too-deep', 'the YAML is nested too deeply to read');
    }
    throw error;
  }
  const position = error.mark?.position ?? 0;
  const reason = error.reason;
  if (reason.startsWith('nesting exceeded maxDepth')) {
    return {
      ok: false,
      violation: violationAt(
        'yaml-too-deep',
        text,
        position,
        `the YAML is nested more than the limit allows`,
      ),
    };
  }
  if (reason.startsWith(DUPLICATE_KEY) && strict) {
    return {
      ok: false,
      violation: ambiguous(text, position, `${reason}: YAML libraries keep different copies`),
    };
  }
  return {
    ok: false,
    violation: violationAt('yaml-syntax', text, position, `not valid YAML: ${reason}`),
  };
}

function violationAt(
  code: Violation['code'],
  text: string,
  position: number,
  message: string,
  hint?: string,
): Violation {
  const { line, column } = lineAndColumn(text, position);
  return violation(code, `line ${line}, column ${column}`, message, hint);
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(Math.max(position, 0), text.length);
  for (let i = text.indexOf('\n'); i !== -1 && i < end; i = text.indexOf('\n', i + 1)) {
    line += 1;
    lineStart = i + 1;
  }
  return { line, column: end - lineStart + 1 };
}

function fail(code: Violation['code'], message: string, hint?: string): YamlReadResult {
  return { ok: false, violation: violation(code, '', message, hint) };
}

function truncate(value: string, max = 40): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}

export function formatSize(units: number): string {
  if (units >= 1024 * 1024) return `${(units / (1024 * 1024)).toFixed(1)} MiB`;
  if (units >= 1024) return `${(units / 1024).toFixed(1)} KiB`;
  return `${units} bytes`;
}
