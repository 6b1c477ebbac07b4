/**
 * The coverage aggregator's environment (central/central-stack.ts sets it), validated at cold
 * start. Sample:
 * ```
 * STATE_BUCKET=log-reflector-state-<org stack id>  REGIONS=eu-west-1,us-east-1
 * HOME_REGION=eu-west-1  CENTRAL_ACCOUNT_ID=222222222222  STALE_AFTER_MINUTES=780
 * ```
 */
import { ConfigError, type ConfigIssue } from '../../shared/errors';
import * as z from '../../shared/zod';

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

export const CoverageEnvSchema = z.pipe(
  z.object({
    STATE_BUCKET: z
      .string({ error: 'is required' })
      .check(z.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')),
    REGIONS: z.pipe(
      z.string({ error: 'is required' }),
      z.transform((value: string, ctx) => {
        const list = [
          ...new Set(
            value
              .split(',')
              .map((r) => r.trim())
              .filter((r) => r !== ''),
          ),
        ];
        if (list.length === 0 || list.some((r) => !REGION.test(r)))
          ctx.issues.push({
            code: 'custom',
            message: 'must be a comma-separated list of regions',
            input: value,
          });
        return list;
      }),
    ),
    HOME_REGION: z.string({ error: 'is required' }).check(z.regex(REGION, 'must be a region name')),
    CENTRAL_ACCOUNT_ID: z
      .string({ error: 'is required' })
      .check(z.regex(/^\d{12}$/, 'must be a 12-digit account id')),
    STALE_AFTER_MINUTES: z.pipe(
      z.string({ error: 'is required' }),
      z.pipe(
        z.transform((value: string) => Number(value)),
        z.int({ error: 'must be a whole number of minutes' }).check(z.gte(1, 'must be at least 1')),
      ),
    ),
  }),
  z.transform((env) => ({
    bucket: env.STATE_BUCKET,
    regions: env.REGIONS,
    homeRegion: env.HOME_REGION,
    centralAccountId: env.CENTRAL_ACCOUNT_ID,
    staleAfterMinutes: env.STALE_AFTER_MINUTES,
  })),
);

export type CoverageConfig = z.output<typeof CoverageEnvSchema>;

/** Parses the environment; a ConfigError lists every bad variable with the value received. */
export function parseCoverageEnv(env: Readonly<Record<string, string | undefined>>): CoverageConfig {
  const parsed = CoverageEnvSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const issues: ConfigIssue[] = parsed.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '');
    return { path: key, message: issue.message, received: env[key] };
  });
  throw new ConfigError('coverage aggregator environment', issues);
}
