/**
 * The bundles are built for the Node.js version the functions run on: esbuild's target and
 * the Lambda runtime of every inline function come from one place each and must agree
 * (issue 11: the bundles targeted node22 while the functions ran nodejs24.x).
 */
import { describe, expect, it } from 'vitest';
import { NODE_TARGET } from '../../../shared/constructs/bundle';
import { FUNCTION_RUNTIME } from '../../../shared/constructs/inline-function';

describe('bundle target', () => {
  it('is the Node.js major version of the functions’ Lambda runtime', () => {
    const major = /^nodejs(\d+)\.x$/.exec(FUNCTION_RUNTIME.name)?.[1];
    expect(major, `runtime ${FUNCTION_RUNTIME.name}`).toBeDefined();
    expect(NODE_TARGET).toBe(`node${major}`);
  });
});
