/** The rows of `log-reflector coverage`: how each side's data becomes the enrollment view and the notes. */
import { describe, expect, it } from 'vitest';
import {
  type CentralView,
  coverageRows,
  type ManagementView,
  type RowsInput,
} from '../../../central/coverage/rows';
import { emptyState, type InstanceMemory } from '../../../central/enrollment/state';
import { type CleanupReport, type CoverageReport, emptyTally } from '../../../shared/coverage';
import { cleanupReport as cleanup, coverageReport, tally } from '../../support/coverage-fixtures';

const NOW = Date.parse('2026-06-02T12:00:00.000Z');
const CENTRAL = '222222222222';
const A = '333333333333';

function report(account: string, region: string, overrides: Partial<CoverageReport> = {}): CoverageReport {
  return coverageReport(account, region, {
    groups: tally({ total: 4, eligible: 4, subscribed: 4 }),
    ...overrides,
  });
}

const current = (enrollment?: string): InstanceMemory => ({
  status: 'CURRENT',
  detailed: 'SUCCEEDED',
  ...(enrollment ? { enrollment } : {}),
});

function management(
  account: Partial<import('../../../central/enrollment/state').AccountMemory> & {
    instances: Record<string, InstanceMemory>;
  },
): ManagementView {
  const state = emptyState();
  state.stackSets['log-reflector-members'] = {
    accounts: { [A]: { state: 'ACTIVE', tag: null, ...account } },
    operations: {},
    regionsListedAt: {},
  };
  return { state, stackSetName: 'log-reflector-members', optOutValue: 'true' };
}

function input(overrides: Partial<RowsInput>): RowsInput {
  return {
    management: undefined,
    central: undefined,
    regions: ['eu-west-1'],
    centralAccountId: CENTRAL,
    homeRegion: 'eu-west-1',
    now: NOW,
    ...overrides,
  };
}

const central = (reports: CoverageReport[], enrolled?: string[]): CentralView => ({
  reports,
  enrolled: enrolled ? new Set(enrolled) : undefined,
  staleAfterMinutes: 60,
});

describe('coverageRows: enrollment', () => {
  const cases: [string, Parameters<typeof management>[0], string[] | undefined, string, string][] = [
    ['enabled, listed', { instances: { 'eu-west-1': current('enabled') } }, [A], 'enrolled', ''],
    [
      'enabled, not listed yet',
      { instances: { 'eu-west-1': current('enabled') } },
      [],
      'pending',
      'not on the enrolled list yet',
    ],
    [
      'untagged, still disabled',
      { instances: { 'eu-west-1': current('disabled') } },
      [A],
      'pending',
      'being enabled',
    ],
    [
      'tagged, disabled',
      { tag: 'true', instances: { 'eu-west-1': current('disabled') } },
      [],
      'opted out',
      '',
    ],
    [
      'tagged, still enabled',
      { tag: 'true', instances: { 'eu-west-1': current('enabled') } },
      [],
      'pending',
      'opt-out tag set; being disabled',
    ],
    [
      'tag "false" counts as no opt-out',
      { tag: 'false', instances: { 'eu-west-1': current('enabled') } },
      [A],
      'enrolled',
      '',
    ],
    [
      'tags never read',
      { tag: undefined, instances: { 'eu-west-1': current() } },
      [],
      'pending',
      'opt-out tag not read yet',
    ],
    ['no instance yet', { instances: {} }, [], 'pending', 'no stack instance yet (auto-deployment)'],
    [
      'suspended',
      { state: 'SUSPENDED', instances: { 'eu-west-1': current('enabled') } },
      [],
      'suspended',
      'account SUSPENDED',
    ],
  ];
  it.each(cases)('%s', (_name, account, enrolled, view, why) => {
    const { rows } = coverageRows(
      input({ management: management(account), central: central([report(A, 'eu-west-1')], enrolled) }),
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.enrollment).toBe(view);
    if (why) expect(rows[0]?.note).toContain(why);
    else expect(rows[0]?.note).toBe('');
  });

  it('marks the central account outside its home region as not covered by design, whatever it reports', () => {
    const { rows } = coverageRows(
      input({
        regions: ['eu-west-1', 'us-east-1'],
        central: central([report(CENTRAL, 'us-east-1', { enrollment: 'disabled' })], [CENTRAL]),
      }),
    );
    const row = rows.find((r) => r.account === CENTRAL && r.region === 'us-east-1');
    expect(row).toMatchObject({ enrollment: 'not covered', coverage: undefined });
    expect(row?.note).toContain('decision 10');
  });

  it('shows a report of an account no longer under the target OUs as not in scope', () => {
    const { rows } = coverageRows(
      input({
        management: management({ instances: { 'eu-west-1': current('enabled') } }),
        central: central([report(A, 'eu-west-1'), report('999999999999', 'eu-west-1')], [A]),
      }),
    );
    expect(rows.find((r) => r.account === '999999999999')?.enrollment).toBe('not in scope');
  });

  it('without the management side, derives enrollment from the enrolled list and shows the instance as ?', () => {
    const { rows } = coverageRows(input({ central: central([report(A, 'eu-west-1')], [A, '444444444444']) }));
    expect(rows.map((r) => [r.account, r.enrollment, r.instance, r.note])).toStrictEqual([
      [A, 'enrolled', '?', ''],
      ['444444444444', 'enrolled', '?', 'no coverage report yet'],
    ]);
  });

  it('without the central side, leaves the figures and totals unknown', () => {
    const t = coverageRows(
      input({ management: management({ instances: { 'eu-west-1': current('enabled') } }) }),
    );
    expect(t.totals).toBeUndefined();
    expect(t.rows[0]).toMatchObject({
      enrollment: 'enrolled',
      eligible: undefined,
      coverage: undefined,
      note: '',
    });
  });
});

describe('coverageRows: notes', () => {
  it('says what needs a look: stale report, a stopped run, failures, dead letters, a failed instance', () => {
    const { rows } = coverageRows(
      input({
        management: management({
          instances: { 'eu-west-1': { status: 'OUTDATED', detailed: 'FAILED', enrollment: 'enabled' } },
        }),
        central: central(
          [
            report(A, 'eu-west-1', {
              generatedAt: '2026-06-02T10:00:00.000Z',
              complete: false,
              error: 'AuthError: denied',
              deadLetterMessages: 2,
              groups: { ...emptyTally(), total: 4, eligible: 4, subscribed: 3, failed: 1 },
            }),
          ],
          [A],
        ),
      }),
    );
    expect(rows[0]?.note).toBe(
      'report is stale (sweep not running?); last run stopped: AuthError: denied; 1 failed; 2 in the dead-letter queue; stack instance needs a look (docs/troubleshooting.md)',
    );
    expect(rows[0]?.coverage).toBe(75);
  });

  it('does not flag an instance whose operation is still running', () => {
    const { rows } = coverageRows(
      input({
        management: management({
          instances: { 'eu-west-1': { status: 'OUTDATED', detailed: 'RUNNING', enrollment: 'enabled' } },
        }),
        central: central([report(A, 'eu-west-1')], [A]),
      }),
    );
    expect(rows[0]?.note).toBe('');
  });
});

describe('coverageRows: account scope', () => {
  /** A report the account-scope backfill wrote at its last periodic check, 30 minutes ago. */
  const accountScope = (overrides: Partial<CoverageReport> = {}) =>
    report(A, 'eu-west-1', {
      source: 'backfill',
      scope: 'account',
      generatedAt: '2026-06-02T11:30:00.000Z',
      groups: { ...emptyTally(), total: 6, eligible: 5, subscribed: 5, excluded: 1 },
      accountPolicy: { state: 'in-place' },
      ...overrides,
    });
  const rowFor = (r: CoverageReport) =>
    coverageRows(
      input({
        management: management({ instances: { 'eu-west-1': current('enabled') } }),
        central: central([r], [A]),
      }),
    ).rows[0];

  it('our policy in place: 100 %, nothing to look at, and the row says its scope', () => {
    expect(rowFor(accountScope())).toMatchObject({
      scope: 'account',
      accountPolicy: 'in-place',
      eligible: 5,
      subscribed: 5,
      coverage: 100,
      lastRunSource: 'backfill',
      note: '',
    });
  });

  it('a foreign policy: 0 % (even with no group counted) and the note names it', () => {
    const row = rowFor(
      accountScope({
        groups: emptyTally(),
        accountPolicy: { state: 'conflict', foreignPolicies: ['aws-accelerator-subscription'] },
      }),
    );
    expect(row?.coverage).toBe(0);
    expect(row?.note).toBe(
      `account policy conflict: "aws-accelerator-subscription" holds the account's one subscription filter policy (never overwritten)`,
    );
  });

  it('a policy that could not be put: 0 %, the error once (not also as "n failed"); a partial count says so', () => {
    const row = rowFor(
      accountScope({
        complete: false,
        groups: { ...emptyTally(), total: 3, eligible: 3, failed: 3 },
        accountPolicy: { state: 'failed', error: 'AccessDeniedException: denied by an SCP' },
      }),
    );
    expect(row?.coverage).toBe(0);
    expect(row?.note).toBe(
      'account policy not in place: AccessDeniedException: denied by an SCP; log groups partly counted (count stopped at its deadline)',
    );
  });

  it('an old report is stale in either scope, and the note names what stopped; a report without the scope field reads as log-group', () => {
    const at = { generatedAt: '2026-01-10T09:00:00.000Z' };
    expect(rowFor(accountScope(at))?.note).toBe('report is stale (account-scope check not running?)');
    const old = report(A, 'eu-west-1', at);
    expect(rowFor(old)).toMatchObject({ scope: 'log-group', accountPolicy: undefined });
    expect(rowFor(old)?.note).toBe('report is stale (sweep not running?)');
  });
});

describe('coverageRows: the cleanup worker (issue 15.3)', () => {
  const big = { ...emptyTally(), total: 100_000, eligible: 100_000, subscribed: 89_000 };
  const departed = (c: CleanupReport, reports = [report('999999999999', 'eu-west-1', { groups: big })]) =>
    coverageRows(
      input({
        management: management({ instances: { 'eu-west-1': current('enabled') } }),
        central: { ...central(reports, [A]), cleanups: [c] },
      }),
    ).rows.find((r) => r.account === '999999999999');

  it('a departed account: "removing our filters: N removed, ~M remaining, last run …", no stale figures', () => {
    // The old sweep report is from 11:00-11:05, the Delete at 11:30; it is hours old now.
    const row = departed(
      cleanup('999999999999', 'eu-west-1', { removed: 41_230, generatedAt: '2026-06-02T14:15:00.000Z' }),
      [report('999999999999', 'eu-west-1', { groups: big })],
    );
    expect(row).toMatchObject({
      enrollment: 'not in scope',
      eligible: undefined,
      subscribed: undefined,
      coverage: undefined,
      lastRunAt: '2026-06-02T14:15:00.000Z',
      lastRunSource: 'cleanup',
      note: '',
      cleanup: { state: 'removing', removed: 41_230, remaining: 47_770, finished: false, uninstalled: true },
    });
    expect(row?.removal).toBe(
      'removing our filters: 41,230 removed, ~47,770 remaining, last run 2026-06-02 14:15Z',
    );
  });

  it('finally "done", which needs no look; without an earlier report it counts groups checked; pass 2 says re-checking', () => {
    const done = departed(
      cleanup('999999999999', 'eu-west-1', {
        state: 'done',
        pass: 2,
        removed: 89_004,
        generatedAt: '2026-06-02T20:00:00.000Z',
      }),
    );
    expect(done?.removal).toBe('our filters removed: done 2026-06-02 20:00Z (89,004 removed)');
    expect(done).toMatchObject({ note: '', cleanup: { finished: true, remaining: undefined } });
    expect(departed(cleanup('999999999999', 'eu-west-1'), [])?.removal).toBe(
      'removing our filters: 5,120 removed, 5,400 log groups checked, last run 2026-06-02 11:45Z',
    );
    expect(departed(cleanup('999999999999', 'eu-west-1', { pass: 2, state: 'waiting' }))?.removal).toBe(
      'removing our filters: 5,120 removed, re-checking what was read before the settle time (waiting for the next pass), last run 2026-06-02 11:45Z',
    );
  });

  it('a migration waiting for its account policy says so', () => {
    const waiting = cleanup('999999999999', 'eu-west-1', {
      kind: 'migrated',
      state: 'waiting',
      removed: 0,
      checked: 0,
    });
    expect(departed(waiting)?.removal).toBe(
      'removing our per-group filters (now account scope): 0 removed, 0 log groups checked (waiting to start), last run 2026-06-02 11:45Z',
    );
  });

  it('a run that stopped, and a worker that gave up, need a look', () => {
    const stopped = departed(
      cleanup('999999999999', 'eu-west-1', { error: 'AuthError: DescribeLogGroups was denied' }),
    );
    expect(stopped?.note).toBe('cleanup run stopped: AuthError: DescribeLogGroups was denied');
    const gaveUp = departed(cleanup('999999999999', 'eu-west-1', { state: 'gave-up' }));
    expect(gaveUp?.removal).toBe(
      'cleanup gave up 2026-06-02 11:45Z after 5,120 removed: our filters may remain',
    );
    expect(gaveUp?.note).toBe('run log-reflector remove in that account (docs/runbook.md)');
  });

  it('an enrolled account whose stack was uninstalled is missing, and says so; the totals agree', () => {
    const t = coverageRows(
      input({
        management: management({ instances: { 'eu-west-1': current('enabled') } }),
        central: {
          ...central([report(A, 'eu-west-1')], [A]),
          cleanups: [cleanup(A, 'eu-west-1', { state: 'done' })],
        },
      }),
    );
    expect(t.rows[0]?.note).toBe('stack uninstalled here, yet enrolled: no coverage report');
    expect(t.totals).toMatchObject({ expected: 1, reporting: 0, missing: 1 });
  });

  it('a live stack removing an old filter keeps its figures and shows the removal until its own next report', () => {
    const live = (c: CleanupReport, r = report(A, 'eu-west-1')) =>
      coverageRows(
        input({
          management: management({ instances: { 'eu-west-1': current('enabled') } }),
          central: { ...central([r], [A]), cleanups: [c] },
        }),
      ).rows[0];
    const renamed = cleanup(A, 'eu-west-1', { kind: 'replaced', filterName: 'old-eu-west-1' });
    expect(live(renamed)).toMatchObject({ eligible: 4, coverage: 100, lastRunSource: 'sweep', note: '' });
    expect(live(renamed)?.removal).toBe(
      'removing the old filter old-eu-west-1: 5,120 removed, 5,400 log groups checked, last run 2026-06-02 11:45Z',
    );
    const finished = { ...renamed, state: 'done' as const };
    expect(live(finished)?.removal).toMatch(/^the old filter old-eu-west-1 removed: done/);
    // The sweep reported after the worker finished: the row is the sweep's again.
    expect(live(finished, report(A, 'eu-west-1', { generatedAt: '2026-06-02T11:50:00.000Z' }))).toMatchObject(
      { removal: '', cleanup: undefined },
    );
    // A reinstall superseded the uninstall: nothing to show, the new stack reports.
    expect(live(cleanup(A, 'eu-west-1', { state: 'superseded' }))).toMatchObject({
      removal: '',
      lastRunSource: 'sweep',
    });
  });
});
