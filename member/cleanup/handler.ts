/**
 * The cleanup worker: removes our subscription filter from every log group of the account and
 * region after the member stack was deleted (uninstall, or the account left the target OUs and
 * the StackSet deleted the instance), however many groups there are, then deletes itself.
 * docs/member.md, "Uninstall and leaving the target OUs", describes the lifecycle; in short:
 *
 * - Its function and role are in the member stack with DeletionPolicy RetainExceptOnCreate, so
 *   they outlive the stack; its schedule is created by the backfill's Delete and holds the job
 *   (job.ts). Every CLEANUP_PERIOD_MS a run resumes from the job's cursor, works until its
 *   deadline, and writes the job back.
 * - Pass 1 removes. What pass 1 covered before the settle time (CLEANUP_SETTLE_MS after the
 *   Delete; until then a function of the dying stack may still write our filter) is read
 *   again in pass 2, which starts after it. Then the worker is done.
 * - Before each page it checks the member functions: a reinstall that owns the same filter
 *   name (another install id), or a live stack that owns it again after a rename, supersedes
 *   the job; the worker stops at once and never removes a filter the new install made.
 * - Done (or superseded, or given up after CLEANUP_MAX_AGE_MS): it removes its schedule, then
 *   for an uninstall deletes its function and role.
 *
 * Progress is visible as EMF metrics (namespace LogReflector, service `cleanup`) and one log
 * line per run in `/aws/lambda/log-reflector-cleanup-<install id>`, and centrally: every run
 * that reads or waits writes its progress report to the central state bucket (report.ts), the
 * last one just before the worker deletes itself; `log-reflector coverage` shows it.
 */
import type { Context } from 'aws-lambda';
import { createPlanner } from '../../shared/plan';
import { type Clock, systemClock } from '../../shared/rate-limiter';
import { reconcileAccountPolicy, reportPolicyOutcome } from '../runtime/account-policy';
import { addSummaries, reconcileAll } from '../runtime/apply';
import { createLogsRuntime, type LogsRuntime } from '../runtime/clients';
import { DEFAULT_RATE_LIMIT_RPS, type MemberSettings } from '../runtime/env';
import { createTelemetry, logResult, publishSummary, type Telemetry } from '../runtime/telemetry';
import { type CleanupControl, createCleanupControl, type LiveInstall } from './control';
import {
  CLEANUP_MAX_AGE_MS,
  CLEANUP_PERIOD_MS,
  CLEANUP_SETTLE_MS,
  type CleanupJob,
  CleanupJobSchema,
} from './job';
import { type CleanupReporter, type CleanupRunDetails, cleanupReporterFromEnv } from './report';

/** Time kept back at the end of a run for groups in flight and saving the job. */
export const GRACE_MS = 120_000;

export type CleanupContext = Pick<Context, 'getRemainingTimeInMillis'>;

export interface CleanupDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly runtimeFor: (rateLimitRps: number) => LogsRuntime;
  readonly control: CleanupControl;
  readonly clock: Clock;
  readonly telemetry: Telemetry;
  readonly graceMs: number;
  /** Writes the progress report centrally (undefined: reports are off). Never throws. */
  readonly reporter?: CleanupReporter | undefined;
}

/** What a run did. */
export type CleanupOutcome =
  | { readonly kind: 'busy' | 'waiting' | 'invalid' }
  | { readonly kind: 'progress'; readonly job: CleanupJob }
  | {
      readonly kind: 'finished';
      readonly reason: 'done' | 'superseded' | 'nothing-to-remove' | 'gave-up';
      readonly job: CleanupJob;
      readonly roleDeleted?: boolean;
    };

/** True when the live install wants what this job removes: the job must stop at once. */
export function supersededBy(job: CleanupJob, live: LiveInstall | undefined): boolean {
  if (job.kind === 'migrated' || job.kind === 'opted-out') {
    // Started by our own live stack; without it (being deleted) removing is still right, and
    // its Delete replaces this job with an `uninstall` one.
    if (!live) return false;
    if (live.installId !== job.installId) return live.filterName === job.filterName;
    // Back to log-group scope: the stack wants its per-group filters again. Renamed: the
    // rename's own job removes the old name. Opted in again: the policy is wanted again.
    if ((live.scope ?? 'log-group') !== 'account') return true;
    if (live.filterName !== job.filterName) return true;
    return job.kind === 'opted-out' && live.enrollment === 'enabled';
  }
  if (!live || live.filterName === undefined || live.filterName !== job.filterName) return false;
  // Our own dying stack still has its backfill (with this name) while it is being deleted.
  return live.installId !== job.installId || job.kind === 'replaced';
}

/** Settings under which the policy planner deletes `policyName` if it is there (ours by name). */
function policySettings(policyName: string, rateLimitRps: number): MemberSettings {
  return {
    destinationArn: '',
    roleArn: '',
    filterName: policyName,
    filterPattern: '',
    include: [],
    exclude: [],
    enrollment: 'disabled',
    rateLimitRps,
    filterSlots: 2,
    scope: 'account',
  };
}

export function createCleanupHandler(deps: CleanupDeps) {
  const { logger, metrics } = deps.telemetry;
  const rps = (() => {
    const n = Number(deps.env.RATE_LIMIT_RPS);
    return n > 0 && n <= 100 ? n : DEFAULT_RATE_LIMIT_RPS;
  })();

  const report = async (job: CleanupJob, run: CleanupRunDetails): Promise<void> => {
    await deps.reporter?.publish(job, run);
  };

  const finish = async (
    job: CleanupJob,
    reason: 'done' | 'superseded' | 'nothing-to-remove' | 'gave-up',
  ): Promise<CleanupOutcome> => {
    const now = deps.clock.now();
    logger.info('cleanup finished', {
      reason,
      filterName: job.filterName,
      kind: job.kind,
      installId: job.installId,
      totals: job.totals,
      runs: job.runs,
      hours: Math.round(((now - job.requestedAtMs) / 3600_000) * 10) / 10,
    });
    metrics.addMetric('CleanupFinished', 'Count', 1);
    // The last report, while the role still has its `work` policy (deleteSelf removes it).
    await report(job, { state: reason });
    await deps.control.removeSchedule();
    if (job.kind !== 'uninstall') {
      metrics.publishStoredMetrics();
      return { kind: 'finished', reason, job };
    }
    const self = await deps.control.deleteSelf();
    if (!self.roleDeleted) {
      logger.warn('the worker role remains, without any permission; delete it when convenient', {
        error: self.error,
      });
      metrics.addMetric('CleanupRoleLeft', 'Count', 1);
    }
    metrics.publishStoredMetrics();
    return { kind: 'finished', reason, job, roleDeleted: self.roleDeleted };
  };

  return async (event: unknown, context: CleanupContext): Promise<CleanupOutcome> => {
    const parsed = CleanupJobSchema.safeParse(event);
    if (!parsed.success) {
      logger.error('not a cleanup job; ignored', { issues: parsed.error.issues.map((i) => i.message) });
      return { kind: 'invalid' };
    }
    let job = parsed.data;
    const start = deps.clock.now();
    if (job.leaseUntilMs !== undefined && start < job.leaseUntilMs) return { kind: 'busy' };
    if (job.filterName === undefined && job.policyName === undefined) return finish(job, 'nothing-to-remove');
    if (start - job.requestedAtMs > CLEANUP_MAX_AGE_MS) {
      logger.error('cleanup gave up: it could not finish in time; our filters may remain', {
        filterName: job.filterName,
        totals: job.totals,
      });
      return finish(job, 'gave-up');
    }
    let superseded = false;
    const guard = async (): Promise<boolean> => {
      let live: LiveInstall | undefined;
      try {
        live = await deps.control.liveInstall();
      } catch (error) {
        // Cannot tell (throttled, denied): removing goes on; a reinstall's sweep heals a race.
        logger.warn('could not read the member functions; going on', { error: (error as Error).message });
        return true;
      }
      superseded = supersededBy(job, live);
      return !superseded;
    };
    if (!(await guard())) return finish(job, 'superseded');
    const settleAt = job.requestedAtMs + CLEANUP_SETTLE_MS;
    if (
      (job.startAfterMs !== undefined && start < job.startAfterMs) ||
      (job.pass === 2 && start < settleAt)
    ) {
      await report(job, { state: 'waiting' });
      return { kind: 'waiting' };
    }

    // Hold the job for this run: a tick that arrives meanwhile returns at once.
    await deps.control.saveJob({ ...job, leaseUntilMs: start + CLEANUP_PERIOD_MS });
    const runtime = deps.runtimeFor(rps);
    if (job.policyName !== undefined) {
      // Our account policy first (a deletion the backfill could not finish); ours by name only.
      // A failure does not hold up the per-group pass: the policy is retried at every run.
      const outcome = await reconcileAccountPolicy(runtime.policies, policySettings(job.policyName, rps), {
        mode: 'uninstall',
      });
      reportPolicyOutcome(deps.telemetry, outcome);
      // After an uninstall the deletion is repeated until the settle time has passed: a periodic
      // check of account scope that was running when its rule went may put ours back meanwhile.
      if (outcome.state !== 'failed' && !(job.kind === 'uninstall' && start < settleAt)) {
        const { policyName: _done, ...rest } = job;
        job = rest;
      }
    }
    if (job.filterName === undefined) {
      if (job.policyName === undefined) return finish(job, 'done');
      const { leaseUntilMs: _lease, ...rest } = job;
      const next = { ...rest, runs: job.runs + 1 };
      await deps.control.saveJob(next);
      await report(next, { state: 'removing' });
      return { kind: 'progress', job: next };
    }
    const filterName = job.filterName;
    const planner = createPlanner({
      destinationArn: '',
      roleArn: '',
      filterName,
      filterPattern: '',
      include: [],
      exclude: [],
      enrollment: 'disabled',
      mode: 'uninstall',
    });
    let result: Awaited<ReturnType<typeof reconcileAll>>;
    try {
      result = await reconcileAll({
        api: runtime.api,
        planner,
        cursor: job.cursor,
        deadlineMs: start + context.getRemainingTimeInMillis() - deps.graceMs,
        clock: deps.clock,
        through: job.pass === 2 && !job.recheckAll ? job.recheckThrough : undefined,
        beforePage: guard,
        onResult: (r) => logResult(logger, r),
      });
    } catch (error) {
      // A listing that failed (throttled to exhaustion, denied by an SCP): the next tick retries
      // from the saved job; the central report says why meanwhile.
      await report(job, {
        state: 'removing',
        error: `${(error as Error).name}: ${(error as Error).message}`,
      });
      throw error;
    }
    publishSummary(metrics, result.summary, runtime.limiter.throttledTotal);
    const totals = addSummaries(job.totals, result.summary);
    const { leaseUntilMs: _held, cursor: _from, ...rest } = job;
    job = { ...rest, totals, runs: job.runs + 1 };
    logger.info('cleanup progress', {
      filterName: job.filterName,
      installId: job.installId,
      kind: job.kind,
      pass: job.pass,
      step: result.summary,
      totals,
      groupsSeen: result.groupsSeen,
      complete: result.complete,
      after: result.cursor?.after,
      requestedAt: new Date(job.requestedAtMs).toISOString(),
      ...(result.fatal ? { fatal: result.fatal.message } : {}),
    });
    const runDetails = {
      position: result.cursor?.after,
      ...(result.fatal ? { error: `${result.fatal.name}: ${result.fatal.message}` } : {}),
    };
    if (superseded || result.stopped) return finish(job, 'superseded');
    const startedBeforeSettle = start < settleAt;
    if (!result.complete) {
      const next: CleanupJob = {
        ...job,
        ...(result.cursor ? { cursor: result.cursor } : {}),
        ...(job.pass === 1 && startedBeforeSettle && result.cursor?.after !== undefined
          ? { recheckThrough: result.cursor.after }
          : {}),
      };
      // A fatal error (access denied) is retried at the next tick; the metrics show it.
      await deps.control.saveJob(next);
      await report(next, { state: 'removing', ...runDetails });
      return { kind: 'progress', job: next };
    }
    if (job.pass === 1 && (startedBeforeSettle || job.recheckAll || job.recheckThrough !== undefined)) {
      const next: CleanupJob = { ...job, pass: 2, ...(startedBeforeSettle ? { recheckAll: true } : {}) };
      await deps.control.saveJob(next);
      await report(next, { state: 'removing', ...runDetails });
      return { kind: 'progress', job: next };
    }
    if (job.policyName !== undefined) {
      // Every group is done; only the policy deletion is retried, at the next run.
      const { cursor: _c, filterName: _f, ...rest } = job;
      await deps.control.saveJob(rest);
      await report(rest, { state: 'removing', ...runDetails });
      return { kind: 'progress', job: rest };
    }
    return finish(job, 'done');
  };
}

let defaultHandler: ReturnType<typeof createCleanupHandler> | undefined;

function defaults(clock: Clock = systemClock): CleanupDeps {
  const telemetry = createTelemetry('cleanup');
  return {
    env: process.env,
    runtimeFor: (requestsPerSecond) => createLogsRuntime({ requestsPerSecond, clock }),
    control: createCleanupControl(process.env),
    clock,
    telemetry,
    graceMs: GRACE_MS,
    reporter: cleanupReporterFromEnv(process.env, clock, telemetry.logger),
  };
}

/** Lambda entry point (`index.handler` in the inline bundle). */
export async function handler(event: unknown, context: CleanupContext): Promise<CleanupOutcome> {
  defaultHandler ??= createCleanupHandler(defaults());
  return defaultHandler(event, context);
}
