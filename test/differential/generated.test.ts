import fc from 'fast-check';
import { expect, it } from 'vitest';
import { reviewKubeconfig } from '../../shared/kubeconfig/review.ts';
import { parseAllowList } from '../../shared/kubeconfig/allow-list.ts';
import { ALLOW_LIST_VALUES, allowListLabel } from './allow-lists.ts';
import { compare, describeComparison, unexplained } from './compare.ts';
import { DELIBERATE } from './deliberate.ts';
import { ALL_FEATURES, kubeconfigVariant, type Feature } from './generate.ts';
import { describeWithOracle } from './suite.ts';

/**
 * Property-based differential test: fast-check writes kubeconfigs with the tricks an attacker
 * would try on two YAML readers, and each one goes through our decision and istiod's own client
 * builder (the Istio oracle), under istiod's default allow-list and under explicit values of it.
 * `npm test` runs 10,000 cases under the default and 2,000 under each explicit value; `npm run fuzz`
 * runs FUZZ_RUNS of each. A failure prints the seed:
 * FUZZ_SEED=<seed> FUZZ_RUNS=<n> replays the same cases.
 */

const RUNS = positiveInteger(process.env['FUZZ_RUNS'], 10_000);
const RUNS_PER_ALLOW_LIST = positiveInteger(process.env['FUZZ_RUNS'], 2_000);
const SEED = positiveInteger(process.env['FUZZ_SEED'], Math.floor(Math.random() * 2 ** 31));
const BATCH = 1_000;

function positiveInteger(text: string | undefined, fallback: number): number {
  const value = Number(text);
  return text !== undefined && Number.isSafeInteger(value) && value > 0 ? value : fallback;
}

describeWithOracle("generated kubeconfigs: our decision against istiod's", (oracle) => {
  it.each(ALLOW_LIST_VALUES.map((value) => ({ value, label: allowListLabel(value) })))(
    'agrees with istiod under $label',
    async ({ value }) => {
      const runs = value === undefined ? RUNS : RUNS_PER_ALLOW_LIST;
      const allow = parseAllowList(value === undefined ? [] : [value]);
      const istiod = await oracle({ insecureKubeconfigOptions: value });
      const findings: string[] = [];
      const outcomes = { allowedByBoth: 0, refusedBySanitizer: 0, stricter: 0 };
      const features = new Map<Feature, number>();
      for (let start = 0, batch = 0; start < runs; start += BATCH, batch += 1) {
        const seed = SEED + batch;
        const cases = fc.sample(kubeconfigVariant, { numRuns: Math.min(BATCH, runs - start), seed });
        const results = await istiod.run(
          cases.map(({ text }, index) => ({ id: String(index), kubeconfig: text })),
        );
        cases.forEach(({ text, features: used }, index) => {
          const result = results[index];
          if (result === undefined) throw new Error(`no oracle result for case ${String(index)}`);
          for (const feature of used) features.set(feature, (features.get(feature) ?? 0) + 1);
          const ours = reviewKubeconfig(text, { allow });
          const comparison = compare(ours, result, allow);
          if (!result.verdict.accepted && result.verdict.stage === 'sanitize')
            outcomes.refusedBySanitizer += 1;
          if (comparison.kind === 'agree' && ours.allowed) outcomes.allowedByBoth += 1;
          if (comparison.kind === 'stricter') {
            outcomes.stricter += 1;
            if (unexplained(comparison.violations, DELIBERATE).length === 0) return;
          } else if (comparison.kind === 'agree' || comparison.kind === 'disk-dependent') return;
          if (findings.length < 10) {
            findings.push(
              `FUZZ_SEED=${String(seed)} case ${String(index)} [${used.join(', ')}]: ${describeComparison(comparison)}\n${JSON.stringify(text.length > 4_000 ? `${text.slice(0, 4_000)}…` : text)}`,
            );
          }
        });
      }
      expect(findings, findings.join('\n\n')).toEqual([]);

      // The generator must keep producing both kinds of case, or the comparison proves nothing.
      expect(outcomes.allowedByBoth).toBeGreaterThan(runs / 100);
      if (value === undefined) {
        expect(outcomes.refusedBySanitizer).toBeGreaterThan(runs / 100);
        if (runs >= 2_000) {
          expect(ALL_FEATURES.filter((feature) => (features.get(feature) ?? 0) === 0)).toEqual([]);
        }
      }
    },
    Math.max(120_000, RUNS * 10),
  );
});
