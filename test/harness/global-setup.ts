import type { TestProject } from 'vitest/node';
import { provideTools } from './tooling-setup.ts';

/** Global setup of the e2e project: the control plane and Istio (istiod, istioctl). */
export default async function setup(project: TestProject): Promise<void> {
  await provideTools(project, ['kubeTestenvBinary', 'istioTestenvBinary'], 'END-TO-END TESTS');
}
