import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['node_modules/**', 'cdk.out/**'],
    // CDK synthesis and moto-backed integration tests are slow on 2 cores.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Focused tests (it.only) fail the run in CI instead of silently skipping the rest.
    allowOnly: false,
    reporters: ['default'],
  },
});
