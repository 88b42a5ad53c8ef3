// Lint rules that keep the architecture honest: the pure core (ledger/core) may not import
// Spanner, Kafka, Node built-ins or any adapter; it is the functional core the shell wraps.
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');

const adapterImports = {
  patterns: [
    { group: ['node:*'], message: 'The pure core has no I/O: no Node built-ins.' },
    { group: ['@google-cloud/*', 'google-gax'], message: 'Spanner belongs in ledger/spanner, not the core.' },
    { group: ['kafkajs'], message: 'Kafka belongs in the adapters, not the core.' },
    { group: ['pino', 'prom-client', 'commander'], message: 'Logging, metrics and the CLI live in the shell.' },
    { group: ['../spanner/*', '../memory/*', '../kafka/*'], message: 'The core depends on no adapter.' },
    { group: ['../../*', '!../../ledger', '!../../ledger/core', '!../../ledger/core/*'], message: 'A pure core depends only on ledger/core.' },
  ],
  paths: ['fs', 'path', 'os', 'crypto', 'child_process', 'net', 'http', 'events', 'util'].map((name) => ({
    name,
    message: 'The pure core has no I/O: no Node built-ins.',
  })),
};

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bin/**', '*.config.js', '.dependency-cruiser.cjs', 'tests/support/*.js', 'tests/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-console': 'off',
    },
  },
  {
    files: ['ledger/core/**/*.ts', 'projections/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', adapterImports],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'No timers in the pure core.' },
        { name: 'process', message: 'No environment or process access in the pure core.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'No wall clock in business logic: time comes from the command.' },
        { object: 'Math', property: 'random', message: 'No randomness in business logic: IDs derive from natural keys.' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'No wall clock in business logic.' },
      ],
    },
  },
);
