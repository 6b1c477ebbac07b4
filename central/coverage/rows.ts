/**
 * The rows of `log-reflector coverage` (pure): every account × region of the target OUs, joined
 * from the two sides the command reads without assuming a role into any member account:
 * - the management side: the reconciler's state object (accounts under the target OUs, their
 *   opt-out tag as last read, each stack instance's status and the Enrollment it runs with);
 * - the central side: the members' coverage reports (from the aggregator's index, or each report)
 *   and the enrolled list the reconciler publishes.
 * Either side may be missing (unreadable): the columns it feeds then say `?`.
 * The cleanup workers' progress reports say, for an account × region whose stack was uninstalled
 * (or that removes an old filter), how far the removal of our filters got (issue 15.3).
 */
import {
  CLEANUP_FINAL_STATES,
  type CleanupReport,
  type CoverageReport,
  type CoverageTotals,
  coveragePercent,
  coverageTotals,
  coveredByDesign,
  isStale,
  liveReports,
  type ReportScope,
  reportScope,
  uninstalledBy,
} from '../../shared/coverage';
import type { AccountMemory, InstanceMemory, ReconcilerState } from '../enrollment/state';

/** What the enrollment column says (docs/runbook.md, "Coverage"). */
export type EnrollmentView =
  | 'enrolled'
  | 'opted out'
  | 'pending'
  | 'not covered'
  | 'suspended'
  | 'not in scope'
  | 'not enrolled'
  | '?';

export interface CoverageRow {
  readonly account: string;
  readonly name: string | undefined;
  readonly region: string;
  readonly enrollment: EnrollmentView;
  /** `<Status>/<DetailedStatus>` of the stack instance, `none`, or `?` (management side unread). */
  readonly instance: string;
  readonly eligible: number | undefined;
  readonly subscribed: number | undefined;
  readonly conflicts: number | undefined;
  readonly excluded: number | undefined;
  readonly failed: number | undefined;
  /** Subscribed / eligible in percent; undefined without a report, or when not enrolled. */
  readonly coverage: number | undefined;
  readonly lastRunAt: string | undefined;
  readonly lastRunSource: CoverageReport['source'] | 'cleanup' | undefined;
  /** The scope the last report was written in (absent field: log-group); undefined without a report. */
  readonly scope: ReportScope | undefined;
  /** Account scope: the state of our account-level policy at the last stack operation or periodic check. */
  readonly accountPolicy: NonNullable<CoverageReport['accountPolicy']>['state'] | undefined;
  readonly deadLetterMessages: number | undefined;
  /** What needs a look, in words (empty when nothing does). */
  readonly note: string;
  /** The removal of our filters by the cleanup worker, when there is one to show. */
  readonly cleanup: CleanupView | undefined;
  /** The same, in words (empty when there is none): "removing our filters: …", "… done …". */
  readonly removal: string;
}

/** What a row says of the cleanup worker's last report. */
export interface CleanupView {
  readonly kind: CleanupReport['kind'];
  readonly state: CleanupReport['state'];
  readonly filterName: string | undefined;
  readonly removed: number;
  /**
   * Our filters still to remove, estimated: those the last coverage report from before the
   * uninstall counted (`subscribed`), less those removed since. Undefined when there is no such
   * report, after the first pass, or once finished.
   */
  readonly remaining: number | undefined;
  readonly failed: number;
  readonly lastRunAt: string;
  /** True once the worker runs no more. */
  readonly finished: boolean;
  /** The account × region's stack is gone (shared/coverage.ts `uninstalledBy`). */
  readonly uninstalled: boolean;
}

/** The management side, as the reconciler's state and configuration give it. */
export interface ManagementView {
  readonly state: ReconcilerState;
  /** The members StackSet, and the management StackSet when the management account is covered. */
  readonly stackSetName: string;
  readonly managementStackSetName?: string | undefined;
  readonly managementAccountId?: string | undefined;
  readonly optOutValue: string;
}

/** The central side: reports and the enrolled list (undefined when that part was unreadable). */
export interface CentralView {
  readonly reports: readonly CoverageReport[];
  /** The cleanup workers' reports (absent: none read, e.g. an index from before them). */
  readonly cleanups?: readonly CleanupReport[] | undefined;
  readonly enrolled: ReadonlySet<string> | undefined;
  readonly staleAfterMinutes: number;
}

export interface RowsInput {
  readonly management: ManagementView | undefined;
  readonly central: CentralView | undefined;
  readonly regions: readonly string[];
  readonly centralAccountId: string | undefined;
  readonly homeRegion: string;
  readonly now: number;
}

export interface CoverageTable {
  readonly rows: CoverageRow[];
  /** Org-wide figures; undefined when the central side was unreadable. */
  readonly totals: CoverageTotals | undefined;
}

const key = (account: string, region: string) => `${account}/${region}`;

interface Known {
  account: string;
  name?: string | undefined;
  memory?: AccountMemory | undefined;
  instances: Record<string, InstanceMemory>;
}

/** Accounts the management side knows, with their instances (members StackSet, then management). */
function knownAccounts(m: ManagementView): Map<string, Known> {
  const out = new Map<string, Known>();
  const sets = [m.stackSetName, ...(m.managementStackSetName ? [m.managementStackSetName] : [])];
  for (const name of sets) {
    const memory = m.state.stackSets[name];
    if (!memory) continue;
    for (const [account, a] of Object.entries(memory.accounts)) {
      const known = out.get(account) ?? { account, instances: {} };
      known.name ??= a.name;
      // The management account's own memory comes from its StackSet (the members one skips it).
      if (known.memory === undefined || name === m.managementStackSetName) known.memory = a;
      Object.assign(known.instances, a.instances);
      out.set(account, known);
    }
  }
  return out;
}

function enrollmentOf(
  known: Known | undefined,
  instance: InstanceMemory | undefined,
  report: CoverageReport | undefined,
  input: RowsInput,
  account: string,
  region: string,
): { view: EnrollmentView; why: string } {
  if (
    input.centralAccountId !== undefined &&
    !coveredByDesign(account, region, input.centralAccountId, input.homeRegion)
  ) {
    return {
      view: 'not covered',
      why: 'central account outside its home region: not forwarded by design (decision 10)',
    };
  }
  const m = input.management;
  const enrolled = input.central?.enrolled;
  if (m === undefined) {
    if (enrolled === undefined) return { view: '?', why: '' };
    return enrolled.has(account)
      ? {
          view: 'enrolled',
          why: report?.enrollment === 'disabled' ? 'on the enrolled list, stack still disabled' : '',
        }
      : { view: 'not enrolled', why: '' };
  }
  if (known === undefined)
    return { view: 'not in scope', why: 'not under the target OUs (report left behind?)' };
  const a = known.memory;
  if (a !== undefined && a.state !== 'ACTIVE') return { view: 'suspended', why: `account ${a.state}` };
  if (a?.tag === undefined) return { view: 'pending', why: 'opt-out tag not read yet' };
  const optedOut = a.tag === m.optOutValue;
  if (instance === undefined) return { view: 'pending', why: 'no stack instance yet (auto-deployment)' };
  if (optedOut) {
    return instance.enrollment === 'disabled'
      ? { view: 'opted out', why: '' }
      : { view: 'pending', why: 'opt-out tag set; being disabled' };
  }
  if (instance.enrollment !== 'enabled') return { view: 'pending', why: 'being enabled' };
  if (enrolled !== undefined && !enrolled.has(account))
    return { view: 'pending', why: 'not on the enrolled list yet' };
  return { view: 'enrolled', why: '' };
}

/**
 * FAILED or CANCELLED last operation, INOPERABLE, or OUTDATED with no operation under way
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceSummary.html).
 */
function instanceNeedsLook(instance: InstanceMemory | undefined): boolean {
  if (instance === undefined) return false;
  const running = instance.detailed === 'RUNNING' || instance.detailed === 'PENDING';
  return (
    instance.detailed === 'FAILED' ||
    instance.detailed === 'CANCELLED' ||
    instance.status === 'INOPERABLE' ||
    (instance.status === 'OUTDATED' && !running)
  );
}

function instanceText(m: ManagementView | undefined, instance: InstanceMemory | undefined): string {
  if (m === undefined) return '?';
  if (instance === undefined) return 'none';
  return instance.detailed ? `${instance.status}/${instance.detailed}` : instance.status;
}

/**
 * What an account-scope report says needs a look: a foreign policy in the way, our policy not in
 * place (or, opted out, not deleted yet). Its age never does: nothing of ours runs between stack
 * operations in account scope (docs/member.md, "Coverage report").
 */
function accountPolicyNotes(report: CoverageReport): string[] {
  const p = report.accountPolicy;
  if (p === undefined) return [];
  if (report.enrollment !== 'enabled') {
    return p.state === 'failed'
      ? [`our account policy not deleted yet (the cleanup worker retries): ${p.error ?? 'unknown error'}`]
      : [];
  }
  if (p.state === 'in-place') return [];
  if (p.state === 'conflict') {
    const names = p.foreignPolicies?.length
      ? p.foreignPolicies.map((n) => JSON.stringify(n)).join(', ')
      : 'another';
    return [
      `account policy conflict: ${names} holds the account's one subscription filter policy (never overwritten)`,
    ];
  }
  return [`account policy not in place: ${p.error ?? p.state}`];
}

const count = (v: number) => v.toLocaleString('en-US');
/** `2026-06-02 06:04Z` */
const minute = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')}Z`;

/** The row's view of a cleanup report; undefined when it has nothing to show (see coverageRows). */
function cleanupView(
  cleanup: CleanupReport | undefined,
  report: CoverageReport | undefined,
): CleanupView | undefined {
  if (cleanup === undefined) return undefined;
  const uninstalled = uninstalledBy(cleanup, report);
  const finished = CLEANUP_FINAL_STATES.has(cleanup.state);
  // A live stack's own report after the worker finished says more than the worker's last one.
  const newer = report === undefined || Date.parse(cleanup.generatedAt) > Date.parse(report.generatedAt);
  const shown =
    uninstalled ||
    !finished ||
    cleanup.state === 'gave-up' ||
    (newer && (cleanup.state === 'done' || cleanup.state === 'nothing-to-remove'));
  if (!shown) return undefined;
  // Only an uninstall removes the filter the last report counted (a rename removes another name).
  const before =
    cleanup.kind === 'uninstall' &&
    report !== undefined &&
    report.enrollment === 'enabled' &&
    Date.parse(report.startedAt) < Date.parse(cleanup.requestedAt)
      ? report
      : undefined;
  return {
    kind: cleanup.kind,
    state: cleanup.state,
    filterName: cleanup.filterName,
    removed: cleanup.removed,
    remaining:
      !finished && cleanup.pass === 1 && before
        ? Math.max(0, before.groups.subscribed - cleanup.removed)
        : undefined,
    failed: cleanup.failed,
    lastRunAt: cleanup.generatedAt,
    finished,
    uninstalled,
  };
}

const KIND_TEXT: Record<CleanupReport['kind'], string> = {
  uninstall: 'our filters',
  replaced: 'the old filter',
  migrated: 'our per-group filters (now account scope)',
  'opted-out': 'our account policy and filters (opted out)',
};

/** The removal in words, for the note column (docs/runbook.md, "Coverage"). */
function removalText(v: CleanupView | undefined, cleanup: CleanupReport | undefined): string {
  if (v === undefined || cleanup === undefined) return '';
  const what = `${KIND_TEXT[v.kind]}${v.kind === 'replaced' && v.filterName ? ` ${v.filterName}` : ''}`;
  const at = minute(v.lastRunAt);
  switch (v.state) {
    case 'done':
      return `${what} removed: done ${at} (${count(v.removed)} removed${v.failed > 0 ? `, ${count(v.failed)} failed along the way` : ''})`;
    case 'nothing-to-remove':
      return `uninstalled: nothing of ours to remove (done ${at})`;
    case 'gave-up':
      return `cleanup gave up ${at} after ${count(v.removed)} removed: ${what} may remain`;
    case 'superseded':
      return `removal of ${what} stopped ${at}: a newer install owns the filter`;
    default: {
      const left =
        v.remaining !== undefined
          ? `~${count(v.remaining)} remaining`
          : cleanup.pass === 2
            ? 're-checking what was read before the settle time'
            : `${count(cleanup.checked)} log groups checked`;
      // Pass 2 waits for the settle time; pass 1 waits only in a migration (for the policy).
      const waiting =
        v.state !== 'waiting'
          ? ''
          : cleanup.pass === 2
            ? ' (waiting for the next pass)'
            : ' (waiting to start)';
      return `removing ${what}: ${count(v.removed)} removed, ${left}${waiting}, last run ${at}`;
    }
  }
}

/** Builds one row per account × region (sorted), and the org-wide totals. */
export function coverageRows(input: RowsInput): CoverageTable {
  const known = input.management ? knownAccounts(input.management) : new Map<string, Known>();
  const reports = new Map((input.central?.reports ?? []).map((r) => [key(r.account, r.region), r] as const));
  const cleanups = new Map(
    (input.central?.cleanups ?? []).map((c) => [key(c.account, c.region), c] as const),
  );
  const cells = new Set<string>();
  for (const [account, k] of known) {
    for (const region of input.regions) cells.add(key(account, region));
    for (const region of Object.keys(k.instances)) cells.add(key(account, region));
  }
  for (const r of reports.values()) cells.add(key(r.account, r.region));
  for (const c of cleanups.values()) cells.add(key(c.account, c.region));
  if (input.management === undefined && input.central?.enrolled) {
    for (const account of input.central.enrolled)
      for (const region of input.regions) cells.add(key(account, region));
  }

  const rows: CoverageRow[] = [];
  for (const cell of [...cells].sort()) {
    const [account, region] = cell.split('/') as [string, string];
    const k = known.get(account);
    const instance = k?.instances[region];
    const cleanup = cleanups.get(cell);
    const uninstalled = uninstalledBy(cleanup, reports.get(cell));
    const view = cleanupView(cleanup, reports.get(cell));
    // The coverage report of an uninstalled stack is history: no figures, no staleness.
    const report = uninstalled ? undefined : reports.get(cell);
    const enrollment = enrollmentOf(k, instance, report, input, account, region);
    // "report left behind?" is answered by the cleanup report.
    const why = uninstalled && enrollment.view === 'not in scope' ? '' : enrollment.why;
    const notes: string[] = why ? [why] : [];
    const g = report?.groups;
    if (
      input.central !== undefined &&
      report === undefined &&
      (enrollment.view === 'enrolled' || enrollment.view === 'pending')
    ) {
      notes.push(
        uninstalled ? 'stack uninstalled here, yet enrolled: no coverage report' : 'no coverage report yet',
      );
    }
    if (report && isStale(report, input.now, input.central?.staleAfterMinutes ?? Number.POSITIVE_INFINITY)) {
      notes.push(
        reportScope(report) === 'account'
          ? 'report is stale (account-scope check not running?)'
          : 'report is stale (sweep not running?)',
      );
    }
    const scope = report ? reportScope(report) : undefined;
    const policy = report?.accountPolicy;
    if (scope === 'account') notes.push(...accountPolicyNotes(report as CoverageReport));
    if (report?.error) notes.push(`last run stopped: ${report.error}`);
    else if (report && !report.complete)
      notes.push(
        scope === 'account'
          ? 'log groups partly counted (count stopped at its deadline)'
          : 'last run incomplete',
      );
    // In account scope the policy note above says why its groups failed.
    if (g && g.failed > 0 && scope !== 'account') notes.push(`${g.failed} failed`);
    if (report?.deadLetterMessages) notes.push(`${report.deadLetterMessages} in the dead-letter queue`);
    if (instanceNeedsLook(instance)) notes.push('stack instance needs a look (docs/troubleshooting.md)');
    if (view && cleanup?.error && !view.finished) notes.push(`cleanup run stopped: ${cleanup.error}`);
    if (view?.state === 'gave-up') notes.push('run log-reflector remove in that account (docs/runbook.md)');
    const counted =
      enrollment.view === 'enrolled' || enrollment.view === 'pending' || enrollment.view === '?';
    rows.push({
      account,
      name: k?.name,
      region,
      enrollment: enrollment.view,
      instance: instanceText(input.management, instance),
      eligible: g?.eligible,
      subscribed: g?.subscribed,
      conflicts: g?.conflicts,
      excluded: g ? g.excluded + g.notEnrolled : undefined,
      failed: g?.failed,
      coverage:
        g && counted && report?.enrollment === 'enabled'
          ? scope === 'account'
            ? // The policy covers every group it applies to or none (whatever the count saw).
              policy?.state === 'in-place'
              ? 100
              : 0
            : coveragePercent(g.subscribed, g.eligible)
          : undefined,
      lastRunAt: uninstalled ? cleanup?.generatedAt : report?.generatedAt,
      lastRunSource: uninstalled ? 'cleanup' : report?.source,
      scope,
      accountPolicy: policy?.state,
      deadLetterMessages: report?.deadLetterMessages,
      note: notes.join('; '),
      cleanup: view,
      removal: removalText(view, cleanup),
    });
  }

  const totals =
    input.central === undefined
      ? undefined
      : coverageTotals({
          reports: liveReports(input.central.reports, input.central.cleanups ?? []),
          enrolled: input.central.enrolled,
          regions: input.regions,
          centralAccountId: input.centralAccountId ?? '',
          homeRegion: input.homeRegion,
          now: input.now,
          staleAfterMinutes: input.central.staleAfterMinutes,
        });
  return { rows, totals };
}
