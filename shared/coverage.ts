/**
 * Coverage reports (issue 12.1): what each member stack sees of its account × region, written
 * by the sweep and the backfill into the central state bucket, and the org-wide index the
 * central `log-reflector-coverage` function builds from them hourly. Pure: schemas, keys and
 * arithmetic that the member writer (member/runtime/report.ts), the central aggregator
 * (central/coverage/) and the CLI (`log-reflector coverage`) share.
 *
 * Where they live (docs/architecture.md, "Coverage"):
 * - `coverage/<account>/<region>.json`: one report per account × region, overwritten by the run
 *   that finished last. The bucket policy lets a principal of the organization put objects under
 *   `coverage/${aws:PrincipalAccount}/` only, so a member can write (or misreport) nothing but
 *   its own account.
 * - `coverage/<account>/cleanup/<region>.json`: the cleanup worker's progress report (one per
 *   account × region, overwritten at every run; `CleanupReportSchema`), kept apart from the
 *   coverage report because a live stack's sweep and backfill keep writing theirs meanwhile
 *   (renamed filter, switch to account scope) and because the last coverage report from before
 *   an uninstall is what tells how many of our filters there were.
 * - `coverage-index/latest.json.gz`: every report plus the totals, written by the aggregator;
 *   what the CLI reads by default (one object instead of one per account × region).
 */
import * as z from './zod';

export const COVERAGE_PREFIX = 'coverage/';
export const COVERAGE_INDEX_KEY = 'coverage-index/latest.json.gz';

const ACCOUNT = /^\d{12}$/;
/** Region names as AWS spells them (shared/regions.ts holds the known ones; a report may be newer). */
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const REPORT_KEY = /^coverage\/(\d{12})\/([a-z]{2}(?:-[a-z]+)+-\d+)\.json$/;
const CLEANUP_KEY = /^coverage\/(\d{12})\/cleanup\/([a-z]{2}(?:-[a-z]+)+-\d+)\.json$/;

/** The key of one account × region's report. */
export function coverageReportKey(account: string, region: string): string {
  if (!ACCOUNT.test(account)) throw new RangeError(`account must be 12 digits (received ${account})`);
  if (!REGION.test(region)) throw new RangeError(`region is not a region name (received ${region})`);
  return `${COVERAGE_PREFIX}${account}/${region}.json`;
}

/** The account and region a report key names; undefined for any other key. */
export function parseCoverageReportKey(key: string): { account: string; region: string } | undefined {
  const m = REPORT_KEY.exec(key);
  return m ? { account: m[1] as string, region: m[2] as string } : undefined;
}

const count = z.int().check(z.gte(0));

/** The two subscription scopes (docs/member.md, "Two scopes"); kept here so `shared/` stands alone. */
export const REPORT_SCOPES = ['log-group', 'account'] as const;
export type ReportScope = (typeof REPORT_SCOPES)[number];

/**
 * Where our account-level subscription filter policy stands after an account-scope run
 * (member/runtime/account-policy.ts, PolicyState): `in-place`, `conflict` (a foreign policy holds
 * the account's one place), `failed` (a call failed), or, when not wanted, `removed` / `absent`.
 */
export const ACCOUNT_POLICY_STATES = [
  'in-place',
  'removed',
  'absent',
  'kept-until-pass',
  'conflict',
  'failed',
] as const;

export const AccountPolicyReportSchema = z.object({
  state: z.enum(ACCOUNT_POLICY_STATES),
  /** The foreign policies that hold the place (conflict). */
  foreignPolicies: z.optional(z.array(z.string().check(z.maxLength(256))).check(z.maxLength(10))),
  /** What failed (state `failed`). */
  error: z.optional(z.string().check(z.maxLength(1000))),
});
export type AccountPolicyReport = z.infer<typeof AccountPolicyReportSchema>;

/**
 * What a run saw of the log groups of one account × region (docs/member.md, "Coverage report").
 * In account scope the same fields count the groups DescribeLogGroups lists when the backfill
 * reports, each by what our policy does for it (all `subscribed`, all `conflicts` or all `failed`;
 * docs/member.md, "Coverage report"). In log-group scope:
 * - `eligible`: groups that should carry our filter (selected, STANDARD class, not ours) while
 *   the account is enrolled; `subscribed` + `conflicts` + `failed` + the ones still to do;
 * - `subscribed`: eligible groups carrying our filter as configured at the end of the run;
 * - `conflicts`: eligible groups whose filter slots are all held by others (never taken over);
 * - `failed`: groups whose read or action failed after the retries (retried next sweep);
 * - `excluded`: groups the configuration leaves out (include/exclude, not STANDARD, our own);
 * - `notEnrolled`: groups of an account or region that runs disabled (opted out, or the
 *   central account outside its home region).
 */
export const CoverageTallySchema = z.object({
  total: count,
  eligible: count,
  subscribed: count,
  conflicts: count,
  failed: count,
  excluded: count,
  notEnrolled: count,
});
export type CoverageTally = z.infer<typeof CoverageTallySchema>;

export function emptyTally(): CoverageTally {
  return { total: 0, eligible: 0, subscribed: 0, conflicts: 0, failed: 0, excluded: 0, notEnrolled: 0 };
}

export function addTallies(a: CoverageTally, b: CoverageTally): CoverageTally {
  const out = emptyTally();
  for (const key of Object.keys(out) as (keyof CoverageTally)[]) out[key] = a[key] + b[key];
  return out;
}

/**
 * One account × region's report. Sample:
 * `{"version":1,"account":"111122223333","region":"eu-west-1","source":"sweep",
 *   "startedAt":"2026-06-02T06:00:01.000Z","generatedAt":"2026-06-02T06:04:12.000Z","complete":true,
 *   "enrollment":"enabled","filterName":"log-reflector-eu-west-1","hops":1,
 *   "groups":{"total":130,"eligible":120,"subscribed":118,"conflicts":1,"failed":1,"excluded":10,"notEnrolled":0},
 *   "deadLetterMessages":0}`
 */
export const CoverageReportSchema = z.object({
  version: z.literal(1),
  account: z.string().check(z.regex(ACCOUNT, 'must be a 12-digit account id')),
  region: z.string().check(z.regex(REGION, 'must be a region name')),
  /** The run that wrote it: the scheduled sweep, or the backfill after a deploy or update. */
  source: z.enum(['sweep', 'backfill']),
  startedAt: z.iso.datetime(),
  generatedAt: z.iso.datetime(),
  /** False when the run stopped before it had seen every group (fatal error, hop limit). */
  complete: z.boolean(),
  enrollment: z.enum(['enabled', 'disabled']),
  filterName: z.string(),
  hops: z.int().check(z.gte(1)),
  groups: CoverageTallySchema,
  /** Messages waiting in the subscriber's dead-letter queue (the sweep reads it); absent when unread. */
  deadLetterMessages: z.optional(count),
  /** Why the run stopped early (AuthError, ConfigError, a listing that failed), if it did. */
  error: z.optional(z.string().check(z.maxLength(1000))),
  /**
   * The scope of the stack that wrote it; absent: `log-group` (every report written before
   * account scope reported). Account-scope reports come from the backfill, on stack operations
   * and from its periodic check (`source` is `backfill` for both).
   */
  scope: z.optional(z.enum(REPORT_SCOPES)),
  /** Account scope: our account-level policy as the backfill (stack operation or check) left it. */
  accountPolicy: z.optional(AccountPolicyReportSchema),
});
export type CoverageReport = z.infer<typeof CoverageReportSchema>;

/** Parses a report read from `key`; throws naming the key and the first bad field. */
export function parseCoverageReport(body: string, key: string): CoverageReport {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    throw new Error(`coverage report ${key} is not JSON: ${(err as Error).message}`);
  }
  const parsed = CoverageReportSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `coverage report ${key} is not a version-1 report at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  const where = parseCoverageReportKey(key);
  if (where && (where.account !== parsed.data.account || where.region !== parsed.data.region)) {
    throw new Error(
      `coverage report ${key} names ${parsed.data.account}/${parsed.data.region}, not the account and region of its key`,
    );
  }
  return parsed.data;
}

/**
 * What the cleanup worker (member/cleanup/) reports at every run (docs/member.md, "Uninstall and
 * leaving the target OUs"). `state`:
 * - `removing`: a run removed (or tried to: see `error`) and the job goes on;
 * - `waiting`: nothing to do yet (the re-check waits for the settle time, a migration for its policy);
 * - `done`: every group was read after the settle time; the last report before the worker
 *   deletes itself (uninstall) or removes its schedule (the other kinds);
 * - `superseded`: a newer install owns the filter name; it stopped at once;
 * - `nothing-to-remove`: the Delete carried no valid filter name;
 * - `gave-up`: it could not finish within 30 days; our filters may remain.
 * Counts are cumulative over the job, the backfill's Delete included. Sample:
 * `{"version":1,"account":"111122223333","region":"eu-west-1","installId":"271845b0",
 *   "kind":"uninstall","filterName":"log-reflector-eu-west-1","state":"removing","pass":1,
 *   "requestedAt":"2026-06-02T06:00:00.000Z","generatedAt":"2026-06-02T08:15:02.000Z","runs":9,
 *   "removed":41230,"failed":0,"checked":45310,"position":"/app/orders"}`
 */
export const CleanupReportSchema = z.object({
  version: z.literal(1),
  account: z.string().check(z.regex(ACCOUNT, 'must be a 12-digit account id')),
  region: z.string().check(z.regex(REGION, 'must be a region name')),
  installId: z.string().check(z.regex(/^[0-9a-f]{8}$/, 'must be 8 hex digits')),
  /** The job's kind: `uninstall` (the stack is gone) or one a live stack started. */
  kind: z.enum(['uninstall', 'replaced', 'migrated', 'opted-out']),
  filterName: z.optional(z.string()),
  /** Our account-level policy still to delete, if any. */
  policyName: z.optional(z.string()),
  state: z.enum(['removing', 'waiting', 'done', 'superseded', 'nothing-to-remove', 'gave-up']),
  pass: z.union([z.literal(1), z.literal(2)]),
  /** When the job was started (the backfill's Delete, or the live stack's update). */
  requestedAt: z.iso.datetime(),
  generatedAt: z.iso.datetime(),
  runs: z.int().check(z.gte(0)),
  removed: count,
  /** Removals or reads that failed after the retries (each is retried by a later pass or run). */
  failed: count,
  /** Log groups read so far, over every pass. */
  checked: count,
  /** The last log group name the current pass reached (names are read in order). */
  position: z.optional(z.string().check(z.maxLength(512))),
  /** Why the last run stopped early, if it did (it is retried at the next run). */
  error: z.optional(z.string().check(z.maxLength(1000))),
});
export type CleanupReport = z.infer<typeof CleanupReportSchema>;

/** Subscribed share of eligible groups, in percent (100 when nothing is eligible). */
export function coveragePercent(subscribed: number, eligible: number): number {
  if (eligible <= 0) return 100;
  return Math.min(100, (subscribed / eligible) * 100);
}

/** Org-wide figures over the reports of enrolled account × regions (the dashboard's metrics). */
export const CoverageTotalsSchema = z.object({
  /** Account × regions expected to report (enrolled accounts × configured regions, decision 10 aside). */
  expected: count,
  reporting: count,
  /** Expected but no report at all. */
  missing: count,
  /** Expected, reported, but the report is older than the staleness limit. */
  stale: count,
  /** Reports whose last run stopped on an error. */
  runErrors: count,
  deadLetterMessages: count,
  groups: CoverageTallySchema,
  coveragePercent: z.number(),
  /**
   * Counted reports written in account scope, and those of stacks that run enabled by the state
   * of our policy (`failed`: any state but in-place and conflict). Absent in an index written before account
   * scope reported.
   */
  accountScope: z.optional(z.object({ reporting: count, inPlace: count, conflicts: count, failed: count })),
});
export type CoverageTotals = z.infer<typeof CoverageTotalsSchema>;

/**
 * The index the aggregator writes (gzip'd JSON). Sample (reports shortened):
 * `{"version":1,"generatedAt":"2026-06-02T07:00:00.000Z","staleAfterMinutes":780,
 *   "centralAccountId":"222222222222","homeRegion":"eu-west-1",
 *   "enrolledGeneration":42,"regions":["eu-west-1","us-east-1"],"reports":[{…}],
 *   "unreadable":[{"key":"coverage/…","reason":"…"}],"totals":{…}}`
 */
export const CoverageIndexSchema = z.object({
  version: z.literal(1),
  generatedAt: z.iso.datetime(),
  staleAfterMinutes: z.int().check(z.gte(1)),
  centralAccountId: z.string().check(z.regex(ACCOUNT, 'must be a 12-digit account id')),
  homeRegion: z.string(),
  /** Generation of the enrolled list the totals were computed against; absent when it was unreadable. */
  enrolledGeneration: z.optional(z.int()),
  regions: z.array(z.string()),
  reports: z.array(CoverageReportSchema),
  /** The cleanup workers' progress reports (absent in indexes written before they existed). */
  cleanups: z.optional(z.array(CleanupReportSchema)),
  unreadable: z.array(z.object({ key: z.string(), reason: z.string() })),
  totals: CoverageTotalsSchema,
});
export type CoverageIndex = z.infer<typeof CoverageIndexSchema>;

export interface TotalsInput {
  readonly reports: readonly CoverageReport[];
  /** Accounts on the published enrolled list; undefined when it could not be read. */
  readonly enrolled: ReadonlySet<string> | undefined;
  readonly regions: readonly string[];
  readonly centralAccountId: string;
  readonly homeRegion: string;
  readonly now: number;
  readonly staleAfterMinutes: number;
}

/**
 * True for the account × regions the deployment forwards by design: everything but the central
 * account outside its home region (docs/architecture.md, decision 10).
 */
export function coveredByDesign(
  account: string,
  region: string,
  centralAccountId: string,
  homeRegion: string,
): boolean {
  return !(account === centralAccountId && region !== homeRegion);
}

/** The scope a report was written in (absent: log-group, the only scope older reports knew). */
export function reportScope(report: Pick<CoverageReport, 'scope'>): ReportScope {
  return report.scope ?? 'log-group';
}

/**
 * True when a report is older than the staleness limit at `now`, in either scope: the sweep
 * (log-group scope) and the periodic check (account scope, docs/member.md "The periodic check")
 * both rewrite it every `sweepIntervalMinutes`, and the central limit is two periods plus an hour.
 */
export function isStale(
  report: Pick<CoverageReport, 'generatedAt' | 'scope'>,
  now: number,
  staleAfterMinutes: number,
) {
  return now - Date.parse(report.generatedAt) > staleAfterMinutes * 60_000;
}

/**
 * Org-wide totals. Counted: reports of enrolled accounts in configured regions that the
 * deployment covers by design (with no readable enrolled list, every report that says
 * `enabled`). Coverage % = subscribed / eligible over those.
 */
export function coverageTotals(input: TotalsInput): CoverageTotals {
  const regions = new Set(input.regions);
  const wanted = (account: string, region: string, enrollment: string) =>
    regions.has(region) &&
    coveredByDesign(account, region, input.centralAccountId, input.homeRegion) &&
    (input.enrolled ? input.enrolled.has(account) : enrollment === 'enabled');
  let groups = emptyTally();
  let reporting = 0;
  let stale = 0;
  let runErrors = 0;
  let deadLetterMessages = 0;
  const accountScope = { reporting: 0, inPlace: 0, conflicts: 0, failed: 0 };
  const seen = new Set<string>();
  for (const r of input.reports) {
    // Dead letters and errors count wherever a member stack runs: they need a look either way.
    deadLetterMessages += r.deadLetterMessages ?? 0;
    if (r.error !== undefined) runErrors += 1;
    if (!wanted(r.account, r.region, r.enrollment)) continue;
    seen.add(`${r.account}/${r.region}`);
    reporting += 1;
    if (isStale(r, input.now, input.staleAfterMinutes)) stale += 1;
    groups = addTallies(groups, r.groups);
    if (reportScope(r) === 'account') {
      accountScope.reporting += 1;
      const state = r.accountPolicy?.state;
      // A stack still disabled (being enabled) wants no policy: reporting, nothing else.
      if (r.enrollment !== 'enabled') continue;
      if (state === 'in-place') accountScope.inPlace += 1;
      else if (state === 'conflict') accountScope.conflicts += 1;
      else accountScope.failed += 1;
    }
  }
  let expected = reporting;
  let missing = 0;
  if (input.enrolled) {
    expected = 0;
    for (const account of input.enrolled) {
      for (const region of regions) {
        if (!coveredByDesign(account, region, input.centralAccountId, input.homeRegion)) continue;
        expected += 1;
        if (!seen.has(`${account}/${region}`)) missing += 1;
      }
    }
  }
  return {
    expected,
    reporting,
    missing,
    stale,
    runErrors,
    deadLetterMessages,
    groups,
    coveragePercent: coveragePercent(groups.subscribed, groups.eligible),
    accountScope,
  };
}

/**
 * Builds the index from what was read (the aggregator's pure core). The totals leave out the
 * coverage reports of account × regions whose stack was uninstalled (`liveReports`).
 */
export function buildIndex(
  input: TotalsInput & {
    readonly unreadable: readonly { key: string; reason: string }[];
    readonly enrolledGeneration: number | undefined;
    readonly cleanups?: readonly CleanupReport[] | undefined;
  },
): CoverageIndex {
  const cleanups = input.cleanups ?? [];
  return {
    version: 1,
    generatedAt: new Date(input.now).toISOString(),
    staleAfterMinutes: input.staleAfterMinutes,
    centralAccountId: input.centralAccountId,
    homeRegion: input.homeRegion,
    ...(input.enrolledGeneration !== undefined ? { enrolledGeneration: input.enrolledGeneration } : {}),
    regions: [...input.regions],
    reports: [...input.reports],
    cleanups: [...cleanups],
    unreadable: [...input.unreadable],
    totals: coverageTotals({ ...input, reports: liveReports(input.reports, cleanups) }),
  };
}

/**
 * The metrics the aggregator publishes (namespace `LogReflector`, service `coverage`), which the
 * central dashboard shows and the central alarms watch (docs/runbook.md).
 */
export function coverageMetrics(index: CoverageIndex): Record<string, number> {
  const t = index.totals;
  return {
    CoveragePercent: Math.round(t.coveragePercent * 100) / 100,
    GroupsEligible: t.groups.eligible,
    GroupsSubscribed: t.groups.subscribed,
    GroupsConflicts: t.groups.conflicts,
    GroupsFailed: t.groups.failed,
    GroupsExcluded: t.groups.excluded,
    ReportsExpected: t.expected,
    ReportsMissing: t.missing,
    ReportsStale: t.stale,
    ReportsOverdue: t.missing + t.stale,
    ReportsUnreadable: index.unreadable.length,
    RunErrors: t.runErrors,
    AccountScopeReports: t.accountScope?.reporting ?? 0,
    AccountPoliciesNotInPlace: (t.accountScope?.conflicts ?? 0) + (t.accountScope?.failed ?? 0),
    DeadLetterMessages: t.deadLetterMessages,
    AggregationsCompleted: 1,
  };
}

/** The key of one account × region's cleanup progress report. */
export function cleanupReportKey(account: string, region: string): string {
  const key = coverageReportKey(account, region);
  return `${COVERAGE_PREFIX}${account}/cleanup/${key.slice(COVERAGE_PREFIX.length + account.length + 1)}`;
}

/** The account and region a cleanup report key names; undefined for any other key. */
export function parseCleanupReportKey(key: string): { account: string; region: string } | undefined {
  const m = CLEANUP_KEY.exec(key);
  return m ? { account: m[1] as string, region: m[2] as string } : undefined;
}

/** The states after which the worker runs no more. */
export const CLEANUP_FINAL_STATES: ReadonlySet<CleanupReport['state']> = new Set([
  'done',
  'superseded',
  'nothing-to-remove',
  'gave-up',
]);

/** Parses a cleanup report read from `key`; throws naming the key and the first bad field. */
export function parseCleanupReport(body: string, key: string): CleanupReport {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    throw new Error(`cleanup report ${key} is not JSON: ${(err as Error).message}`);
  }
  const parsed = CleanupReportSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `cleanup report ${key} is not a version-1 cleanup report at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  const where = parseCleanupReportKey(key);
  if (where && (where.account !== parsed.data.account || where.region !== parsed.data.region)) {
    throw new Error(
      `cleanup report ${key} names ${parsed.data.account}/${parsed.data.region}, not the account and region of its key`,
    );
  }
  return parsed.data;
}

/**
 * True when `cleanup` says the member stack of its account × region was uninstalled after the
 * run that wrote `report` started (or there is no report): an `uninstall` job that a newer
 * install did not supersede, requested after that run began. A reinstall's first run starts
 * after the old stack's Delete, so its report makes the account × region live again; a run of
 * the dying stack still in flight at the Delete started before it, so it does not.
 */
export function uninstalledBy(
  cleanup: CleanupReport | undefined,
  report: Pick<CoverageReport, 'startedAt'> | undefined,
): boolean {
  if (cleanup === undefined || cleanup.kind !== 'uninstall' || cleanup.state === 'superseded') return false;
  return report === undefined || Date.parse(report.startedAt) < Date.parse(cleanup.requestedAt);
}

/**
 * The coverage reports of stacks that still exist: a report left behind by an uninstalled stack
 * (`uninstalledBy`) is not a report. The totals count only these, so an uninstalled account ×
 * region is never `stale` and, when the enrolled list leaves it out (it left the target OUs, or
 * opted out) or is unreadable (the fallback counts reports that say enabled), never `missing`
 * either; an account the list still calls enrolled but whose stack is gone is `missing`, which
 * it is (docs/runbook.md, "Coverage").
 */
export function liveReports(
  reports: readonly CoverageReport[],
  cleanups: readonly CleanupReport[],
): CoverageReport[] {
  if (cleanups.length === 0) return [...reports];
  const byCell = new Map(cleanups.map((c) => [`${c.account}/${c.region}`, c] as const));
  return reports.filter((r) => !uninstalledBy(byCell.get(`${r.account}/${r.region}`), r));
}
