import {
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
  const { limits, strict } = options;
  if (text.length > limits.maxLength) {
    return fail(
      'input-too-large',
      `the input is ${formatSize(text.length)}, more than the ${formatSize(limits.maxLength)} allowed`,
      'a kubeconfig or Secret is far smaller than this; check that this is the right file',
    );
  }
  let events: Event[];
  try {
    events = parseEvents(text, { maxDepth: limits.maxDepth });
  } catch (error) {
    return failFromException(error, text);
  }
  const problem = scanEvents(text, events, options);
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
 * One pass over the parser's events: counts what aliases would expand to, and in strict mode
 * refuses what go-yaml v2 reads differently from the YAML 1.2 core schema.
 */
function scanEvents(text: string, events: readonly Event[], options: YamlReadOptions): Violation | undefined {
  const { limits, strict } = options;
  // Nodes below each open collection, and the anchors awaiting their node's size.
  const counts: number[] = [0];
  const pendingAnchors: (string | undefined)[] = [];
  const anchorSizes = new Map<string, number>();
  let expanded = 0;
  let documents = 0;

  const closeNode = (size: number, anchor: string | undefined): void => {
    if (anchor !== undefined) anchorSizes.set(anchor, size);
    counts[counts.length - 1] = (counts.at(-1) ?? 0) + size;
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
        break;
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE:
        if (strict && event.tagStart !== -1) return explicitTag(text, event.tagStart, event.tagEnd);
        counts.push(0);
        pendingAnchors.push(
          event.anchorStart === -1 ? undefined : text.slice(event.anchorStart, event.anchorEnd),
        );
        break;
      case EVENT_ID.POP: {
        // A POP closes a collection or a document; documents have no pending anchor entry.
        if (counts.length > 1) {
          const size = (counts.pop() ?? 0) + 1;
          closeNode(size, pendingAnchors.pop());
        }
        break;
      }
      case EVENT_ID.SCALAR: {
        if (strict) {
          if (event.tagStart !== -1) return explicitTag(text, event.tagStart, event.tagEnd);
          if (event.style === SCALAR_STYLE.PLAIN) {
            // Most scalars (names, URLs, base64, tokens) start with a letter no YAML 1.1 rule
            // cares about; only the others are decoded and compared.
            if (isInterestingFirstChar(text.charCodeAt(event.valueStart))) {
              const value = event.fast
                ? text.slice(event.valueStart, event.valueEnd)
                : getScalarValue(text, event);
              const reason = goYamlDisagreement(value);
              if (reason !== undefined) return ambiguous(text, event.valueStart, reason);
            }
          }
        }
        closeNode(1, event.anchorStart === -1 ? undefined : text.slice(event.anchorStart, event.anchorEnd));
        break;
      }
      case EVENT_ID.ALIAS: {
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
        counts[counts.length - 1] = (counts.at(-1) ?? 0) + size;
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
// Forms that either reader may take as a number or a timestamp, though not as the same one.
const OTHER_NUMBER =
  /^[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9_]+)$/;
const TIMESTAMP_START = /^[0-9]{4}-/;

/**
 * Why go-yaml v2 could read this plain scalar differently, or undefined when it reads it alike.
 * Messages never quote the value unless it is one of YAML's fixed words: it may be a token.
 */
export function goYamlDisagreement(value: string): string | undefined {
  if (YAML11_BOOLEANS.has(value) || YAML11_ON_OFF.has(value)) {
    return `the plain value "${value}" is a boolean in YAML 1.1 (client-go) but a string in YAML 1.2; quote it`;
  }
  if (value === '<<') return 'merge keys (<<) are read differently by YAML libraries; write the keys out';
  if (PLAIN_DECIMAL.test(value) || INF_NAN.test(value)) return undefined;
  // A float needs a point or an exponent: go-yaml reads digits with a leading zero as octal.
  if (PLAIN_FLOAT.test(value) && /[.eE]/.test(value)) return undefined;
  if (OTHER_NUMBER.test(value)) {
    return 'this plain value is a number in one YAML version and not the same one in the other; quote it';
  }
  if (TIMESTAMP_START.test(value)) {
    return 'this plain value may be read as a timestamp by client-go; quote it';
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
