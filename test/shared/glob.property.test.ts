import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGlobs, type StepCounter } from '../../shared/glob';

/** The textbook dynamic programme over (pattern prefix, name prefix): obviously right, O(n·m). */
function reference(pattern: string, name: string): boolean {
  const m = pattern.length;
  const n = name.length;
  let row = new Array<boolean>(n + 1).fill(false);
  row[0] = true;
  for (let i = 1; i <= m; i++) {
    const p = pattern[i - 1];
    const next = new Array<boolean>(n + 1).fill(false);
    next[0] = p === '*' && (row[0] as boolean);
    for (let j = 1; j <= n; j++) {
      if (p === '*') next[j] = (row[j] as boolean) || (next[j - 1] as boolean);
      else next[j] = (row[j - 1] as boolean) && (p === '?' || p === name[j - 1]);
    }
    row = next;
  }
  return row[n] as boolean;
}

/** A small alphabet makes matches (and near misses) frequent. */
const name = (maxLength: number) => fc.string({ unit: fc.constantFrom('a', 'b', '/', '-'), maxLength });
const pattern = (maxLength: number) =>
  fc.string({ unit: fc.constantFrom('a', 'b', '/', '-', '*', '?'), minLength: 1, maxLength });

/** The matcher's bound: at most (n + 1) × (m + 1) comparisons per pattern. */
function bound(patterns: readonly string[], n: number): number {
  return patterns.reduce((sum, p) => sum + (n + 1) * (p.length + 1), 0);
}

describe('compileGlobs (properties)', () => {
  it('agrees with the reference matcher on every pattern set and name', () => {
    fc.assert(
      fc.property(fc.array(pattern(12), { minLength: 1, maxLength: 4 }), name(24), (patterns, n) => {
        const expected = patterns.some((p) => reference(p, n));
        expect(compileGlobs(patterns).matches(n)).toBe(expected);
      }),
      { numRuns: 5000 },
    );
  });

  it('makes at most (n + 1) × (m + 1) comparisons, whatever the pattern (no backtracking)', () => {
    // Long names and star-heavy patterns: a backtracking matcher needs minutes on many of
    // these (see the adversarial case below); the step count is exact, so this cannot flake.
    const starry = fc
      .array(fc.constantFrom('*', 'a', 'a*', '*a', '?', '*?', 'b'), { minLength: 1, maxLength: 120 })
      .map((parts) => parts.join('').slice(0, 512));
    fc.assert(
      fc.property(
        fc.array(fc.oneof(starry, pattern(64)), { minLength: 1, maxLength: 3 }),
        fc.oneof(
          fc.nat(512).map((k) => 'a'.repeat(k)),
          fc.nat(512).map((k) => `${'a'.repeat(k)}b`.slice(0, 512)),
          name(512),
        ),
        (patterns, n) => {
          const counter: StepCounter = { steps: 0 };
          const got = compileGlobs(patterns).matches(n, counter);
          expect(counter.steps).toBeLessThanOrEqual(bound(patterns, n.length));
          if (n.length <= 64 && patterns.every((p) => p.length <= 64)) {
            expect(got).toBe(patterns.some((p) => reference(p, n)));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('matches the adversarial case for backtracking in a bounded number of steps', () => {
    // `*a*a*…*a*b` against 512 × `a`: the regular expression this replaced explores
    // ~C(512, 100) ways to place the stars before failing.
    const p = `${'*a'.repeat(100)}*b`;
    const n = 'a'.repeat(512);
    const counter: StepCounter = { steps: 0 };
    expect(compileGlobs([p]).matches(n, counter)).toBe(false);
    expect(counter.steps).toBeLessThanOrEqual(bound([p], n.length));
    expect(compileGlobs([p]).matches(`${n.slice(0, 511)}b`)).toBe(true);
  });
});
