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

function toRegexSource(pattern: string): string {
  let out = '';
  for (const ch of pattern) {
    if (ch === '*') out += '.*';
    else if (ch === '?') out += '.';
    else out += ch.replace(/[.\-/#]/g, '\\$&');
  }
  return out;
}

/** A compiled set of patterns: `matches(name)` is true when any pattern matches all of `name`. */
export interface GlobSet {
  readonly patterns: readonly string[];
  matches(name: string): boolean;
}

/**
 * Compiles patterns into one anchored regular expression (one pass per name, whatever the
 * number of patterns: the planner runs it over 100k names). Throws ConfigError naming
 * `field` and the bad pattern.
 */
export function compileGlobs(patterns: readonly string[], field = 'patterns'): GlobSet {
  const issues = patterns.flatMap((pattern, index) => {
    const problem = patternProblem(pattern);
    return problem ? [{ path: `${field}.${index}`, message: `glob ${problem}`, received: pattern }] : [];
  });
  if (issues.length > 0) throw new ConfigError('glob patterns', issues);
  if (patterns.length === 0) return { patterns, matches: () => false };
  const regex = new RegExp(`^(?:${patterns.map(toRegexSource).join('|')})$`, 's');
  return { patterns, matches: (name) => regex.test(name) };
}
