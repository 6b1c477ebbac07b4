/**
 * The coverage aggregator against moto S3: it reads the enrolled list and every report, writes
 * the index the CLI reads, publishes the org-wide metrics, and keeps going past a bad report.
 */
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from 'vitest';
import { aggregate } from '../../../central/coverage/handler';
import { MAX_REPORT_BYTES, readIndex } from '../../../central/coverage/store';
import {
  type CleanupReport,
  type CoverageReport,
  cleanupReportKey,
  coverageReportKey,
  emptyTally,
} from '../../../shared/coverage';
import { ENROLLED_LIST_KEY } from '../../../shared/enrollment';
import { cleanupReport, coverageReport, tally } from '../../support/coverage-fixtures';
import { useMoto } from '../../support/moto';

const REGION = 'eu-west-1';
const BUCKET = 'log-reflector-state-aggregator-test';
const CENTRAL = '222222222222';
const NOW = Date.parse('2026-06-02T12:00:00.000Z');
const A = '333333333333';
const B = '444444444444';
const C = '555555555555';
const moto = useMoto(REGION);
let s3: S3Client;

function report(account: string, region: string, overrides: Partial<CoverageReport> = {}): CoverageReport {
  return coverageReport(account, region, {
    groups: tally({ total: 10, eligible: 10, subscribed: 9, failed: 1 }),
    ...overrides,
  });
}

async function put(key: string, body: string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
}

function recorder() {
  const metrics: Record<string, number> = {};
  const warnings: string[] = [];
  let published = 0;
  return {
    metrics,
    warnings,
    get published() {
      return published;
    },
    deps: {
      config: {
        bucket: BUCKET,
        regions: ['eu-west-1', 'us-east-1'],
        homeRegion: REGION,
        centralAccountId: CENTRAL,
        staleAfterMinutes: 780,
      },
      s3,
      now: () => NOW,
      logger: {
        info: () => undefined,
        warn: (m: string) => {
          warnings.push(m);
        },
        error: () => undefined,
      },
      metrics: {
        addMetric: (name: string, _unit: unknown, value: number) => {
          metrics[name] = value;
        },
        publishStoredMetrics: () => {
          published += 1;
        },
      },
    },
  };
}

beforeEach(async () => {
  await moto.reset();
  s3 = new S3Client({ endpoint: moto.endpoint, region: REGION, forcePathStyle: true });
  await s3.send(
    new CreateBucketCommand({ Bucket: BUCKET, CreateBucketConfiguration: { LocationConstraint: REGION } }),
  );
});

describe('coverage aggregator', () => {
  it('does not read a report larger than MAX_REPORT_BYTES (any org account may write its prefix): unreadable, with its size', async () => {
    await put(coverageReportKey(CENTRAL, 'eu-west-1'), JSON.stringify(report(CENTRAL, 'eu-west-1')));
    const huge = `{"pad":"${'x'.repeat(MAX_REPORT_BYTES)}"}`;
    await put(coverageReportKey('333333333333', 'eu-west-1'), huge);
    const r = recorder();
    const index = await aggregate(r.deps);
    expect(index.reports.map((x) => x.account)).toStrictEqual([CENTRAL]);
    expect(index.unreadable).toStrictEqual([
      {
        key: 'coverage/333333333333/eu-west-1.json',
        reason: `RangeError: report is ${huge.length} bytes; a report is at most ${MAX_REPORT_BYTES}: not read`,
      },
    ]);
  });

  it('writes the index and publishes the org-wide metrics, a bad report counted, not fatal', async () => {
    await put(
      ENROLLED_LIST_KEY,
      JSON.stringify({
        version: 1,
        generation: 3,
        updatedAt: '2026-06-02T11:00:00.000Z',
        accounts: ['333333333333', CENTRAL],
      }),
    );
    await put(
      coverageReportKey('333333333333', 'eu-west-1'),
      JSON.stringify(report('333333333333', 'eu-west-1', { deadLetterMessages: 4 })),
    );
    await put(coverageReportKey('333333333333', 'us-east-1'), '{"version":2}');
    await put(coverageReportKey(CENTRAL, 'eu-west-1'), JSON.stringify(report(CENTRAL, 'eu-west-1')));
    await put('coverage/not-a-report.txt', 'ignored');
    const r = recorder();
    const index = await aggregate(r.deps);
    expect(r.published).toBe(1);
    expect(index.unreadable.map((u) => u.key)).toStrictEqual(['coverage/333333333333/us-east-1.json']);
    expect(r.warnings).toStrictEqual(['coverage report unreadable']);
    expect(r.metrics).toStrictEqual({
      CoveragePercent: 90,
      GroupsEligible: 20,
      GroupsSubscribed: 18,
      GroupsConflicts: 0,
      GroupsFailed: 2,
      GroupsExcluded: 0,
      // Enrolled: 333333333333 in two regions, the central account in its home region only.
      ReportsExpected: 3,
      ReportsMissing: 1,
      ReportsStale: 0,
      ReportsOverdue: 1,
      ReportsUnreadable: 1,
      RunErrors: 0,
      AccountScopeReports: 0,
      AccountPoliciesNotInPlace: 0,
      DeadLetterMessages: 4,
      AggregationsCompleted: 1,
    });
    const stored = await readIndex(s3, BUCKET);
    expect(stored).toStrictEqual(index);
    expect(stored).toMatchObject({
      enrolledGeneration: 3,
      centralAccountId: CENTRAL,
      homeRegion: REGION,
      generatedAt: '2026-06-02T12:00:00.000Z',
    });
  });

  it('an org in account scope: a report its periodic check stopped refreshing is overdue (stale), and so is a missing one', async () => {
    await put(
      ENROLLED_LIST_KEY,
      JSON.stringify({
        version: 1,
        generation: 4,
        updatedAt: '2026-06-02T11:00:00.000Z',
        accounts: ['333333333333', '444444444444'],
      }),
    );
    const accountScope = (
      account: string,
      region: string,
      state: 'in-place' | 'conflict',
      at = '2026-06-02T09:00:00.000Z', // the last periodic check, 3 hours ago
    ) =>
      report(account, region, {
        source: 'backfill',
        scope: 'account',
        generatedAt: at,
        startedAt: at,
        groups: {
          ...emptyTally(),
          total: 12,
          eligible: 10,
          excluded: 2,
          ...(state === 'in-place' ? { subscribed: 10 } : { conflicts: 10 }),
        },
        accountPolicy: { state },
      });
    await put(
      coverageReportKey('333333333333', 'eu-west-1'),
      JSON.stringify(accountScope('333333333333', 'eu-west-1', 'in-place')),
    );
    await put(
      coverageReportKey('333333333333', 'us-east-1'),
      // Months old: its check stopped running.
      JSON.stringify(accountScope('333333333333', 'us-east-1', 'in-place', '2026-02-01T09:00:00.000Z')),
    );
    await put(
      coverageReportKey('444444444444', 'eu-west-1'),
      JSON.stringify(accountScope('444444444444', 'eu-west-1', 'conflict')),
    );
    const r = recorder();
    const index = await aggregate(r.deps);
    expect(r.metrics).toMatchObject({
      CoveragePercent: 66.67, // 20 of 30 groups, rounded to 2 decimals
      ReportsExpected: 4,
      ReportsMissing: 1, // 444444444444 in us-east-1 never reported
      ReportsStale: 1,
      ReportsOverdue: 2,
      AccountScopeReports: 3,
      AccountPoliciesNotInPlace: 1,
      GroupsConflicts: 10,
    });
    expect(index.totals.accountScope).toStrictEqual({ reporting: 3, inPlace: 2, conflicts: 1, failed: 0 });
  });

  it('without an enrolled list counts the reports that say enabled, and says so', async () => {
    await put(
      coverageReportKey('333333333333', 'eu-west-1'),
      JSON.stringify(report('333333333333', 'eu-west-1')),
    );
    await put(
      coverageReportKey('444444444444', 'eu-west-1'),
      JSON.stringify(report('444444444444', 'eu-west-1', { enrollment: 'disabled' })),
    );
    const r = recorder();
    const index = await aggregate(r.deps);
    expect(index.enrolledGeneration).toBeUndefined();
    expect(index.totals).toMatchObject({ expected: 1, reporting: 1, missing: 0 });
  });

  it("puts the cleanup workers' reports into the index; an uninstalled stack's old report is never stale, nor missing unless still enrolled (issue 15.3)", async () => {
    const cleanup = (account: string, overrides: Partial<CleanupReport> = {}): CleanupReport =>
      cleanupReport(account, 'eu-west-1', {
        state: 'done',
        pass: 2,
        requestedAt: '2026-05-20T09:00:00.000Z',
        generatedAt: '2026-05-20T18:00:00.000Z',
        runs: 35,
        removed: 100_000,
        checked: 130_000,
        ...overrides,
      });
    // Enrolled: A (live), B (enrolled, but its stack was uninstalled). C left the target OUs.
    await put(
      ENROLLED_LIST_KEY,
      JSON.stringify({ version: 1, generation: 9, updatedAt: '2026-06-02T11:00:00.000Z', accounts: [A, B] }),
    );
    const old = { startedAt: '2026-05-20T06:00:00.000Z', generatedAt: '2026-05-20T06:05:00.000Z' };
    await put(coverageReportKey(A, 'eu-west-1'), JSON.stringify(report(A, 'eu-west-1')));
    await put(coverageReportKey(B, 'eu-west-1'), JSON.stringify(report(B, 'eu-west-1', old)));
    await put(cleanupReportKey(B, 'eu-west-1'), JSON.stringify(cleanup(B)));
    await put(coverageReportKey(C, 'eu-west-1'), JSON.stringify(report(C, 'eu-west-1', old)));
    await put(cleanupReportKey(C, 'eu-west-1'), JSON.stringify(cleanup(C, { state: 'removing', pass: 1 })));
    await put(`coverage/${C}/cleanup/eu-west-1.json.tmp`, 'ignored');
    const r = recorder();
    const withList = await aggregate({ ...r.deps, config: { ...r.deps.config, regions: ['eu-west-1'] } });
    expect(withList.unreadable).toStrictEqual([]);
    expect(withList.cleanups?.map((c) => [c.account, c.state])).toStrictEqual([
      [B, 'done'],
      [C, 'removing'],
    ]);
    // All three old reports stay in the index (the CLI estimates what remains from them).
    expect(withList.reports.map((x) => x.account)).toStrictEqual([A, B, C]);
    // B: enrolled without a stack is missing (true: it should forward); never stale.
    expect(withList.totals).toMatchObject({ expected: 2, reporting: 1, missing: 1, stale: 0 });
    expect(r.metrics).toMatchObject({ ReportsOverdue: 1, GroupsEligible: 10 });
    expect(await readIndex(s3, BUCKET)).toStrictEqual(withList);

    // Without the list (the fallback counts reports that say enabled), B's and C's old reports
    // do not count: before the cleanup reports they were stale for ever.
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: ENROLLED_LIST_KEY }));
    const without = await aggregate({ ...r.deps, config: { ...r.deps.config, regions: ['eu-west-1'] } });
    expect(without.totals).toMatchObject({ expected: 1, reporting: 1, missing: 0, stale: 0 });
  });

  it('fails (and still publishes nothing misleading) when the bucket cannot be read', async () => {
    const r = recorder();
    const deps = { ...r.deps, config: { ...r.deps.config, bucket: 'log-reflector-state-missing' } };
    await expect(aggregate(deps)).rejects.toThrow();
    expect(r.metrics.AggregationsCompleted).toBeUndefined();
    expect(r.published).toBe(1);
  });
});
