// Parse + sanitize throughput against js-yaml's bare `load` of the same text, in the same run.
// Target (issue 3): parse + sanitize >= 0.8x bare js-yaml load.
import { load } from 'js-yaml';
import type * as Review from '../shared/kubeconfig/review.ts';
import { EXEC_USER, realisticKubeconfig } from './fixtures.ts';
import { median, opsPerSecond, verdict } from './measure.ts';

// Measure the compiled code users run (npm run build), not a transpile-on-the-fly copy.
const compiled = '../dist/shared/kubeconfig/review.js';
const { reviewKubeconfig } = (await import(compiled)) as typeof Review;
const allow = new Set<string>();
const cases = [
  { name: 'bearer-token kubeconfig (allowed)', text: realisticKubeconfig() },
  { name: 'exec kubeconfig (rejected)', text: realisticKubeconfig(EXEC_USER) },
];
const seconds = Number(process.env['BENCH_SECONDS'] ?? 5);
const ROUNDS = 5;

console.log(
  `parse + sanitize vs bare js-yaml load, ${ROUNDS} interleaved rounds, ${seconds}s per side, medians, Node ${process.version}`,
);
let worst = Infinity;
for (const { name, text } of cases) {
  if (reviewKubeconfig(text, { allow }).allowed !== name.includes('allowed'))
    throw new Error(`unexpected verdict for ${name}`);
  // Interleave short rounds of both and compare medians, so drift in the machine's load over the
  // run weighs on both sides alike.
  const baselines: number[] = [];
  const ourRates: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    baselines.push(opsPerSecond(() => load(text), seconds / ROUNDS));
    ourRates.push(opsPerSecond(() => reviewKubeconfig(text, { allow }), seconds / ROUNDS));
  }
  const baseline = median(baselines);
  const ours = median(ourRates);
  const ratio = ours / baseline;
  worst = Math.min(worst, ratio);
  console.log(
    `${name}, ${(text.length / 1024).toFixed(1)} KiB: js-yaml load ${Math.round(baseline)}/s, parse+sanitize ${Math.round(ours)}/s, ratio ${ratio.toFixed(2)}x`,
  );
}
console.log(`worst ratio ${worst.toFixed(2)}x (target >= 0.80x): ${verdict(worst >= 0.8)}`);
process.exitCode = worst >= 0.8 ? 0 : 1;
