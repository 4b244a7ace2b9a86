import { fileURLToPath } from 'node:url';
import { ensureGoBinary, type EnsureGoBinaryOptions, type GoBinary } from './go-binary.ts';

/**
 * check-rules (test/promrules): Prometheus' own rule parser (github.com/prometheus/prometheus
 * model/rulefmt and promql/parser, the code `promtool check rules` runs) over a rules file, so the
 * chart's alerting rules are checked by Prometheus, not by eye.
 */
export const PROMRULES_SOURCE_DIR = fileURLToPath(new URL('../promrules/', import.meta.url));

export function ensurePromRulesBinary(options: EnsureGoBinaryOptions = {}): Promise<GoBinary> {
  return ensureGoBinary(
    {
      name: 'check-rules',
      sourceDir: PROMRULES_SOURCE_DIR,
      sourceLabel: 'test/promrules',
      recipeVersion: 'check-rules-build-1',
      buildArgs: ['-ldflags', '-s -w'],
      what: "Prometheus' rule parser (github.com/prometheus/prometheus v0.316.0)",
      estimate: 'about a minute on 2 cores',
    },
    options,
  );
}
