/** The coverage report: how results are tallied, what is written, and that it never fails a run. */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import type { GroupResult } from '../../../member/runtime/apply';
import {
  createCoverageReporter,
  type ReportStore,
  type ReportTarget,
  reporterFromEnv,
  reportTargetFromEnv,
  startTally,
  storeFor,
  tallyResult,
} from '../../../member/runtime/report';
import { CoverageReportSchema, emptyTally } from '../../../shared/coverage';
import { ConfigError } from '../../../shared/errors';
import type { DesiredFilter } from '../../../shared/plan';
import { recordTelemetry } from '../telemetry-recorder';

const FILTER: DesiredFilter = {
  filterName: 'log-reflector-eu-west-1',
  destinationArn: 'arn:aws:logs:eu-west-1:222222222222:destination:log-reflector',
  filterPattern: '',
  roleArn: 'arn:aws:iam::333333333333:role/log-reflector-sender-eu-west-1',
};
const G = '/app/a';

const results: Record<string, GroupResult> = {
  subscribed: {
    logGroupName: G,
    outcome: 'subscribed',
    action: { kind: 'subscribe', logGroupName: G, filter: FILTER },
  },
  updated: {
    logGroupName: G,
    outcome: 'updated',
    action: { kind: 'update', logGroupName: G, filter: FILTER, stale: ['pattern'] },
  },
  alreadyCorrect: {
    logGroupName: G,
    outcome: 'skipped',
    action: { kind: 'skip', logGroupName: G, reason: 'already-correct' },
  },
  conflictPlanned: {
    logGroupName: G,
    outcome: 'conflict',
    action: { kind: 'conflict', logGroupName: G, foreignFilters: ['a', 'b'] },
  },
  conflictAtPut: {
    logGroupName: G,
    outcome: 'conflict',
    action: { kind: 'subscribe', logGroupName: G, filter: FILTER },
  },
  failedPut: {
    logGroupName: G,
    outcome: 'failed',
    action: { kind: 'subscribe', logGroupName: G, filter: FILTER },
  },
  failedRead: { logGroupName: G, outcome: 'failed', detail: 'throttled' },
  failedRemoveExcluded: {
    logGroupName: G,
    outcome: 'failed',
    action: { kind: 'remove', logGroupName: G, filterName: FILTER.filterName, reason: 'excluded' },
  },
  excluded: {
    logGroupName: G,
    outcome: 'skipped',
    action: { kind: 'skip', logGroupName: G, reason: 'excluded' },
  },
  removedExcluded: {
    logGroupName: G,
    outcome: 'removed',
    action: { kind: 'remove', logGroupName: G, filterName: FILTER.filterName, reason: 'excluded' },
  },
  own: {
    logGroupName: G,
    outcome: 'skipped',
    action: { kind: 'skip', logGroupName: G, reason: 'own-log-group' },
  },
  infrequent: {
    logGroupName: G,
    outcome: 'skipped',
    action: { kind: 'skip', logGroupName: G, reason: 'not-standard-class' },
  },
  notEnrolled: {
    logGroupName: G,
    outcome: 'skipped',
    action: { kind: 'skip', logGroupName: G, reason: 'not-enrolled' },
  },
  removedNotEnrolled: {
    logGroupName: G,
    outcome: 'removed',
    action: { kind: 'remove', logGroupName: G, filterName: FILTER.filterName, reason: 'not-enrolled' },
  },
  goneBeforeRead: { logGroupName: G, outcome: 'skipped', detail: 'log group no longer exists' },
  goneAtPut: {
    logGroupName: G,
    outcome: 'skipped',
    action: { kind: 'subscribe', logGroupName: G, filter: FILTER },
    detail: 'log group no longer exists',
  },
  uninstall: {
    logGroupName: G,
    outcome: 'removed',
    action: { kind: 'remove', logGroupName: G, filterName: FILTER.filterName, reason: 'uninstall' },
  },
};

function tallyOf(...names: string[]) {
  const t = emptyTally();
  for (const n of names) tallyResult(t, results[n] as GroupResult);
  return t;
}

describe('tallyResult', () => {
  it('counts our filter in place (subscribed, updated, already correct) as eligible and subscribed', () => {
    expect(tallyOf('subscribed', 'updated', 'alreadyCorrect')).toStrictEqual({
      ...emptyTally(),
      total: 3,
      eligible: 3,
      subscribed: 3,
    });
  });

  it('counts conflicts (planned or refused at put time) and failures as eligible, not subscribed', () => {
    expect(tallyOf('conflictPlanned', 'conflictAtPut', 'failedPut', 'failedRead')).toStrictEqual({
      ...emptyTally(),
      total: 4,
      eligible: 4,
      conflicts: 2,
      failed: 2,
    });
  });

  it('counts groups the configuration leaves out as excluded, also when our filter had to go or failed to go', () => {
    expect(tallyOf('excluded', 'removedExcluded', 'own', 'infrequent', 'failedRemoveExcluded')).toStrictEqual(
      {
        ...emptyTally(),
        total: 5,
        excluded: 5,
        failed: 1,
      },
    );
  });

  it('counts the groups of a disabled account × region as not enrolled', () => {
    expect(tallyOf('notEnrolled', 'removedNotEnrolled')).toStrictEqual({
      ...emptyTally(),
      total: 2,
      notEnrolled: 2,
    });
  });

  it('does not count groups that vanished, nor uninstall removals', () => {
    expect(tallyOf('goneBeforeRead', 'goneAtPut', 'uninstall')).toStrictEqual(emptyTally());
  });

  it('continues from the tally a hand-off carried, without changing it', () => {
    const carried = { ...emptyTally(), total: 5, eligible: 5, subscribed: 5 };
    const t = startTally(carried);
    tallyResult(t, results.subscribed as GroupResult);
    expect(t).toMatchObject({ total: 6, subscribed: 6 });
    expect(carried.total).toBe(5);
  });
});

describe('reportTargetFromEnv', () => {
  it('is off without a bucket', () => {
    expect(reportTargetFromEnv({})).toBeUndefined();
    expect(
      reportTargetFromEnv({ COVERAGE_BUCKET: '', COVERAGE_KEY: 'coverage/111122223333/eu-west-1.json' }),
    ).toBeUndefined();
  });

  it('reads account and region from the key, the bucket region, and the queue when given', () => {
    expect(
      reportTargetFromEnv({
        COVERAGE_BUCKET: 'log-reflector-state-x',
        COVERAGE_REGION: 'eu-west-1',
        COVERAGE_KEY: 'coverage/111122223333/eu-west-1.json',
        DEAD_LETTER_QUEUE_URL:
          'https://sqs.eu-west-1.amazonaws.com/111122223333/log-reflector-subscriber-dlq',
      }),
    ).toStrictEqual({
      bucket: 'log-reflector-state-x',
      bucketRegion: 'eu-west-1',
      key: 'coverage/111122223333/eu-west-1.json',
      account: '111122223333',
      region: 'eu-west-1',
      deadLetterQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/111122223333/log-reflector-subscriber-dlq',
    });
  });

  it('names COVERAGE_KEY and the value received when the key is not a report key', () => {
    const error = (() => {
      try {
        reportTargetFromEnv({ COVERAGE_BUCKET: 'b', COVERAGE_KEY: 'coverage/123/eu-west-1.json' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('COVERAGE_KEY');
    expect((error as Error).message).toContain('"coverage/123/eu-west-1.json"');
  });
});

function memoryStore(overrides: Partial<ReportStore> = {}) {
  const puts: { bucket: string; key: string; body: string }[] = [];
  const store: ReportStore = {
    put: async (bucket, key, body) => {
      puts.push({ bucket, key, body });
    },
    queueDepth: async () => 3,
    ...overrides,
  };
  return { store, puts };
}

const TARGET = {
  bucket: 'log-reflector-state-x',
  key: 'coverage/111122223333/eu-west-1.json',
  account: '111122223333',
  region: 'eu-west-1',
};
const RUN = {
  source: 'sweep' as const,
  enrollment: 'enabled' as const,
  filterName: 'log-reflector-eu-west-1',
  startedAtMs: Date.parse('2026-06-02T06:00:00.000Z'),
  hops: 2,
  complete: true,
  groups: { ...emptyTally(), total: 4, eligible: 3, subscribed: 2, conflicts: 1, excluded: 1 },
};
const clock = { now: () => Date.parse('2026-06-02T06:04:00.000Z'), sleep: async () => undefined };

describe('createCoverageReporter', () => {
  it('writes a version-1 report to the key it was given, with the dead-letter depth', async () => {
    const { store, puts } = memoryStore();
    const recorded = recordTelemetry();
    const reporter = createCoverageReporter({
      target: { ...TARGET, deadLetterQueueUrl: 'https://sqs/dlq' },
      store,
      clock,
      logger: recorded.telemetry.logger,
    });
    await reporter.publish(RUN);
    expect(puts.map((p) => [p.bucket, p.key])).toStrictEqual([[TARGET.bucket, TARGET.key]]);
    const report = CoverageReportSchema.parse(JSON.parse(puts[0]?.body ?? ''));
    expect(report).toStrictEqual({
      version: 1,
      account: '111122223333',
      region: 'eu-west-1',
      source: 'sweep',
      startedAt: '2026-06-02T06:00:00.000Z',
      generatedAt: '2026-06-02T06:04:00.000Z',
      complete: true,
      enrollment: 'enabled',
      filterName: 'log-reflector-eu-west-1',
      hops: 2,
      groups: RUN.groups,
      deadLetterMessages: 3,
    });
  });

  it('leaves the depth out when it cannot be read, and never throws when the write fails', async () => {
    const { store } = memoryStore({
      queueDepth: async () => {
        throw new Error('AccessDenied');
      },
      put: async () => {
        throw new Error('AccessDenied: bucket policy');
      },
    });
    const recorded = recordTelemetry();
    const reporter = createCoverageReporter({
      target: { ...TARGET, deadLetterQueueUrl: 'https://sqs/dlq' },
      store,
      clock,
      logger: recorded.telemetry.logger,
    });
    await expect(reporter.publish({ ...RUN, error: 'AuthError: denied' })).resolves.toBeUndefined();
    expect(recorded.lines.filter((l) => l.level === 'warn').map((l) => l.message)).toStrictEqual([
      'could not read the dead-letter queue depth for the coverage report',
      'coverage report not written; the central side sees it as overdue',
    ]);
  });

  it('carries the error of a run that stopped early, cut to 1,000 characters', async () => {
    const { store, puts } = memoryStore();
    const reporter = createCoverageReporter({
      target: TARGET,
      store,
      clock,
      logger: recordTelemetry().telemetry.logger,
    });
    await reporter.publish({ ...RUN, complete: false, error: `AuthError: ${'x'.repeat(2000)}` });
    const report = CoverageReportSchema.parse(JSON.parse(puts[0]?.body ?? ''));
    expect(report.complete).toBe(false);
    expect(report.error?.length).toBe(1000);
    expect(report.deadLetterMessages).toBeUndefined();
  });
});

describe('reporterFromEnv', () => {
  it('writes to the bucket in the home region from a function in another region', async () => {
    const targets: ReportTarget[] = [];
    const puts: string[] = [];
    const reporter = reporterFromEnv(
      {
        AWS_REGION: 'ap-southeast-2',
        COVERAGE_BUCKET: 'log-reflector-state-x',
        COVERAGE_REGION: 'eu-west-1',
        COVERAGE_KEY: 'coverage/111122223333/ap-southeast-2.json',
      },
      clock,
      recordTelemetry().telemetry.logger,
      (target) => {
        targets.push(target);
        return { put: async (_b, key) => void puts.push(key), queueDepth: async () => 0 };
      },
    );
    await reporter?.publish(RUN);
    expect(targets.map((t) => [t.bucketRegion, t.region])).toStrictEqual([['eu-west-1', 'ap-southeast-2']]);
    expect(puts).toStrictEqual(['coverage/111122223333/ap-southeast-2.json']);
  });

  it('builds its S3 client in the bucket region, following redirects', async () => {
    const s3 = mockClient(S3Client);
    try {
      s3.on(PutObjectCommand).resolves({});
      const store = storeFor({
        bucket: 'log-reflector-state-x',
        bucketRegion: 'eu-west-1',
        key: 'coverage/111122223333/us-east-1.json',
        account: '111122223333',
        region: 'us-east-1',
      });
      await store.put('log-reflector-state-x', 'coverage/111122223333/us-east-1.json', '{}');
      const client = s3.call(0).thisValue as S3Client;
      expect(await client.config.region()).toBe('eu-west-1');
      expect(client.config.followRegionRedirects).toBe(true);
      expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({
        Bucket: 'log-reflector-state-x',
        Key: 'coverage/111122223333/us-east-1.json',
        ContentType: 'application/json',
      });
    } finally {
      s3.restore();
    }
  });

  it('is off without COVERAGE_BUCKET', () => {
    expect(reporterFromEnv({}, clock, recordTelemetry().telemetry.logger)).toBeUndefined();
  });
});
