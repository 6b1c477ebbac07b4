/**
 * Names that are a contract across accounts: every function we deploy, the filter we own on
 * each log group, the opt-out tag. Changing one of these in a release renames resources in
 * every account and region, so they live in one place.
 */

/** Every Lambda function (and so every Lambda log group) we deploy starts with this. */
export const RESOURCE_PREFIX = 'log-reflector-';

/**
 * Our own Lambda log groups. Excluded from subscription everywhere, always, whatever the
 * include/exclude settings say (docs/architecture.md, decision 6): otherwise the pipeline feeds itself.
 */
export const OWN_LOG_GROUP_PATTERN = `/aws/lambda/${RESOURCE_PREFIX}*`;

/** The subscription filter name we own on every log group (configurable; this is the default). */
export const DEFAULT_FILTER_NAME = 'log-reflector';

/** Default opt-out tag on an AWS account (Organizations tag). */
export const DEFAULT_OPT_OUT_TAG_KEY = 'log-reflector:opt-out';
export const DEFAULT_OPT_OUT_TAG_VALUE = 'true';

/** Function names. Lambda names are ≤ 64 characters; these stay far below. */
export const FUNCTION_NAMES = {
  reflector: `${RESOURCE_PREFIX}reflector`,
  subscriber: `${RESOURCE_PREFIX}subscriber`,
  backfill: `${RESOURCE_PREFIX}backfill`,
  sweep: `${RESOURCE_PREFIX}sweep`,
  enrollment: `${RESOURCE_PREFIX}enrollment`,
  /** The hourly coverage aggregator in the central account (central/coverage/). */
  coverage: `${RESOURCE_PREFIX}coverage`,
} as const;

/** True when the log group belongs to one of our own functions. */
export function isOwnLogGroup(logGroupName: string): boolean {
  return logGroupName.startsWith(`/aws/lambda/${RESOURCE_PREFIX}`);
}

/** Values of the member stack's `Enrollment` parameter (set per account by the reconciler). */
export const ENROLLMENT_VALUES = ['enabled', 'disabled'] as const;
export type Enrollment = (typeof ENROLLMENT_VALUES)[number];

/**
 * The CloudWatch Logs subscription payload carries the owner account, log group and stream,
 * but not the region (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html),
 * and every regional destination feeds the one home-region stream. So the filter we own in
 * each region is named `<base>-<region>`: the payload's `subscriptionFilters` then tells the
 * reflector which region an event came from. Filter names match `[^:*]*`, ≤ 512 characters.
 */
export function ownFilterName(base: string, region: string): string {
  return `${base}-${region}`;
}

const REGION_SUFFIX = /-((?:[a-z]{2}(?:-gov|-iso[a-z]?)?)-[a-z]+-\d+)$/;

/** The region encoded by `ownFilterName` in the first filter name that carries one. */
export function regionFromFilterNames(filterNames: readonly string[]): string | undefined {
  for (const name of filterNames) {
    const match = REGION_SUFFIX.exec(name);
    if (match) return match[1];
  }
  return undefined;
}

/** The central Kinesis stream every regional destination writes to. */
export const STREAM_NAME = 'log-reflector';

/**
 * The central account's role CloudWatch Logs assumes to write the stream: for every regional
 * destination, and for the central account's own home-region log groups, which subscribe to the
 * stream directly (docs/architecture.md, decision 10).
 */
export const LOGS_TO_KINESIS_ROLE_NAME = `${RESOURCE_PREFIX}logs-to-kinesis`;
