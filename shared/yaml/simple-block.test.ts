import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KUBECONFIG_LIMITS, readYaml, readYamlInFull } from './parse.ts';
import { readSimpleBlockYaml } from './simple-block.ts';

const STRICT = { limits: KUBECONFIG_LIMITS, strict: true } as const;
const RUNS = Number(process.env['FUZZ_RUNS'] ?? '') > 0 ? Number(process.env['FUZZ_RUNS']) : 3000;
const SEED = Number(process.env['FUZZ_SEED'] ?? '') > 0 ? Number(process.env['FUZZ_SEED']) : undefined;

/** The same values, null-prototype mappings where the full path builds them. */
function sameTree(simple: unknown, full: unknown, path = '$'): string | undefined {
  if (Array.isArray(simple) || Array.isArray(full)) {
    if (!Array.isArray(simple) || !Array.isArray(full)) return `${path}: a sequence on one side only`;
    if (simple.length !== full.length)
      return `${path}: ${String(simple.length)} items, not ${String(full.length)}`;
    for (const [index, item] of simple.entries()) {
      const difference = sameTree(item, full[index], `${path}[${String(index)}]`);
      if (difference !== undefined) return difference;
    }
    return undefined;
  }
  if (simple !== null && typeof simple === 'object') {
    if (full === null || typeof full !== 'object') return `${path}: a mapping on one side only`;
    if (Object.getPrototypeOf(simple) !== Object.getPrototypeOf(full)) return `${path}: another prototype`;
    const keys = Object.keys(simple);
    if (keys.join('\n') !== Object.keys(full).join('\n')) return `${path}: keys ${keys.join(',')}`;
    for (const key of keys) {
      const difference = sameTree(
        (simple as Record<string, unknown>)[key],
        (full as Record<string, unknown>)[key],
        `${path}.${key}`,
      );
      if (difference !== undefined) return difference;
    }
    return undefined;
  }
  return Object.is(simple, full)
    ? undefined
    : `${path}: ${JSON.stringify(simple)} is not ${JSON.stringify(full)}`;
}

/** Either the simple reader declines, or the full path accepts the text and builds the same. */
function holds(text: string): 'simple' | 'declined' {
  const simple = readSimpleBlockYaml(text, KUBECONFIG_LIMITS.maxDepth);
  if (simple === undefined) return 'declined';
  const full = readYamlInFull(text, STRICT);
  if (!full.ok) {
    throw new Error(
      `the simple reader took a text the full path refuses (${full.violation.message}):\n${text}`,
    );
  }
  const difference = sameTree(simple, full.documents[0]);
  if (full.documents.length !== 1 || difference !== undefined) {
    throw new Error(`the simple reader read it differently (${difference ?? 'documents'}):\n${text}`);
  }
  return 'simple';
}

const KUBECTL_WRITES = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=
    server: https://api.east.example:6443
    tls-server-name: api.east.example
  name: east
contexts:
- context:
    cluster: east
    namespace: istio-system
    user: east
  name: east
current-context: east
kind: Config
preferences: {}
users:
- name: east
  user:
    token: eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.eyJpc3MiOiJrdWJlcm5ldGVzIn0.c2lnbmF0dXJl
`;

describe('the simple-shape YAML reader', () => {
  it('reads what kubectl writes, as the full path does', () => {
    expect(holds(KUBECTL_WRITES)).toBe('simple');
    expect(holds(KUBECTL_WRITES.replace('- cluster:', '  - cluster:').replaceAll('\n    ', '\n      '))).toBe(
      'declined',
    );
    const indented = `apiVersion: v1
clusters:
    - cluster:
          server: "https://api.east.example:6443"
      name: 'east'
    - {}
    - []
users: []
extensions:
`;
    expect(holds(indented)).toBe('simple');
    expect(readYaml(KUBECTL_WRITES, STRICT)).toEqual(readYamlInFull(KUBECTL_WRITES, STRICT));
  });

  it.each([
    ['a YAML 1.1 boolean', 'a: yes\n'],
    ['a YAML 1.1 boolean key', 'on: b\n'],
    ['an octal-looking number', 'a: 0755\n'],
    ['a null', 'a: ~\n'],
    ['a null word', 'a: null\n'],
    ['a boolean', 'a: true\n'],
    ['a quote escaped by doubling', "a: 'x''y'\n"],
    ['an escape', 'a: "x\\ny"\n'],
    ['a comment', 'a: b # c\n'],
    ['a comment line', '# c\na: b\n'],
    ['a tab', 'a:\tb\n'],
    ['a carriage return', 'a: b\r\n'],
    ['a document marker', '---\na: b\n'],
    ['two documents', 'a: b\n---\nc: d\n'],
    ['an anchor', 'a: &x b\n'],
    ['an alias', 'a: *x\n'],
    ['a tag', 'a: !!str b\n'],
    ['a block scalar', 'a: |\n  b\n'],
    ['a duplicate key', 'a: b\na: c\n'],
    ['a value over two lines', 'a: b\n  c\n'],
    ['two spaces after the colon', 'a:  b\n'],
    ['a trailing space', 'a: b \n'],
    ['a root sequence', '- a\n'],
    ['a flow mapping', '{a: b}\n'],
    ['a flow sequence', 'a: [b]\n'],
    ['a space in a value', 'a: x y\n'],
    ['a value ending in a colon', 'a: b:\n'],
    ['a character outside ASCII', 'a: é\n'],
    ['a key that is a number', '1: b\n'],
    ['a merge key', '<<: b\n'],
    ['a key go-yaml drops for its length', `${'k'.repeat(1001)}: b\n`],
    ['an empty text', ''],
    ['a key without a value on its line and a scalar below', 'a:\n  b\n'],
    ['a bare dash', 'a:\n-\n  b: c\n'],
    ['a nested sequence', 'a:\n- - b\n'],
    ['a line indented deeper than its mapping', 'a: b\n   c: d\n'],
    ['a blank line of spaces', 'a: b\n  \nc: d\n'],
  ])('leaves %s to the full path', (_, text) => {
    expect(readSimpleBlockYaml(text, KUBECONFIG_LIMITS.maxDepth)).toBeUndefined();
  });

  it('is never deeper than the full path allows', () => {
    let text = 'a0:\n';
    for (let depth = 1; depth < 12; depth += 1) text += `${' '.repeat(depth * 2)}a${String(depth)}:\n`;
    expect(readSimpleBlockYaml(text, KUBECONFIG_LIMITS.maxDepth)).toBeUndefined();
    expect(readSimpleBlockYaml(text, 3)).toBeUndefined();
    expect(readYamlInFull(text, STRICT).ok).toBe(true);
  });

  it('on generated and mutated kubeconfig-like texts, declines or reads exactly what the full path reads', () => {
    const safe = fc.constantFrom(
      ...[
        'east',
        'name',
        'server',
        'user',
        'token',
        'cluster',
        'constructor',
        'toString',
        'a.b',
        'x-y',
        'k/v',
      ],
      ...[
        'https://api.east.example:6443',
        '/etc/token',
        'eyJhbGc.eyJ.sig',
        'LS0t+/==',
        'a:b',
        'v1',
        'Config',
      ],
    );
    const tricky = fc.constantFrom(
      ...['yes', 'no', 'on', 'Off', 'y', 'N', 'null', 'Null', 'true', 'FALSE', '~', '1', '0x1F', '0755'],
      ...['.inf', '-', '<<', 'a: b', 'a #b', "it's", 'q"q', 'b\\n', '', ' ', '@x', '%x', '=', 'é', '\t'],
    );
    const word = fc.oneof({ arbitrary: safe, weight: 12 }, { arbitrary: tricky, weight: 1 });
    const keyWords = fc.constantFrom(
      'east',
      'name',
      'server',
      'user',
      'constructor',
      'toString',
      'a.b',
      'x-y',
      'k/v',
    );
    const key = fc.oneof(
      { arbitrary: keyWords, weight: 12 },
      { arbitrary: tricky, weight: 1 },
      { arbitrary: safe, weight: 1 },
    );
    type Tree = string | null | Tree[] | { [key: string]: Tree };
    const { tree } = fc.letrec<{ tree: Tree }>((self) => ({
      tree: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        word,
        fc.constant(null),
        fc.array(self('tree'), { maxLength: 3 }),
        fc.dictionary(key, self('tree'), { maxKeys: 4 }),
      ),
    }));
    const style = fc.record({
      indent: fc.constantFrom(2, 4),
      compact: fc.boolean(),
      quote: fc.constantFrom('plain', 'plain', 'single', 'double'),
    });
    const scalar = (value: string, quote: string) =>
      quote === 'single' ? `'${value}'` : quote === 'double' ? `"${value}"` : value;
    const write = (
      node: Tree,
      at: number,
      s: { indent: number; compact: boolean; quote: string },
    ): string[] => {
      const pad = ' '.repeat(at);
      if (Array.isArray(node)) {
        if (node.length === 0) return [`${pad}[]`];
        return node.flatMap((item) => {
          const inner = write(item, at + 2, s);
          const first = (inner[0] ?? '').slice(at + 2);
          return [`${pad}- ${first}`, ...inner.slice(1)];
        });
      }
      if (node === null) return [pad];
      if (typeof node === 'object') {
        const entries = Object.entries(node);
        if (entries.length === 0) return [`${pad}{}`];
        return entries.flatMap(([key, value]) => {
          if (value === null) return [`${pad}${key}:`];
          if (typeof value === 'string') return [`${pad}${key}: ${scalar(value, s.quote)}`];
          if (Array.isArray(value) && value.length > 0) {
            return [`${pad}${key}:`, ...write(value, s.compact ? at : at + s.indent, s)];
          }
          if (!Array.isArray(value) && Object.keys(value).length > 0) {
            return [`${pad}${key}:`, ...write(value, at + s.indent, s)];
          }
          return [`${pad}${key}: ${Array.isArray(value) ? '[]' : '{}'}`];
        });
      }
      return [`${pad}${scalar(node, s.quote)}`];
    };
    const mutation = fc.record({
      kind: fc.constantFrom('none', 'none', 'insert', 'delete', 'duplicate-line', 'indent-line'),
      at: fc.nat(),
      text: fc.constantFrom(
        ' ',
        '  ',
        '\n',
        ':',
        ': ',
        '- ',
        '#',
        '\t',
        "'",
        '"',
        '&a ',
        '*a',
        '!',
        '|',
        '---\n',
        'yes',
      ),
    });
    let simple = 0;
    fc.assert(
      fc.property(
        fc.dictionary(key, tree, { minKeys: 1, maxKeys: 5 }),
        style,
        mutation,
        (root, s, change) => {
          let text = `${write(root, 0, s).join('\n')}\n`;
          const at = change.at % (text.length + 1);
          if (change.kind === 'insert') text = text.slice(0, at) + change.text + text.slice(at);
          if (change.kind === 'delete') text = text.slice(0, at) + text.slice(at + 1);
          if (change.kind === 'duplicate-line' || change.kind === 'indent-line') {
            const lines = text.split('\n');
            const index = at % lines.length;
            lines.splice(
              index,
              change.kind === 'duplicate-line' ? 0 : 1,
              change.kind === 'duplicate-line' ? (lines[index] ?? '') : ` ${lines[index] ?? ''}`,
            );
            text = lines.join('\n');
          }
          if (holds(text) === 'simple') simple += 1;
        },
      ),
      { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
    // Not a vacuous property: a good share of the texts take the simple path.
    expect(simple).toBeGreaterThan(RUNS / 10);
  });
});
