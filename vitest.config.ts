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
    // The SDK warns once per process that releases after January 2027 need Node 22; the
    // lockfile pins releases that support Node 20, so in tests the warning is only noise.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
