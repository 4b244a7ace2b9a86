import type { TestProject } from 'vitest/node';
import { provideTools } from './tooling-setup.ts';

/** Global setup of the differential project: Istio's own code as the oracle. */
export default async function setup(project: TestProject): Promise<void> {
  await provideTools(project, ['istioTestenvBinary'], 'DIFFERENTIAL TESTS AGAINST ISTIO');
}
