/**
 * One step of a long run, shared by the backfill and the sweep: reconcile from a cursor until
 * a deadline and publish the step's metrics. What to do with the rest is the caller's: the
 * backfill hands it on only once it knows its answer to CloudFormation is SUCCESS, the sweep
 * right away (`handOn`). A received hand-off is claimed first (`claimHop`), so one chain runs
 * once however often its events arrive.
 */
import type { CoverageTally } from '../../shared/coverage';
import { createPlanner, type PlanMode } from '../../shared/plan';
import type { Clock } from '../../shared/rate-limiter';
import { addSummaries, type Cursor, type ReconcileResult, reconcileAll, type Summary } from './apply';
import type { Claim } from './claims';
import { type HandOff, HandOffError, type LogsRuntime } from './clients';
import { type Continuation, MAX_HOPS } from './continuation';
import { type MemberSettings, planSettings } from './env';
import { type CoverageReporter, startTally, tallyResult } from './report';
import { logResult, publishSummary, type Telemetry } from './telemetry';

export interface StepDeps {
  readonly runtimeFor: (settings: MemberSettings) => LogsRuntime;
  readonly handOff: HandOff;
  readonly clock: Clock;
  readonly telemetry: Telemetry;
  /** Exactly-once marker for received hand-offs (runtime/claims.ts). */
  readonly claim: Claim;
  /** Writes the coverage report when a reconcile run ends (runtime/report.ts); none in tests by default. */
  readonly coverage?: CoverageReporter | undefined;
}

export interface StepInput {
  readonly origin: Continuation['origin'];
  readonly mode: PlanMode;
  readonly settings: MemberSettings;
  readonly cursor?: Cursor | undefined;
  readonly chainId: string;
  readonly hop: number;
  readonly startedAtMs: number;
  readonly totals: Summary;
  /** No new group starts after this (epoch ms). */
  readonly deadlineMs: number;
  /** What the chain saw before this step (carried by the hand-off). */
  readonly coverage?: CoverageTally | undefined;
}

export interface StepOutcome {
  readonly result: ReconcileResult;
  /** Totals of the whole chain so far, this step included. */
  readonly totals: Summary;
  /** The hand-off that would continue the run; undefined when it is done, fatal or out of hops. */
  readonly next?: Continuation;
}

export async function runStep(deps: StepDeps, input: StepInput): Promise<StepOutcome> {
  const { logger, metrics } = deps.telemetry;
  const runtime = deps.runtimeFor(input.settings);
  const planner = createPlanner(planSettings(input.settings, input.mode));
  logger.info('run step started', {
    origin: input.origin,
    mode: input.mode,
    chainId: input.chainId,
    hop: input.hop,
    resumed: input.cursor !== undefined,
    filterName: input.settings.filterName,
    enrollment: input.settings.enrollment,
  });
  const tally = startTally(input.coverage);
  // Only reconcile runs say what a member sees; an uninstall says nothing about coverage.
  const report = input.mode === 'reconcile' ? deps.coverage : undefined;
  const publish = (complete: boolean, error: string | undefined) =>
    report?.publish({
      source: input.origin,
      enrollment: input.settings.enrollment,
      filterName: input.settings.filterName,
      startedAtMs: input.startedAtMs,
      hops: input.hop,
      complete,
      groups: tally,
      error,
    });
  let result: ReconcileResult;
  try {
    result = await reconcileAll({
      api: runtime.api,
      planner,
      cursor: input.cursor,
      deadlineMs: input.deadlineMs,
      clock: deps.clock,
      onResult: (r) => {
        logResult(logger, r);
        tallyResult(tally, r);
      },
    });
  } catch (error) {
    await publish(false, `listing failed: ${(error as Error).message}`);
    throw error;
  }
  const totals = addSummaries(input.totals, result.summary);
  publishSummary(metrics, result.summary, runtime.limiter.throttledTotal);
  logger.info('run step finished', {
    chainId: input.chainId,
    hop: input.hop,
    complete: result.complete,
    step: result.summary,
    totals,
    groupsSeen: result.groupsSeen,
    throttled: runtime.limiter.stats(),
    ...(result.fatal ? { fatal: result.fatal.message } : {}),
  });
  if (result.complete || result.fatal) {
    await publish(
      result.complete,
      result.fatal ? `${result.fatal.name}: ${result.fatal.message}` : undefined,
    );
    return { result, totals };
  }
  if (input.hop >= MAX_HOPS) {
    logger.error('run abandoned: too many hand-offs; the next sweep starts over', { hops: input.hop });
    await publish(false, `abandoned after ${input.hop} hand-offs (MAX_HOPS)`);
    return { result, totals };
  }
  const next: Continuation = {
    logReflectorContinuation: 1,
    origin: input.origin,
    mode: input.mode,
    settings: input.settings,
    ...(result.cursor !== undefined ? { cursor: result.cursor } : {}),
    chainId: input.chainId,
    hop: input.hop + 1,
    startedAtMs: input.startedAtMs,
    totals,
    ...(report ? { coverage: tally } : {}),
  };
  return { result, totals, next };
}

/**
 * 'handed-off': Lambda accepted it. 'maybe': the call failed in a way that may still have
 * queued it; treat the chain as running (never start another: a resend is deduplicated by the
 * receiver's claim, a second chain would not be). 'failed': it was refused; the sweep covers
 * the rest.
 */
export type HandOnResult = 'handed-off' | 'maybe' | 'failed';

export async function handOn(deps: StepDeps, functionArn: string, next: Continuation): Promise<HandOnResult> {
  const { logger } = deps.telemetry;
  try {
    await deps.handOff(functionArn, next);
    logger.info('rest handed on', { chainId: next.chainId, nextHop: next.hop });
    return 'handed-off';
  } catch (error) {
    const ambiguous = error instanceof HandOffError ? error.ambiguous : true;
    logger.error(
      ambiguous
        ? 'hand-off unconfirmed: the chain may be running; not starting another'
        : 'hand-off refused: the scheduled sweep will pick up the rest',
      { chainId: next.chainId, nextHop: next.hop, error: (error as Error).message },
    );
    return ambiguous ? 'maybe' : 'failed';
  }
}

/** Claims a received hand-off; false when another invocation already runs this hop. */
export async function claimHop(deps: StepDeps, next: Continuation): Promise<boolean> {
  if (next.chainId === undefined) return true; // handed on by an older version
  const outcome = await deps.claim(`chain/${next.chainId}/${next.hop}`);
  if (outcome === 'taken') {
    deps.telemetry.logger.warn('hand-off delivered twice; this copy stops', {
      chainId: next.chainId,
      hop: next.hop,
    });
    return false;
  }
  return true;
}
