/**
 * The member functions' settings: one schema for the environment of all three handlers
 * (subscriber, backfill, sweep) and, through `settingsFromProperties`, for the backfill
 * custom resource's properties, which mirror the same values so a change triggers Update.
 * Validated once, at cold start; a bad value fails with a ConfigError naming the variable.
 */

import {
  accountScopeProblems,
  DEFAULT_SUBSCRIPTION_SCOPE,
  POLICY_NAME_MAX_LENGTH,
  SUBSCRIPTION_SCOPES,
} from '../../shared/account-policy';
import { ConfigError, type ConfigIssue } from '../../shared/errors';
import { patternProblem, splitPatternList } from '../../shared/glob';
import { ENROLLMENT_VALUES } from '../../shared/naming';
import { DEFAULT_FILTER_SLOTS, type PlanMode, type PlanSettings } from '../../shared/plan';
import * as z from '../../shared/zod';

/**
 * Default requests per second for each CloudWatch Logs control-plane API. The default quotas
 * we call are 5 TPS per API per account and region (PutSubscriptionFilter,
 * DescribeSubscriptionFilters, DeleteSubscriptionFilter; DescribeLogGroups more:
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html).
 * 4 leaves a fifth of the quota for the subscriber, the sweep and whatever else the account
 * runs; the limiter slows down further on throttling.
 */
export const DEFAULT_RATE_LIMIT_RPS = 4;

/** Cross-account destinations are `logs` Destinations; Kinesis/Firehose/Lambda are same-account targets. */
const DESTINATION_ARN = /^arn:aws[a-z-]*:(logs|kinesis|firehose|lambda):[a-z0-9-]+:\d{12}:.+$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
/** https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutSubscriptionFilter.html */
const FILTER_NAME = /^[^:*]{1,512}$/;
const MAX_FILTER_PATTERN_LENGTH = 1024;

const globList = z.pipe(
  z._default(z.string({ error: 'must be a string' }), ''),
  z.transform((value: string, ctx) => {
    const patterns = splitPatternList(value);
    for (const pattern of patterns) {
      const problem = patternProblem(pattern);
      if (problem)
        ctx.issues.push({
          code: 'custom',
          message: `glob ${JSON.stringify(pattern)} ${problem}`,
          input: value,
        });
    }
    return patterns;
  }),
);

/** An optional numeric variable: missing or empty means `fallback`. */
function optionalNumber(fallback: number, ...checks: Parameters<ReturnType<typeof z.number>['check']>) {
  return z.pipe(
    z.transform((value: unknown) => (value === undefined || value === '' ? fallback : Number(value))),
    z.number({ error: 'must be a number' }).check(...checks),
  );
}

/**
 * Environment of the member functions. Sample:
 * `{DESTINATION_ARN: "arn:aws:logs:eu-west-1:111122223333:destination:log-reflector",
 *   SENDER_ROLE_ARN: "arn:aws:iam::444455556666:role/log-reflector-sender",
 *   FILTER_NAME: "log-reflector-eu-west-1", FILTER_PATTERN: "", INCLUDE: "",
 *   EXCLUDE: "/aws/vpc/*,audit-*", ENROLLMENT: "enabled", RATE_LIMIT_RPS: "4"}`
 *
 * zod/mini, not classic zod: the classic build is not tree-shakable (~450 KB in a bundle)
 * and these functions ship inline in a StackSet template (≤ 1 MB).
 */
export const MemberEnvSchema = z.pipe(
  z.object({
    DESTINATION_ARN: z
      .string({ error: 'is required' })
      .check(z.regex(DESTINATION_ARN, 'must be a logs destination, Kinesis, Firehose or Lambda ARN')),
    SENDER_ROLE_ARN: z.string({ error: 'is required' }).check(z.regex(ROLE_ARN, 'must be an IAM role ARN')),
    FILTER_NAME: z
      .string({ error: 'is required' })
      .check(z.regex(FILTER_NAME, 'must be 1-512 characters without ":" or "*"')),
    FILTER_PATTERN: z._default(
      z
        .string({ error: 'must be a string' })
        .check(
          z.maxLength(MAX_FILTER_PATTERN_LENGTH, `must be at most ${MAX_FILTER_PATTERN_LENGTH} characters`),
        ),
      '',
    ),
    INCLUDE: globList,
    EXCLUDE: globList,
    ENROLLMENT: z.enum(ENROLLMENT_VALUES, { error: `must be one of ${ENROLLMENT_VALUES.join(', ')}` }),
    RATE_LIMIT_RPS: optionalNumber(
      DEFAULT_RATE_LIMIT_RPS,
      z.gt(0, 'must be positive'),
      z.lte(100, 'must be at most 100'),
    ),
    /** Optional; see DEFAULT_FILTER_SLOTS. */
    FILTER_SLOTS: optionalNumber(
      DEFAULT_FILTER_SLOTS,
      z.refine((n: number) => Number.isInteger(n), 'must be an integer'),
      z.gte(1, 'must be at least 1'),
      z.lte(10, 'must be at most 10'),
    ),
    /** `log-group` (default) or `account` (shared/account-policy.ts). */
    SCOPE: z._default(
      z.enum(SUBSCRIPTION_SCOPES, { error: `must be one of ${SUBSCRIPTION_SCOPES.join(', ')}` }),
      DEFAULT_SUBSCRIPTION_SCOPE,
    ),
  }),
  z.transform((env, ctx) => {
    if (env.SCOPE === 'account') {
      // In account scope EXCLUDE holds every name the policy's selection criteria list, our own
      // log groups included (the stack puts them there); the synth runs the same check.
      for (const problem of accountScopeProblems(env.INCLUDE, env.EXCLUDE, [])) {
        ctx.issues.push({
          code: 'custom',
          path: [problem.field === 'include' ? 'INCLUDE' : 'EXCLUDE'],
          message: problem.message,
          input: env,
        });
      }
      if (env.FILTER_NAME.length > POLICY_NAME_MAX_LENGTH) {
        ctx.issues.push({
          code: 'custom',
          path: ['FILTER_NAME'],
          message: `names the account-level policy in account scope: at most ${POLICY_NAME_MAX_LENGTH} characters`,
          input: env,
        });
      }
    }
    return {
      destinationArn: env.DESTINATION_ARN,
      roleArn: env.SENDER_ROLE_ARN,
      filterName: env.FILTER_NAME,
      filterPattern: env.FILTER_PATTERN,
      include: env.INCLUDE,
      exclude: env.EXCLUDE,
      enrollment: env.ENROLLMENT,
      rateLimitRps: env.RATE_LIMIT_RPS,
      filterSlots: env.FILTER_SLOTS,
      scope: env.SCOPE,
    };
  }),
);

export type MemberSettings = z.output<typeof MemberEnvSchema>;

function toConfigError(source: string, error: z.core.$ZodError, input: Record<string, unknown>): ConfigError {
  const issues: ConfigIssue[] = error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const key = issue.path[0];
    return { path, message: issue.message, received: typeof key === 'string' ? input[key] : undefined };
  });
  return new ConfigError(source, issues, { cause: error });
}

/** Parses the function environment; throws ConfigError listing every bad variable. */
export function loadMemberEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): MemberSettings {
  const parsed = MemberEnvSchema.safeParse(env);
  if (!parsed.success) throw toConfigError('member function environment', parsed.error, env);
  return parsed.data;
}

/** Custom resource property → environment variable it mirrors. */
export const PROPERTY_TO_ENV = {
  DestinationArn: 'DESTINATION_ARN',
  SenderRoleArn: 'SENDER_ROLE_ARN',
  FilterName: 'FILTER_NAME',
  FilterPattern: 'FILTER_PATTERN',
  Include: 'INCLUDE',
  Exclude: 'EXCLUDE',
  Enrollment: 'ENROLLMENT',
  RateLimitRps: 'RATE_LIMIT_RPS',
  FilterSlots: 'FILTER_SLOTS',
  Scope: 'SCOPE',
} as const;

/**
 * Validates backfill ResourceProperties with the same schema. Issues name the property
 * (`DestinationArn`), not the variable. Properties the stack does not set (RateLimitRps,
 * FilterSlots) fall back to the function's environment, then to the defaults.
 */
export function settingsFromProperties(
  properties: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): MemberSettings {
  const asEnv: Record<string, unknown> = {};
  const envToProperty = new Map<string, string>();
  for (const [property, variable] of Object.entries(PROPERTY_TO_ENV)) {
    envToProperty.set(variable, property);
    const value = properties[property];
    if (value !== undefined) asEnv[variable] = value;
    else if (variable === 'RATE_LIMIT_RPS' || variable === 'FILTER_SLOTS') asEnv[variable] = env[variable];
  }
  const parsed = MemberEnvSchema.safeParse(asEnv);
  if (parsed.success) return parsed.data;
  const issues: ConfigIssue[] = parsed.error.issues.map((issue) => {
    const variable = String(issue.path[0] ?? '');
    const property = envToProperty.get(variable) ?? variable;
    return {
      path: [property, ...issue.path.slice(1).map(String)].join('.'),
      message: issue.message,
      received: properties[property],
    };
  });
  throw new ConfigError('backfill resource properties', issues, { cause: parsed.error });
}

/** The planner's view of the settings. */
export function planSettings(settings: MemberSettings, mode: PlanMode = 'reconcile'): PlanSettings {
  return {
    destinationArn: settings.destinationArn,
    roleArn: settings.roleArn,
    filterName: settings.filterName,
    filterPattern: settings.filterPattern,
    include: settings.include,
    exclude: settings.exclude,
    enrollment: settings.enrollment,
    mode,
    filterSlots: settings.filterSlots,
    scope: settings.scope,
  };
}

/** True when two settings would produce the same plan (used to detect superseded chains). */
export function sameSettings(a: MemberSettings, b: MemberSettings): boolean {
  return JSON.stringify(planSettings(a)) === JSON.stringify(planSettings(b));
}
