/**
 * The house has stairs going down only: central/ (the top floor: CDK app, org stack, the CLI's
 * entry) may import member/ and shared/; member/ may import shared/; shared/ imports nothing
 * above it. Runtime code (everything outside `*-stack.ts`, `app.ts` and `shared/constructs/`)
 * never imports aws-cdk-lib, constructs or esbuild, so no Lambda bundle can pull them in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../shared/constructs/bundle';

const FLOORS = ['shared', 'member', 'central'] as const;
type Floor = (typeof FLOORS)[number];

function sources(dir: string): string[] {
  return readdirSync(join(PROJECT_ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs)$/.test(e.name))
    .map((e) => relative(PROJECT_ROOT, join(e.parentPath, e.name)));
}

/** Module specifiers a file imports; `import type` is erased by esbuild, so it is left out. */
function imports(file: string): string[] {
  const text = readFileSync(join(PROJECT_ROOT, file), 'utf8');
  const re = /(?:^|\n)\s*(import|export)(\s+type)?[^'"]*?from\s*['"]([^'"]+)['"]/g;
  return [...text.matchAll(re)].filter((m) => !m[2]).map((m) => m[3] ?? '');
}

function floorOf(path: string): Floor | undefined {
  const top = path.split('/')[0];
  return FLOORS.find((f) => f === top);
}

const isInfra = (file: string) =>
  /-stack\.ts$/.test(file) || file === 'central/app.ts' || file.startsWith('shared/constructs/');

describe('layering', () => {
  const files = FLOORS.flatMap((f) => sources(f));

  it('finds the source tree', () => {
    expect(files).toContain('central/cli/main.ts');
    expect(files).toContain('member/member-stack.ts');
    expect(files).toContain('shared/constructs/inline-function.ts');
  });

  it('no floor imports a floor above it', () => {
    const upward: string[] = [];
    for (const file of files) {
      const own = floorOf(file);
      for (const spec of imports(file)) {
        if (!spec.startsWith('.')) continue;
        const target = floorOf(relative(PROJECT_ROOT, resolve(PROJECT_ROOT, dirname(file), spec)));
        if (own && target && FLOORS.indexOf(target) > FLOORS.indexOf(own)) upward.push(`${file} → ${spec}`);
      }
    }
    expect(upward).toStrictEqual([]);
  });

  it('runtime code never imports infrastructure packages or constructs', () => {
    const leaks: string[] = [];
    for (const file of files.filter((f) => !isInfra(f))) {
      for (const spec of imports(file)) {
        const infraPackage = /^(aws-cdk-lib|constructs|cdk-nag|cdk-stacksets|esbuild)(\/|$)/.test(spec);
        const infraModule = spec.startsWith('.') && /(-stack|\/constructs\/[^/]+)$/.test(spec);
        if (infraPackage || infraModule) leaks.push(`${file} → ${spec}`);
      }
    }
    expect(leaks).toStrictEqual([]);
  });
});
