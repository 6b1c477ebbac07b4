/**
 * The cleanup worker's progress, made visible centrally (issue 15.3): at the end of every run
 * that did something (and as its last act before it deletes itself) the worker writes
 * `coverage/<account>/cleanup/<region>.json` (shared/coverage.ts, `CleanupReportSchema`) to the
 * central state bucket, where the hourly aggregator puts it into the index and
 * `log-reflector coverage` shows "removing our filters: N removed, ~M remaining" and finally
 * "done" (docs/runbook.md, "Coverage").
 *
 * The worker outlives its stack, so where it writes is baked into its environment when the stack
 * creates (or updates) it: COVERAGE_BUCKET, COVERAGE_REGION and CLEANUP_REPORT_KEY. Its role's
 * `work` policy allows s3:PutObject on that one key, and the bucket policy admits the role name
 * `log-reflector-cleanup-*` for `coverage/<its own account>/cleanup/*` only (central-stack.ts).
 *
 * Best effort, like the coverage report (member/runtime/report.ts): a report that cannot be
 * written, or a bad environment, is a logged warning; removal never waits on it beyond one
 * bounded PUT (10-second request timeout, member/runtime/report.ts).
 */
import { type CleanupReport, parseCleanupReportKey } from '../../shared/coverage';
import type { Clock } from '../../shared/rate-limiter';
import { type ReportStore, storeFor } from '../runtime/report';
import type { LogSink } from '../runtime/telemetry';
import type { CleanupJob } from './job';

/** The variables the member stack sets on the worker for its report (member/member-stack.ts). */
export const CLEANUP_REPORT_ENV = ['COVERAGE_BUCKET', 'COVERAGE_REGION', 'CLEANUP_REPORT_KEY'] as const;

export interface CleanupReportTarget {
  readonly bucket: string;
  /** The bucket's region (the central account's home region); the worker runs in every region. */
  readonly bucketRegion?: string | undefined;
  readonly key: string;
  readonly account: string;
  readonly region: string;
}

/**
 * Reads the target from the worker's environment. `undefined` when COVERAGE_BUCKET is empty or
 * absent (a member template without a central bucket, or a worker created before reports
 * existed); an error naming the variable and its value when the key is not
 * `coverage/<account>/cleanup/<region>.json`.
 */
export function cleanupReportTargetFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): CleanupReportTarget | undefined {
  const bucket = env.COVERAGE_BUCKET ?? '';
  if (bucket === '') return undefined;
  const key = env.CLEANUP_REPORT_KEY ?? '';
  const where = parseCleanupReportKey(key);
  if (!where) {
    throw new Error(
      `CLEANUP_REPORT_KEY must be coverage/<12-digit account>/cleanup/<region>.json, received ${JSON.stringify(env.CLEANUP_REPORT_KEY)}`,
    );
  }
  const bucketRegion = env.COVERAGE_REGION ?? '';
  return { bucket, ...(bucketRegion !== '' ? { bucketRegion } : {}), key, ...where };
}

/** What a run tells the reporter besides the job. */
export interface CleanupRunDetails {
  readonly state: CleanupReport['state'];
  /** The last group name the pass reached this run. */
  readonly position?: string | undefined;
  readonly error?: string | undefined;
}

const MAX_ERROR_LENGTH = 1000;
const MAX_POSITION_LENGTH = 512;

/** The report for `job` after a run (pure). */
export function buildCleanupReport(
  target: Pick<CleanupReportTarget, 'account' | 'region'>,
  job: CleanupJob,
  run: CleanupRunDetails,
  now: number,
): CleanupReport {
  const t = job.totals;
  const position = run.position ?? job.cursor?.after;
  return {
    version: 1,
    account: target.account,
    region: target.region,
    installId: job.installId,
    kind: job.kind,
    ...(job.filterName !== undefined ? { filterName: job.filterName } : {}),
    ...(job.policyName !== undefined ? { policyName: job.policyName } : {}),
    state: run.state,
    pass: job.pass,
    requestedAt: new Date(job.requestedAtMs).toISOString(),
    generatedAt: new Date(now).toISOString(),
    runs: job.runs,
    removed: t.removed,
    failed: t.failed,
    checked: t.removed + t.skipped + t.failed + t.conflict + t.subscribed + t.updated,
    ...(position !== undefined ? { position: position.slice(0, MAX_POSITION_LENGTH) } : {}),
    ...(run.error !== undefined ? { error: run.error.slice(0, MAX_ERROR_LENGTH) } : {}),
  };
}

export interface CleanupReporter {
  /** Writes the report; never throws (a failure is logged). */
  publish(job: CleanupJob, run: CleanupRunDetails): Promise<void>;
}

export function createCleanupReporter(options: {
  readonly target: CleanupReportTarget;
  readonly store: Pick<ReportStore, 'put'>;
  readonly clock: Pick<Clock, 'now'>;
  readonly logger: LogSink;
}): CleanupReporter {
  const { target, store, clock, logger } = options;
  return {
    async publish(job, run) {
      const report = buildCleanupReport(target, job, run, clock.now());
      try {
        await store.put(target.bucket, target.key, JSON.stringify(report));
        logger.info('cleanup report written', { bucket: target.bucket, key: target.key, state: run.state });
      } catch (error) {
        logger.warn('cleanup report not written; removal goes on', {
          bucket: target.bucket,
          key: target.key,
          error: (error as Error).message,
        });
      }
    },
  };
}

/**
 * The reporter a Lambda entry point uses; undefined when reports are off or the environment is
 * bad (logged: the worker's removal must not depend on its report).
 */
export function cleanupReporterFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  clock: Pick<Clock, 'now'>,
  logger: LogSink,
  makeStore: (target: CleanupReportTarget) => Pick<ReportStore, 'put'> = storeFor,
): CleanupReporter | undefined {
  let target: CleanupReportTarget | undefined;
  try {
    target = cleanupReportTargetFromEnv(env);
  } catch (error) {
    logger.warn('no cleanup reports: bad environment', { error: (error as Error).message });
    return undefined;
  }
  return target ? createCleanupReporter({ target, store: makeStore(target), clock, logger }) : undefined;
}
