import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOracle, Oracle, oracleSetup, skipNotice } from './oracle.ts';

/** Building client-go from a cold Go cache takes a while on a small machine. */
const BUILD_TIMEOUT_MS = 600_000;

/**
 * A describe block whose tests need the client-go oracle. Without Go the block is skipped with
 * a loud notice, except under CI=true, where a failing test says why.
 */
export function describeWithOracle(
  name: string,
  env: NodeJS.ProcessEnv,
  body: (oracle: () => Oracle) => void,
): void {
  const setup = oracleSetup(env);
  if (!setup.available) {
    if (setup.required) {
      describe(name, () => {
        it('has Go for the client-go oracle (required under CI=true)', () => {
          expect.fail(`the differential tests need Go: ${setup.reason}`);
        });
      });
      return;
    }
    console.warn(skipNotice(setup.reason));
    describe.skip(name, () => {
      body(() => {
        throw new Error('unreachable: the suite is skipped');
      });
    });
    return;
  }
  describe(name, () => {
    let oracle: Oracle | undefined;
    beforeAll(async () => {
      const { binary } = await buildOracle(setup.go, setup.version, env);
      oracle = await Oracle.start(binary);
    }, BUILD_TIMEOUT_MS);
    afterAll(async () => {
      await oracle?.close();
    });
    body(() => {
      if (oracle === undefined) throw new Error('the oracle did not start');
      return oracle;
    });
  });
}
