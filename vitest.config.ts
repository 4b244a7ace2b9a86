import { defineConfig } from 'vitest/config';

/** A cold build of the Go test tooling (Istio above all) takes a while on a small machine. */
const TOOLING_BUILD_MS = 45 * 60_000;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{cmd,webhook,shared,test,bench,scripts}/**/*.test.ts'],
          exclude: ['test/e2e/**', 'test/differential/**', 'node_modules/**', 'dist/**'],
        },
      },
      {
        test: {
          // Our reader and decisions against Istio's own code (test/oracle).
          name: 'differential',
          include: ['test/differential/**/*.test.ts'],
          globalSetup: ['test/harness/differential-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: TOOLING_BUILD_MS,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
