import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/errors';
import { compileGlobs, patternProblem, splitPatternList } from '../../shared/glob';

describe('splitPatternList', () => {
  it('splits on commas, trims and drops empty entries', () => {
    expect(splitPatternList(' /aws/lambda/*, ,app-?? ,')).toStrictEqual(['/aws/lambda/*', 'app-??']);
    expect(splitPatternList('')).toStrictEqual([]);
  });
});

describe('compileGlobs', () => {
  it('* spans slashes, ? is one character, the rest is literal and anchored', () => {
    const set = compileGlobs(['/aws/lambda/*', 'app-??', 'exact.name']);
    expect(set.matches('/aws/lambda/fn')).toBe(true);
    expect(set.matches('/aws/lambda/a/b/c')).toBe(true);
    expect(set.matches('x/aws/lambda/fn')).toBe(false);
    expect(set.matches('app-01')).toBe(true);
    expect(set.matches('app-001')).toBe(false);
    expect(set.matches('exact.name')).toBe(true);
    expect(set.matches('exactXname')).toBe(false);
  });

  it('is case-sensitive like log group names', () => {
    expect(compileGlobs(['App*']).matches('app-1')).toBe(false);
  });

  it('matches nothing when empty', () => {
    expect(compileGlobs([]).matches('anything')).toBe(false);
  });

  it('treats regex metacharacters of the name alphabet literally', () => {
    const set = compileGlobs(['a.b#c-d']);
    expect(set.matches('a.b#c-d')).toBe(true);
    expect(set.matches('aXb#c-d')).toBe(false);
  });

  it('rejects characters outside the log group name alphabet, naming the field and pattern', () => {
    expect(patternProblem('a b')).toMatch(/may only hold/);
    let thrown: unknown;
    try {
      compileGlobs(['ok', 'bad(pattern'], 'include');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const err = thrown as ConfigError;
    expect(err.name).toBe('ConfigError');
    expect(err.issues).toStrictEqual([
      {
        path: 'include.1',
        message: 'glob may only hold log group name characters [.-_/#A-Za-z0-9] and the wildcards * and ?',
        received: 'bad(pattern',
      },
    ]);
    expect(err.message).toContain('include.1');
  });

  it('rejects patterns longer than a log group name can be', () => {
    expect(patternProblem('a'.repeat(513))).toBe('longer than 512 characters');
    expect(patternProblem('a'.repeat(512))).toBeUndefined();
  });
});
