import type { TestProject } from 'vitest/node';
import { provideRcodesign, provideTools } from './tooling-setup.ts';

/**
 * Global setup of the e2e project: the control plane, Istio (istiod, istioctl), krew, Helm,
 * Prometheus' rule parser and rcodesign.
 */
export default async function setup(project: TestProject): Promise<void> {
  await provideTools(
    project,
    [
      'kubeTestenvBinary',
      'istioTestenvBinary',
      'krewBinary',
      'krewValidateBinary',
      'helmBinary',
      'promRulesBinary',
    ],
    'END-TO-END TESTS',
  );
  await provideRcodesign(project);
}
