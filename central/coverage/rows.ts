/**
 * The rows of `log-reflector coverage` (pure): every account × region of the target OUs, joined
 * from the two sides the command reads without assuming a role into any member account:
 * - the management side: the reconciler's state object (accounts under the target OUs, their
 *   opt-out tag as last read, each stack instance's status and the Enrollment it runs with);
 * - the central side: the members' coverage reports (from the aggregator's index, or each report)
 *   and the enrolled list the reconciler publishes.
 * Either side may be missing (unreadable): the columns it feeds then say `?`.
 */
import {
  type CoverageReport,
  type CoverageTotals,
  coveragePercent,
  coverageTotals,
  coveredByDesign,
  isStale,
  type ReportScope,
  reportScope,
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
  readonly lastRunSource: CoverageReport['source'] | undefined;
  /** The scope the last report was written in (absent field: log-group); undefined without a report. */
  readonly scope: ReportScope | undefined;
  /** Account scope: the state of our account-level policy at the last stack operation or periodic check. */
  readonly accountPolicy: NonNullable<CoverageReport['accountPolicy']>['state'] | undefined;
  readonly deadLetterMessages: number | undefined;
  /** What needs a look, in words (empty when nothing does). */
  readonly note: string;
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

/** Builds one row per account × region (sorted), and the org-wide totals. */
export function coverageRows(input: RowsInput): CoverageTable {
  const known = input.management ? knownAccounts(input.management) : new Map<string, Known>();
  const reports = new Map((input.central?.reports ?? []).map((r) => [key(r.account, r.region), r] as const));
  const cells = new Set<string>();
  for (const [account, k] of known) {
    for (const region of input.regions) cells.add(key(account, region));
    for (const region of Object.keys(k.instances)) cells.add(key(account, region));
  }
  for (const r of reports.values()) cells.add(key(r.account, r.region));
  if (input.management === undefined && input.central?.enrolled) {
    for (const account of input.central.enrolled)
      for (const region of input.regions) cells.add(key(account, region));
  }

  const rows: CoverageRow[] = [];
  for (const cell of [...cells].sort()) {
    const [account, region] = cell.split('/') as [string, string];
    const k = known.get(account);
    const instance = k?.instances[region];
    const report = reports.get(cell);
    const enrollment = enrollmentOf(k, instance, report, input, account, region);
    const notes: string[] = enrollment.why ? [enrollment.why] : [];
    const g = report?.groups;
    if (
      input.central !== undefined &&
      report === undefined &&
      (enrollment.view === 'enrolled' || enrollment.view === 'pending')
    ) {
      notes.push('no coverage report yet');
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
      lastRunAt: report?.generatedAt,
      lastRunSource: report?.source,
      scope,
      accountPolicy: policy?.state,
      deadLetterMessages: report?.deadLetterMessages,
      note: notes.join('; '),
    });
  }

  const totals =
    input.central === undefined
      ? undefined
      : coverageTotals({
          reports: input.central.reports,
          enrolled: input.central.enrolled,
          regions: input.regions,
          centralAccountId: input.centralAccountId ?? '',
          homeRegion: input.homeRegion,
          now: input.now,
          staleAfterMinutes: input.central.staleAfterMinutes,
        });
  return { rows, totals };
}
