import { describe, expect, it } from 'vitest';
import { KUBECONFIG_LIMITS, readYaml, type YamlLimits } from './parse.ts';

const strict = (text: string, limits: YamlLimits = KUBECONFIG_LIMITS) =>
  readYaml(text, { limits, strict: true });

function bomb(levels: number): string {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let level = 1; level < levels; level += 1) {
    lines.push(`a${level}: &a${level} [${Array.from({ length: 10 }, () => `*a${level - 1}`).join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}

describe('readYaml limits', () => {
  it.each([
    {
      name: 'input over the size cap',
      text: 'a: 1\n'.repeat(10),
      limits: { ...KUBECONFIG_LIMITS, maxLength: 20 },
      code: 'input-too-large',
    },
    {
      name: 'flow nesting past maxDepth',
      text: `${'['.repeat(40)}${']'.repeat(40)}`,
      limits: KUBECONFIG_LIMITS,
      code: 'yaml-too-deep',
    },
    {
      name: 'block nesting past maxDepth',
      text: Array.from({ length: 40 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' x\n',
      limits: KUBECONFIG_LIMITS,
      code: 'yaml-too-deep',
    },
    { name: 'billion laughs', text: bomb(9), limits: KUBECONFIG_LIMITS, code: 'yaml-alias-limit' },
    {
      name: 'hundred thousand deep flow nesting',
      text: '['.repeat(100_000),
      limits: { ...KUBECONFIG_LIMITS, maxLength: 200_000 },
      code: 'yaml-too-deep',
    },
  ])('rejects $name with $code', ({ text, limits, code }) => {
    const result = strict(text, limits);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.violation.code).toBe(code);
  });

  it('expands plain aliases within the cap', () => {
    const result = strict('base: &base {server: "https://a"}\ncopy: *base\n');
    expect(result).toEqual({
      ok: true,
      documents: [{ base: { server: 'https://a' }, copy: { server: 'https://a' } }],
    });
  });

  it('counts nested alias expansion, not alias nodes', () => {
    // Three levels expand to 1,110 nodes: allowed; five levels to over 100,000: refused.
    expect(strict(bomb(3)).ok).toBe(true);
    const refused = strict(bomb(5));
    expect(refused.ok ? undefined : refused.violation.code).toBe('yaml-alias-limit');
  });
});

describe('readYaml strict mode: where go-yaml v2 could read differently', () => {
  it.each([
    { name: 'two documents', text: 'a: 1\n---\nb: 2\n' },
    { name: 'a %YAML directive', text: '%YAML 1.1\n---\na: yes\n' },
    { name: 'a %TAG directive', text: '%TAG !k! tag:example.com,2000:\n---\na: b\n' },
    { name: 'duplicate key', text: 'exec: null\nexec: {command: sh}\n' },
    { name: 'duplicate key by stringified form', text: '1: a\n"1": b\n' },
    { name: 'merge key', text: 'base: &b {a: 1}\nuser:\n  <<: *b\n' },
    { name: 'explicit !!binary tag', text: 'token: !!binary aGVsbG8=\n' },
    { name: 'explicit !!str tag', text: 'token: !!str 123\n' },
    { name: 'local tag', text: 'exec: !foo {command: sh}\n' },
    { name: 'tag on a mapping', text: 'exec: !!map {command: sh}\n' },
    { name: 'YAML 1.1 boolean yes', text: 'insecure-skip-tls-verify: yes\n' },
    { name: 'YAML 1.1 boolean On', text: 'colors: On\n' },
    { name: 'YAML 1.1 boolean n', text: 'x: n\n' },
    { name: 'YAML 1.1 key', text: 'y: 1\n' },
    { name: 'leading-zero octal', text: 'x: 0755\n' },
    { name: 'YAML 1.2 octal', text: 'x: 0o755\n' },
    { name: 'underscored number', text: 'x: 1_000\n' },
    { name: 'binary number', text: 'x: 0b101\n' },
    { name: 'hex number', text: 'x: 0x1F\n' },
    { name: 'an integer key in the uint64 range', text: '9223372036854775808: a\n' },
    { name: 'an integer key past 2^53', text: '9007199254740993: a\n' },
    { name: 'a float key', text: '1.5: a\n' },
    { name: 'a tab before a JSON root', text: '\t{"a": 1}\n' },
    { name: 'a tab at the start of a line after a JSON root', text: '{"a": 1}\n\t\n' },
  ])('rejects $name as ambiguous-yaml', ({ text }) => {
    const result = strict(text);
    expect(result.ok ? 'ok' : result.violation.code).toBe('ambiguous-yaml');
  });

  it.each([
    { name: 'quoted yes', text: 'x: "yes"\n', value: { x: 'yes' } },
    { name: 'true', text: 'x: true\n', value: { x: true } },
    { name: 'decimal', text: 'x: 42\n', value: { x: 42 } },
    { name: 'float', text: 'x: 1.5e3\n', value: { x: 1500 } },
    { name: 'null forms', text: 'a: ~\nb: null\nc:\n', value: { a: null, b: null, c: null } },
    { name: 'IP address and port', text: 'x: 127.0.0.1:9\n', value: { x: '127.0.0.1:9' } },
    {
      name: 'UID-like name',
      text: 'x: 0a1b2c3d-0000-4000-8000-000000000000\n',
      value: { x: '0a1b2c3d-0000-4000-8000-000000000000' },
    },
    { name: 'quoted merge key', text: '"<<": x\n', value: { '<<': 'x' } },
    // go-yaml hands YAML 1.1 timestamps to sigs.k8s.io/yaml as the text they are.
    { name: 'timestamp', text: 'x: 2001-12-14\n', value: { x: '2001-12-14' } },
    { name: 'a name that starts like a date', text: 'x: 2024-migration\n', value: { x: '2024-migration' } },
    { name: 'a small integer key', text: '123: a\n', value: { '123': 'a' } },
    { name: 'tabs inside and after a JSON root', text: '{"a":\t1}\t# c\n', value: { a: 1 } },
    { name: 'JSON', text: '{"a": [1, "b", {"c": null}]}', value: { a: [1, 'b', { c: null }] } },
    { name: 'comments and a document marker', text: '# c\n---\na: b # c\n', value: { a: 'b' } },
  ])('accepts $name', ({ text, value }) => {
    expect(strict(text)).toEqual({ ok: true, documents: [value] });
  });

  it('keeps __proto__ as plain data', () => {
    const result = strict('__proto__: {polluted: true}\n');
    expect(result.ok).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('reports the line and column of a syntax error, without quoting the text', () => {
    const result = strict('users:\n- name: a\n  user: {token: "secret-value\n');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.violation.code).toBe('yaml-syntax');
    expect(result.violation.path).toMatch(/^line \d+, column \d+$/);
    expect(JSON.stringify(result.violation)).not.toContain('secret-value');
  });

  it('reports an empty kubeconfig', () => {
    const result = strict('# nothing\n');
    expect(result.ok ? 'ok' : result.violation.code).toBe('empty-kubeconfig');
  });

  it('allows several documents outside strict mode', () => {
    const result = readYaml('a: 1\n---\nb: yes\n', { limits: KUBECONFIG_LIMITS, strict: false });
    expect(result).toEqual({ ok: true, documents: [{ a: 1 }, { b: 'yes' }] });
  });
});
