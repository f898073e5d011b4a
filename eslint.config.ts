import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'crds/', 'helm/', 'dist/'] },
  eslint.configs.recommended,
  ...tseslint.configs.strict,
  {
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['**/local/**'], message: 'production code must not import the local-mode stand-ins' }],
        },
      ],
    },
  },
  {
    // The architecture's one-way dependencies: api imports no other part; operator never loads tfjs nor the predictor.
    files: ['src/api/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['**/operator/**', '**/trainer/**', '**/predictor/**', '**/local/**', '@tensorflow/*'] },
      ],
    },
  },
  {
    files: ['src/operator/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['**/trainer/**', '**/predictor/**', '**/local/**', '@tensorflow/*'] },
      ],
    },
  },
  {
    files: ['src/cli/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['**/trainer/**', '**/predictor/**', '**/local/**', '@tensorflow/*'] },
      ],
    },
  },
  {
    files: ['src/trainer/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/operator/**', '**/predictor/**', '**/local/**'] }] },
  },
  {
    // The predictor shares the trainer's model loading and preprocessing (that is the point), and nothing of the operator.
    files: ['src/predictor/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/operator/**', '**/local/**'] }] },
  },
  {
    // The training report's page, shared by the trainer (report.html) and kubectl ftj report: the API only.
    files: ['src/report/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: ['**/operator/**', '**/trainer/**', '**/predictor/**', '**/cli/**', '**/local/**', '@tensorflow/*'],
        },
      ],
    },
  },
  {
    files: ['src/local/**', 'tests/**', 'scripts/**', 'bench/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
