/**
 * The one deployment configuration: what an org admin sets before `cdk deploy`.
 *
 * Loaded from cdk.json context (`log-reflector`) or from a JSON file named with
 * `-c config=PATH`, validated here, at synth time, so that a typo fails on the admin's
 * machine with every bad field named, instead of as a failed StackSet operation in hundreds
 * of accounts. Synth-time only: never imported by Lambda code.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors';
import { DEFAULT_FILTER_NAME, DEFAULT_OPT_OUT_TAG_KEY, DEFAULT_OPT_OUT_TAG_VALUE } from './naming';
import { isKnownRegion } from './regions';
import { DEFAULT_CATEGORY_TEMPLATE } from './sumo/headers';

/** 12 digits: https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-identifiers.html */
export const AccountIdSchema = z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id');

/** `o-` + 10–32 lower-case letters or digits (Organizations API reference, Organization.Id). */
export const OrganizationIdSchema = z
  .string()
  .regex(/^o-[a-z0-9]{10,32}$/, 'must be an organization id like o-a1b2c3d4e5');

/** Root `r-` + 4–32, or OU `ou-<root part>-<8–32>` (Organizations API reference, ParentId). */
export const OrgUnitIdSchema = z
  .string()
  .regex(
    /^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$/,
    'must be an organization root id (r-xxxx) or OU id (ou-xxxx-xxxxxxxx)',
  );

export const RegionSchema = z
  .string()
  .refine(isKnownRegion, { message: 'is not a known AWS commercial region (see shared/regions.ts)' });

/** Lambda memory: 128–10,240 MB (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). */
const MemorySchema = z.number().int().min(128).max(10_240);

const KinesisSchema = z.discriminatedUnion('mode', [
  z.object({
    mode: z.literal('on-demand'),
    /** 24–8,760 hours (https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html). */
    retentionHours: z.number().int().min(24).max(8760).default(24),
  }),
  z.object({
    mode: z.literal('provisioned'),
    shardCount: z.number().int().min(1).max(10_000),
    retentionHours: z.number().int().min(24).max(8760).default(24),
  }),
]);

/** Event source mapping limits: https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html */
const ReflectorSchema = z
  .object({
    /** Records per invocation, ≤ 10,000 (and the 6 MB invoke payload). */
    batchSize: z.number().int().min(1).max(10_000).default(100),
    /** 0–300 seconds. */
    maxBatchingWindowSeconds: z.number().int().min(0).max(300).default(5),
    memorySizeMb: MemorySchema.default(1024),
    /** Concurrent batches per shard, 1–10. */
    parallelizationFactor: z.number().int().min(1).max(10).default(2),
    /** ESM retries of a failing batch before it is parked in the failure bucket, 0–10,000. */
    maxRetryAttempts: z.number().int().min(0).max(10_000).default(100),
    /** Records older than this are parked in the failure bucket, 60–604,800 seconds. */
    maxRecordAgeSeconds: z.number().int().min(60).max(604_800).default(86_400),
    /** Lambda timeout, ≤ 900 s; the reflector stops sending with a grace margin before it. */
    timeoutSeconds: z.number().int().min(30).max(900).default(300),
  })
  .default({
    batchSize: 100,
    maxBatchingWindowSeconds: 5,
    memorySizeMb: 1024,
    parallelizationFactor: 2,
    maxRetryAttempts: 100,
    maxRecordAgeSeconds: 86_400,
    timeoutSeconds: 300,
  });

const SumoSchema = z
  .object({
    /** An existing Secrets Manager secret (name) holding the HTTP source URL. */
    secretName: z.string().min(1).max(512).optional(),
    /** An existing secret by full ARN. Neither set: the central stack creates one to fill in. */
    secretArn: z
      .string()
      .regex(/^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a Secrets Manager secret ARN')
      .optional(),
    /** X-Sumo-Category template over {account}, {region}, {logGroup}, {logStream}. */
    categoryTemplate: z.string().min(1).max(1024).default(DEFAULT_CATEGORY_TEMPLATE),
    /**
     * What each line repeats about its stream: `full` (account, region, log group, stream on
     * every line) or `stream` (those travel once per request in the Sumo headers; ~16 % fewer
     * bytes ingested, and Sumo bills ingest by the byte). docs/reflector.md shows both.
     */
    lineContext: z.enum(['full', 'stream']).default('full'),
    /** Extra static X-Sumo-Fields. */
    fields: z
      .record(z.string().regex(/^[A-Za-z0-9_]+$/, 'field names are letters, digits, _'), z.string())
      .default({}),
  })
  .refine((s) => !(s.secretName && s.secretArn), {
    message: 'set secretName or secretArn, not both',
    path: ['secretArn'],
  });

export const DeploymentConfigSchema = z
  .object({
    organizationId: OrganizationIdSchema,
    /** The organization root (r-…); the default target of the members StackSet. */
    organizationRootId: z.string().regex(/^r-[0-9a-z]{4,32}$/, 'must be an organization root id (r-xxxx)'),
    managementAccountId: AccountIdSchema,
    /** Where the stream, reflector and destinations live (e.g. Log Archive). */
    centralAccountId: AccountIdSchema,
    /** The central account's region for the stream and reflector; also where the org stack deploys. */
    homeRegion: RegionSchema,
    /** Every region whose log groups are forwarded. */
    regions: z
      .array(RegionSchema)
      .min(1, 'must list at least one region')
      .refine((r) => new Set(r).size === r.length, { message: 'must not repeat a region' }),
    /** OUs (or the root) whose accounts get the member stack. Default: the organization root. */
    targetOuIds: z.array(OrgUnitIdSchema).min(1, 'must list at least one OU or root id').optional(),
    /** Where `cdk deploy` runs: the management account, or a CloudFormation delegated admin. */
    deployFrom: z.enum(['management', 'delegated-admin']).default('management'),
    /** Required when deployFrom is delegated-admin. */
    delegatedAdminAccountId: AccountIdSchema.optional(),
    optOutTag: z
      .object({
        key: z.string().min(1).max(128).default(DEFAULT_OPT_OUT_TAG_KEY),
        value: z.string().max(256).default(DEFAULT_OPT_OUT_TAG_VALUE),
      })
      .default({ key: DEFAULT_OPT_OUT_TAG_KEY, value: DEFAULT_OPT_OUT_TAG_VALUE }),
    logGroups: z
      .object({
        /** Globs over log group names; empty = every log group. */
        include: z.array(z.string().min(1)).default([]),
        /** Globs over log group names; our own are excluded whatever is set here. */
        exclude: z.array(z.string().min(1)).default([]),
      })
      .default({ include: [], exclude: [] }),
    filter: z
      .object({
        /** Base name of the filter we own; the region is appended (shared/naming.ts). */
        name: z
          .string()
          .min(1)
          .max(480)
          .regex(/^[^:*]+$/, 'must not contain ":" or "*"')
          .default(DEFAULT_FILTER_NAME),
        /** CloudWatch Logs filter pattern; empty forwards every event. ≤ 1,024 characters. */
        pattern: z.string().max(1024).default(''),
      })
      .default({ name: DEFAULT_FILTER_NAME, pattern: '' }),
    kinesis: KinesisSchema.default({ mode: 'on-demand', retentionHours: 24 }),
    reflector: ReflectorSchema,
    sumo: SumoSchema.default({
      categoryTemplate: DEFAULT_CATEGORY_TEMPLATE,
      lineContext: 'full',
      fields: {},
    }),
    /** Also cover the management account (service-managed StackSets never deploy there). */
    coverManagementAccount: z.boolean().default(false),
    /** How often the member sweep re-plans every log group, in minutes. */
    sweepIntervalMinutes: z.number().int().min(15).max(1440).default(360),
    /** How often the enrollment reconciler runs, in minutes. */
    enrollmentIntervalMinutes: z.number().int().min(5).max(1440).default(15),
    /** Control-plane calls per second the member functions allow themselves per account and region. */
    memberRateLimitRps: z.number().min(0.5).max(50).default(4),
    /** Optional e-mail address subscribed to the alarm topic. */
    alarmEmail: z.email('must be an e-mail address').optional(),
  })
  .superRefine((c, ctx) => {
    if (c.centralAccountId === c.managementAccountId) {
      ctx.addIssue({
        code: 'custom',
        path: ['centralAccountId'],
        message:
          'must differ from managementAccountId (service-managed StackSets never deploy to the management account)',
        input: c.centralAccountId,
      });
    }
    if (c.regions.length > 0 && !c.regions.includes(c.homeRegion)) {
      ctx.addIssue({
        code: 'custom',
        path: ['homeRegion'],
        message: `must be one of regions (${c.regions.join(', ')})`,
        input: c.homeRegion,
      });
    }
    if (c.deployFrom === 'delegated-admin' && !c.delegatedAdminAccountId) {
      ctx.addIssue({
        code: 'custom',
        path: ['delegatedAdminAccountId'],
        message: 'is required when deployFrom is delegated-admin',
        input: c.delegatedAdminAccountId,
      });
    }
    if (c.deployFrom === 'delegated-admin' && c.coverManagementAccount) {
      ctx.addIssue({
        code: 'custom',
        path: ['coverManagementAccount'],
        message: 'needs deployFrom management (a delegated admin cannot deploy into the management account)',
        input: c.coverManagementAccount,
      });
    }
  });

export type DeploymentConfigInput = z.input<typeof DeploymentConfigSchema>;

/** The validated configuration, with defaults applied and derived values filled in. */
export type DeploymentConfig = z.output<typeof DeploymentConfigSchema> & {
  readonly targetOuIds: readonly string[];
};

/** Maps zod issues to ConfigIssues: dotted path, message, the value received. */
export function toConfigIssues(error: z.ZodError, root: unknown): ConfigIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    // The value at the issue's path in what the user wrote; zod's own `input` only when the
    // path leads nowhere (e.g. a union reports the enclosing object).
    let received = lookup(root, issue.path);
    if (received === undefined && 'input' in issue) received = issue.input;
    return { path, message: issue.message, received };
  });
}

function lookup(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** Validates a raw configuration object; throws ConfigError naming every bad field. */
export function parseDeploymentConfig(raw: unknown, source = 'deployment configuration'): DeploymentConfig {
  const result = DeploymentConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(source, toConfigIssues(result.error, raw));
  const c = result.data;
  return { ...c, targetOuIds: c.targetOuIds ?? [c.organizationRootId] };
}

/**
 * Loads the configuration the CDK app runs with: the JSON file named by the `config` context
 * value (`-c config=PATH`) when given, otherwise the `log-reflector` object in cdk.json context.
 */
export function loadDeploymentConfig(tryGetContext: (key: string) => unknown): DeploymentConfig {
  const path = tryGetContext('config');
  if (typeof path === 'string' && path.length > 0) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(
        'deployment configuration',
        [{ path: 'config', message: `cannot read file: ${(err as Error).message}`, received: path }],
        { cause: err },
      );
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(
        `deployment configuration file ${path}`,
        [{ path: '(file)', message: `is not valid JSON: ${(err as Error).message}`, received: text }],
        { cause: err },
      );
    }
    return parseDeploymentConfig(raw, `deployment configuration file ${path}`);
  }
  const inline = tryGetContext('log-reflector');
  if (inline === undefined) {
    throw new ConfigError('deployment configuration', [
      {
        path: 'log-reflector',
        message: 'no configuration: set the "log-reflector" context in cdk.json or pass -c config=PATH',
        received: undefined,
      },
    ]);
  }
  return parseDeploymentConfig(inline, 'deployment configuration (cdk.json context "log-reflector")');
}
