import fc from 'fast-check';
import { parseEvents } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { KEPT, MIN_RUN, parseEventsCut, shortenLongRuns } from './long-runs.ts';
import { KUBECONFIG_LIMITS, readYaml } from './parse.ts';

const OPTIONS = { maxDepth: KUBECONFIG_LIMITS.maxDepth };
/** A value long enough to be cut, in the alphabets kubeconfigs use. */
const BASE64 = `LS0tLS1CRUdJTi${'QUJDRA'.repeat(40)}==`;
const JWT = `eyJhbGciOiJSUzI1NiJ9.${'eyJzdWIi_-'.repeat(20)}.${'c2lnbmF0dXJl'.repeat(8)}`;

const KUBECONFIG = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ${BASE64}
    server: https://api.remote.example:6443
  name: remote
contexts:
- context:
    cluster: remote
    user: remote
  name: remote
current-context: remote
kind: Config
preferences: {}
users:
- name: remote
  user:
    token: ${JWT}
`;

/** The scan of the whole text: the events, or the message it throws. */
function slowScan(text: string): { events: unknown } | { error: string } {
  try {
    return { events: parseEvents(text, OPTIONS) };
  } catch (error) {
    return { error: String(error) };
  }
}

describe('shortenLongRuns', () => {
  it.each([
    { name: 'a mapping value', text: `token: ${BASE64}\n`, cut: true },
    { name: 'a value at the end of the text', text: `token: ${JWT}`, cut: true },
    { name: 'a sequence item', text: `- ${JWT}\n`, cut: true },
    { name: 'a CRLF line', text: `token: ${BASE64}\r\nkind: Config\r\n`, cut: true },
    { name: 'a run of exactly MIN_RUN', text: `token: ${'A'.repeat(MIN_RUN)}\n`, cut: true },
    { name: 'a run one short of MIN_RUN', text: `token: ${'A'.repeat(MIN_RUN - 1)}\n`, cut: false },
    { name: 'a double-quoted value', text: `token: "${BASE64}"\n`, cut: false },
    { name: 'a single-quoted value', text: `token: '${BASE64}'\n`, cut: false },
    { name: 'trailing spaces', text: `token: ${BASE64}  \n`, cut: false },
    { name: 'a tab before the value', text: `token:\t${BASE64}\n`, cut: false },
    { name: 'a control character in the value', text: `token: ${BASE64}\x01${BASE64}\n`, cut: false },
    { name: 'a colon in the value', text: `token: ${BASE64}:${BASE64}\n`, cut: false },
    { name: 'a line of a block scalar', text: `token: |\n  ${BASE64}\n`, cut: false },
    { name: 'a further line of a plain scalar', text: `token: a\n  ${BASE64}\n`, cut: false },
    { name: 'a line after a lone CR', text: `token: a\r ${BASE64}\n`, cut: false },
  ])('$name: cut $cut', ({ text, cut }) => {
    expect(shortenLongRuns(text) !== undefined).toBe(cut);
  });

  it('keeps the first characters of each run and the rest of the text as it is', () => {
    const shortened = shortenLongRuns(`a: ${BASE64}\nb: c\nd: ${JWT}\n`);
    expect(shortened?.text).toBe(`a: ${BASE64.slice(0, KEPT)}\nb: c\nd: ${JWT.slice(0, KEPT)}\n`);
  });

  it('reads a long line that is not a run once, not once per character', () => {
    // Quadratic work would not end in any useful time on a 1 MiB line.
    const text = `token: ${'A'.repeat(1024 * 1024)} x\n`;
    expect(shortenLongRuns(text)).toBeUndefined();
  });
});

describe('parseEventsCut', () => {
  it.each([
    { name: 'a kubeconfig', text: KUBECONFIG },
    { name: 'a kubeconfig with CRLF line breaks', text: KUBECONFIG.replaceAll('\n', '\r\n') },
    { name: 'a kubeconfig without a final line break', text: KUBECONFIG.trimEnd() },
    { name: 'a value with an anchor and an alias', text: `a: &x ${BASE64}\nb: *x\n` },
    { name: 'a value with a tag', text: `a: !!str ${BASE64}\n` },
    { name: 'an explicit key', text: `? ${BASE64}\n: v\n` },
    { name: 'a value that starts with a dash', text: `a: -${BASE64}\n` },
    { name: 'a value that starts with dots', text: `a: ...${BASE64}\n` },
    { name: 'two documents', text: `a: ${BASE64}\n---\nb: ${JWT}\n` },
    { name: 'a value after a comment line', text: `# c\na: ${BASE64}\n` },
  ])('gives the events of the whole text for $name', ({ text }) => {
    const fast = parseEventsCut(text, OPTIONS);
    expect(fast).toBeDefined();
    expect({ events: fast }).toEqual(slowScan(text));
  });

  it.each([
    { name: 'a plain scalar over two lines', text: `a: ${BASE64}\n  ${BASE64}\n` },
    { name: 'a multi-line scalar that ends in a run', text: `a: b\n  c ${BASE64}\n` },
    { name: 'a comment', text: `# see ${BASE64}\na: b\n` },
    { name: 'a comment after a value', text: `a: b # ${BASE64}\n` },
    { name: 'a run inside a double-quoted scalar over lines', text: `a: "b ${BASE64}\n  c"\n` },
    { name: 'a run inside a single-quoted scalar over lines', text: `a: 'b ${BASE64}\n  c'\n` },
    { name: 'a run in a block scalar after other text', text: `a: |\n  b ${BASE64}\n` },
    { name: 'a value the whole text refuses', text: `a: b: ${BASE64}\n` },
    { name: 'a bad indentation after the run', text: `a: ${BASE64}\n b: c\n` },
    { name: 'a NUL elsewhere', text: `a: ${BASE64}\nb: \0\n` },
    // js-yaml reads these scalars on past the end of their line (they are not `fast`).
    { name: 'a root scalar after a document start', text: `--- ${BASE64}\n` },
    { name: 'a value in a flow mapping', text: `{a: ${BASE64}\n}\n` },
    { name: 'an item of a flow sequence', text: `[ ${BASE64}\n]\n` },
    // Not cut at all: only base64 characters follow the last space.
    { name: 'a value with other characters', text: `a: x!${BASE64}\n` },
  ])('leaves $name to the whole scan', ({ text }) => {
    expect(parseEventsCut(text, OPTIONS)).toBeUndefined();
  });

  it('maps thousands of cuts back', () => {
    // Each offset is looked up among the cuts; a linear search would be quadratic here.
    const text = Array.from({ length: 10_000 }, (_, index) => `k${index}: ${'A'.repeat(MIN_RUN)}\n`).join('');
    const fast = parseEventsCut(text, OPTIONS);
    expect(fast).toBeDefined();
    expect({ events: fast }).toEqual(slowScan(text));
  });

  it('reads the same kubeconfig as the whole scan does, values and all', () => {
    const result = readYaml(KUBECONFIG, { limits: KUBECONFIG_LIMITS, strict: true });
    expect(result.ok && result.documents[0]).toMatchObject({
      clusters: [{ cluster: { 'certificate-authority-data': BASE64 } }],
      users: [{ user: { token: JWT } }],
    });
  });

  it('refuses a C0 control inside a long value as the whole scan does', () => {
    const result = readYaml(`token: ${BASE64}\x01${BASE64}\n`, { limits: KUBECONFIG_LIMITS, strict: true });
    expect(result.ok).toBe(false);
  });

  it('gives the events of the whole text, or leaves it to the whole scan, for any text', () => {
    const pieces = fc.constantFrom(
      BASE64,
      JWT,
      'A'.repeat(MIN_RUN),
      'key: ',
      '- ',
      '? ',
      ': ',
      ':',
      '\n',
      '\r\n',
      '\r',
      '  ',
      '    ',
      '\t',
      '#',
      ' # c',
      '"',
      "'",
      '|\n',
      '>-\n',
      '&a ',
      '*a',
      '!!str ',
      '{',
      '}',
      '[',
      ']',
      ', ',
      '---\n',
      '...\n',
      'x',
      '\x01',
      '\u00e9',
    );
    // Lines shaped like YAML (indentation, a key or an item, then pieces), so that many texts parse.
    const line = fc
      .tuple(
        fc.constantFrom('', '  ', '    ', ' ', '\t'),
        fc.constantFrom('', 'key: ', 'k2: ', '- ', '- a: ', '? ', ': ', '--- ', '{a: ', '[ '),
        fc.array(pieces, { maxLength: 2 }),
        fc.constantFrom('', BASE64, JWT, `${BASE64}${JWT}`),
        fc.constantFrom('\n', '\r\n', '', ' \n', '\r'),
      )
      .map((parts) => parts.join(''));
    // A kubeconfig with pieces put in at a few places: mostly still YAML, and still cut.
    const edits = fc
      .array(fc.tuple(fc.nat(KUBECONFIG.length), pieces), { minLength: 1, maxLength: 3 })
      .map((inserts) => {
        let text = KUBECONFIG;
        for (const [at, piece] of inserts) text = `${text.slice(0, at)}${piece}${text.slice(at)}`;
        return [text];
      });
    let fastOnes = 0;
    fc.assert(
      fc.property(
        fc.oneof(fc.array(pieces, { maxLength: 24 }), fc.array(line, { maxLength: 8 }), edits),
        (parts) => {
          const text = parts.join('');
          const fast = parseEventsCut(text, OPTIONS);
          if (fast === undefined) return;
          fastOnes += 1;
          expect({ events: fast }).toEqual(slowScan(text));
        },
      ),
      { numRuns: 3000 },
    );
    // The property says something only if the fast path was taken often enough.
    expect(fastOnes).toBeGreaterThan(100);
  });
});
