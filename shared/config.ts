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
import {
  accountScopeProblems,
  DEFAULT_SUBSCRIPTION_SCOPE,
  POLICY_NAME_MAX_LENGTH,
  SUBSCRIPTION_SCOPES,
} from './account-policy';
import { ConfigError, type ConfigIssue, describeValue } from './errors';
import { patternProblem } from './glob';
import { DEFAULT_FILTER_NAME, DEFAULT_OPT_OUT_TAG_KEY, DEFAULT_OPT_OUT_TAG_VALUE } from './naming';
import { isKnownRegion } from './regions';
import { checkTemplate, DEFAULT_CATEGORY_TEMPLATE, parseStaticFields } from './sumo/headers';

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

/**
 * One schema, two readers: the functions validate their environment again at cold start
 * (member/runtime/env.ts, central/reflector/env.ts). Whatever they would reject must fail here,
 * at synth, with the config path; so these fields run the runtimes' own validators (shared/glob.ts,
 * shared/sumo/headers.ts) rather than copies of them. Every object is strict: an unknown key (a
 * typo) is an error naming the closest known key, never silently dropped.
 */

/** A glob over log group names, checked by the member runtime's own validator. */
const GlobSchema = z
  .string()
  .min(1)
  .superRefine((pattern, ctx) => {
    const problem = patternProblem(pattern);
    if (problem) ctx.addIssue({ code: 'custom', message: `glob ${problem}`, input: pattern });
  });

/**
 * Runs a shared validator that throws ConfigError; its messages become issues here (at `path`
 * below the refined value).
 */
function issuesFrom(
  ctx: z.RefinementCtx,
  input: unknown,
  check: () => void,
  path: readonly PropertyKey[] = [],
): void {
  try {
    check();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const issue of err.issues) {
      ctx.addIssue({ code: 'custom', path: [...path], message: issue.message, input });
    }
  }
}

/**
 * `SUMO_FIELDS` as the central stack sets it: `k=v` pairs joined by ','. The reflector reads it
 * back with `parseStaticFields`.
 */
export function renderSumoFields(fields: Readonly<Record<string, string>>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

const KinesisSchema = z.discriminatedUnion('mode', [
  z.strictObject({
    mode: z.literal('on-demand'),
    /** 24–8,760 hours (https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html). */
    retentionHours: z.number().int().min(24).max(8760).default(24),
  }),
  z.strictObject({
    mode: z.literal('provisioned'),
    shardCount: z.number().int().min(1).max(10_000),
    retentionHours: z.number().int().min(24).max(8760).default(24),
  }),
]);

/** Event source mapping limits: https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html */
const ReflectorSchema = z
  .strictObject({
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
  .strictObject({
    /** An existing Secrets Manager secret (name) holding the HTTP source URL. */
    secretName: z.string().min(1).max(512).optional(),
    /** An existing secret by full ARN. Neither set: the central stack creates one to fill in. */
    secretArn: z
      .string()
      .regex(/^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a Secrets Manager secret ARN')
      .optional(),
    /** X-Sumo-Category template over {account}, {region}, {logGroup}, {logStream}. */
    categoryTemplate: z
      .string()
      .min(1)
      .max(1024)
      .superRefine((template, ctx) =>
        issuesFrom(ctx, template, () => checkTemplate('sumo.categoryTemplate', template)),
      )
      .default(DEFAULT_CATEGORY_TEMPLATE),
    /**
     * What each line repeats about its stream: `full` (account, region, log group, stream on
     * every line) or `stream` (those travel once per request in the Sumo headers; ~16 % fewer
     * bytes ingested, and Sumo bills ingest by the byte). docs/reflector.md shows both.
     */
    lineContext: z.enum(['full', 'stream']).default('full'),
    /**
     * Extra static X-Sumo-Fields. Each pair must read back from `SUMO_FIELDS` as exactly itself:
     * the reflector rejects an empty value or one with '=' or a line break, and a ',' would split
     * the pair into others without any error.
     */
    fields: z
      .record(z.string().regex(/^[A-Za-z0-9_]+$/, 'field names are letters, digits, _'), z.string())
      .superRefine((fields, ctx) => {
        for (const [key, value] of Object.entries(fields)) {
          let readBack: [string, string][] | undefined;
          issuesFrom(
            ctx,
            value,
            () => {
              readBack = parseStaticFields(renderSumoFields({ [key]: value }), `sumo.fields.${key}`);
            },
            [key],
          );
          if (readBack && !(readBack.length === 1 && readBack[0]?.[0] === key && readBack[0][1] === value)) {
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message: `would be read back as ${JSON.stringify(readBack)} (SUMO_FIELDS holds key=value pairs separated by ",")`,
              input: value,
            });
          }
        }
      })
      .default({}),
  })
  .refine((s) => !(s.secretName && s.secretArn), {
    message: 'set secretName or secretArn, not both',
    path: ['secretArn'],
  });

export const DeploymentConfigSchema = z
  .strictObject({
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
      .strictObject({
        key: z.string().min(1).max(128).default(DEFAULT_OPT_OUT_TAG_KEY),
        value: z.string().max(256).default(DEFAULT_OPT_OUT_TAG_VALUE),
      })
      .default({ key: DEFAULT_OPT_OUT_TAG_KEY, value: DEFAULT_OPT_OUT_TAG_VALUE }),
    logGroups: z
      .strictObject({
        /** Globs over log group names; empty = every log group. */
        include: z.array(GlobSchema).default([]),
        /** Globs over log group names; our own are excluded whatever is set here. */
        exclude: z.array(GlobSchema).default([]),
      })
      .default({ include: [], exclude: [] }),
    filter: z
      .strictObject({
        /** Base name of the filter we own; the region is appended (shared/naming.ts). */
        name: z
          .string()
          .min(1)
          .max(480)
          .regex(/^[^:*]+$/, 'must not contain ":" or "*"')
          .default(DEFAULT_FILTER_NAME),
        /** CloudWatch Logs filter pattern; empty forwards every event. ≤ 1,024 characters. */
        pattern: z.string().max(1024).default(''),
        /**
         * `log-group`: our filter on every eligible log group (subscriber, backfill, sweep).
         * `account`: one account-level subscription filter policy per account and region, no
         * per-group filters, no function running in steady state (docs/member.md, "Two scopes").
         */
        scope: z.enum(SUBSCRIPTION_SCOPES).default(DEFAULT_SUBSCRIPTION_SCOPE),
      })
      .default({ name: DEFAULT_FILTER_NAME, pattern: '', scope: DEFAULT_SUBSCRIPTION_SCOPE }),
    kinesis: KinesisSchema.default({ mode: 'on-demand', retentionHours: 24 }),
    reflector: ReflectorSchema,
    sumo: SumoSchema.default({
      categoryTemplate: DEFAULT_CATEGORY_TEMPLATE,
      lineContext: 'full',
      fields: {},
    }),
    /** Also cover the management account (service-managed StackSets never deploy there). */
    coverManagementAccount: z.boolean().default(false),
    /** How often the member sweep re-plans every log group (log-group scope), or the periodic check reconciles the account policy (account scope), in minutes. */
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
    // Kinesis drops records older than the retention; the ESM parks a record in the failure
    // bucket only once it is older than maxRecordAge. A larger age means a record the reflector
    // cannot forward expires from the stream first, with no trace
    // (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html, MaximumRecordAgeInSeconds).
    const retentionSeconds = c.kinesis.retentionHours * 3600;
    if (c.reflector.maxRecordAgeSeconds > retentionSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['reflector', 'maxRecordAgeSeconds'],
        message: `must not exceed the stream retention (kinesis.retentionHours ${c.kinesis.retentionHours} = ${retentionSeconds} s): older records would expire from the stream before the event source mapping parks them in the failure bucket`,
        input: c.reflector.maxRecordAgeSeconds,
      });
    }
    if (c.filter.scope === 'account') {
      // What an account-level policy cannot express fails here, with the same check the member
      // functions run at cold start (member/runtime/env.ts).
      for (const problem of accountScopeProblems(c.logGroups.include, c.logGroups.exclude)) {
        const path = ['logGroups', problem.field, ...(problem.index === undefined ? [] : [problem.index])];
        ctx.addIssue({
          code: 'custom',
          path,
          message: problem.message,
          input:
            problem.index === undefined
              ? c.logGroups[problem.field]
              : c.logGroups[problem.field][problem.index],
        });
      }
      // The policy is named like our filter, `<name>-<region>`; policy names are ≤ 256 characters.
      const longest = c.regions.reduce((a, r) => (r.length > a.length ? r : a), '');
      const policyName = `${c.filter.name}-${longest}`;
      if (policyName.length > POLICY_NAME_MAX_LENGTH) {
        ctx.addIssue({
          code: 'custom',
          path: ['filter', 'name'],
          message: `in account scope names the account-level policy ("${c.filter.name}-<region>"), and policy names are at most ${POLICY_NAME_MAX_LENGTH} characters: "${policyName}" has ${policyName.length}`,
          input: c.filter.name,
        });
      }
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
  return error.issues.flatMap((issue): ConfigIssue[] => {
    if (issue.code === 'unrecognized_keys') {
      // One issue per unknown key, naming the closest key the schema knows at that place.
      const known = knownKeysAt(DeploymentConfigSchema, issue.path, root);
      return issue.keys.map((key) => {
        const closest = closestKey(key, known);
        return {
          path: [...issue.path, key].map(String).join('.'),
          message: `is not a known field${closest ? ` (did you mean ${describeValue(closest)}?)` : ''}`,
          received: lookup(root, [...issue.path, key]),
        };
      });
    }
    const path = issue.path.map(String).join('.');
    // The value at the issue's path in what the user wrote; zod's own `input` only when the
    // path leads nowhere (e.g. a union reports the enclosing object).
    let received = lookup(root, issue.path);
    if (received === undefined && 'input' in issue) received = issue.input;
    return [{ path, message: issue.message, received }];
  });
}

/** The parts of a zod schema's definition we walk to find an object's keys. */
interface SchemaNode {
  readonly _zod: {
    readonly def: {
      readonly type: string;
      readonly shape?: Readonly<Record<string, SchemaNode>>;
      readonly innerType?: SchemaNode;
      readonly in?: SchemaNode;
      readonly element?: SchemaNode;
      readonly options?: readonly SchemaNode[];
      readonly discriminator?: string;
      readonly values?: readonly unknown[];
    };
  };
}

/** The keys the schema allows for the object at `path` of the raw config (union: the matching option). */
function knownKeysAt(schema: SchemaNode, path: readonly PropertyKey[], root: unknown): string[] {
  let node: SchemaNode | undefined = schema;
  let value: unknown = root;
  let depth = 0;
  while (node) {
    const def: SchemaNode['_zod']['def'] = node._zod.def;
    if (def.innerType) node = def.innerType;
    else if (def.type === 'pipe') node = def.in;
    else if (def.type === 'union' && def.options) {
      const tag = def.discriminator;
      const picked: SchemaNode | undefined = def.options.find((option) => {
        const literal = tag ? option._zod.def.shape?.[tag]?._zod.def.values : undefined;
        return literal?.includes((value as Record<string, unknown> | undefined)?.[tag ?? '']);
      });
      if (picked) node = picked;
      else return [...new Set(def.options.flatMap((o) => Object.keys(o._zod.def.shape ?? {})))];
    } else if (depth === path.length) {
      return Object.keys(def.shape ?? {});
    } else {
      const key: PropertyKey | undefined = path[depth];
      node = def.type === 'array' ? def.element : def.shape?.[String(key)];
      value =
        value !== null && typeof value === 'object'
          ? (value as Record<PropertyKey, unknown>)[key ?? '']
          : undefined;
      depth += 1;
    }
  }
  return [];
}

/** The known key with the smallest edit distance (ties: the first in schema order). */
function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, two rows. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
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
