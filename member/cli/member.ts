/**
 * `log-reflector plan | apply | remove`: the member automation, run by an operator for the
 * current credentials' account and one region (honours AWS_ENDPOINT_URL, e.g. moto). Same
 * planner, rate limiter and retry policy as the Lambdas; our own log groups are always
 * excluded.
 *
 * - plan:   read every log group and its filters, print the actions and counts. Changes nothing.
 * - apply:  plan, then carry out subscribe/update/remove with a progress bar and a summary.
 * - remove: remove our filter (by name) from every log group, and our account-level policy;
 *           foreign filters and policies are never touched.
 *
 * `--scope account` (docs/member.md, "Two scopes"): plan and apply put our account-level
 * subscription filter policy first and remove our per-group filters only once it is in place
 * (an apply that had to create or change the policy leaves them for the next apply, after the
 * policy has taken effect: no gap). `--scope log-group` (default) removes a policy of ours
 * left from account scope once every eligible group carries our filter.
 *
 * Exit code 1 when any group failed or conflicted, or the account policy conflicted or failed.
 */

import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { type Command, Option } from 'commander';
import { ownLogGroupNames, type SubscriptionScope } from '../../shared/account-policy';
import {
  jsonOption,
  positiveInteger,
  positiveNumber,
  regionOption,
  resolveRegion,
  scopeOption,
} from '../../shared/cli/options';
import { formatTable, printJson, progressBar, type Row, statusLine } from '../../shared/cli/output';
import { ConfigError, UsageError } from '../../shared/errors';
import { DEFAULT_FILTER_NAME, FUNCTION_NAMES, ownFilterName } from '../../shared/naming';
import {
  type AccountPolicyAction,
  createPlanner,
  DEFAULT_FILTER_SLOTS,
  isMutation,
  type PlanAction,
  type PlanMode,
  planAccountPolicy,
} from '../../shared/plan';
import type { Region } from '../../shared/regions';
import { INSTALL_ID, MIGRATION_START_DELAY_MS } from '../cleanup/job';
import {
  describePolicyOutcome,
  desiredAccountPolicy,
  type PolicyOutcome,
  reconcileAccountPolicy,
} from '../runtime/account-policy';
import { executeAll, type GroupResult, planAll, type Summary } from '../runtime/apply';
import { createLogsClient, createLogsRuntime } from '../runtime/clients';
import { DEFAULT_RATE_LIMIT_RPS, loadMemberEnv, type MemberSettings, planSettings } from '../runtime/env';

interface MemberOptions {
  readonly region?: Region;
  readonly destinationArn?: string;
  readonly roleArn?: string;
  readonly filterName?: string;
  readonly filterPattern?: string;
  readonly include?: string;
  readonly exclude?: string;
  readonly rate?: number;
  readonly filterSlots?: number;
  readonly concurrency: number;
  readonly json?: boolean;
  readonly all?: boolean;
  readonly scope: SubscriptionScope;
  readonly installId?: string;
}

const PLACEHOLDER_DESTINATION = 'arn:aws:logs:us-east-1:000000000000:destination:unused';
const PLACEHOLDER_ROLE = 'arn:aws:iam::000000000000:role/unused';

/**
 * The install id of the member stack in this account and region (its cleanup worker's log
 * group is one of ours): `--install-id`, else the live backfill's INSTALL_ID, else none.
 */
async function installIdFor(options: MemberOptions, region: string): Promise<string | undefined> {
  if (options.installId !== undefined) return options.installId;
  try {
    const out = await new LambdaClient({ region }).send(
      new GetFunctionConfigurationCommand({ FunctionName: FUNCTION_NAMES.backfill }),
    );
    return out.Environment?.Variables?.INSTALL_ID;
  } catch {
    return undefined; // no member stack here (or not readable): no cleanup worker to leave out
  }
}

/** Builds settings through the same schema as the Lambdas, so the same values are accepted. */
function settingsFrom(
  options: MemberOptions,
  region: string,
  needsDestination: boolean,
  installId?: string,
): MemberSettings {
  // In account scope the policy leaves out our own log groups by exact name, as the stack does.
  const exclude =
    options.scope === 'account'
      ? [...ownLogGroupNames(installId), ...(options.exclude ? [options.exclude] : [])].join(',')
      : options.exclude;
  const env: Record<string, string | undefined> = {
    DESTINATION_ARN: needsDestination
      ? options.destinationArn
      : (options.destinationArn ?? PLACEHOLDER_DESTINATION),
    SENDER_ROLE_ARN: needsDestination ? options.roleArn : (options.roleArn ?? PLACEHOLDER_ROLE),
    FILTER_NAME: options.filterName ?? ownFilterName(DEFAULT_FILTER_NAME, region),
    FILTER_PATTERN: options.filterPattern ?? '',
    INCLUDE: options.include ?? '',
    EXCLUDE: exclude ?? '',
    ENROLLMENT: 'enabled',
    SCOPE: options.scope,
    RATE_LIMIT_RPS: options.rate === undefined ? undefined : String(options.rate),
    FILTER_SLOTS: options.filterSlots === undefined ? undefined : String(options.filterSlots),
  };
  try {
    return loadMemberEnv(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Name the flags, not the variables behind them.
    const flags: Record<string, string> = {
      DESTINATION_ARN: '--destination-arn',
      SENDER_ROLE_ARN: '--role-arn',
      FILTER_NAME: '--filter-name',
      FILTER_PATTERN: '--filter-pattern',
      INCLUDE: '--include',
      EXCLUDE: '--exclude',
      RATE_LIMIT_RPS: '--rate',
      FILTER_SLOTS: '--filter-slots',
      SCOPE: '--scope',
    };
    throw new ConfigError(
      'options',
      error.issues.map((i) => ({ ...i, path: flags[i.path.split('.')[0] ?? ''] ?? i.path })),
    );
  }
}

function actionRow(action: PlanAction): Row {
  let detail = '';
  if (action.kind === 'skip' || action.kind === 'remove') detail = action.reason;
  else if (action.kind === 'update') detail = `stale: ${action.stale.join(', ')}`;
  else if (action.kind === 'conflict') detail = `slots held by: ${action.foreignFilters.join(', ')}`;
  else if (action.kind === 'subscribe') detail = action.filter.destinationArn;
  return { action: action.kind, logGroup: action.logGroupName, detail };
}

function resultRow(result: GroupResult): Row {
  return { outcome: result.outcome, logGroup: result.logGroupName, detail: result.detail ?? '' };
}

function countLine(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

/** What the account policy step did or would do, for the table and the JSON. */
function policyLine(outcome: PolicyOutcome | AccountPolicyAction | string): string {
  if (typeof outcome === 'string') return outcome;
  if ('state' in outcome) return describePolicyOutcome(outcome);
  switch (outcome.kind) {
    case 'create':
    case 'update':
    case 'replace':
      return `would ${outcome.kind} account policy ${JSON.stringify(outcome.policy.policyName)}${outcome.kind === 'update' ? ` (${outcome.stale.join(', ')})` : ''}`;
    case 'delete':
      return `would delete account policy ${JSON.stringify(outcome.policyName)} (${outcome.reason})`;
    case 'conflict':
      return `conflict: the account's subscription filter policy ${outcome.foreignPolicies.map((p) => JSON.stringify(p)).join(', ')} is not ours; it is never overwritten`;
    case 'skip':
      return `account policy: ${outcome.reason}`;
  }
}

async function run(mode: 'plan' | 'apply' | 'remove', options: MemberOptions): Promise<void> {
  const client = createLogsClient(options.region);
  const region = await resolveRegion(options.region, () => client.config.region());
  const accountScope = options.scope === 'account';
  const installId = accountScope && mode !== 'remove' ? await installIdFor(options, region) : undefined;
  const settings = settingsFrom(options, region, mode !== 'remove', installId);
  const planMode: PlanMode = mode === 'remove' ? 'uninstall' : 'reconcile';
  const planner = createPlanner(planSettings(settings, planMode));
  const { api, policies, limiter } = createLogsRuntime({ requestsPerSecond: settings.rateLimitRps, client });
  const concurrency = options.concurrency;
  const quiet = options.json === true;

  let listed = 0;
  const reading = statusLine(quiet);
  let planned: Awaited<ReturnType<typeof planAll>>;
  try {
    planned = await planAll({
      api,
      planner,
      concurrency,
      onPage: (n) => {
        listed += n;
        reading.update(`reading log groups in ${region}: ${listed} so far…`);
      },
    });
  } finally {
    reading.clear();
  }
  const counts: Record<string, number> = { subscribe: 0, update: 0, remove: 0, skip: 0, conflict: 0 };
  for (const action of planned.actions) counts[action.kind] = (counts[action.kind] ?? 0) + 1;
  const readFailures = planned.failures.length;
  const header = { region, filterName: settings.filterName, scope: settings.scope, mode };

  if (mode === 'plan') {
    // The account policy: what apply would do with it.
    let policy: AccountPolicyAction | string;
    try {
      policy = planAccountPolicy(await policies.describe(), {
        scope: settings.scope,
        enrollment: settings.enrollment,
        mode: planMode,
        desired: desiredAccountPolicy(settings),
        logGroupPassComplete: counts.subscribe === 0 && counts.update === 0 && readFailures === 0,
      });
    } catch (error) {
      policy = `account policy could not be read: ${(error as Error).message}`;
    }
    const policyFailed = typeof policy === 'string' || policy.kind === 'conflict';
    const shown = options.all ? planned.actions : planned.actions.filter((a) => a.kind !== 'skip');
    if (options.json) {
      printJson({
        ...header,
        policy: typeof policy === 'string' ? { error: policy } : policy,
        counts,
        readFailures,
        actions: shown,
        failures: planned.failures.map(resultRow),
      });
    } else {
      process.stdout.write(`${policyLine(policy)}\n`);
      if (shown.length > 0)
        process.stdout.write(`${formatTable(shown.map(actionRow), ['action', 'logGroup', 'detail'])}\n\n`);
      for (const f of planned.failures)
        process.stdout.write(`failed to read ${f.logGroupName}: ${f.detail}\n`);
      process.stdout.write(`${countLine(counts)}${readFailures ? `, unreadable ${readFailures}` : ''}\n`);
    }
    if (counts.conflict || readFailures || (accountScope && policyFailed)) process.exitCode = 1;
    return;
  }

  // Account scope: the policy first; our per-group filters go only once it was already in place.
  let policy: PolicyOutcome | undefined;
  let deferred = false;
  if (accountScope && mode === 'apply') {
    policy = await reconcileAccountPolicy(policies, settings, { mode: 'reconcile' });
    const justPut =
      policy.action?.kind === 'create' ||
      policy.action?.kind === 'update' ||
      policy.action?.kind === 'replace';
    deferred = policy.state !== 'in-place' || (justPut && counts.remove > 0);
  }
  const mutations = deferred ? [] : planned.actions.filter(isMutation);
  const conflicts = planned.actions.filter((a) => a.kind === 'conflict');
  const bar = progressBar(mutations.length, mode === 'apply' ? 'applying' : 'removing', quiet);
  const problems: GroupResult[] = [...planned.failures];
  let summary: Summary;
  try {
    summary = await executeAll({
      api,
      actions: mutations,
      concurrency,
      onResult: (r) => {
        bar.tick();
        if (r.outcome === 'failed' || r.outcome === 'conflict') problems.push(r);
      },
    });
  } finally {
    bar.stop();
  }
  summary = {
    ...summary,
    skipped:
      summary.skipped + (counts.skip ?? 0) + (deferred ? planned.actions.filter(isMutation).length : 0),
    conflict: summary.conflict + conflicts.length,
    failed: summary.failed + readFailures,
  };
  for (const c of conflicts)
    problems.push({
      logGroupName: c.logGroupName,
      outcome: 'conflict',
      action: c,
      detail: actionRow(c).detail as string,
    });
  if (!accountScope || mode === 'remove') {
    // Log-group scope: a policy of ours left from account scope goes once every eligible group
    // carries our filter. Remove: ours goes whatever the scope.
    policy = await reconcileAccountPolicy(policies, settings, {
      mode: planMode,
      logGroupPassComplete: summary.failed === 0,
    });
  }
  let policyNote = policy ? describePolicyOutcome(policy) : '';
  if (deferred && policy?.state === 'in-place') {
    policyNote += `; our per-group filters stay until the policy has taken effect: run apply again in ${Math.round(MIGRATION_START_DELAY_MS / 60_000)} minutes to remove them (docs/member.md)`;
  }
  const throttled = limiter.throttledTotal;
  if (options.json) {
    printJson({
      ...header,
      ...(policy ? { policy: { state: policy.state, action: policy.action, detail: policyNote } } : {}),
      summary,
      throttled,
      problems: problems.map(resultRow),
    });
  } else {
    const worthSaying =
      policy !== undefined &&
      (accountScope ||
        policy.state === 'removed' ||
        policy.state === 'kept-until-pass' ||
        policy.state === 'conflict' ||
        (policy.state === 'failed' && policy.action?.kind === 'delete'));
    if (worthSaying) process.stdout.write(`${policyNote}\n`);
    if (problems.length > 0)
      process.stdout.write(`${formatTable(problems.map(resultRow), ['outcome', 'logGroup', 'detail'])}\n\n`);
    process.stdout.write(`${countLine(summary)}, throttled ${throttled}\n`);
  }
  // In log-group scope a policy step that failed only delays removing a leftover (the sweep
  // retries); in account scope it is the subscription itself.
  const policyProblem =
    policy !== undefined &&
    (policy.state === 'conflict' ||
      (policy.state === 'failed' && (accountScope || policy.action?.kind === 'delete')));
  if (summary.failed > 0 || summary.conflict > 0 || policyProblem) process.exitCode = 1;
}

/** Log groups in flight at once (listing filters, applying changes); the rate limiter still paces the calls. */
const DEFAULT_CONCURRENCY = 8;

/**
 * The flags of plan/apply/remove. `remove` works with the filter name alone: it takes our
 * filter off every group (include/exclude, slots, destination and pattern do not apply), so
 * it does not list those flags.
 */
function common(command: Command, mode: 'plan' | 'apply' | 'remove'): Command {
  command
    .addOption(regionOption())
    .addOption(scopeOption())
    .addOption(
      new Option(
        '--filter-name <name>',
        `full name of the filter we own (default: ${DEFAULT_FILTER_NAME}-<region>)`,
      ),
    );
  if (mode !== 'remove') {
    command
      .requiredOption('--destination-arn <arn>', 'the regional logs destination (or a Kinesis stream ARN)')
      .requiredOption('--role-arn <arn>', 'the sender role CloudWatch Logs assumes to deliver')
      .addOption(
        new Option('--filter-pattern <pattern>', 'subscription filter pattern (default: every event)'),
      )
      .addOption(
        new Option('--include <globs>', 'comma-separated globs of log groups to include (default: all)'),
      )
      .option('--exclude <globs>', 'comma-separated globs of log groups to exclude')
      .addOption(
        new Option(
          '--filter-slots <n>',
          `subscription filters a log group can hold (default: ${DEFAULT_FILTER_SLOTS})`,
        ).argParser(positiveInteger('--filter-slots')),
      )
      .addOption(
        new Option(
          '--install-id <id>',
          "account scope: the member stack's install id, whose cleanup worker log group the policy leaves out (default: read from log-reflector-backfill)",
        ).argParser((value: string) => {
          if (!INSTALL_ID.test(value))
            throw new UsageError('--install-id', `expected 8 hex digits, received '${value}'`);
          return value;
        }),
      );
  }
  command
    .addOption(
      new Option(
        '--rate <rps>',
        `CloudWatch Logs requests per second, per API (default: ${DEFAULT_RATE_LIMIT_RPS})`,
      ).argParser(positiveNumber('--rate')),
    )
    .addOption(
      new Option('--concurrency <n>', 'log groups in flight at once')
        .argParser(positiveInteger('--concurrency'))
        .default(DEFAULT_CONCURRENCY),
    )
    .addOption(jsonOption());
  if (mode === 'plan') command.option('--all', 'also list the groups that need nothing');
  return command;
}

export function register(program: Command): void {
  common(
    program.command('plan').description('show what apply would do in this account and region'),
    'plan',
  ).action((options: MemberOptions) => run('plan', options));
  common(
    program.command('apply').description('subscribe every eligible log group of this account and region'),
    'apply',
  ).action((options: MemberOptions) => run('apply', options));
  common(
    program
      .command('remove')
      .description('remove our subscription filter from every log group of this account and region'),
    'remove',
  ).action((options: MemberOptions) => run('remove', options));
}
