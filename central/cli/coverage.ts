/**
 * `log-reflector coverage`: one table of every account × region of the target OUs — enrollment,
 * stack instance status, log groups eligible / subscribed / conflicts / excluded / failed, the last
 * run, and the org-wide coverage % (issue 12.1; docs/runbook.md, "Coverage").
 *
 * It assumes no role into any member account. Two reads, each with its own credentials:
 * - management side (`--management-profile`, default: the current credentials): the reconciler's
 *   configuration (`lambda:GetFunctionConfiguration` on log-reflector-enrollment, unless
 *   `--state-bucket` and `--central-bucket` name the buckets) and its state object
 *   (`s3:GetObject` on enrollment/state.json.gz): accounts, opt-out tags, stack instances;
 * - central side (`--central-profile`, default: the current credentials): the coverage index the
 *   central aggregator writes hourly and the enrolled list, both readable by the management account
 *   too (the state bucket's policy), so one set of management credentials is enough; `--direct`
 *   reads every member report instead (`s3:ListBucket` on coverage/ and `s3:GetObject`: central
 *   account credentials).
 * When a side cannot be read the columns it feeds say `?`, stderr says why, and the exit code is 1.
 * Honours AWS_ENDPOINT_URL (moto).
 */
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { type Command, Option } from 'commander';
import { jsonOption, positiveInteger, regionOption, resolveRegion } from '../../shared/cli/options';
import {
  formatCsv,
  formatTable,
  printJson,
  progressBar,
  type Row,
  statusLine,
} from '../../shared/cli/output';
import type { CleanupReport, CoverageReport, CoverageTotals } from '../../shared/coverage';
import { UsageError } from '../../shared/errors';
import { FUNCTION_NAMES } from '../../shared/naming';
import type { Region } from '../../shared/regions';
import {
  type CentralView,
  type CoverageRow,
  type CoverageTable,
  coverageRows,
  type ManagementView,
} from '../coverage/rows';
import {
  DEFAULT_READ_CONCURRENCY,
  listReportKeys,
  readEnrolledList,
  readIndex,
  readReports,
} from '../coverage/store';
import { s3StateStore } from '../enrollment/aws';

/** Without an index: a report older than this is stale (2 × the default 6-hour sweep + 1 hour). */
export const DEFAULT_STALE_AFTER_MINUTES = 2 * 360 + 60;
/** An index older than this is not used: the aggregator runs hourly. */
export const INDEX_MAX_AGE_MINUTES = 120;

export interface CoverageOptions {
  readonly region?: Region;
  readonly managementProfile?: string;
  readonly centralProfile?: string;
  readonly stateBucket?: string;
  readonly centralBucket?: string;
  readonly direct?: boolean;
  readonly concurrency: number;
  readonly staleAfterMinutes?: number;
  readonly problems?: boolean;
  readonly json?: boolean;
  readonly csv?: boolean;
}

export interface CoverageClients {
  readonly managementS3: S3Client;
  readonly centralS3: S3Client;
  readonly lambda: LambdaClient;
  /** With the central credentials: `--direct` learns the central account from them (decision 10 rows). */
  readonly centralSts?: STSClient;
}

/** What each side said, for the footer, the JSON and the exit code. */
export interface SideStatus {
  readonly ok: boolean;
  readonly detail: string;
}

export interface CoverageResult extends CoverageTable {
  readonly generatedAt: string;
  readonly regions: readonly string[];
  readonly management: SideStatus;
  readonly central: SideStatus;
}

/** The reconciler's settings the command needs (its Lambda environment, or flags). */
interface ReconcilerSettings {
  stateBucket?: string | undefined;
  centralBucket?: string | undefined;
  stackSetName: string;
  managementStackSetName?: string | undefined;
  managementAccountId?: string | undefined;
  optOutValue: string;
  regions: string[];
}

async function reconcilerSettings(o: CoverageOptions, lambda: LambdaClient): Promise<ReconcilerSettings> {
  const out = await lambda.send(
    new GetFunctionConfigurationCommand({ FunctionName: FUNCTION_NAMES.enrollment }),
  );
  const env = out.Environment?.Variables ?? {};
  const list = (v: string | undefined) => (v ?? '').split(',').filter((x) => x !== '');
  return {
    stateBucket: o.stateBucket ?? env.STATE_BUCKET,
    centralBucket: o.centralBucket ?? env.ENROLLED_LIST_BUCKET,
    stackSetName: env.STACK_SET_NAME ?? 'log-reflector-members',
    managementStackSetName: env.MANAGEMENT_STACK_SET_NAME,
    managementAccountId: env.MANAGEMENT_ACCOUNT_ID,
    optOutValue: env.OPT_OUT_TAG_VALUE ?? 'true',
    regions: list(env.REGIONS),
  };
}

const message = (err: unknown) => `${(err as Error).name}: ${(err as Error).message}`;

/** Reads both sides and builds the table. Never throws for an unreadable side. */
export async function collectCoverage(
  o: CoverageOptions,
  clients: CoverageClients,
  region: string,
  now: () => number = Date.now,
): Promise<CoverageResult> {
  const quiet = o.json === true || o.csv === true;
  const status = statusLine(quiet);
  let settings: ReconcilerSettings | undefined;
  let management: ManagementView | undefined;
  let managementStatus: SideStatus;
  try {
    status.update('reading the reconciler configuration…');
    try {
      settings = await reconcilerSettings(o, clients.lambda);
    } catch (err) {
      if (!o.stateBucket) throw err;
      // Both buckets named: the function's configuration is not needed for the table.
      settings = {
        stateBucket: o.stateBucket,
        centralBucket: o.centralBucket,
        stackSetName: 'log-reflector-members',
        optOutValue: 'true',
        regions: [],
      };
    }
    if (!settings.stateBucket) throw new Error('no reconciler state bucket: name it with --state-bucket');
    status.update(`reading the reconciler state (s3://${settings.stateBucket})…`);
    const { state } = await s3StateStore(clients.managementS3, settings.stateBucket).load();
    management = {
      state,
      stackSetName: settings.stackSetName,
      managementStackSetName: settings.managementStackSetName,
      managementAccountId: settings.managementAccountId,
      optOutValue: settings.optOutValue,
    };
    managementStatus = {
      ok: true,
      detail:
        state.generation === 0
          ? `reconciler state s3://${settings.stateBucket} is empty: the reconciler has not run yet`
          : `reconciler state of ${new Date(state.updatedAt).toISOString()} (s3://${settings.stateBucket})`,
    };
  } catch (err) {
    const profile = o.managementProfile ? ` with profile ${o.managementProfile}` : '';
    managementStatus = {
      ok: false,
      detail: `management side unreadable${profile} (${message(err)}): enrollment and stack instance columns show ?. Use --management-profile with management (or delegated admin) credentials, or --state-bucket.`,
    };
  }

  const centralBucket = o.centralBucket ?? settings?.centralBucket;
  let central: CentralView | undefined;
  let centralStatus: SideStatus;
  let regions = settings?.regions ?? [];
  let centralAccountId: string | undefined;
  let homeRegion = region;
  try {
    if (!centralBucket) throw new Error('no central state bucket: name it with --central-bucket');
    status.update(`reading the enrolled list (s3://${centralBucket})…`);
    const enrolledList = await readEnrolledList(clients.centralS3, centralBucket);
    const enrolled = enrolledList ? new Set(enrolledList.accounts) : undefined;
    let reports: CoverageReport[] | undefined;
    let cleanups: CleanupReport[] = [];
    let staleAfterMinutes = o.staleAfterMinutes ?? DEFAULT_STALE_AFTER_MINUTES;
    let detail = '';
    if (!o.direct) {
      status.update(`reading the coverage index (s3://${centralBucket})…`);
      const index = await readIndex(clients.centralS3, centralBucket);
      const age = index ? (now() - Date.parse(index.generatedAt)) / 60_000 : Number.POSITIVE_INFINITY;
      if (index && age <= INDEX_MAX_AGE_MINUTES) {
        reports = index.reports;
        cleanups = index.cleanups ?? [];
        staleAfterMinutes = o.staleAfterMinutes ?? index.staleAfterMinutes;
        if (regions.length === 0) regions = index.regions;
        centralAccountId = index.centralAccountId;
        homeRegion = index.homeRegion;
        detail = `coverage index of ${index.generatedAt} (aggregated hourly; --direct reads every report now)`;
        if (index.unreadable.length > 0) detail += `; ${index.unreadable.length} report(s) unreadable`;
      } else {
        status.clear();
        process.stderr.write(
          index
            ? `coverage index is ${Math.round(age)} minutes old (is log-reflector-coverage running?): reading every report\n`
            : 'no coverage index yet: reading every report\n',
        );
      }
    }
    if (reports === undefined) {
      const keys = await listReportKeys(clients.centralS3, centralBucket, (n) =>
        status.update(`listing coverage reports: ${n.toLocaleString('en-US')}`),
      );
      status.clear();
      const bar = progressBar(keys.length, 'reading coverage reports', quiet);
      const read = await readReports(
        clients.centralS3,
        centralBucket,
        keys.map((k) => k.key),
        { concurrency: o.concurrency, onRead: () => bar.tick() },
      );
      bar.stop();
      reports = read.reports;
      cleanups = read.cleanups;
      if (clients.centralSts) {
        centralAccountId = (await clients.centralSts.send(new GetCallerIdentityCommand({}))).Account;
      }
      for (const u of read.unreadable) process.stderr.write(`unreadable report ${u.key}: ${u.reason}\n`);
      detail = `${reports.length} reports read from s3://${centralBucket} at ${new Date(now()).toISOString()}`;
      if (read.unreadable.length > 0) detail += `; ${read.unreadable.length} unreadable`;
    }
    central = { reports, cleanups, enrolled, staleAfterMinutes };
    if (!enrolled) detail += '; no enrolled list published yet';
    centralStatus = { ok: true, detail };
  } catch (err) {
    const profile = o.centralProfile ? ` with profile ${o.centralProfile}` : '';
    centralStatus = {
      ok: false,
      detail: `central side unreadable${profile} (${message(err)}): log group columns show ?. Use --central-profile with central account credentials, or --central-bucket.`,
    };
  } finally {
    status.clear();
  }

  const table = coverageRows({
    management,
    central,
    regions,
    centralAccountId,
    homeRegion,
    now: now(),
  });
  return {
    ...table,
    generatedAt: new Date(now()).toISOString(),
    regions,
    management: managementStatus,
    central: centralStatus,
  };
}

const COLUMNS = [
  'account',
  'name',
  'region',
  'enrollment',
  'instance',
  'eligible',
  'subscribed',
  'conflicts',
  'excluded',
  'failed',
  'coverage',
  'last run',
  'note',
] as const;

const unknown = (side: boolean, v: number | undefined) => (v === undefined ? (side ? '' : '?') : v);

function percent(v: number | undefined): string {
  return v === undefined ? '' : `${v === 100 ? '100' : v.toFixed(1)} %`;
}

/** `2026-06-02 06:04Z sweep`; account scope: `2026-06-02 06:04Z backfill (account scope)`. */
function lastRun(r: CoverageRow): string {
  if (!r.lastRunAt) return '';
  const scope = r.scope === 'account' ? ' (account scope)' : '';
  return `${r.lastRunAt.slice(0, 16).replace('T', ' ')}Z ${r.lastRunSource ?? ''}${scope}`.trimEnd();
}

/** The note column: the removal under way (or done), then what needs a look. */
function noteText(r: CoverageRow): string {
  return [r.removal, r.note].filter((x) => x !== '').join('; ');
}

export function tableRows(result: CoverageResult): Row[] {
  return result.rows.map((r) => ({
    account: r.account,
    name: r.name,
    region: r.region,
    enrollment: r.enrollment,
    instance: r.instance,
    eligible: unknown(result.central.ok, r.eligible),
    subscribed: unknown(result.central.ok, r.subscribed),
    conflicts: unknown(result.central.ok, r.conflicts),
    excluded: unknown(result.central.ok, r.excluded),
    failed: unknown(result.central.ok, r.failed),
    coverage: percent(r.coverage),
    'last run': lastRun(r),
    note: noteText(r),
  }));
}

export function summaryLine(totals: CoverageTotals | undefined): string {
  if (!totals) return 'org-wide coverage: ? (central side unreadable)';
  const n = (v: number) => v.toLocaleString('en-US');
  const g = totals.groups;
  const a = totals.accountScope;
  return [
    `org-wide coverage: ${percent(totals.coveragePercent)} (${n(g.subscribed)} of ${n(g.eligible)} eligible log groups subscribed)`,
    `in ${n(totals.reporting)} of ${n(totals.expected)} enrolled account × regions reporting (${n(totals.missing)} missing, ${n(totals.stale)} stale)`,
    `${n(g.conflicts)} conflicts, ${n(g.failed)} failed, ${n(totals.runErrors)} runs stopped on an error, ${n(totals.deadLetterMessages)} dead-letter messages`,
    ...(a && a.reporting > 0
      ? [
          `${n(a.reporting)} account × regions in account scope (our policy in place in ${n(a.inPlace)}, ${n(a.conflicts)} conflicts, ${n(a.failed)} failed)`,
        ]
      : []),
  ].join('; ');
}

function problemsOnly(result: CoverageResult): CoverageResult {
  return {
    ...result,
    rows: result.rows.filter(
      (r) =>
        r.note !== '' ||
        // A removal still under way: our filters still forward from there.
        (r.cleanup !== undefined && !r.cleanup.finished) ||
        (r.coverage !== undefined && r.coverage < 100) ||
        (r.conflicts ?? 0) > 0 ||
        r.enrollment === 'pending',
    ),
  };
}

export function render(result: CoverageResult, o: Pick<CoverageOptions, 'json' | 'csv'>): string {
  if (o.csv) {
    return formatCsv(
      result.rows.map((r) => ({
        account: r.account,
        name: r.name,
        region: r.region,
        enrollment: r.enrollment,
        instance: r.instance,
        eligible: r.eligible,
        subscribed: r.subscribed,
        conflicts: r.conflicts,
        excluded: r.excluded,
        failed: r.failed,
        coverage_percent: r.coverage === undefined ? undefined : Number(r.coverage.toFixed(2)),
        last_run_at: r.lastRunAt,
        last_run_source: r.lastRunSource,
        dead_letter_messages: r.deadLetterMessages,
        note: r.note,
        // Appended after `note`, so the columns before keep their places.
        scope: r.scope,
        account_policy: r.accountPolicy,
        removal: r.removal,
      })),
      [
        'account',
        'name',
        'region',
        'enrollment',
        'instance',
        'eligible',
        'subscribed',
        'conflicts',
        'excluded',
        'failed',
        'coverage_percent',
        'last_run_at',
        'last_run_source',
        'dead_letter_messages',
        'note',
        'scope',
        'account_policy',
        'removal',
      ],
    );
  }
  return [
    formatTable(tableRows(result), COLUMNS),
    '',
    summaryLine(result.totals),
    `enrollment: ${result.management.detail}`,
    `log groups: ${result.central.detail}`,
  ].join('\n');
}

function bucket(flag: string): (value: string) => string {
  return (value) => {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value)) {
      throw new UsageError(
        flag,
        `expected an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens), received '${value}'`,
      );
    }
    return value;
  };
}

function clientsFor(o: CoverageOptions, region: string): CoverageClients {
  const base = { region, followRegionRedirects: true };
  const managementProfile = o.managementProfile ? { profile: o.managementProfile } : {};
  const centralProfile = o.centralProfile ? { profile: o.centralProfile } : {};
  return {
    managementS3: new S3Client({ ...base, ...managementProfile }),
    // Reports are small and many: keep connections open for the direct read.
    centralS3: new S3Client({
      ...base,
      ...centralProfile,
      requestHandler: {
        httpsAgent: { keepAlive: true, maxSockets: o.concurrency },
        httpAgent: { keepAlive: true, maxSockets: o.concurrency },
      },
    }),
    lambda: new LambdaClient({ region, ...managementProfile }),
    centralSts: new STSClient({ region, ...centralProfile }),
  };
}

async function run(o: CoverageOptions): Promise<void> {
  if (o.json && o.csv) throw new UsageError('--csv', 'cannot be combined with --json');
  const probe = new S3Client(o.managementProfile ? { profile: o.managementProfile } : {});
  const region = await resolveRegion(o.region, () => probe.config.region());
  let result = await collectCoverage(o, clientsFor(o, region), region);
  if (o.problems) result = problemsOnly(result);
  if (o.json) printJson(result);
  else process.stdout.write(`${render(result, o)}\n`);
  for (const side of [result.management, result.central]) {
    if (!side.ok) process.stderr.write(`${side.detail}\n`);
  }
  if (!result.management.ok || !result.central.ok) process.exitCode = 1;
}

/** Registers `coverage`. */
export function register(program: Command): void {
  program
    .command('coverage')
    .description(
      'one table of every account × region: enrollment, stack instance, log groups eligible/subscribed/conflicts/excluded/failed, last run, org-wide coverage %',
    )
    .addOption(regionOption())
    .option(
      '--management-profile <name>',
      'AWS profile of the management account (or delegated admin); default: the current credentials',
    )
    .option(
      '--central-profile <name>',
      'AWS profile of the central account (needed for --direct); default: the current credentials',
    )
    .option(
      '--state-bucket <name>',
      'the reconciler state bucket (default: from log-reflector-enrollment)',
      bucket('--state-bucket'),
    )
    .option(
      '--central-bucket <name>',
      'the central state bucket log-reflector-state-<id> (default: from log-reflector-enrollment)',
      bucket('--central-bucket'),
    )
    .option('--direct', 'read every member report instead of the hourly index (central account credentials)')
    .addOption(
      new Option('--concurrency <n>', 'reports read at once with --direct')
        .argParser(positiveInteger('--concurrency', 256))
        .default(DEFAULT_READ_CONCURRENCY),
    )
    .addOption(
      new Option(
        '--stale-after-minutes <n>',
        'a report older than this is stale (default: from the index, else 780)',
      ).argParser(positiveInteger('--stale-after-minutes')),
    )
    .option('--problems', 'only rows that need a look (a note, coverage under 100 %, conflicts, pending)')
    .addOption(jsonOption())
    .addOption(new Option('--csv', 'print CSV on stdout instead of a table'))
    .action((options: CoverageOptions) => run(options));
}
