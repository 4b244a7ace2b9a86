import fc from 'fast-check';
import { expect, it } from 'vitest';
import { reviewKubeconfig } from '../../shared/kubeconfig/review.ts';
import {
  compare,
  describeComparison,
  istiodVerdict,
  onlyUnmirrored,
  unexplained,
  type DeliberateDifference,
} from './compare.ts';
import { ALL_FEATURES, kubeconfigVariant, type Feature } from './generate.ts';
import { describeWithOracle } from './suite.ts';

/**
 * Property-based differential test: fast-check writes kubeconfigs with the tricks an attacker
 * would try on two YAML readers, and each one goes through our reader and through client-go.
 * `npm test` runs 10,000 cases; `npm run fuzz` runs FUZZ_RUNS of them. A failure prints the seed:
 * FUZZ_SEED=<seed> FUZZ_RUNS=<n> replays the same cases.
 */

/**
 * Every option an operator could allow, including every auth provider name the generator writes:
 * with all of them allowed, our reader must still refuse what client-go cannot load or validate.
 */
const EVERYTHING_ALLOWED = new Set<string>([
  'exec',
  'tokenFile',
  'clientKey',
  'clientCertificate',
  'gcp',
  'azure',
  'openstack',
  'OIDC',
  'oidc ',
  '',
]);

const RUNS = positiveInteger(process.env['FUZZ_RUNS'], 10_000);
const SEED = positiveInteger(process.env['FUZZ_SEED'], Math.floor(Math.random() * 2 ** 31));
const BATCH = 1_000;

function positiveInteger(text: string | undefined, fallback: number): number {
  const value = Number(text);
  return text !== undefined && Number.isSafeInteger(value) && value > 0 ? value : fallback;
}

/**
 * Where we refuse what istiod would use, on purpose, by violation. A stricter case passes only if
 * every one of our violations matches an entry; a misreading (say, our reader seeing an exec that
 * client-go does not) matches none and fails the test.
 */
const DELIBERATE: readonly DeliberateDifference[] = [
  {
    code: 'ambiguous-yaml',
    message: /is not client-go's spelling of/,
    reason:
      'look-alike spellings of exec, tokenFile, client-key, client-certificate, auth-provider: other readers (client-node, case-insensitive decoders) honour them',
  },
  {
    code: 'ambiguous-yaml',
    message: /is read as "(?:apiVersion|kind)" by client-go's type check/,
    reason:
      'client-go finds apiVersion and kind case-insensitively; we refuse other spellings instead of guessing which key Go picks',
  },
  {
    code: 'ambiguous-yaml',
    message: /duplicate mapping key/,
    reason:
      'go-yaml keeps the last copy of a repeated key (and, after key conversion, an arbitrary one); we refuse rather than pick',
  },
  {
    code: 'ambiguous-yaml',
    message: /more than one YAML document/,
    reason: 'go-yaml reads only the first document; a kubeconfig is one document',
  },
  {
    code: 'ambiguous-yaml',
    message: /YAML directives/,
    reason: '%YAML and %TAG change how the readers resolve the rest, and they do not agree on how',
  },
  {
    code: 'ambiguous-yaml',
    message: /explicit tag/,
    reason: 'tags (!!str, !!binary, custom ones) are resolved differently by go-yaml v2 and YAML 1.2 readers',
  },
  {
    code: 'ambiguous-yaml',
    message: /merge keys/,
    reason: 'merge keys (<<) are YAML 1.1 only; go-yaml applies them, YAML 1.2 readers need not',
  },
  {
    code: 'ambiguous-yaml',
    message:
      /boolean in YAML 1\.1|number in one YAML version|timestamp|too large for client-go|\.inf or \.nan/,
    reason: 'plain scalars that YAML 1.1 (client-go) and YAML 1.2 resolve to different types or values',
  },
  {
    code: 'ambiguous-yaml',
    message: /the character U\+/,
    reason:
      'NEL, LS, PS and a BOM after the start: go-yaml breaks lines at them (or refuses them) where YAML 1.2 does not',
  },
  {
    code: 'ambiguous-yaml',
    message: /in a flow collection client-go/,
    reason: 'inside {...} and [...] go-yaml takes "?" and ":" as indicators where YAML 1.2 reads text',
  },
  {
    code: 'ambiguous-yaml',
    message: /refuses a tab/,
    reason:
      'go-yaml refuses tabs at the start of a line and after -, ? and :, and this rule also catches tabs in block scalars that go-yaml accepts',
  },
  {
    code: 'ambiguous-yaml',
    message: /without a final newline/,
    reason:
      'a | or > block that ends the text without a line break: go-yaml drops the final line break, YAML 1.2 keeps it',
  },
  {
    code: 'ambiguous-yaml',
    message: /anchor names/,
    reason: 'go-yaml reads anchor names of letters, digits, - and _ only; YAML 1.2 allows more',
  },
  {
    code: 'ambiguous-yaml',
    message: /mapping key longer than 1024/,
    reason:
      'go-yaml refuses implicit keys over 1024 characters; we also refuse long explicit (?) keys, which it reads',
  },
  {
    code: 'ambiguous-yaml',
    message: /escape/,
    reason: 'escapes one reader knows and the other does not',
  },
  {
    code: 'yaml-syntax',
    reason:
      "text that YAML 1.2 (js-yaml) refuses and go-yaml v2 accepts: under-indented lines inside flow collections, text after a flow document, \\' escapes; we only accept what both can read",
  },
  {
    code: 'yaml-alias-limit',
    reason:
      'aliases that expand past our limit (a billion-laughs defence); go-yaml has its own, higher limits',
  },
  { code: 'yaml-too-deep', reason: 'nesting past our depth limit' },
  { code: 'input-too-large', reason: 'a kubeconfig larger than a Secret can hold' },
];

describeWithOracle('generated kubeconfigs: our reader against client-go', process.env, (oracle) => {
  it(
    `agrees with client-go on ${String(RUNS)} generated kubeconfigs (seed ${String(SEED)})`,
    async () => {
      const findings: string[] = [];
      const outcomes = { allowedByBoth: 0, unsafeForIstiod: 0, stricter: 0 };
      const features = new Map<Feature, number>();
      for (let start = 0, batch = 0; start < RUNS; start += BATCH, batch += 1) {
        const seed = SEED + batch;
        const cases = fc.sample(kubeconfigVariant, { numRuns: Math.min(BATCH, RUNS - start), seed });
        const results = await oracle().run(
          cases.map(({ text }, index) => ({ id: String(index), kubeconfig: text })),
        );
        cases.forEach(({ text, features: used }, index) => {
          const result = results[index];
          if (result === undefined) throw new Error(`no oracle result for case ${String(index)}`);
          for (const feature of used) features.set(feature, (features.get(feature) ?? 0) + 1);
          const ours = reviewKubeconfig(text, { allow: new Set<string>() });
          const comparison = compare(ours, result);
          // With every option allowed we may be stricter (no current context), never more lenient
          // than Load and Validate.
          if (
            (result.loadError !== null || result.validateErrors.length > 0) &&
            !onlyUnmirrored(result) &&
            reviewKubeconfig(text, { allow: EVERYTHING_ALLOWED }).allowed &&
            findings.length < 10
          ) {
            findings.push(
              `FUZZ_SEED=${String(seed)} case ${String(index)} [${used.join(', ')}]: allowed with every option allowed, but client-go refuses it: ${result.loadError ?? result.validateErrors.join('; ')}\n${JSON.stringify(text.length > 4_000 ? `${text.slice(0, 4_000)}…` : text)}`,
            );
          }
          const verdict = istiodVerdict(result);
          if (!verdict.accepted && verdict.stage === 'sanitize') outcomes.unsafeForIstiod += 1;
          if (comparison.kind === 'agree' && ours.allowed) outcomes.allowedByBoth += 1;
          if (comparison.kind === 'stricter') {
            outcomes.stricter += 1;
            if (unexplained(comparison.violations, DELIBERATE).length === 0) return;
          } else if (comparison.kind === 'agree') return;
          if (findings.length < 10) {
            findings.push(
              `FUZZ_SEED=${String(seed)} case ${String(index)} [${used.join(', ')}]: ${describeComparison(comparison)}\n${JSON.stringify(text.length > 4_000 ? `${text.slice(0, 4_000)}…` : text)}`,
            );
          }
        });
      }
      expect(findings, findings.join('\n\n')).toEqual([]);

      // The generator must keep producing both kinds of case, or the comparison proves nothing.
      expect(outcomes.allowedByBoth).toBeGreaterThan(RUNS / 100);
      expect(outcomes.unsafeForIstiod).toBeGreaterThan(RUNS / 100);
      if (RUNS >= 2_000) {
        expect(ALL_FEATURES.filter((feature) => (features.get(feature) ?? 0) === 0)).toEqual([]);
      }
    },
    Math.max(120_000, RUNS * 10),
  );
});
