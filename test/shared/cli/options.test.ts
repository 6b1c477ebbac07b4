/** The flag parsers every command shares: each bad value is named with its flag and refused. */
import { describe, expect, it } from 'vitest';
import {
  knownRegion,
  knownRegions,
  positiveInteger,
  positiveNumber,
  resolveRegion,
} from '../../../shared/cli/options';
import { UsageError } from '../../../shared/errors';

function failure(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

describe('positiveInteger', () => {
  const parse = positiveInteger('--concurrency');

  it('accepts plain digits', () => {
    expect(parse('1')).toBe(1);
    expect(parse('16')).toBe(16);
  });

  it.each(['abc', '', '0', '-1', '1.5', '1e3', ' 8', '0x10', '8 ', '99999999999999999999'])(
    'refuses %j, naming the flag and the value',
    (value) => {
      const err = failure(() => parse(value));
      expect(err.name).toBe('UsageError');
      expect(err.flag).toBe('--concurrency');
      expect(err.message).toBe(`--concurrency: expected a positive integer, received '${value}'`);
    },
  );

  it('states the range when there is a maximum', () => {
    expect(positiveInteger('--n', 10)('10')).toBe(10);
    expect(failure(() => positiveInteger('--n', 10)('11')).message).toBe(
      "--n: expected an integer from 1 to 10, received '11'",
    );
  });
});

describe('positiveNumber', () => {
  const parse = positiveNumber('--rate');

  it('accepts decimals', () => {
    expect(parse('4')).toBe(4);
    expect(parse('0.5')).toBe(0.5);
    expect(parse('.25')).toBe(0.25);
    expect(parse('2.')).toBe(2);
  });

  it.each(['abc', '', '0', '0.0', '-1', 'Infinity', 'NaN', '1e2', '1,5'])('refuses %j', (value) => {
    expect(failure(() => parse(value)).message).toBe(
      `--rate: expected a positive number, received '${value}'`,
    );
  });

  it('states the maximum', () => {
    expect(failure(() => positiveNumber('--timeout-seconds', 3600)('3601')).message).toBe(
      "--timeout-seconds: expected a positive number of at most 3600, received '3601'",
    );
  });
});

describe('knownRegion', () => {
  it('accepts a commercial region and refuses a typo', () => {
    expect(knownRegion()('eu-west-1')).toBe('eu-west-1');
    expect(failure(() => knownRegion()('eu-wset-1')).message).toBe(
      "--region: expected a known AWS region (commercial partition, e.g. eu-west-1; shared/regions.ts), received 'eu-wset-1'",
    );
    // Other partitions are not supported (shared/regions.ts).
    expect(failure(() => knownRegion()('us-gov-west-1')).flag).toBe('--region');
  });

  it('collects a variadic list, each checked, repeats once', () => {
    const parse = knownRegions();
    expect(parse('us-east-1', parse('eu-west-1', undefined))).toStrictEqual(['eu-west-1', 'us-east-1']);
    expect(parse('eu-west-1', ['eu-west-1'])).toStrictEqual(['eu-west-1']);
    expect(failure(() => parse('mars-1', ['eu-west-1'])).message).toContain("received 'mars-1'");
  });
});

describe('resolveRegion', () => {
  it('takes the flag without asking the SDK', async () => {
    const fromSdk = () => Promise.reject(new Error('must not be asked'));
    expect(await resolveRegion('eu-central-1', fromSdk)).toBe('eu-central-1');
  });

  it('checks the region the SDK found in the environment or profile', async () => {
    expect(await resolveRegion(undefined, () => Promise.resolve('us-west-2'))).toBe('us-west-2');
    await expect(resolveRegion(undefined, () => Promise.resolve('mars-1'))).rejects.toThrow(
      "--region: none given, and the one from AWS_REGION or the profile is not a known AWS region (commercial partition, e.g. eu-west-1; shared/regions.ts), received 'mars-1'",
    );
  });

  it('names the flag when there is no region at all', async () => {
    await expect(
      resolveRegion(undefined, () => Promise.reject(new Error('Region is missing'))),
    ).rejects.toThrow('--region: required: none given and none in AWS_REGION or the profile');
  });
});
