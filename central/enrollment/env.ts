/**
 * The enrollment reconciler's environment, validated once at cold start. The org stack sets
 * these on `log-reflector-enrollment`; the CLI builds the same config from its flags.
 *
 * Sample:
 * ```
 * STACK_SET_NAME=log-reflector-members  CALL_AS=SELF  TARGET_OU_IDS=ou-ab12-cdef3456,r-ab12
 * REGIONS=eu-west-1,us-east-1  OPT_OUT_TAG_KEY=log-reflector:opt-out  OPT_OUT_TAG_VALUE=true
 * MANAGEMENT_ACCOUNT_ID=111122223333  MANAGEMENT_STACK_SET_NAME=log-reflector-management
 * STATE_BUCKET=log-reflector-org-reconcilerstate1a2b3c  ENROLLED_LIST_BUCKET=log-reflector-state-<guid>
 * ```
 */

import { ConfigError } from '../../shared/errors';
import { DEFAULT_OPT_OUT_TAG_KEY, DEFAULT_OPT_OUT_TAG_VALUE } from '../../shared/naming';
import * as z from '../../shared/zod';

/** Root or OU id, as Organizations and `DeploymentTargets.OrganizationalUnitIds` spell them. */
export const ORG_PARENT_ID_PATTERN = /^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$/;
const REGION_PATTERN = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$/;
const ACCOUNT_ID_PATTERN = /^\d{12}$/;
/** StackSet names: a letter, then letters, digits and hyphens, ≤ 128 (CreateStackSet StackSetName). */
const STACK_SET_NAME_PATTERN = /^[a-zA-Z][-a-zA-Z0-9]{0,127}$/;
const STACK_SET_NAME_RULE = 'must be a StackSet name (a letter, then letters, digits, hyphens; ≤ 128)';
/** S3 bucket names (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). */
const BUCKET_NAME_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const bucketName = () =>
  z.optional(
    z.pipe(
      z.string(),
      z.transform((value: string, ctx) => {
        const name = value.trim();
        if (name === '') return undefined;
        if (!BUCKET_NAME_PATTERN.test(name)) {
          ctx.issues.push({ code: 'custom', message: 'must be an S3 bucket name', input: value });
        }
        return name;
      }),
    ),
  );

/** A comma-separated list: trimmed, empty entries dropped, de-duplicated, each matching `pattern`. */
function csvOf(pattern: RegExp, what: string) {
  return z.pipe(
    z.string({ error: 'is required' }),
    z.transform((value: string, ctx) => {
      const list = [
        ...new Set(
          value
            .split(',')
            .map((p) => p.trim())
            .filter((p) => p.length > 0),
        ),
      ];
      if (list.length === 0)
        ctx.issues.push({ code: 'custom', message: `must list at least one ${what}`, input: value });
      for (const item of list) {
        if (!pattern.test(item)) {
          ctx.issues.push({
            code: 'custom',
            message: `${JSON.stringify(item)} is not an ${what}`,
            input: value,
          });
        }
      }
      return list;
    }),
  );
}

/**
 * The reconciler's environment variables (see the module comment for a sample).
 *
 * zod/mini, not classic zod: classic is not tree-shakable and adds ~450 KB to the inline bundle.
 */
export const EnrollmentEnvSchema = z.pipe(
  z.object({
    STACK_SET_NAME: z
      .string({ error: 'is required' })
      .check(z.regex(STACK_SET_NAME_PATTERN, STACK_SET_NAME_RULE)),
    CALL_AS: z.enum(['SELF', 'DELEGATED_ADMIN'], { error: 'must be SELF or DELEGATED_ADMIN' }),
    TARGET_OU_IDS: csvOf(ORG_PARENT_ID_PATTERN, 'OU id (ou-…) or root id (r-…)'),
    REGIONS: csvOf(REGION_PATTERN, 'AWS region name'),
    OPT_OUT_TAG_KEY: z._default(
      z
        .string()
        .check(z.minLength(1, 'must not be empty'), z.maxLength(128, 'must be at most 128 characters')),
      DEFAULT_OPT_OUT_TAG_KEY,
    ),
    OPT_OUT_TAG_VALUE: z._default(
      z.string().check(z.maxLength(256, 'must be at most 256 characters')),
      DEFAULT_OPT_OUT_TAG_VALUE,
    ),
    MANAGEMENT_ACCOUNT_ID: z
      .string({ error: 'is required' })
      .check(z.regex(ACCOUNT_ID_PATTERN, 'must be a 12-digit account id')),
    // Empty means the cover-management-account switch is off.
    MANAGEMENT_STACK_SET_NAME: z.optional(
      z.pipe(
        z.string(),
        z.transform((value: string, ctx) => {
          const name = value.trim();
          if (name === '') return undefined;
          if (!STACK_SET_NAME_PATTERN.test(name)) {
            ctx.issues.push({ code: 'custom', message: STACK_SET_NAME_RULE, input: value });
          }
          return name;
        }),
      ),
    ),
    /** The reconciler's memory (management account). Empty: nothing remembered between runs. */
    STATE_BUCKET: bucketName(),
    /** The central state bucket the enrolled list is published to. Empty: no account is enabled. */
    ENROLLED_LIST_BUCKET: bucketName(),
  }),
  z.transform((env) => ({
    stackSetName: env.STACK_SET_NAME,
    callAs: env.CALL_AS,
    targetOuIds: env.TARGET_OU_IDS,
    regions: env.REGIONS,
    optOut: { key: env.OPT_OUT_TAG_KEY, value: env.OPT_OUT_TAG_VALUE },
    managementAccountId: env.MANAGEMENT_ACCOUNT_ID,
    managementStackSetName: env.MANAGEMENT_STACK_SET_NAME,
    stateBucket: env.STATE_BUCKET,
    enrolledListBucket: env.ENROLLED_LIST_BUCKET,
  })),
);

export type EnrollmentConfig = z.output<typeof EnrollmentEnvSchema>;
export type CallAs = EnrollmentConfig['callAs'];

/** Parses the environment; throws ConfigError naming every bad variable and its value. */
export function parseEnrollmentEnv(env: Readonly<Record<string, string | undefined>>): EnrollmentConfig {
  const result = EnrollmentEnvSchema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(
    'enrollment environment',
    result.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? '');
      return {
        path: issue.path.map(String).join('.'),
        message: issue.message,
        received: variable ? env[variable] : undefined,
      };
    }),
  );
}
