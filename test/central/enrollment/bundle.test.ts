/**
 * The enrollment handler exactly as deployed: the inline esbuild bundle (docs/architecture.md, decision 2).
 * Guards its size and runs the bundled code once on an ignored event (no AWS call).
 */
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bundleHandler } from '../../../shared/constructs/bundle';
import { apiCallEvent } from './factories';

/** Far below the 4 MB inline ZipFile limit; ~78 KB today (zod/mini, not classic zod). */
const MAX_BUNDLE_BYTES = 200_000;

const ENV = {
  STACK_SET_NAME: 'log-reflector-members',
  CALL_AS: 'SELF',
  TARGET_OU_IDS: 'r-ab12',
  REGIONS: 'eu-west-1',
  MANAGEMENT_ACCOUNT_ID: '111122223333',
  AWS_REGION: 'eu-west-1',
};

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('enrollment handler bundle', () => {
  it('stays small', () => {
    expect(bundleHandler('central/enrollment/handler.ts').bytes).toBeLessThan(MAX_BUNDLE_BYTES);
  });

  it('runs as bundled: parses its environment and ignores an unrelated event', async () => {
    for (const [k, v] of Object.entries(ENV)) vi.stubEnv(k, v);
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const { code } = bundleHandler('central/enrollment/handler.ts');
    const module = { exports: {} as { handler?: (event: unknown, context: unknown) => Promise<unknown> } };
    new Function('module', 'exports', 'require', code)(
      module,
      module.exports,
      createRequire(import.meta.url),
    );
    const result = await module.exports.handler?.(apiCallEvent('CreatePolicy', { name: 'p' }), {
      getRemainingTimeInMillis: () => 60_000,
    });
    expect(result).toStrictEqual({
      status: 'ignored',
      reason: 'CreatePolicy does not affect enrollment',
    });
  });
});
