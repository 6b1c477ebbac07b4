/**
 * Flags every command shares, and the parsers behind them. A parser runs while commander reads
 * the command line, so a bad value stops the command (exit 2, `UsageError` naming the flag and
 * the value received) before it makes any call: `--concurrency abc` used to become NaN and a
 * run that did nothing and reported success.
 */
import { Option } from 'commander';
import { SUBSCRIPTION_SCOPES, type SubscriptionScope } from '../account-policy';
import { UsageError } from '../errors';
import { isKnownRegion, type Region } from '../regions';

const INTEGER = /^[0-9]+$/;
const DECIMAL = /^([0-9]+(\.[0-9]*)?|\.[0-9]+)$/;

/** `--flag <n>`: a whole number ≥ 1 (and ≤ `max` when given), written in plain digits. */
export function positiveInteger(flag: string, max?: number): (value: string) => number {
  const expected = max === undefined ? 'a positive integer' : `an integer from 1 to ${max}`;
  return (value) => {
    const n = INTEGER.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 1 || (max !== undefined && n > max)) {
      throw new UsageError(flag, `expected ${expected}, received '${value}'`);
    }
    return n;
  };
}

/** `--flag <x>`: a decimal number > 0 (and ≤ `max` when given), e.g. `0.5` or `4`. */
export function positiveNumber(flag: string, max?: number): (value: string) => number {
  const expected = max === undefined ? 'a positive number' : `a positive number of at most ${max}`;
  return (value) => {
    const n = DECIMAL.test(value) ? Number(value) : Number.NaN;
    if (!Number.isFinite(n) || n <= 0 || (max !== undefined && n > max)) {
      throw new UsageError(flag, `expected ${expected}, received '${value}'`);
    }
    return n;
  };
}

const REGION_RULE = 'a known AWS region (commercial partition, e.g. eu-west-1; shared/regions.ts)';

/** `--region <region>`: one of KNOWN_REGIONS (a typo fails here, not as an endpoint error). */
export function knownRegion(flag = '--region'): (value: string) => Region {
  return (value) => {
    if (!isKnownRegion(value)) throw new UsageError(flag, `expected ${REGION_RULE}, received '${value}'`);
    return value;
  };
}

/** `--region <name...>`: each value checked as `knownRegion`; repeats kept once. */
export function knownRegions(flag = '--region'): (value: string, previous?: Region[]) => Region[] {
  const one = knownRegion(flag);
  return (value, previous) => {
    const region = one(value);
    const list = previous ?? [];
    return list.includes(region) ? list : [...list, region];
  };
}

/** The `--region` option of the commands that work in one region. */
export function regionOption(): Option {
  return new Option('--region <region>', 'AWS region (default: AWS_REGION or the profile)').argParser(
    knownRegion(),
  );
}

/** The `--json` option, worded the same on every command. */
export function jsonOption(): Option {
  return new Option('--json', 'print JSON on stdout instead of a table');
}

/**
 * The region a one-region command works in: `--region` (already checked by its parser), else
 * what the SDK resolves from AWS_REGION or the profile, which is checked here, before any call.
 */
export async function resolveRegion(
  flagValue: Region | undefined,
  fromSdk: () => Promise<string>,
): Promise<Region> {
  if (flagValue !== undefined) return flagValue;
  let region: string;
  try {
    region = await fromSdk();
  } catch {
    throw new UsageError('--region', 'required: none given and none in AWS_REGION or the profile');
  }
  if (!isKnownRegion(region)) {
    throw new UsageError(
      '--region',
      `none given, and the one from AWS_REGION or the profile is not ${REGION_RULE}, received '${region}'`,
    );
  }
  return region;
}

/** `--scope <scope>`: how the account subscribes, `log-group` (default) or `account` (docs/member.md). */
export function scopeOption(): Option {
  return new Option(
    '--scope <scope>',
    'log-group: our filter on each log group; account: one account-level subscription policy',
  )
    .argParser((value: string): SubscriptionScope => {
      if (!(SUBSCRIPTION_SCOPES as readonly string[]).includes(value)) {
        throw new UsageError(
          '--scope',
          `expected one of ${SUBSCRIPTION_SCOPES.join(', ')}, received '${value}'`,
        );
      }
      return value as SubscriptionScope;
    })
    .default('log-group');
}
