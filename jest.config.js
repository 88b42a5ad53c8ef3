// Two tiers: `unit` never needs the emulator or a broker; `int` talks to the real
// Cloud Spanner emulator (one per test run, started in globalSetup) and the embedded broker.
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
const common = { testEnvironment: 'node', transform, moduleFileExtensions: ['ts', 'js', 'json'] };

module.exports = {
  testTimeout: 60_000,
  // Two workers on this 2-core machine: the integration files mostly wait on Kafka group
  // joins and the emulator, so two at a time halve the wall time (4 min instead of 9+).
  maxWorkers: 2,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/tests/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'int',
      testMatch: ['<rootDir>/tests/int/**/*.test.ts', '<rootDir>/tests/faults/**/*.test.ts'],
      globalSetup: '<rootDir>/tests/support/global-setup.ts',
      globalTeardown: '<rootDir>/tests/support/global-teardown.ts',
    },
  ],
};
