/**
 * The enrollment reconciler's environment, validated once at cold start. The org stack sets
 * these on `log-reflector-enrollment`; the CLI builds the same config from its flags.
 *
 * Sample:
 * ```
 * STACK_SET_NAME=log-reflector-members  CALL_AS=SELF  TARGET_OU_IDS=ou-ab12-cdef3456,r-ab12
 * REGIONS=eu-west-1,us-east-1  OPT_OUT_TAG_KEY=log-reflector:opt-out  OPT_OUT_TAG_VALUE=true
 * MANAGEMENT_ACCOUNT_ID=111122223333  MANAGEMENT_STACK_SET_NAME=log-reflector-management
 * ```
 */
import { z } from 'zod';
import { ConfigError } from '../../shared/errors';
import { DEFAULT_OPT_OUT_TAG_KEY, DEFAULT_OPT_OUT_TAG_VALUE } from '../../shared/naming';

/** Root or OU id, as Organizations and `DeploymentTargets.OrganizationalUnitIds` spell them. */
export const ORG_PARENT_ID_PATTERN = /^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$/;
const REGION_PATTERN = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$/;
const ACCOUNT_ID_PATTERN = /^\d{12}$/;
/** StackSet names: a letter, then letters, digits and hyphens, ≤ 128 (CreateStackSet StackSetName). */
const STACK_SET_NAME_PATTERN = /^[a-zA-Z][-a-zA-Z0-9]{0,127}$/;

function csvOf(pattern: RegExp, what: string) {
  return z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p.length > 0),
    )
    .pipe(
      z
        .array(z.string().regex(pattern, { message: `each entry must be an ${what}` }))
        .min(1, { message: `must list at least one ${what}` }),
    )
    .transform((list) => [...new Set(list)]);
}

const optionalName = z
  .string()
  .optional()
  .transform((s) => (s === undefined || s.trim() === '' ? undefined : s.trim()))
  .pipe(z.string().regex(STACK_SET_NAME_PATTERN, { message: 'must be a StackSet name' }).optional());

/** The reconciler's environment variables (see the module comment for a sample). */
export const EnrollmentEnvSchema = z
  .object({
    STACK_SET_NAME: z.string().regex(STACK_SET_NAME_PATTERN, { message: 'must be a StackSet name' }),
    CALL_AS: z.enum(['SELF', 'DELEGATED_ADMIN']),
    TARGET_OU_IDS: csvOf(ORG_PARENT_ID_PATTERN, 'OU id (ou-…) or root id (r-…)'),
    REGIONS: csvOf(REGION_PATTERN, 'AWS region name'),
    OPT_OUT_TAG_KEY: z.string().min(1).max(128).default(DEFAULT_OPT_OUT_TAG_KEY),
    OPT_OUT_TAG_VALUE: z.string().max(256).default(DEFAULT_OPT_OUT_TAG_VALUE),
    MANAGEMENT_ACCOUNT_ID: z.string().regex(ACCOUNT_ID_PATTERN, { message: 'must be a 12-digit account id' }),
    MANAGEMENT_STACK_SET_NAME: optionalName,
  })
  .transform((env) => ({
    stackSetName: env.STACK_SET_NAME,
    callAs: env.CALL_AS,
    targetOuIds: env.TARGET_OU_IDS,
    regions: env.REGIONS,
    optOut: { key: env.OPT_OUT_TAG_KEY, value: env.OPT_OUT_TAG_VALUE },
    managementAccountId: env.MANAGEMENT_ACCOUNT_ID,
    managementStackSetName: env.MANAGEMENT_STACK_SET_NAME,
  }));

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
