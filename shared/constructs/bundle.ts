/**
 * Bundles a Lambda handler source file into one minified CommonJS string, the way it is
 * deployed: inline in the template (`Code.fromInline`, handler `index.handler`), because
 * file assets inside StackSets need an org-readable bucket per region (docs/architecture.md, decision 2).
 * `@aws-sdk/*` stays external: the Node.js runtime ships AWS SDK v3
 * (https://docs.aws.amazon.com/lambda/latest/dg/lambda-nodejs.html).
 *
 * Limits it serves: inline ZipFile code ≤ 4 MB
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-lambda-function-code.html)
 * and it counts toward the template, which StackSets take up to 1 MB from S3
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
 * Used at synth time and by the benchmark; never at run time.
 */

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

/** The repository root (this file lives in `<root>/shared`). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Node.js major version the bundles target; keep in step with the functions' runtime. */
export const NODE_TARGET = 'node24';

export interface Bundle {
  /** Minified CommonJS source exporting `handler`. */
  readonly code: string;
  /** UTF-8 size of `code` in bytes. */
  readonly bytes: number;
}

const cache = new Map<string, Bundle>();

/** Bundles `entry` (a path relative to the project root, e.g. `central/reflector/handler.ts`). */
export function bundleHandler(entry: string): Bundle {
  const cached = cache.get(entry);
  if (cached) return cached;
  const result = buildSync({
    entryPoints: [join(PROJECT_ROOT, entry)],
    bundle: true,
    write: false,
    platform: 'node',
    target: NODE_TARGET,
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    sourcemap: false,
    external: ['@aws-sdk/*'],
    // Prefer ESM entry points of dependencies so tree shaking can drop what is unused.
    mainFields: ['module', 'main'],
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`esbuild produced no output for ${entry}`);
  const bundle = { code: file.text, bytes: file.contents.byteLength };
  cache.set(entry, bundle);
  return bundle;
}
