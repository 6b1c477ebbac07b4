/** The cleanup worker's report target and content (member/cleanup/report.ts). */
import { describe, expect, it } from 'vitest';
import {
  buildCleanupReport,
  cleanupReporterFromEnv,
  cleanupReportTargetFromEnv,
} from '../../../member/cleanup/report';
import { emptySummary } from '../../../member/runtime/apply';
import { CleanupReportSchema } from '../../../shared/coverage';
import { recordTelemetry } from '../telemetry-recorder';

const KEY = 'coverage/123456789012/cleanup/eu-west-1.json';

describe('cleanupReportTargetFromEnv', () => {
  it('reads bucket, bucket region and key, and the account and region from the key', () => {
    expect(
      cleanupReportTargetFromEnv({
        COVERAGE_BUCKET: 'log-reflector-state-abc',
        COVERAGE_REGION: 'us-east-1',
        CLEANUP_REPORT_KEY: KEY,
      }),
    ).toStrictEqual({
      bucket: 'log-reflector-state-abc',
      bucketRegion: 'us-east-1',
      key: KEY,
      account: '123456789012',
      region: 'eu-west-1',
    });
  });

  it('is off without a bucket (a worker created before reports, or no central bucket)', () => {
    expect(cleanupReportTargetFromEnv({})).toBeUndefined();
    expect(cleanupReportTargetFromEnv({ COVERAGE_BUCKET: '', CLEANUP_REPORT_KEY: KEY })).toBeUndefined();
  });

  it('refuses the coverage report key (the worker never overwrites it), naming the value', () => {
    expect(() =>
      cleanupReportTargetFromEnv({
        COVERAGE_BUCKET: 'b-b-b',
        CLEANUP_REPORT_KEY: 'coverage/123456789012/eu-west-1.json',
      }),
    ).toThrow(
      'CLEANUP_REPORT_KEY must be coverage/<12-digit account>/cleanup/<region>.json, received "coverage/123456789012/eu-west-1.json"',
    );
  });

  it('a bad environment turns reports off with a warning instead of failing the worker', () => {
    const recorded = recordTelemetry();
    const reporter = cleanupReporterFromEnv(
      { COVERAGE_BUCKET: 'b-b-b', CLEANUP_REPORT_KEY: 'elsewhere.json' },
      { now: () => 0 },
      recorded.telemetry.logger,
    );
    expect(reporter).toBeUndefined();
    expect(recorded.lines).toMatchObject([{ level: 'warn', message: 'no cleanup reports: bad environment' }]);
  });
});

describe('buildCleanupReport', () => {
  it('carries the job cumulatively: removed, failed, groups checked, the position, the pass', () => {
    const report = buildCleanupReport(
      { account: '123456789012', region: 'eu-west-1' },
      {
        logReflectorCleanup: 1,
        installId: '271845b0',
        kind: 'uninstall',
        filterName: 'log-reflector-eu-west-1',
        requestedAtMs: Date.parse('2026-06-02T06:00:00.000Z'),
        pass: 1,
        cursor: { offset: 3, after: '/app/orders', token: 't' },
        totals: { ...emptySummary(), removed: 41_230, skipped: 4_000, failed: 80 },
        runs: 9,
      },
      { state: 'removing', error: 'x'.repeat(2_000) },
      Date.parse('2026-06-02T08:15:02.000Z'),
    );
    expect(CleanupReportSchema.parse(report)).toStrictEqual(report);
    expect(report).toMatchObject({
      state: 'removing',
      requestedAt: '2026-06-02T06:00:00.000Z',
      generatedAt: '2026-06-02T08:15:02.000Z',
      removed: 41_230,
      failed: 80,
      checked: 45_310,
      position: '/app/orders',
      runs: 9,
    });
    expect(report.error).toHaveLength(1_000);
  });
});
