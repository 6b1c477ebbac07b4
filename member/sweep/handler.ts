/**
 * The sweep (EventBridge schedule): re-plans every log group of the account and region and
 * applies the difference, healing whatever the subscriber missed (events lost or parked in
 * the dead-letter queue, groups created while the stack was deploying, filters someone
 * deleted or changed, include/exclude edits). Long sweeps hand the rest on to a fresh
 * invocation of this function with a cursor; a chain whose settings no longer match the
 * function's environment (the stack was updated meanwhile) stops, and a hop delivered twice
 * runs once (runtime/claims.ts). It runs whatever `ENROLLMENT` says: with `disabled` it
 * removes our filters, finishing an opt-out whose removal chain broke (issue 15.2). Two sweeps
 * at once are harmless (idempotent plan, in-place put; docs/member.md).
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { type Clock, systemClock } from '../../shared/rate-limiter';
import { reconcileAccountPolicy, reportPolicyOutcome } from '../runtime/account-policy';
import { emptySummary } from '../runtime/apply';
import { createClaim, ownLogGroupName } from '../runtime/claims';
import { createHandOff, createLogsClient, createLogsRuntime } from '../runtime/clients';
import { ContinuationSchema, isContinuation } from '../runtime/continuation';
import { loadMemberEnv, sameSettings } from '../runtime/env';
import { reporterFromEnv } from '../runtime/report';
import {
  claimHop,
  type HandOnResult,
  handOn,
  runStep,
  type StepDeps,
  type StepOutcome,
} from '../runtime/run';
import { createTelemetry } from '../runtime/telemetry';

/** Time kept back at the end of an invocation for groups in flight and the hand-off. */
export const GRACE_MS = 150_000;

export type SweepContext = Pick<Context, 'invokedFunctionArn' | 'getRemainingTimeInMillis'>;

export interface SweepDeps extends StepDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly graceMs: number;
}

/** What the invocation did; undefined when a superseded or duplicate hop stopped. */
export type SweepResult = (StepOutcome & { readonly handOn?: HandOnResult }) | undefined;

export function createSweepHandler(deps: SweepDeps) {
  const { logger } = deps.telemetry;
  return async (event: unknown, context: SweepContext): Promise<SweepResult> => {
    // Read on every invocation: a chain must notice a stack update that changed the settings.
    const settings = loadMemberEnv(deps.env);
    const deadlineMs = deps.clock.now() + context.getRemainingTimeInMillis() - deps.graceMs;
    let outcome: StepOutcome;
    if (isContinuation(event)) {
      const next = ContinuationSchema.parse(event);
      if (!(await claimHop(deps, next))) return undefined;
      if (!sameSettings(settings, next.settings)) {
        logger.info('sweep chain superseded by newer settings; stopping', { hop: next.hop });
        return undefined;
      }
      outcome = await runStep(deps, {
        origin: 'sweep',
        mode: 'reconcile',
        settings,
        cursor: next.cursor,
        chainId: next.chainId ?? randomUUID(),
        hop: next.hop,
        startedAtMs: next.startedAtMs,
        totals: next.totals,
        deadlineMs,
        coverage: next.coverage,
      });
    } else {
      // The scheduled event's id names the chain (https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html).
      const id = (event as { id?: unknown } | null)?.id;
      outcome = await runStep(deps, {
        origin: 'sweep',
        mode: 'reconcile',
        settings,
        chainId: typeof id === 'string' && /^[\w.-]{1,128}$/.test(id) ? id : randomUUID(),
        hop: 1,
        startedAtMs: deps.clock.now(),
        totals: emptySummary(),
        deadlineMs,
      });
    }
    // Credentials or configuration are broken: fail loudly (Lambda Errors metric, alarms).
    if (outcome.result.fatal) throw outcome.result.fatal;
    if (outcome.result.complete) {
      // A complete pass: a policy of ours left from account scope goes once every eligible
      // group has our filter (or at once when not enrolled); docs/member.md, "Switching scope".
      const policy = await reconcileAccountPolicy(deps.runtimeFor(settings).policies, settings, {
        mode: 'reconcile',
        logGroupPassComplete: outcome.totals.failed === 0,
      });
      reportPolicyOutcome(deps.telemetry, policy);
    }
    if (!outcome.next) return outcome;
    return { ...outcome, handOn: await handOn(deps, context.invokedFunctionArn, outcome.next) };
  };
}

let defaultHandler: ReturnType<typeof createSweepHandler> | undefined;

function defaults(clock: Clock = systemClock): SweepDeps {
  const telemetry = createTelemetry('sweep');
  return {
    env: process.env,
    runtimeFor: (settings) => createLogsRuntime({ requestsPerSecond: settings.rateLimitRps, clock }),
    handOff: createHandOff(),
    clock,
    telemetry,
    claim: createClaim(createLogsClient(), ownLogGroupName(process.env), (key, error) =>
      telemetry.logger.warn('could not claim; processing anyway', { key, error: (error as Error).message }),
    ),
    graceMs: GRACE_MS,
    coverage: reporterFromEnv(process.env, clock, telemetry.logger),
  };
}

/** Lambda entry point (`index.handler` in the inline bundle). */
export async function handler(event: unknown, context: SweepContext): Promise<SweepResult> {
  defaultHandler ??= createSweepHandler(defaults());
  return defaultHandler(event, context);
}
