/**
 * The coverage aggregator against moto S3: it reads the enrolled list and every report, writes
 * the index the CLI reads, publishes the org-wide metrics, and keeps going past a bad report.
 */
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from 'vitest';
import { aggregate } from '../../../central/coverage/handler';
import { readIndex } from '../../../central/coverage/store';
import { type CoverageReport, coverageReportKey, emptyTally } from '../../../shared/coverage';
import { ENROLLED_LIST_KEY } from '../../../shared/enrollment';
import { useMoto } from '../../support/moto';

const REGION = 'eu-west-1';
const BUCKET = 'log-reflector-state-aggregator-test';
const CENTRAL = '222222222222';
const NOW = Date.parse('2026-06-02T12:00:00.000Z');
const moto = useMoto(REGION);
let s3: S3Client;

function report(account: string, region: string, overrides: Partial<CoverageReport> = {}): CoverageReport {
  return {
    version: 1,
    account,
    region,
    source: 'sweep',
    startedAt: '2026-06-02T11:00:00.000Z',
    generatedAt: '2026-06-02T11:05:00.000Z',
    complete: true,
    enrollment: 'enabled',
    filterName: `log-reflector-${region}`,
    hops: 1,
    groups: { ...emptyTally(), total: 10, eligible: 10, subscribed: 9, failed: 1 },
    ...overrides,
  };
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

  it('fails (and still publishes nothing misleading) when the bucket cannot be read', async () => {
    const r = recorder();
    const deps = { ...r.deps, config: { ...r.deps.config, bucket: 'log-reflector-state-missing' } };
    await expect(aggregate(deps)).rejects.toThrow();
    expect(r.metrics.AggregationsCompleted).toBeUndefined();
    expect(r.published).toBe(1);
  });
});
