/** Coverage report keys, parsing and the org-wide totals (shared/coverage.ts). */
import { describe, expect, it } from 'vitest';
import {
  buildIndex,
  CoverageIndexSchema,
  type CoverageReport,
  cleanupReportKey,
  coveragePercent,
  coverageReportKey,
  coverageTotals,
  emptyTally,
  isStale,
  liveReports,
  parseCleanupReport,
  parseCleanupReportKey,
  parseCoverageReport,
  parseCoverageReportKey,
  reportScope,
  uninstalledBy,
} from '../../shared/coverage';
import { cleanupReport as cleanup, coverageReport, tally } from '../support/coverage-fixtures';

const NOW = Date.parse('2026-06-02T12:00:00.000Z');
const CENTRAL = '222222222222';

function report(account: string, region: string, overrides: Partial<CoverageReport> = {}): CoverageReport {
  return coverageReport(account, region, {
    groups: tally({ total: 10, eligible: 10, subscribed: 9, conflicts: 1 }),
    ...overrides,
  });
}

describe('report keys', () => {
  it('round-trips account and region', () => {
    const key = coverageReportKey('111122223333', 'ap-southeast-2');
    expect(key).toBe('coverage/111122223333/ap-southeast-2.json');
    expect(parseCoverageReportKey(key)).toStrictEqual({ account: '111122223333', region: 'ap-southeast-2' });
  });

  it('refuses what is not a report key', () => {
    expect(parseCoverageReportKey('coverage-index/latest.json.gz')).toBeUndefined();
    expect(parseCoverageReportKey('coverage/111122223333/eu-west-1.json.tmp')).toBeUndefined();
    expect(parseCoverageReportKey('coverage/11112222333/eu-west-1.json')).toBeUndefined();
    expect(() => coverageReportKey('1111', 'eu-west-1')).toThrow('account must be 12 digits (received 1111)');
  });
});

describe('parseCoverageReport', () => {
  it('accepts a version-1 report under its own key', () => {
    const r = report('111122223333', 'eu-west-1');
    expect(parseCoverageReport(JSON.stringify(r), 'coverage/111122223333/eu-west-1.json')).toStrictEqual(r);
  });

  it('names the key and the field when a report is malformed or misplaced', () => {
    expect(() => parseCoverageReport('{', 'coverage/111122223333/eu-west-1.json')).toThrow(
      /^coverage report coverage\/111122223333\/eu-west-1.json is not JSON/,
    );
    const bad = { ...report('111122223333', 'eu-west-1'), groups: { total: -1 } };
    expect(() => parseCoverageReport(JSON.stringify(bad), 'coverage/111122223333/eu-west-1.json')).toThrow(
      /is not a version-1 report at groups\./,
    );
    expect(() =>
      parseCoverageReport(
        JSON.stringify(report('444455556666', 'eu-west-1')),
        'coverage/111122223333/eu-west-1.json',
      ),
    ).toThrow('names 444455556666/eu-west-1, not the account and region of its key');
  });
});

describe('scope of a report', () => {
  const key = 'coverage/111122223333/eu-west-1.json';

  it('reads a report without the field (written before account scope) as log-group scope', () => {
    const old = parseCoverageReport(JSON.stringify(report('111122223333', 'eu-west-1')), key);
    expect(old.scope).toBeUndefined();
    expect(reportScope(old)).toBe('log-group');
  });

  it('round-trips an account-scope report and refuses an unknown scope or policy state, naming the field', () => {
    const r = report('111122223333', 'eu-west-1', {
      source: 'backfill',
      scope: 'account',
      accountPolicy: { state: 'conflict', foreignPolicies: ['aws-accelerator-subscription'] },
    });
    expect(parseCoverageReport(JSON.stringify(r), key)).toStrictEqual(r);
    expect(() => parseCoverageReport(JSON.stringify({ ...r, scope: 'org' }), key)).toThrow(/at scope:/);
    expect(() =>
      parseCoverageReport(JSON.stringify({ ...r, accountPolicy: { state: 'gone' } }), key),
    ).toThrow(/at accountPolicy\.state:/);
  });

  it('reports of both scopes go stale by age: the sweep and the account-scope check both report every period', () => {
    const old = { generatedAt: '2025-01-01T00:00:00.000Z' };
    expect(isStale(old, NOW, 60)).toBe(true);
    expect(isStale({ ...old, scope: 'log-group' }, NOW, 60)).toBe(true);
    expect(isStale({ ...old, scope: 'account' }, NOW, 60)).toBe(true);
    const fresh = { generatedAt: '2026-06-02T11:30:00.000Z' };
    expect(isStale(fresh, NOW, 60)).toBe(false);
    expect(isStale({ ...fresh, scope: 'account' }, NOW, 60)).toBe(false);
    // The limit is exclusive: exactly staleAfterMinutes old is not yet stale.
    expect(isStale({ generatedAt: '2026-06-02T11:00:00.000Z', scope: 'account' }, NOW, 60)).toBe(false);
  });
});

describe('coveragePercent', () => {
  it('is subscribed over eligible, and 100 when nothing is eligible', () => {
    expect(coveragePercent(9, 10)).toBe(90);
    expect(coveragePercent(0, 0)).toBe(100);
  });
});

describe('coverageTotals', () => {
  const base = {
    regions: ['eu-west-1', 'us-east-1'],
    centralAccountId: CENTRAL,
    homeRegion: 'eu-west-1',
    now: NOW,
    staleAfterMinutes: 60,
  };

  it('counts enrolled account × regions, leaves out opted-out accounts and the central account outside home', () => {
    const totals = coverageTotals({
      ...base,
      enrolled: new Set(['111111111111', CENTRAL]),
      reports: [
        report('111111111111', 'eu-west-1'),
        report('111111111111', 'us-east-1', {
          groups: { ...emptyTally(), total: 10, eligible: 10, subscribed: 10 },
        }),
        report(CENTRAL, 'eu-west-1'),
        // Central outside its home region: never covered (docs/architecture.md, decision 10).
        report(CENTRAL, 'us-east-1', {
          enrollment: 'disabled',
          groups: { ...emptyTally(), total: 5, notEnrolled: 5 },
        }),
        // Opted out: not on the list.
        report('333333333333', 'eu-west-1', { enrollment: 'disabled', deadLetterMessages: 2 }),
        // A region the deployment does not configure (left over).
        report('111111111111', 'ap-south-1'),
      ],
    });
    expect(totals).toStrictEqual({
      expected: 3,
      reporting: 3,
      missing: 0,
      stale: 0,
      runErrors: 0,
      deadLetterMessages: 2,
      groups: {
        total: 30,
        eligible: 30,
        subscribed: 28,
        conflicts: 2,
        failed: 0,
        excluded: 0,
        notEnrolled: 0,
      },
      coveragePercent: (28 / 30) * 100,
      accountScope: { reporting: 0, inPlace: 0, conflicts: 0, failed: 0 },
    });
  });

  it('counts missing and stale reports and runs that stopped on an error', () => {
    const totals = coverageTotals({
      ...base,
      enrolled: new Set(['111111111111', '444444444444']),
      reports: [
        report('111111111111', 'eu-west-1', { generatedAt: '2026-06-02T10:59:00.000Z' }),
        report('111111111111', 'us-east-1', { error: 'AuthError: denied', complete: false }),
      ],
    });
    expect(totals).toMatchObject({ expected: 4, reporting: 2, missing: 2, stale: 1, runErrors: 1 });
  });

  it('a switch of scope under way: both scopes add up in log groups; old reports of either scope are stale, missing ones count', () => {
    const accountScope = (account: string, region: string, overrides: Partial<CoverageReport> = {}) =>
      report(account, region, {
        source: 'backfill',
        scope: 'account',
        generatedAt: '2026-06-02T11:30:00.000Z',
        groups: { ...emptyTally(), total: 22, eligible: 20, subscribed: 20, excluded: 2 },
        accountPolicy: { state: 'in-place' },
        ...overrides,
      });
    const totals = coverageTotals({
      ...base,
      enrolled: new Set(['111111111111', '444444444444', '555555555555']),
      reports: [
        // Switched already; the periodic check reported 30 minutes ago.
        accountScope('111111111111', 'eu-west-1'),
        accountScope('111111111111', 'us-east-1', {
          groups: { ...emptyTally(), total: 5, eligible: 5, failed: 5 },
          accountPolicy: { state: 'failed', error: 'AccessDeniedException' },
        }),
        // Still in log-group scope: a fresh sweep report, and a stale one.
        report('444444444444', 'eu-west-1'),
        report('444444444444', 'us-east-1', { generatedAt: '2026-06-02T10:00:00.000Z' }),
        // Its check stopped reporting months ago: stale, like a sweep that stopped.
        accountScope('555555555555', 'eu-west-1', {
          generatedAt: '2026-01-01T00:00:00.000Z',
          groups: { ...emptyTally(), total: 3, eligible: 3, conflicts: 3 },
          accountPolicy: { state: 'conflict', foreignPolicies: ['theirs'] },
        }),
        // 555555555555 us-east-1: no report at all.
      ],
    });
    expect(totals).toMatchObject({
      expected: 6,
      reporting: 5,
      missing: 1,
      stale: 2,
      groups: { eligible: 48, subscribed: 38, conflicts: 5, failed: 5 },
      coveragePercent: (38 / 48) * 100,
      accountScope: { reporting: 3, inPlace: 1, conflicts: 1, failed: 1 },
    });
  });

  it('without a readable enrolled list counts the reports that say enabled, and nothing as missing', () => {
    const totals = coverageTotals({
      ...base,
      enrolled: undefined,
      reports: [
        report('111111111111', 'eu-west-1'),
        report('333333333333', 'eu-west-1', { enrollment: 'disabled' }),
      ],
    });
    expect(totals).toMatchObject({ expected: 1, reporting: 1, missing: 0, coveragePercent: 90 });
  });
});

describe('cleanup report keys and parsing (issue 15.3)', () => {
  it('lives under the account prefix the bucket policy admits, apart from the coverage report', () => {
    const key = cleanupReportKey('111122223333', 'ap-southeast-2');
    expect(key).toBe('coverage/111122223333/cleanup/ap-southeast-2.json');
    expect(parseCleanupReportKey(key)).toStrictEqual({ account: '111122223333', region: 'ap-southeast-2' });
    expect(parseCoverageReportKey(key)).toBeUndefined();
    expect(parseCleanupReportKey('coverage/111122223333/ap-southeast-2.json')).toBeUndefined();
    expect(() => cleanupReportKey('111122223333', 'moon-1')).toThrow(
      'region is not a region name (received moon-1)',
    );
  });

  it('accepts a version-1 cleanup report under its own key; names the key and the field otherwise', () => {
    const c = cleanup('111122223333', 'eu-west-1');
    const key = 'coverage/111122223333/cleanup/eu-west-1.json';
    expect(parseCleanupReport(JSON.stringify(c), key)).toStrictEqual(c);
    expect(() => parseCleanupReport(JSON.stringify({ ...c, state: 'finished' }), key)).toThrow(
      /^cleanup report coverage\/111122223333\/cleanup\/eu-west-1.json is not a version-1 cleanup report at state:/,
    );
    expect(() =>
      parseCleanupReport(JSON.stringify(c), 'coverage/444455556666/cleanup/eu-west-1.json'),
    ).toThrow('names 111122223333/eu-west-1, not the account and region of its key');
  });
});

describe("uninstalledBy / liveReports: an uninstalled stack's report is history", () => {
  const A = '111122223333';
  it("an uninstall after the run began makes the report history; a reinstall's run after it makes the cell live again", () => {
    const r = report(A, 'eu-west-1'); // started 11:00
    expect(uninstalledBy(cleanup(A, 'eu-west-1'), r)).toBe(true); // Delete at 11:30
    expect(uninstalledBy(cleanup(A, 'eu-west-1'), undefined)).toBe(true);
    // The dying stack's sweep in flight at the Delete (started before it) stays history.
    expect(uninstalledBy(cleanup(A, 'eu-west-1'), { startedAt: '2026-06-02T11:29:59.000Z' })).toBe(true);
    // The reinstall's backfill started after the Delete (even while the old worker still writes).
    expect(
      uninstalledBy(cleanup(A, 'eu-west-1', { generatedAt: '2026-06-02T13:00:00.000Z' }), {
        startedAt: '2026-06-02T12:00:00.000Z',
      }),
    ).toBe(false);
    // Superseded by a reinstall owning the filter, or a job of a live stack: the stack exists.
    expect(uninstalledBy(cleanup(A, 'eu-west-1', { state: 'superseded' }), r)).toBe(false);
    for (const kind of ['replaced', 'migrated', 'opted-out'] as const)
      expect(uninstalledBy(cleanup(A, 'eu-west-1', { kind }), r)).toBe(false);
    expect(uninstalledBy(undefined, r)).toBe(false);
  });

  it("drops only the reports their cell's cleanup makes history", () => {
    const reports = [report(A, 'eu-west-1'), report(A, 'us-east-1'), report('444455556666', 'eu-west-1')];
    expect(
      liveReports(reports, [cleanup(A, 'eu-west-1')]).map((r) => `${r.account}/${r.region}`),
    ).toStrictEqual([`${A}/us-east-1`, '444455556666/eu-west-1']);
    expect(liveReports(reports, [])).toStrictEqual(reports);
  });

  it('the index keeps every report and the cleanups, and totals only the live ones; an index without cleanups still parses', () => {
    const input = {
      reports: [
        report(A, 'eu-west-1', {
          generatedAt: '2026-05-01T00:00:00.000Z',
          startedAt: '2026-05-01T00:00:00.000Z',
        }),
      ],
      cleanups: [cleanup(A, 'eu-west-1', { state: 'done' })],
      unreadable: [],
      enrolled: undefined,
      enrolledGeneration: undefined,
      regions: ['eu-west-1'],
      centralAccountId: CENTRAL,
      homeRegion: 'eu-west-1',
      now: NOW,
      staleAfterMinutes: 780,
    };
    const index = buildIndex(input);
    expect(index.reports).toHaveLength(1);
    expect(index.cleanups).toHaveLength(1);
    // Before: the left-behind report counted as reporting and stale, for ever.
    expect(index.totals).toMatchObject({ expected: 0, reporting: 0, stale: 0, missing: 0 });
    expect(buildIndex({ ...input, cleanups: [] }).totals).toMatchObject({ reporting: 1, stale: 1 });
    const { cleanups: _c, ...older } = index;
    expect(CoverageIndexSchema.parse(older).cleanups).toBeUndefined();
  });
});
