/**
 * Glob patterns over log group names, as operators write them in `INCLUDE` / `EXCLUDE`
 * (comma-separated): `*` matches any run of characters, `/` included (log group names are
 * flat strings, `/aws/lambda/*` must match every Lambda group), `?` matches exactly one.
 * Everything else is literal and case-sensitive, like log group names themselves
 * (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html:
 * `[\.\-_/#A-Za-z0-9]+`, 1–512 characters).
 */
import { ConfigError } from './errors';

/** Characters a pattern may hold: the log group name alphabet plus the two wildcards. */
const PATTERN_ALPHABET = /^[.\-_/#A-Za-z0-9*?]+$/;
/** Longest pattern accepted: a log group name is at most 512 characters. */
const MAX_PATTERN_LENGTH = 512;

/** Splits a comma-separated list, trimming blanks and dropping empty entries. */
export function splitPatternList(list: string): string[] {
  return list
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

/** Why a pattern is invalid, or undefined when it is fine. */
export function patternProblem(pattern: string): string | undefined {
  if (pattern.length > MAX_PATTERN_LENGTH) return `longer than ${MAX_PATTERN_LENGTH} characters`;
  if (!PATTERN_ALPHABET.test(pattern)) {
    return 'may only hold log group name characters [.-_/#A-Za-z0-9] and the wildcards * and ?';
  }
  return undefined;
}

/** Counts the character comparisons a match makes (tests hold the matcher to its bound). */
export interface StepCounter {
  steps: number;
}

/**
 * One pattern, split at its `*`s into fixed-length segments (`?` matches any one character).
 * Matching needs no backtracking: the first segment must sit at the start of the name, the
 * last at its end, and each middle segment is taken at its leftmost place after the previous
 * one (a later place could only leave less room for the rest, and `*` absorbs the gap). So a
 * match costs at most (name length + 1) × (pattern length + 1) comparisons, whatever the
 * pattern; one regular expression per pattern set used to backtrack exponentially on
 * patterns with many `*` (`*a*a*a*…*b` against a long name took minutes).
 */
interface CompiledGlob {
  /** The segments between `*`s; one segment when the pattern has no `*`. */
  readonly segments: readonly string[];
  readonly starred: boolean;
  /** Sum of the segments' lengths: the shortest name that can match. */
  readonly minLength: number;
}

function compileOne(pattern: string): CompiledGlob {
  const segments = pattern.split('*');
  let minLength = 0;
  for (const s of segments) minLength += s.length;
  return { segments, starred: segments.length > 1, minLength };
}

/** True when `seg` matches name[at, at + seg.length) (`?` matches any one character). */
function segmentAt(seg: string, name: string, at: number, counter: StepCounter | undefined): boolean {
  for (let i = 0; i < seg.length; i++) {
    if (counter) counter.steps++;
    const c = seg.charCodeAt(i);
    if (c !== 63 /* ? */ && c !== name.charCodeAt(at + i)) return false;
  }
  return true;
}

function matchOne(g: CompiledGlob, name: string, counter: StepCounter | undefined): boolean {
  const segs = g.segments;
  const n = name.length;
  if (n < g.minLength) return false;
  const first = segs[0] as string;
  if (!g.starred) return n === first.length && segmentAt(first, name, 0, counter);
  const last = segs[segs.length - 1] as string;
  if (!segmentAt(first, name, 0, counter)) return false;
  const end = n - last.length; // the last segment occupies name[end, n)
  if (!segmentAt(last, name, end, counter)) return false;
  let at = first.length;
  for (let k = 1; k < segs.length - 1; k++) {
    const seg = segs[k] as string;
    if (seg.length === 0) continue; // `**`
    // Leftmost place of seg in name[at, end).
    let found = -1;
    for (let p = at; p + seg.length <= end; p++) {
      if (segmentAt(seg, name, p, counter)) {
        found = p;
        break;
      }
    }
    if (found < 0) return false;
    at = found + seg.length;
  }
  return at <= end;
}

/** A compiled set of patterns: `matches(name)` is true when any pattern matches all of `name`. */
export interface GlobSet {
  readonly patterns: readonly string[];
  /** `counter`, when given, counts character comparisons (tests only). */
  matches(name: string, counter?: StepCounter): boolean;
}

/**
 * Compiles patterns for matching in time linear in the name (per pattern; see CompiledGlob).
 * Throws ConfigError naming `field` and the bad pattern.
 */
export function compileGlobs(patterns: readonly string[], field = 'patterns'): GlobSet {
  const issues = patterns.flatMap((pattern, index) => {
    const problem = patternProblem(pattern);
    return problem ? [{ path: `${field}.${index}`, message: `glob ${problem}`, received: pattern }] : [];
  });
  if (issues.length > 0) throw new ConfigError('glob patterns', issues);
  // Patterns without wildcards are names: one set lookup for all of them.
  const exact = new Set(patterns.filter((p) => !/[*?]/.test(p)));
  const globs = patterns.filter((p) => /[*?]/.test(p)).map(compileOne);
  return {
    patterns,
    matches(name, counter) {
      if (exact.has(name)) return true;
      for (const g of globs) if (matchOne(g, name, counter)) return true;
      return false;
    },
  };
}
