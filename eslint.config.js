// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

const restrictToShared = (message) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        { group: ['**/cmd', '**/cmd/**'], message },
        { group: ['**/webhook', '**/webhook/**'], message },
      ],
    },
  ],
});

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'test/kube-testenv/**',
      'test/oracle/**',
      'eslint.config.js',
      '**/testdata/**/*.cjs',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  // Imports flow one way: cmd/ and webhook/ use shared/; shared/ never imports them.
  {
    files: ['shared/**/*.ts'],
    rules: restrictToShared('shared/ is the library: it must not import from cmd/ or webhook/.'),
  },
  // The plugin and the webhook are separate programs: neither imports the other.
  {
    files: ['cmd/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/webhook', '**/webhook/**'], message: 'cmd/ may import shared/ only.' }] },
      ],
    },
  },
  {
    files: ['webhook/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/cmd', '**/cmd/**'], message: 'webhook/ may import shared/ only.' }] },
      ],
    },
  },
  // Tests, benchmarks and scripts talk to a terminal.
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', '**/*.test.ts'],
    rules: { 'no-console': 'off' },
  },
  // vitest's asymmetric matchers (expect.any, expect.objectContaining) are typed `any`.
  {
    files: ['**/*.test.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
);
