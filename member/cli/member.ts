/**
 * `log-reflector plan | apply | remove`: the member automation, run by an operator for the
 * current credentials' account and one region (honours AWS_ENDPOINT_URL, e.g. moto). Same
 * planner, rate limiter and retry policy as the Lambdas; our own log groups are always
 * excluded.
 *
 * - plan:   read every log group and its filters, print the actions and counts. Changes nothing.
 * - apply:  plan, then carry out subscribe/update/remove with a progress bar and a summary.
 * - remove: remove our filter (by name) from every log group; foreign filters are never touched.
 *
 * Exit code 1 when any group failed or conflicted.
 */
import { type Command, Option } from 'commander';
import {
  jsonOption,
  positiveInteger,
  positiveNumber,
  regionOption,
  resolveRegion,
} from '../../shared/cli/options';
import { formatTable, printJson, progressBar, type Row, statusLine } from '../../shared/cli/output';
import { ConfigError } from '../../shared/errors';
import { DEFAULT_FILTER_NAME, ownFilterName } from '../../shared/naming';
import {
  createPlanner,
  DEFAULT_FILTER_SLOTS,
  isMutation,
  type PlanAction,
  type PlanMode,
} from '../../shared/plan';
import type { Region } from '../../shared/regions';
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
}

const PLACEHOLDER_DESTINATION = 'arn:aws:logs:us-east-1:000000000000:destination:unused';
const PLACEHOLDER_ROLE = 'arn:aws:iam::000000000000:role/unused';

/** Builds settings through the same schema as the Lambdas, so the same values are accepted. */
function settingsFrom(options: MemberOptions, region: string, needsDestination: boolean): MemberSettings {
  const env: Record<string, string | undefined> = {
    DESTINATION_ARN: needsDestination
      ? options.destinationArn
      : (options.destinationArn ?? PLACEHOLDER_DESTINATION),
    SENDER_ROLE_ARN: needsDestination ? options.roleArn : (options.roleArn ?? PLACEHOLDER_ROLE),
    FILTER_NAME: options.filterName ?? ownFilterName(DEFAULT_FILTER_NAME, region),
    FILTER_PATTERN: options.filterPattern ?? '',
    INCLUDE: options.include ?? '',
    EXCLUDE: options.exclude ?? '',
    ENROLLMENT: 'enabled',
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

async function run(mode: 'plan' | 'apply' | 'remove', options: MemberOptions): Promise<void> {
  const client = createLogsClient(options.region);
  const region = await resolveRegion(options.region, () => client.config.region());
  const settings = settingsFrom(options, region, mode !== 'remove');
  const planMode: PlanMode = mode === 'remove' ? 'uninstall' : 'reconcile';
  const planner = createPlanner(planSettings(settings, planMode));
  const { api, limiter } = createLogsRuntime({ requestsPerSecond: settings.rateLimitRps, client });
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
  const header = { region, filterName: settings.filterName, mode };

  if (mode === 'plan') {
    const shown = options.all ? planned.actions : planned.actions.filter((a) => a.kind !== 'skip');
    if (options.json) {
      printJson({
        ...header,
        counts,
        readFailures,
        actions: shown,
        failures: planned.failures.map(resultRow),
      });
    } else {
      if (shown.length > 0)
        process.stdout.write(`${formatTable(shown.map(actionRow), ['action', 'logGroup', 'detail'])}\n\n`);
      for (const f of planned.failures)
        process.stdout.write(`failed to read ${f.logGroupName}: ${f.detail}\n`);
      process.stdout.write(`${countLine(counts)}${readFailures ? `, unreadable ${readFailures}` : ''}\n`);
    }
    if (counts.conflict || readFailures) process.exitCode = 1;
    return;
  }

  const mutations = planned.actions.filter(isMutation);
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
    skipped: summary.skipped + (counts.skip ?? 0),
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
  const throttled = limiter.throttledTotal;
  if (options.json) {
    printJson({ ...header, summary, throttled, problems: problems.map(resultRow) });
  } else {
    if (problems.length > 0)
      process.stdout.write(`${formatTable(problems.map(resultRow), ['outcome', 'logGroup', 'detail'])}\n\n`);
    process.stdout.write(`${countLine(summary)}, throttled ${throttled}\n`);
  }
  if (summary.failed > 0 || summary.conflict > 0) process.exitCode = 1;
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
