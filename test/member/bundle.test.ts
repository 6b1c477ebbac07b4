/**
 * The member functions ship inline in the member StackSet template, which must stay ≤ 1 MB
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html),
 * so each bundle is held to 200 KB, and each must load and export `handler`.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { bundleHandler } from '../../shared/constructs/bundle';

const MAX_BUNDLE_BYTES = 200 * 1024;
const ENTRIES = ['member/subscriber/handler.ts', 'member/backfill/handler.ts', 'member/sweep/handler.ts'];

describe('member function bundles', () => {
  it.each(ENTRIES)('%s is at most 200 KB and exports handler', (entry) => {
    const bundle = bundleHandler(entry);
    expect(bundle.bytes).toBeLessThanOrEqual(MAX_BUNDLE_BYTES);
    const module = { exports: {} as Record<string, unknown> };
    // Load it as Lambda would (CommonJS, @aws-sdk from the runtime: here from node_modules).
    new Function('module', 'exports', 'require', bundle.code)(
      module,
      module.exports,
      createRequire(import.meta.url),
    );
    expect(typeof module.exports.handler).toBe('function');
  });
});
