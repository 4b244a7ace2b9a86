import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { reviewKubeconfig } from '../../shared/kubeconfig/review.ts';
import type { SanitizeResult } from '../../shared/kubeconfig/sanitize.ts';
import { decodeText, MANIFEST_LIMITS, readSecretManifests } from '../../shared/remote-secret/manifests.ts';
import { KUBECONFIG_LIMITS } from '../../shared/yaml/parse.ts';
import { canonicalKubeconfig, kubeconfigVariant } from './generate.ts';

/**
 * Malformed and hostile input for the two readers of untrusted text: `reviewKubeconfig` (a
 * kubeconfig) and `readSecretManifests` (what `check` reads). Whatever the input, they return
 * an answer with a reason and never throw; the limits hold. No timings: a bounded number of
 * cases, each of which must end. The webhook's AdmissionReview path: admission-fuzz.test.ts.
 */

const RUNS = Number(process.env['FUZZ_RUNS'] ?? '') > 0 ? Number(process.env['FUZZ_RUNS']) : 10_000;
/** Cheaper properties run more often; the fuzz script scales them all. */
const runs = (share: number): number => Math.max(200, Math.floor(RUNS / share));
/** FUZZ_SEED replays a failure that fast-check reported with its seed. */
const SEED = Number(process.env['FUZZ_SEED'] ?? '') > 0 ? Number(process.env['FUZZ_SEED']) : undefined;
const settings = (numRuns: number): fc.Parameters<unknown> =>
  SEED === undefined ? { numRuns } : { numRuns, seed: SEED };
/** A bound on case count is the point, not speed; the timeout only has to let the cases finish. */
const TIMEOUT_MS = Math.max(60_000, RUNS * 3);

const CANARY = 'CANARYxFUZZxTOKENxneverxprint';

/** Pieces of YAML syntax, so random text looks like YAML often enough to get past the first line. */
const YAML_PIECES = [
  '{',
  '}',
  '[',
  ']',
  ':',
  ': ',
  ', ',
  '- ',
  '? ',
  '\n',
  '\r\n',
  '  ',
  '    ',
  '\t',
  '&a ',
  '*a',
  '&b ',
  '*b',
  '!!str ',
  '!!binary ',
  '!x ',
  '<<: ',
  '| ',
  '|-\n',
  '> ',
  '"',
  "'",
  '\\',
  '#',
  '# c\n',
  '---\n',
  '...\n',
  '%YAML 1.1\n',
  '%TAG ! x\n',
  'exec',
  'users',
  'user',
  'tokenFile',
  'token',
  'name',
  'apiVersion',
  'kind',
  'clusters',
  'contexts',
  'current-context',
  'null',
  '~',
  'yes',
  'on',
  '0x1F',
  '1e400',
  '.nan',
  '\u2028',
  '\u0085',
  '\ufeff',
  '\u0000',
  '\u{1f600}',
  'a',
  'b',
  'c',
  '1',
  '"\\u0065xec"',
  '"\\/"',
  '=',
];

const yamlSoup = fc
  .array(fc.constantFrom(...YAML_PIECES), { maxLength: 200 })
  .map((pieces) => pieces.join(''));

/** A generated kubeconfig cut short anywhere (truncated YAML and truncated JSON). */
const truncated = kubeconfigVariant.chain(({ text }) =>
  fc.nat(text.length).map((length) => text.slice(0, length)),
);

/** A kubeconfig with one character replaced, inserted or deleted somewhere. */
const corrupted = fc
  .tuple(
    kubeconfigVariant,
    fc.nat(),
    fc.constantFrom('', ' ', '\t', '\n', ':', '-', '{', '[', '"', "'", '&', '*', '\u0000', '\u2028'),
    fc.boolean(),
  )
  .map(([{ text }, at, piece, replace]) => {
    const index = at % (text.length + 1);
    return text.slice(0, index) + piece + text.slice(replace ? index + 1 : index);
  });

const deepNesting = fc
  .tuple(
    fc.integer({ min: 1, max: 4_000 }),
    fc.constantFrom('flow-seq', 'flow-map', 'block-seq', 'block-map', 'unclosed'),
  )
  .map(([depth, shape]) => nested(depth, shape));

function nested(depth: number, shape: string): string {
  switch (shape) {
    case 'flow-seq':
      return `${'['.repeat(depth)}x${']'.repeat(depth)}\n`;
    case 'flow-map':
      return `${'{a: '.repeat(depth)}x${'}'.repeat(depth)}\n`;
    case 'block-seq':
      return Array.from({ length: depth }, (_, level) => `${' '.repeat(level * 2)}-`).join('\n') + ' x\n';
    case 'block-map':
      return Array.from({ length: depth }, (_, level) => `${' '.repeat(level)}k:`).join('\n') + ' x\n';
    default:
      return '['.repeat(depth);
  }
}

/** A "billion laughs" document: `levels` anchors, each `width` aliases of the previous one. */
const aliasBomb = fc
  .record({
    levels: fc.integer({ min: 1, max: 12 }),
    width: fc.integer({ min: 1, max: 12 }),
    kubeconfig: fc.boolean(),
  })
  .map(({ levels, width, kubeconfig }) => {
    const lines = [`a0: &a0 [${Array.from({ length: width }, () => 'x').join(', ')}]`];
    for (let level = 1; level < levels; level += 1) {
      lines.push(
        `a${String(level)}: &a${String(level)} [${Array.from({ length: width }, () => `*a${String(level - 1)}`).join(', ')}]`,
      );
    }
    return {
      text: `${lines.join('\n')}\n${kubeconfig ? canonicalKubeconfig() : ''}`,
      expansion: expandedSize(levels, width),
    };
  });

/** Nodes the aliases of a bomb add when expanded, as readYaml counts them. */
function expandedSize(levels: number, width: number): number {
  let size = width + 1; // a0: a sequence of `width` scalars
  let total = 0;
  for (let level = 1; level < levels; level += 1) {
    total += width * size;
    size = width * size + 1;
  }
  return total;
}

const binaryText = fc.uint8Array({ maxLength: 600 }).map((bytes) => {
  const decoded = decodeText(bytes);
  return decoded.ok ? decoded.text : String.fromCharCode(...bytes);
});

const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 2_000 }),
  yamlSoup,
  truncated,
  corrupted,
  deepNesting,
  aliasBomb.map(({ text }) => text),
  binaryText,
);

function expectAnswer(result: SanitizeResult): void {
  if (result.allowed) {
    expect(result.violations).toEqual([]);
    expect(result.config.apiVersion).toBe('v1');
    return;
  }
  expect(result.violations.length).toBeGreaterThan(0);
  for (const found of result.violations) {
    expect(typeof found.code).toBe('string');
    expect(found.message.length).toBeGreaterThan(0);
    expect(typeof found.path).toBe('string');
  }
}

const review = (text: string): SanitizeResult => reviewKubeconfig(text, { allow: new Set<string>() });

describe('reviewKubeconfig on hostile input', () => {
  it(
    'answers every input with a decision and, when it refuses, a reason',
    () => {
      fc.assert(
        fc.property(hostileText, (text) => {
          expectAnswer(review(text));
        }),
        settings(runs(10)),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'never repeats a token in a violation, however the kubeconfig around it is broken',
    () => {
      const withCanary = fc
        .tuple(
          fc.oneof(
            truncated,
            corrupted,
            kubeconfigVariant.map(({ text }) => text),
          ),
          fc.constantFrom('token', 'password'),
        )
        .map(([text, field]) =>
          text.replace(/(token|password)(["']?\s*:\s*)(["']?)[^\s"',}]+/, `${field}$2$3${CANARY}`),
        );
      let planted = 0;
      fc.assert(
        fc.property(withCanary, (text) => {
          if (text.includes(CANARY)) planted += 1;
          const result = review(text);
          expectAnswer(result);
          expect(JSON.stringify(result.violations)).not.toContain(CANARY);
        }),
        settings(runs(20)),
      );
      // Most cases must carry the canary, or this test proves little.
      expect(planted).toBeGreaterThan(runs(20) / 2);
    },
    TIMEOUT_MS,
  );

  it(
    'refuses input over the size limit before parsing it',
    () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 4_096 }),
          fc.constantFrom('a', '[', '&a [x]\n', ' '),
          (excess, unit) => {
            const text = unit.repeat(Math.ceil((KUBECONFIG_LIMITS.maxLength + excess) / unit.length));
            const result = review(text);
            expect(result.allowed).toBe(false);
            expect(result.violations.map(({ code }) => code)).toEqual(['input-too-large']);
          },
        ),
        settings(20),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'refuses nesting past the depth limit',
    () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.tuple(
              fc.integer({ min: KUBECONFIG_LIMITS.maxDepth + 1, max: 100_000 }),
              fc.constantFrom('flow-seq', 'flow-map'),
            ),
            // Block nesting costs indentation: at 1,000 levels the text is about 1 MB.
            fc.tuple(
              fc.integer({ min: KUBECONFIG_LIMITS.maxDepth + 1, max: 1_000 }),
              fc.constantFrom('block-seq', 'block-map'),
            ),
          ),
          ([depth, shape]) => {
            const result = review(nested(depth, shape));
            expect(result.allowed).toBe(false);
            expect(result.violations.map(({ code }) => code)).toEqual(['yaml-too-deep']);
          },
        ),
        settings(runs(100)),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'refuses aliases that expand past the limit, and only those',
    () => {
      fc.assert(
        fc.property(aliasBomb, ({ text, expansion }) => {
          const result = review(text);
          const codes = result.allowed ? [] : result.violations.map(({ code }) => code);
          if (expansion > KUBECONFIG_LIMITS.maxAliasExpansion) expect(codes).toEqual(['yaml-alias-limit']);
          else expect(codes).not.toContain('yaml-alias-limit');
        }),
        settings(runs(50)),
      );
    },
    TIMEOUT_MS,
  );
});

/** A Secret manifest around a value: stringData as text, or data as (possibly broken) base64. */
const secretManifest = fc
  .record({
    value: hostileText,
    field: fc.constantFrom('stringData', 'data', 'data-raw-bytes', 'data-bad-base64'),
    bytes: fc.uint8Array({ maxLength: 300 }),
    wrap: fc.constantFrom('single', 'list', 'json', 'truncated-json', 'multi-doc'),
    cut: fc.nat(),
  })
  .map(({ value, field, bytes, wrap, cut }) => {
    const data =
      field === 'stringData'
        ? { stringData: { c1: value } }
        : field === 'data'
          ? { data: { c1: Buffer.from(value, 'utf8').toString('base64') } }
          : field === 'data-raw-bytes'
            ? { data: { c1: Buffer.from(bytes).toString('base64') } }
            : { data: { c1: `${Buffer.from(bytes).toString('base64')}!*\u00e9` } };
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'istio-remote-secret-c1',
        namespace: 'istio-system',
        labels: { 'istio/multiCluster': 'true' },
      },
      ...data,
    };
    switch (wrap) {
      case 'single':
        return JSON.stringify(secret);
      case 'list':
        return JSON.stringify({
          apiVersion: 'v1',
          kind: 'List',
          items: [secret, secret, { kind: 'ConfigMap' }, 42],
        });
      case 'json':
        return JSON.stringify(secret, null, 2);
      case 'truncated-json': {
        const json = JSON.stringify(secret);
        return json.slice(0, cut % (json.length + 1));
      }
      default:
        return `${JSON.stringify(secret)}\n---\n${value}\n---\n`;
    }
  });

describe('readSecretManifests on hostile input', () => {
  it(
    'returns secrets, skipped objects and errors, never an exception, for any text',
    () => {
      fc.assert(
        fc.property(fc.oneof(hostileText, secretManifest), (text) => {
          const result = readSecretManifests(text, 'fuzz.yaml');
          for (const error of result.errors) {
            expect(error.source.startsWith('fuzz.yaml')).toBe(true);
            expect(error.message.length).toBeGreaterThan(0);
          }
          for (const secret of result.secrets) {
            for (const cluster of secret.clusters) {
              // Each value is text to review, or carries the reason it is not.
              if (cluster.kubeconfig.ok) expectAnswer(review(cluster.kubeconfig.text));
              else expect(cluster.kubeconfig.reason.length).toBeGreaterThan(0);
            }
          }
        }),
        settings(runs(10)),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'refuses a manifest file over its size limit with an error',
    () => {
      const text = 'a'.repeat(MANIFEST_LIMITS.maxLength + 1);
      const result = readSecretManifests(text, 'huge.yaml');
      expect(result.secrets).toEqual([]);
      expect(result.errors).toHaveLength(1);
      expect(result.errors[0]?.message).toMatch(/more than/);
    },
    TIMEOUT_MS,
  );

  it(
    'refuses an alias bomb in a manifest file with an error',
    () => {
      fc.assert(
        fc.property(fc.integer({ min: 6, max: 12 }), (levels) => {
          const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
          for (let level = 1; level < levels; level += 1) {
            lines.push(
              `a${String(level)}: &a${String(level)} [${Array.from({ length: 10 }, () => `*a${String(level - 1)}`).join(', ')}]`,
            );
          }
          const result = readSecretManifests(`${lines.join('\n')}\n`, 'bomb.yaml');
          expect(result.secrets).toEqual([]);
          expect(result.errors.map(({ message }) => message).join('\n')).toMatch(/aliases expand/);
        }),
        settings(7),
      );
    },
    TIMEOUT_MS,
  );
});
