import { describe, expect, it } from 'vitest';
import { KUBECONFIG_LIMITS, readYaml } from './parse.ts';

/**
 * Differences between go-yaml v2 (client-go) and YAML 1.2 that the differential suite in
 * test/differential found; each has a fixture in test/testdata/kubeconfigs.
 */
const strict = (text: string) => readYaml(text, { limits: KUBECONFIG_LIMITS, strict: true });

describe('readYaml strict mode: go-yaml v2 differences found by the differential suite', () => {
  it.each([
    // go-yaml takes "?" as the key indicator in flow context: {?exec: x} is the key "exec" there.
    {
      name: 'a "?" key in a flow mapping',
      text: 'user: {token: t, ?exec: {command: sh}}\n',
      reason: /flow collection/,
    },
    { name: 'a "?" inside a flow scalar', text: 'x: [a?b]\n', reason: /flow collection/ },
    { name: 'a leading ":" in a flow scalar', text: 'x: {:a: b}\n', reason: /flow collection/ },
    { name: 'no space after a plain flow key', text: 'x: {groups:[a]}\n', reason: /space after the ":"/ },
    { name: 'a colon before a closing brace', text: 'x: {exec:}\n', reason: /space after the ":"/ },
    // Line breaks in YAML 1.1 only, and characters go-yaml refuses.
    { name: 'U+2028 in a quoted scalar', text: 'server: "https://a\u2028  b"\n', reason: /U\+2028/ },
    { name: 'U+2029', text: 'x: a\u2029b\n', reason: /U\+2029/ },
    { name: 'NEL', text: 'token: a\u0085    tokenFile: /etc/passwd\n', reason: /U\+0085/ },
    { name: 'a form feed', text: 'x: "a\fb"\n', reason: /U\+000C/ },
    { name: 'a BOM after the start', text: 'x: a\ufeffb\n', reason: /U\+FEFF/ },
    { name: 'U+FFFE', text: 'x: a\ufffe\n', reason: /U\+FFFE/ },
    // Escapes go-yaml v2 does not know.
    { name: 'a \\/ escape', text: '{"server": "https:\\/\\/x"}\n', reason: /escape/ },
    { name: 'a \\u surrogate pair', text: '{"as": "sre-\\ud83d\\ude00"}\n', reason: /surrogate/ },
    // Tabs where go-yaml refuses them.
    { name: 'a tab after "-"', text: 'groups:\n-\ta\n', reason: /tab/ },
    { name: 'a space and a tab after "-"', text: 'groups:\n- \ta\n', reason: /tab/ },
    // Numbers go-yaml reads differently.
    { name: '.nan, which client-go cannot turn into JSON', text: 'x: .nan\n', reason: /\.nan/ },
    { name: '-.inf', text: 'x: -.inf\n', reason: /\.inf/ },
    { name: 'a float too large for 64 bits', text: 'x: 1e400\n', reason: /too large/ },
    // go-yaml reads no final line break where the text ends inside a block; YAML 1.2 readers add one.
    {
      name: 'a | block that ends the text without a newline',
      text: 'token: |\n  abc',
      reason: /final newline/,
    },
    {
      name: 'a >+ block that ends the text without a newline',
      text: 'a: b\nc: >+\n  d',
      reason: /final newline/,
    },
  ])('rejects $name as ambiguous-yaml', ({ text, reason }) => {
    const result = strict(text);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.violation.code).toBe('ambiguous-yaml');
    expect(result.violation.message).toMatch(reason);
  });

  it.each([
    {
      name: 'a JSON key with no space after the colon',
      text: '{"a":"b","c":[1]}',
      value: { a: 'b', c: [1] },
    },
    {
      name: 'a flow scalar holding a colon',
      text: 'x: {a:b, c: d}\n',
      value: { x: { 'a:b': null, c: 'd' } },
    },
    {
      name: 'a query string outside flow context',
      text: 'server: https://x/?a=b\n',
      value: { server: 'https://x/?a=b' },
    },
    { name: 'an explicit key in a flow mapping', text: 'x: {? a : b}\n', value: { x: { a: 'b' } } },
    { name: 'a tab after a key', text: 'a:\tb\n', value: { a: 'b' } },
    { name: 'JSON indented with tabs', text: '{\n\t"a": [\n\t\t1\n\t]\n}\n', value: { a: [1] } },
    { name: 'an escaped backslash before a slash', text: 'x: "a\\\\/b"\n', value: { x: 'a\\/b' } },
    { name: 'an astral character as \\U', text: 'x: "\\U0001F600"\n', value: { x: '\u{1f600}' } },
    { name: 'a BOM at the start', text: '\ufeffa: b\n', value: { a: 'b' } },
    { name: 'a large but finite float', text: 'x: 1e300\n', value: { x: 1e300 } },
    { name: 'a quoted .nan', text: 'x: ".nan"\n', value: { x: '.nan' } },
    { name: 'a |- block that ends the text', text: 'token: |-\n  abc', value: { token: 'abc' } },
    { name: 'a | block followed by a comment', text: 'token: |\n  abc\n# end', value: { token: 'abc\n' } },
  ])('accepts $name', ({ text, value }) => {
    expect(strict(text)).toEqual({ ok: true, documents: [value] });
  });

  it('keeps these checks out of non-strict mode (manifests are not kubeconfigs)', () => {
    const result = readYaml('x: "a\u2028b"\ny: .nan\n', { limits: KUBECONFIG_LIMITS, strict: false });
    expect(result.ok).toBe(true);
  });
});

describe('readYaml: keys and anchors go-yaml v2 cannot read', () => {
  it.each([
    { name: 'a null key', text: 'a: 1\n~: x\n', code: 'yaml-syntax' },
    { name: 'an empty key in a flow mapping', text: '{a: 1, : x}\n', code: 'yaml-syntax' },
    { name: 'a key over 1024 characters', text: `${'k'.repeat(1_100)}: x\n`, code: 'ambiguous-yaml' },
    { name: 'an anchor with a dot', text: 'a: &x.y {b: 1}\n', code: 'ambiguous-yaml' },
    { name: 'an alias with a colon', text: 'a: &x b\nc: *x:y\n', code: 'ambiguous-yaml' },
  ])('refuses $name', ({ text, code }) => {
    const result = strict(text);
    expect(result.ok ? 'ok' : result.violation.code).toBe(code);
  });

  it('refuses a null key outside strict mode too: the API server could not read it either', () => {
    const result = readYaml('a: 1\nnull: x\n', { limits: KUBECONFIG_LIMITS, strict: false });
    expect(result.ok ? 'ok' : result.violation.code).toBe('yaml-syntax');
  });

  it('accepts go-yaml anchor names and long values', () => {
    const long = 'v'.repeat(5_000);
    expect(strict(`a: &a-b_9 {b: 1}\nc: *a-b_9\nd: ${long}\n`)).toEqual({
      ok: true,
      documents: [{ a: { b: 1 }, c: { b: 1 }, d: long }],
    });
  });
});
