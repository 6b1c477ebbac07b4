/** The table, summary and CSV of `log-reflector coverage` for both scopes (central/cli/coverage.ts). */
import { describe, expect, it } from 'vitest';
import { type CoverageResult, render, summaryLine, tableRows } from '../../../central/cli/coverage';
import { coverageRows } from '../../../central/coverage/rows';
import { type CoverageReport, emptyTally } from '../../../shared/coverage';

const NOW = Date.parse('2026-06-02T12:00:00.000Z');

function report(account: string, overrides: Partial<CoverageReport> = {}): CoverageReport {
  return {
    version: 1,
    account,
    region: 'eu-west-1',
    source: 'sweep',
    startedAt: '2026-06-02T11:00:00.000Z',
    generatedAt: '2026-06-02T11:05:00.000Z',
    complete: true,
    enrollment: 'enabled',
    filterName: 'log-reflector-eu-west-1',
    hops: 1,
    groups: { ...emptyTally(), total: 4, eligible: 4, subscribed: 3, failed: 1 },
    ...overrides,
  };
}

/** Mid-switch: one account still in log-group scope, one in account scope (reported in January). */
function result(): CoverageResult {
  const table = coverageRows({
    management: undefined,
    central: {
      reports: [
        report('333333333333'),
        report('444444444444', {
          source: 'backfill',
          scope: 'account',
          generatedAt: '2026-06-02T09:00:00.000Z',
          groups: { ...emptyTally(), total: 7, eligible: 6, subscribed: 6, excluded: 1 },
          accountPolicy: { state: 'in-place' },
        }),
      ],
      enrolled: new Set(['333333333333', '444444444444']),
      staleAfterMinutes: 780,
    },
    regions: ['eu-west-1'],
    centralAccountId: '222222222222',
    homeRegion: 'eu-west-1',
    now: NOW,
  });
  return {
    ...table,
    generatedAt: new Date(NOW).toISOString(),
    regions: ['eu-west-1'],
    management: { ok: false, detail: 'not read' },
    central: { ok: true, detail: 'coverage index' },
  };
}

describe('coverage output across scopes', () => {
  it('the last-run column says account scope; a fresh account-scope row is neither stale nor a problem', () => {
    const rows = tableRows(result());
    expect(rows.map((r) => [r.account, r.coverage, r['last run'], r.note])).toStrictEqual([
      ['333333333333', '75.0 %', '2026-06-02 11:05Z sweep', '1 failed'],
      ['444444444444', '100 %', '2026-06-02 09:00Z backfill (account scope)', ''],
    ]);
  });

  it('the summary adds both scopes in log groups and says how the account-scope ones stand', () => {
    expect(summaryLine(result().totals)).toBe(
      'org-wide coverage: 90.0 % (9 of 10 eligible log groups subscribed); in 2 of 2 enrolled account × regions reporting (0 missing, 0 stale); 0 conflicts, 1 failed, 0 runs stopped on an error, 0 dead-letter messages; 1 account × regions in account scope (our policy in place in 1, 0 conflicts, 0 failed)',
    );
  });

  it('CSV appends scope, account_policy and removal after note', () => {
    const lines = render(result(), { json: false, csv: true }).trimEnd().split('\n');
    expect(lines[0]).toBe(
      'account,name,region,enrollment,instance,eligible,subscribed,conflicts,excluded,failed,coverage_percent,last_run_at,last_run_source,dead_letter_messages,note,scope,account_policy,removal',
    );
    expect(lines[1]).toMatch(/,sweep,,1 failed,log-group,,$/);
    expect(lines[2]).toMatch(/,backfill,,,account,in-place,$/);
  });
});
