/**
 * One step of a long run, shared by the backfill and the sweep: reconcile from a cursor until
 * a deadline, publish the step's metrics, and hand the rest on when there is more.
 */
import { createPlanner, type PlanMode } from '../../shared/plan';
import type { Clock } from '../../shared/rate-limiter';
import { addSummaries, type Cursor, type ReconcileResult, reconcileAll, type Summary } from './apply';
import type { HandOff, LogsRuntime } from './clients';
import { type Continuation, MAX_HOPS, type ResponseTarget } from './continuation';
import { type MemberSettings, planSettings } from './env';
import { logResult, publishSummary, type Telemetry } from './telemetry';

export interface StepDeps {
  readonly runtimeFor: (settings: MemberSettings) => LogsRuntime;
  readonly handOff: HandOff;
  readonly clock: Clock;
  readonly telemetry: Telemetry;
}

export interface StepInput {
  readonly origin: Continuation['origin'];
  readonly mode: PlanMode;
  readonly settings: MemberSettings;
  readonly cursor?: Cursor | undefined;
  readonly hop: number;
  readonly startedAtMs: number;
  readonly totals: Summary;
  /** No new group starts after this (epoch ms). */
  readonly deadlineMs: number;
  /** The function to hand the rest on to (this function's ARN). */
  readonly functionArn: string;
  /** Carried along when CloudFormation still waits for an answer. */
  readonly respond?: ResponseTarget | undefined;
  /** False when the caller answers now and the rest must not continue (e.g. CloudFormation's deadline). */
  readonly mayHandOff?: boolean;
}

export interface StepOutcome {
  readonly result: ReconcileResult;
  /** Totals of the whole chain so far, this step included. */
  readonly totals: Summary;
  /** True when the rest was handed on to another invocation. */
  readonly handedOff: boolean;
  readonly handOffError?: Error;
}

export async function runStep(deps: StepDeps, input: StepInput): Promise<StepOutcome> {
  const { logger, metrics } = deps.telemetry;
  const runtime = deps.runtimeFor(input.settings);
  const planner = createPlanner(planSettings(input.settings, input.mode));
  logger.info('run step started', {
    origin: input.origin,
    mode: input.mode,
    hop: input.hop,
    resumed: input.cursor !== undefined,
    filterName: input.settings.filterName,
    enrollment: input.settings.enrollment,
  });
  const result = await reconcileAll({
    api: runtime.api,
    planner,
    cursor: input.cursor,
    deadlineMs: input.deadlineMs,
    clock: deps.clock,
    onResult: (r) => logResult(logger, r),
  });
  const totals = addSummaries(input.totals, result.summary);
  publishSummary(metrics, result.summary, runtime.limiter.throttledTotal);
  logger.info('run step finished', {
    hop: input.hop,
    complete: result.complete,
    step: result.summary,
    totals,
    groupsSeen: result.groupsSeen,
    throttled: runtime.limiter.stats(),
    ...(result.fatal ? { fatal: result.fatal.message } : {}),
  });

  if (result.complete || result.fatal || input.mayHandOff === false) {
    return { result, totals, handedOff: false };
  }
  if (input.hop >= MAX_HOPS) {
    logger.error('run abandoned: too many hand-offs; the next sweep starts over', { hops: input.hop });
    return { result, totals, handedOff: false };
  }
  const next: Continuation = {
    logReflectorContinuation: 1,
    origin: input.origin,
    mode: input.mode,
    settings: input.settings,
    ...(result.cursor !== undefined ? { cursor: result.cursor } : {}),
    hop: input.hop + 1,
    startedAtMs: input.startedAtMs,
    totals,
    ...(input.respond ? { respond: input.respond } : {}),
  };
  try {
    await deps.handOff(input.functionArn, next);
    logger.info('rest handed on', { nextHop: next.hop });
    return { result, totals, handedOff: true };
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    logger.error('hand-off failed: the scheduled sweep will pick up the rest', { error: err.message });
    return { result, totals, handedOff: false, handOffError: err };
  }
}
