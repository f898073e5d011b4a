import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'crds/', 'helm/', 'dist/'] },
  eslint.configs.recommended,
  ...tseslint.configs.strict,
  {
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['**/local/**'], message: 'production code must not import the local-mode stand-ins' }],
      }],
    },
  },
  {
    // The architecture's one-way dependencies: api imports neither side; operator never loads tfjs.
    files: ['src/api/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/operator/**', '**/trainer/**', '**/local/**', '@tensorflow/*'] }] },
  },
  {
    files: ['src/operator/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/trainer/**', '**/local/**', '@tensorflow/*'] }] },
  },
  {
    files: ['src/cli/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/trainer/**', '**/local/**', '@tensorflow/*'] }] },
  },
  {
    files: ['src/trainer/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/operator/**', '**/local/**'] }] },
  },
  {
    files: ['src/local/**', 'tests/**', 'scripts/**', 'bench/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
