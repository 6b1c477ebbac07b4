/**
 * The demo's check of `log-reflector coverage` against its own count (coverage.ts): it passes
 * when the table says what the demo counted and names every place where it does not.
 */
import { describe, expect, it } from 'vitest';
import type { CoverageResult } from '../../central/cli/coverage';
import type { CoverageRow } from '../../central/coverage/rows';
import { compareCoverage, type DemoCell } from './coverage';

const cells: DemoCell[] = [
  // Enabled, 3 workload groups and one planted conflict; 8 groups in all.
  {
    account: '111111111111',
    region: 'eu-west-1',
    enabled: true,
    logGroups: 8,
    eligible: 4,
    subscribed: 3,
    conflicts: 1,
  },
  // Disabled (opted out): nothing eligible, nothing of ours left.
  {
    account: '222222222222',
    region: 'eu-west-1',
    enabled: false,
    logGroups: 7,
    eligible: 3,
    subscribed: 0,
    conflicts: 0,
  },
];

function row(cell: DemoCell, counts: Partial<CoverageRow>): CoverageRow {
  return {
    account: cell.account,
    name: undefined,
    region: cell.region,
    enrollment: cell.enabled ? 'enrolled' : 'opted out',
    instance: 'CURRENT/SUCCEEDED',
    eligible: 0,
    subscribed: 0,
    conflicts: 0,
    excluded: 0,
    failed: 0,
    coverage: undefined,
    lastRunAt: '2026-06-02T06:04:00.000Z',
    lastRunSource: 'sweep',
    scope: 'log-group',
    accountPolicy: undefined,
    deadLetterMessages: 0,
    note: '',
    cleanup: undefined,
    removal: '',
    ...counts,
  };
}

function result(rows: CoverageRow[], subscribed: number, eligible: number, reporting = 1): CoverageResult {
  return {
    rows,
    totals: {
      expected: 1,
      reporting,
      missing: 1 - reporting,
      stale: 0,
      runErrors: 0,
      deadLetterMessages: 0,
      groups: { total: 0, eligible, subscribed, conflicts: 1, failed: 0, excluded: 0, notEnrolled: 0 },
      coveragePercent: (subscribed / eligible) * 100,
    },
    generatedAt: '2026-06-02T06:05:00.000Z',
    regions: ['eu-west-1'],
    management: { ok: true, detail: '' },
    central: { ok: true, detail: '' },
  } as CoverageResult;
}

const [enabled, disabled] = cells as [DemoCell, DemoCell];
const agreeing = [
  row(enabled, { eligible: 4, subscribed: 3, conflicts: 1, excluded: 4 }),
  row(disabled, { eligible: 0, subscribed: 0, conflicts: 0, excluded: 7 }),
];

describe('compareCoverage', () => {
  it('finds nothing when the table says what the demo counted', () => {
    expect(compareCoverage(cells, result(agreeing, 3, 4))).toStrictEqual([]);
  });

  it('names each count that differs, a missing row and org-wide figures that differ', () => {
    const rows = [row(enabled, { eligible: 4, subscribed: 4, conflicts: 0, excluded: 4 })];
    expect(compareCoverage(cells, result(rows, 4, 4, 0))).toStrictEqual([
      '111111111111/eu-west-1: subscribed 4, the demo counted 3',
      '111111111111/eu-west-1: conflicts 0, the demo counted 1',
      '222222222222/eu-west-1: no row',
      'org-wide: 4 of 4 eligible groups subscribed, the demo counted 3 of 4',
      'org-wide: 0 of 1 enrolled account × regions reporting, the demo ran 1 enabled',
    ]);
  });

  it('counts every group of a row as eligible or excluded, and nothing eligible where the stack runs disabled', () => {
    const rows = [
      row(enabled, { eligible: 4, subscribed: 3, conflicts: 1, excluded: 3 }),
      row(disabled, { eligible: 3, subscribed: 0, conflicts: 0, excluded: 4 }),
    ];
    expect(compareCoverage(cells, result(rows, 3, 4))).toStrictEqual([
      '111111111111/eu-west-1: eligible + excluded 7, the demo counted 8',
      '222222222222/eu-west-1: eligible 3, the demo counted 0',
    ]);
  });
});
