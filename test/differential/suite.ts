import { afterAll, describe, expect, inject, it } from 'vitest';
import { Oracle, type OracleOptions } from './oracle.ts';

/**
 * A describe block whose tests ask Istio's own code. The differential project's global setup
 * builds the istio-testenv binary; without Go the block is skipped with the setup's loud notice
 * (under CI=true the setup fails the run instead). `oracle()` runs istiod's default allow-list,
 * `oracle({ insecureKubeconfigOptions })` an explicit one; each is started once.
 */
export function describeWithOracle(
  name: string,
  body: (oracle: (options?: OracleOptions) => Promise<Oracle>) => void,
): void {
  const binary = inject('istioTestenvBinary');
  if (binary === null) {
    describe.skip(name, () => {
      it('needs the Istio oracle', () => {
        expect.fail('unreachable: skipped');
      });
    });
    return;
  }
  describe(name, () => {
    const running = new Map<string, Promise<Oracle>>();
    afterAll(async () => {
      for (const oracle of running.values()) await (await oracle).close();
    });
    body((options = {}) => {
      const key = options.insecureKubeconfigOptions ?? '\0default';
      let oracle = running.get(key);
      if (oracle === undefined) {
        oracle = Oracle.start(binary, options);
        running.set(key, oracle);
      }
      return oracle;
    });
  });
}
