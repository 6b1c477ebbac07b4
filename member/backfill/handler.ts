/**
 * The backfill: a CloudFormation custom resource (ServiceToken = this function; no Provider
 * framework inside StackSets, docs/architecture.md, decision 3) that catches every existing log group up
 * on deploy and cleans up on uninstall.
 *
 * - Create / Update: reconcile with the resource's properties (authoritative; validated with
 *   MemberEnvSchema). Answers SUCCESS after at most SYNC_BUDGET_MS so stack creation is not
 *   blocked for hours; if groups remain, the rest continues in hand-off invocations with a
 *   cursor, and the sweep heals whatever a broken chain leaves. Update with Enrollment
 *   `disabled` removes our filters (the planner's `not-enrolled`).
 * - Delete: removes our filter (by the request's FilterName) from every group, chaining
 *   invocations while CloudFormation waits, and answers before DELETE_BUDGET_MS (the custom
 *   resource timeout is one hour by default). What is left then is reported in the reason.
 * - Any error answers FAILED with the reason: the stack never waits on a timeout.
 *
 * The physical id is derived from FilterName: an Update that renames the filter gets a new
 * id, so CloudFormation then sends Delete with the old properties and the old filters go.
 */
import { createHash } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { DecodeError } from '../../shared/errors';
import { type Clock, systemClock } from '../../shared/rate-limiter';
import * as z from '../../shared/zod';
import { emptySummary, type Summary } from '../runtime/apply';
import { createHandOff, createLogsRuntime } from '../runtime/clients';
import {
  type Continuation,
  ContinuationSchema,
  isContinuation,
  type ResponseTarget,
} from '../runtime/continuation';
import {
  DEFAULT_RATE_LIMIT_RPS,
  loadMemberEnv,
  type MemberSettings,
  sameSettings,
  settingsFromProperties,
} from '../runtime/env';
import { runStep, type StepDeps, type StepOutcome } from '../runtime/run';
import { createTelemetry } from '../runtime/telemetry';
import { type CfnResponse, type SendResponse, sendResponse } from './cfn-response';

/** Time kept back at the end of an invocation for groups in flight and the response PUT. */
export const GRACE_MS = 150_000;
/** Create/Update answer CloudFormation after at most this much work. */
export const SYNC_BUDGET_MS = 5 * 60_000;
/** Delete answers within this, under the custom resource's default one-hour timeout. */
export const DELETE_BUDGET_MS = 45 * 60_000;

/**
 * A CloudFormation custom resource request (sample: test/events/cloudformation/).
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html
 */
export const CfnRequestSchema = z.object({
  RequestType: z.enum(['Create', 'Update', 'Delete']),
  ResponseURL: z.url(),
  StackId: z.string(),
  RequestId: z.string(),
  LogicalResourceId: z.string(),
  PhysicalResourceId: z.optional(z.string()),
  ResourceType: z.optional(z.string()),
  ResourceProperties: z._default(z.record(z.string(), z.unknown()), {}),
  OldResourceProperties: z.optional(z.record(z.string(), z.unknown())),
});

export type CfnRequest = z.infer<typeof CfnRequestSchema>;

/** The part of the Lambda context the backfill uses. */
export type BackfillContext = Pick<Context, 'invokedFunctionArn' | 'getRemainingTimeInMillis'>;

export interface BackfillBudgets {
  readonly graceMs: number;
  readonly syncBudgetMs: number;
  readonly deleteBudgetMs: number;
}

export interface BackfillDeps extends StepDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly sendResponse: SendResponse;
  readonly budgets: BackfillBudgets;
}

const FILTER_NAME = /^[^:*]{1,512}$/;

/**
 * PhysicalResourceId "can be up to 1 KB in size"
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html).
 */
export const MAX_PHYSICAL_ID_BYTES = 1024;
const PHYSICAL_ID_PREFIX = 'log-reflector-backfill-';

/**
 * The physical id, derived from the filter name: a rename gives a new id, so CloudFormation
 * replaces the resource and sends Delete with the old name. Readable when it fits (so the
 * ids of existing stacks never change); a filter name of up to 512 characters in multi-byte
 * UTF-8 does not fit, and then the id carries the name's SHA-256 instead (same name, same id).
 */
export function physicalIdFor(filterName: string): string {
  const readable = `${PHYSICAL_ID_PREFIX}${filterName}`;
  if (Buffer.byteLength(readable, 'utf8') <= MAX_PHYSICAL_ID_BYTES) return readable;
  return `${PHYSICAL_ID_PREFIX}sha256-${createHash('sha256').update(filterName, 'utf8').digest('hex')}`;
}

function summaryData(totals: Summary, complete: boolean): Record<string, string> {
  return {
    Subscribed: String(totals.subscribed),
    Updated: String(totals.updated),
    Removed: String(totals.removed),
    Conflicts: String(totals.conflict),
    Skipped: String(totals.skipped),
    Failed: String(totals.failed),
    Complete: String(complete),
  };
}

function message(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Settings for an uninstall: only the filter name matters to the planner. */
function uninstallSettings(filterName: string, env: BackfillDeps['env']): MemberSettings {
  const rps = Number(env.RATE_LIMIT_RPS);
  return {
    destinationArn: '',
    roleArn: '',
    filterName,
    filterPattern: '',
    include: [],
    exclude: [],
    enrollment: 'disabled',
    rateLimitRps: rps > 0 && rps <= 100 ? rps : DEFAULT_RATE_LIMIT_RPS,
    filterSlots: 2,
  };
}

export function createBackfillHandler(deps: BackfillDeps) {
  const { logger } = deps.telemetry;
  const region = deps.env.AWS_REGION ?? 'this region';

  /** Where to answer; the request identity is copied into the response. */
  type Target = Omit<ResponseTarget, 'deadlineAtMs'>;
  /** What the handler decides; the identity fields come from the target. */
  type Answer = Pick<CfnResponse, 'Status' | 'Reason' | 'Data'>;

  const answer = async (target: Target, response: Answer) => {
    const full: CfnResponse = {
      ...response,
      PhysicalResourceId: target.PhysicalResourceId,
      StackId: target.StackId,
      RequestId: target.RequestId,
      LogicalResourceId: target.LogicalResourceId,
    };
    logger.info('answering CloudFormation', { status: full.Status, reason: full.Reason, data: full.Data });
    await deps.sendResponse(target.ResponseURL, full);
  };

  /** Delete: one step while CloudFormation waits; answers unless the rest was handed on. */
  const uninstallStep = async (
    settings: MemberSettings,
    target: ResponseTarget,
    context: BackfillContext,
    carried: Pick<Continuation, 'cursor' | 'hop' | 'startedAtMs' | 'totals'>,
  ) => {
    const lambdaDeadline = deps.clock.now() + context.getRemainingTimeInMillis() - deps.budgets.graceMs;
    const deadlineMs = Math.min(lambdaDeadline, target.deadlineAtMs);
    let outcome: StepOutcome;
    try {
      outcome = await runStep(deps, {
        origin: 'backfill',
        mode: 'uninstall',
        settings,
        cursor: carried.cursor,
        hop: carried.hop,
        startedAtMs: carried.startedAtMs,
        totals: carried.totals,
        deadlineMs,
        functionArn: context.invokedFunctionArn,
        respond: target,
        mayHandOff: lambdaDeadline < target.deadlineAtMs,
      });
    } catch (error) {
      await answer(target, { Status: 'FAILED', Reason: `Removing our filters failed: ${message(error)}` });
      return;
    }
    if (outcome.handedOff) return;
    const { result, totals } = outcome;
    if (result.fatal) {
      await answer(target, {
        Status: 'FAILED',
        Reason: `Removing our filters failed: ${message(result.fatal)}`,
      });
      return;
    }
    const leftover = !result.complete || totals.failed > 0;
    await answer(target, {
      Status: 'SUCCESS',
      Data: summaryData(totals, result.complete),
      ...(leftover
        ? {
            Reason:
              `Removed ${totals.removed} filter(s) named "${settings.filterName}" but ` +
              (result.complete
                ? `${totals.failed} removal(s) failed`
                : 'ran out of time before the last log groups') +
              `; some may remain. Run \`log-reflector remove --filter-name ${settings.filterName} --region ${region}\` in this account (docs/member.md).`,
          }
        : {}),
    });
  };

  const handleRequest = async (request: CfnRequest, context: BackfillContext) => {
    const now = deps.clock.now();
    const base = {
      ResponseURL: request.ResponseURL,
      StackId: request.StackId,
      RequestId: request.RequestId,
      LogicalResourceId: request.LogicalResourceId,
    };
    if (request.RequestType === 'Delete') {
      const filterName = request.ResourceProperties.FilterName;
      const physical = request.PhysicalResourceId ?? physicalIdFor(String(filterName));
      if (typeof filterName !== 'string' || !FILTER_NAME.test(filterName)) {
        // A Create that failed validation is rolled back with the same bad properties:
        // nothing of ours can exist under an invalid name, and FAILED would wedge the rollback.
        await answer(
          { ...base, PhysicalResourceId: physical },
          {
            Status: 'SUCCESS',
            Reason: `No valid FilterName (received ${JSON.stringify(filterName)}): nothing to remove`,
          },
        );
        return;
      }
      const target: ResponseTarget = {
        ...base,
        PhysicalResourceId: physical,
        deadlineAtMs: now + deps.budgets.deleteBudgetMs,
      };
      await uninstallStep(uninstallSettings(filterName, deps.env), target, context, {
        hop: 1,
        startedAtMs: now,
        totals: emptySummary(),
      });
      return;
    }

    let settings: MemberSettings;
    try {
      settings = settingsFromProperties(request.ResourceProperties, deps.env);
    } catch (error) {
      const physical = request.PhysicalResourceId ?? `log-reflector-backfill-invalid-${request.RequestId}`;
      await answer({ ...base, PhysicalResourceId: physical }, { Status: 'FAILED', Reason: message(error) });
      return;
    }
    const target = { ...base, PhysicalResourceId: physicalIdFor(settings.filterName) };
    const budget = Math.min(
      deps.budgets.syncBudgetMs,
      context.getRemainingTimeInMillis() - deps.budgets.graceMs,
    );
    let outcome: StepOutcome;
    try {
      outcome = await runStep(deps, {
        origin: 'backfill',
        mode: 'reconcile',
        settings,
        hop: 1,
        startedAtMs: now,
        totals: emptySummary(),
        deadlineMs: now + Math.max(0, budget),
        functionArn: context.invokedFunctionArn,
      });
    } catch (error) {
      await answer(target, { Status: 'FAILED', Reason: `Backfill failed: ${message(error)}` });
      return;
    }
    const { result, totals } = outcome;
    const changed = totals.subscribed + totals.updated + totals.removed;
    if (result.fatal) {
      await answer(target, { Status: 'FAILED', Reason: `Backfill failed: ${message(result.fatal)}` });
    } else if (totals.failed > 0 && changed === 0) {
      await answer(target, {
        Status: 'FAILED',
        Reason: `Backfill failed: every change failed (${totals.failed}); first: ${result.firstFailure ?? 'unknown'}`,
      });
    } else {
      await answer(target, {
        Status: 'SUCCESS',
        Data: summaryData(totals, result.complete),
        ...(result.complete
          ? {}
          : {
              Reason: outcome.handedOff
                ? 'Initial part done; the backfill continues in the background (see its logs and metrics)'
                : 'Initial part done; the remaining log groups are left to the scheduled sweep',
            }),
      });
    }
  };

  const continueChain = async (next: Continuation, context: BackfillContext) => {
    if (next.respond) {
      await uninstallStep(next.settings, next.respond, context, next);
      return;
    }
    try {
      const current = loadMemberEnv(deps.env);
      if (!sameSettings(current, next.settings)) {
        logger.info('backfill chain superseded by newer settings; stopping', { hop: next.hop });
        return;
      }
    } catch (error) {
      logger.warn('function environment invalid; continuing with the chain settings', {
        error: message(error),
      });
    }
    await runStep(deps, {
      origin: 'backfill',
      mode: next.mode,
      settings: next.settings,
      cursor: next.cursor,
      hop: next.hop,
      startedAtMs: next.startedAtMs,
      totals: next.totals,
      deadlineMs: deps.clock.now() + context.getRemainingTimeInMillis() - deps.budgets.graceMs,
      functionArn: context.invokedFunctionArn,
    });
  };

  return async (event: unknown, context: BackfillContext): Promise<void> => {
    if (isContinuation(event)) {
      await continueChain(ContinuationSchema.parse(event), context);
      return;
    }
    const parsed = CfnRequestSchema.safeParse(event);
    if (!parsed.success) {
      const responseUrl = (event as { ResponseURL?: unknown } | null)?.ResponseURL;
      const reason = `Invalid custom resource request: ${parsed.error.issues
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ')}`;
      if (typeof responseUrl === 'string') {
        const e = event as Record<string, unknown>;
        await deps.sendResponse(responseUrl, {
          Status: 'FAILED',
          Reason: reason,
          PhysicalResourceId: String(e.PhysicalResourceId ?? 'log-reflector-backfill-invalid'),
          StackId: String(e.StackId ?? ''),
          RequestId: String(e.RequestId ?? ''),
          LogicalResourceId: String(e.LogicalResourceId ?? ''),
        });
        return;
      }
      throw new DecodeError('schema', reason);
    }
    await handleRequest(parsed.data, context);
  };
}

let defaultHandler: ReturnType<typeof createBackfillHandler> | undefined;

function defaults(clock: Clock = systemClock): BackfillDeps {
  return {
    env: process.env,
    runtimeFor: (settings) => createLogsRuntime({ requestsPerSecond: settings.rateLimitRps, clock }),
    handOff: createHandOff(),
    clock,
    telemetry: createTelemetry('backfill'),
    sendResponse,
    budgets: { graceMs: GRACE_MS, syncBudgetMs: SYNC_BUDGET_MS, deleteBudgetMs: DELETE_BUDGET_MS },
  };
}

/** Lambda entry point (`index.handler` in the inline bundle). */
export async function handler(event: unknown, context: BackfillContext): Promise<void> {
  defaultHandler ??= createBackfillHandler(defaults());
  await defaultHandler(event, context);
}
