/**
 * The coverage report of a member stack (issue 12.1): at the end of every reconcile run (the
 * scheduled sweep, the backfill after a deploy or update) the run writes what it saw of its
 * account × region — eligible, subscribed, conflicting, failed, excluded and not-enrolled log
 * groups, the subscriber's dead-letter queue depth, and why it stopped if it stopped early —
 * to `coverage/<account>/<region>.json` in the central state bucket (shared/coverage.ts). In
 * account scope the backfill writes it at every stack operation (runtime/account-coverage.ts).
 *
 * The central account reads it without assuming roles into anyone's account: the bucket policy
 * admits principals of the organization for `s3:PutObject` on `coverage/${aws:PrincipalAccount}/*`
 * only (central/central-stack.ts), and the member stack's policy names this one key.
 *
 * A report is best effort: writing it never fails the run (a missing or old report is itself
 * what the central side alarms on, docs/runbook.md).
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  type AccountPolicyReport,
  type CoverageReport,
  type CoverageTally,
  emptyTally,
  parseCoverageReportKey,
} from '../../shared/coverage';
import { ConfigError } from '../../shared/errors';
import type { Enrollment } from '../../shared/naming';
import type { Clock } from '../../shared/rate-limiter';
import type { GroupResult } from './apply';
import type { LogSink } from './telemetry';

const REQUEST_TIMEOUT_MS = 10_000;

/** The variables the member stack sets for the report (member/member-stack.ts). */
export const REPORT_ENV = [
  'COVERAGE_BUCKET',
  'COVERAGE_KEY',
  'COVERAGE_REGION',
  'DEAD_LETTER_QUEUE_URL',
] as const;

/** Where the member stack says to write (empty or absent bucket: no reports). */
export interface ReportTarget {
  readonly bucket: string;
  /** The bucket's region (the central account's home region): a PUT to another region's bucket needs it. */
  readonly bucketRegion?: string | undefined;
  readonly key: string;
  readonly account: string;
  readonly region: string;
  /** The subscriber's dead-letter queue, whose depth the sweep reports. */
  readonly deadLetterQueueUrl?: string | undefined;
}

/**
 * Reads `COVERAGE_BUCKET`, `COVERAGE_REGION`, `COVERAGE_KEY` and (sweep only) `DEAD_LETTER_QUEUE_URL`. Undefined when
 * `COVERAGE_BUCKET` is unset or empty (a member template without a central bucket). A key that is
 * not `coverage/<account>/<region>.json` is a ConfigError naming it.
 */
export function reportTargetFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): ReportTarget | undefined {
  const bucket = env.COVERAGE_BUCKET ?? '';
  if (bucket === '') return undefined;
  const key = env.COVERAGE_KEY ?? '';
  const where = parseCoverageReportKey(key);
  if (!where) {
    throw new ConfigError('member function environment', [
      {
        path: 'COVERAGE_KEY',
        message: 'must be coverage/<12-digit account>/<region>.json',
        received: env.COVERAGE_KEY,
      },
    ]);
  }
  const queue = env.DEAD_LETTER_QUEUE_URL ?? '';
  const bucketRegion = env.COVERAGE_REGION ?? '';
  return {
    bucket,
    ...(bucketRegion !== '' ? { bucketRegion } : {}),
    key,
    ...where,
    ...(queue !== '' ? { deadLetterQueueUrl: queue } : {}),
  };
}

/**
 * Adds one group's result to the tally (docs/member.md, "Coverage report"). A group that vanished
 * between listing and acting on it is not counted; uninstall results are never reported.
 */
export function tallyResult(t: CoverageTally, r: GroupResult): void {
  const action = r.action;
  if (
    r.outcome === 'skipped' &&
    (action === undefined || action.kind === 'subscribe' || action.kind === 'update')
  )
    return; // the group is gone
  const reason = action?.kind === 'skip' || action?.kind === 'remove' ? action.reason : undefined;
  if (reason === 'uninstall' || reason === 'nothing-to-remove') return;
  t.total += 1;
  const notWanted = () => {
    if (reason === 'not-enrolled') t.notEnrolled += 1;
    else t.excluded += 1;
  };
  switch (r.outcome) {
    case 'subscribed':
    case 'updated':
      t.eligible += 1;
      t.subscribed += 1;
      return;
    case 'conflict':
      t.eligible += 1;
      t.conflicts += 1;
      return;
    case 'failed':
      t.failed += 1;
      // A read that failed never reached the planner: counted as eligible, so it lowers coverage.
      if (action?.kind === 'remove') notWanted();
      else t.eligible += 1;
      return;
    case 'removed':
    case 'skipped':
      if (reason === 'already-correct') {
        t.eligible += 1;
        t.subscribed += 1;
      } else notWanted();
      return;
  }
}

/** A fresh tally, or a copy of the one a hand-off carried. */
export function startTally(carried?: CoverageTally): CoverageTally {
  return carried ? { ...carried } : emptyTally();
}

/** What a finished run tells the reporter. */
export interface RunReport {
  readonly source: CoverageReport['source'];
  readonly enrollment: Enrollment;
  readonly filterName: string;
  readonly startedAtMs: number;
  readonly hops: number;
  readonly complete: boolean;
  readonly groups: CoverageTally;
  readonly error?: string | undefined;
  /** Written only for account scope: a log-group report stays as it was (absent means log-group). */
  readonly scope?: 'account' | undefined;
  readonly accountPolicy?: AccountPolicyReport | undefined;
}

export interface CoverageReporter {
  /** Writes the report; never throws (a failure is logged). */
  publish(run: RunReport): Promise<void>;
}

/** The calls a reporter makes: one PutObject, and the queue depth (sweep only). */
export interface ReportStore {
  put(bucket: string, key: string, body: string): Promise<void>;
  queueDepth(queueUrl: string): Promise<number>;
}

export function awsReportStore(
  s3 = new S3Client(clientOptions()),
  sqs = new SQSClient(clientOptions()),
): ReportStore {
  return {
    async put(bucket, key, body) {
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }),
      );
    },
    async queueDepth(queueUrl) {
      const out = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      const a = out.Attributes ?? {};
      return (
        Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0)
      );
    },
  };
}

function clientOptions() {
  return { requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: 5_000 } };
}

const MAX_ERROR_LENGTH = 1000;

export function createCoverageReporter(options: {
  readonly target: ReportTarget;
  readonly store: ReportStore;
  readonly clock: Clock;
  readonly logger: LogSink;
}): CoverageReporter {
  const { target, store, clock, logger } = options;
  return {
    async publish(run) {
      let deadLetterMessages: number | undefined;
      if (target.deadLetterQueueUrl !== undefined) {
        try {
          deadLetterMessages = await store.queueDepth(target.deadLetterQueueUrl);
        } catch (error) {
          logger.warn('could not read the dead-letter queue depth for the coverage report', {
            error: (error as Error).message,
          });
        }
      }
      const report: CoverageReport = {
        version: 1,
        account: target.account,
        region: target.region,
        source: run.source,
        startedAt: new Date(run.startedAtMs).toISOString(),
        generatedAt: new Date(clock.now()).toISOString(),
        complete: run.complete,
        enrollment: run.enrollment,
        filterName: run.filterName,
        hops: run.hops,
        groups: run.groups,
        ...(deadLetterMessages !== undefined ? { deadLetterMessages } : {}),
        ...(run.error !== undefined ? { error: run.error.slice(0, MAX_ERROR_LENGTH) } : {}),
        ...(run.scope === 'account' ? { scope: run.scope } : {}),
        ...(run.accountPolicy !== undefined ? { accountPolicy: run.accountPolicy } : {}),
      };
      try {
        await store.put(target.bucket, target.key, JSON.stringify(report));
        logger.info('coverage report written', {
          bucket: target.bucket,
          key: target.key,
          groups: run.groups,
        });
      } catch (error) {
        logger.warn('coverage report not written; the central side sees it as overdue', {
          bucket: target.bucket,
          key: target.key,
          error: (error as Error).message,
        });
      }
    },
  };
}

/** The store a Lambda entry point uses for `target`: S3 in the bucket's region. */
export function storeFor(target: ReportTarget): ReportStore {
  return awsReportStore(
    new S3Client({
      ...clientOptions(),
      ...(target.bucketRegion ? { region: target.bucketRegion } : {}),
      followRegionRedirects: true,
    }),
  );
}

/** The reporter a Lambda entry point uses: from its environment, AWS clients; undefined when off. */
export function reporterFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  clock: Clock,
  logger: LogSink,
  makeStore: (target: ReportTarget) => ReportStore = storeFor,
): CoverageReporter | undefined {
  const target = reportTargetFromEnv(env);
  return target ? createCoverageReporter({ target, store: makeStore(target), clock, logger }) : undefined;
}
