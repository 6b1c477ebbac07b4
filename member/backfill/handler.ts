/**
 * The backfill: a CloudFormation custom resource (ServiceToken = this function; no Provider
 * framework inside StackSets, docs/architecture.md, decision 3) that catches every existing
 * log group up on deploy and starts the cleanup on uninstall. docs/member.md states what it
 * guarantees; the rules, each for a reason given there:
 *
 * - **Exactly one answer, never a wedge.** Every request is claimed first (a second delivery
 *   of the same RequestId stops: runtime/claims.ts) and answered once. Delete always answers
 *   SUCCESS. Update answers FAILED only for invalid properties, never for what happened to log
 *   groups or to a listing (a FAILED during an update rollback leaves the instance in
 *   UPDATE_ROLLBACK_FAILED). Create answers FAILED when nothing could be done (every change
 *   failed, access denied, listing failed), which rolls back cleanly.
 * - **The deadline comes from the request**: the presigned ResponseURL's signing time and
 *   validity (cfn-response.ts). A request past it is not worked on, nor answered.
 * - **Exactly one chain, and only after a SUCCESS decision.** Create/Update answer after at most
 *   SYNC_BUDGET_MS; if groups remain, the rest is handed on (with a chain id each receiver
 *   claims) once the answer is known to be SUCCESS, and a response that cannot be delivered
 *   afterwards is logged, never thrown (a throw would start a second chain). The sweep heals
 *   whatever a broken chain leaves, in every Enrollment mode.
 * - **Delete hands removal to the cleanup worker** (member/cleanup/), which outlives the stack
 *   and deletes itself at the end: removal finishes however many groups there are. The Delete
 *   removes what it can in SYNC_BUDGET_MS first.
 * - **No Lambda retries**: the member stack sets MaximumRetryAttempts 0 and makes this function
 *   its own on-failure destination; an invocation record (a crash, a timeout) is answered by
 *   `answerAfterFailure`.
 *
 * The physical id is derived from FilterName: an Update that renames the filter gets a new
 * id, so CloudFormation then sends Delete with the old properties and the old filters go.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { type Clock, systemClock } from '../../shared/rate-limiter';
import * as z from '../../shared/zod';
import { createCleanupStarter } from '../cleanup/control';
import { type CleanupJob, INSTALL_ID, MIGRATION_START_DELAY_MS } from '../cleanup/job';
import { accountPolicyReport, accountScopeTally, countAccountScopeGroups } from '../runtime/account-coverage';
import {
  describePolicyOutcome,
  type PolicyOutcome,
  type PolicyState,
  reconcileAccountPolicy,
  reportPolicyOutcome,
} from '../runtime/account-policy';
import { emptySummary, type Summary } from '../runtime/apply';
import { createClaim, ownLogGroupName } from '../runtime/claims';
import { createHandOff, createLogsClient, createLogsRuntime } from '../runtime/clients';
import { ContinuationSchema, isContinuation } from '../runtime/continuation';
import {
  DEFAULT_RATE_LIMIT_RPS,
  loadMemberEnv,
  type MemberSettings,
  sameSettings,
  settingsFromProperties,
} from '../runtime/env';
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
import {
  answerDeadlineMs,
  type CfnResponse,
  ResponseUndeliveredError,
  type SendResponse,
  sendResponse,
} from './cfn-response';
import { checkClaimKey, isScheduledEvent, ScheduledEventSchema } from './scheduled-check';

/** Time kept back at the end of an invocation for groups in flight and the response PUT. */
export const GRACE_MS = 150_000;
/** Create/Update/Delete answer CloudFormation after at most this much work. */
export const SYNC_BUDGET_MS = 5 * 60_000;
/** Answer at least this long before the request's deadline (clock skew, the PUT itself). */
export const ANSWER_MARGIN_MS = 120_000;

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

/**
 * The record Lambda sends to an on-failure destination when an asynchronous invocation failed
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html):
 * `{"version":"1.0","timestamp":"…","requestContext":{"requestId":"…","functionArn":"…",
 * "condition":"RetriesExhausted","approximateInvokeCount":1},"requestPayload":{…the event…},
 * "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
 * "responsePayload":{"errorType":"…","errorMessage":"…"}}`
 */
export const InvocationRecordSchema = z.object({
  requestContext: z.object({ condition: z.string(), functionArn: z.optional(z.string()) }),
  requestPayload: z.unknown(),
  responsePayload: z.optional(z.unknown()),
});

function isInvocationRecord(event: unknown): boolean {
  return (
    typeof event === 'object' &&
    event !== null &&
    'requestContext' in event &&
    'requestPayload' in event &&
    !('RequestType' in event)
  );
}

/** The part of the Lambda context the backfill uses. */
export type BackfillContext = Pick<Context, 'invokedFunctionArn' | 'getRemainingTimeInMillis'>;

export interface BackfillBudgets {
  readonly graceMs: number;
  readonly syncBudgetMs: number;
}

/** Starts the cleanup worker with `job` (member/cleanup/control.ts); throws when it cannot. */
export type StartCleanup = (job: CleanupJob) => Promise<void>;

export interface BackfillDeps extends StepDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly sendResponse: SendResponse;
  readonly budgets: BackfillBudgets;
  readonly startCleanup: StartCleanup;
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

/** Settings for removal: only the filter name matters to the planner. */
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
    scope: 'log-group',
  };
}

/** Where to answer; the request identity is copied into the response. */
type Target = Pick<CfnResponse, 'PhysicalResourceId' | 'StackId' | 'RequestId' | 'LogicalResourceId'> & {
  readonly ResponseURL: string;
};
/** What the handler decides; the identity fields come from the target. */
type Answer = Pick<CfnResponse, 'Status' | 'Reason' | 'Data'>;

/** What an invocation did (for tests and logs). */
export type BackfillOutcome =
  | { readonly kind: 'answered'; readonly status: CfnResponse['Status']; readonly handOn?: HandOnResult }
  | { readonly kind: 'duplicate' | 'expired' | 'chain' | 'superseded' | 'ignored' }
  /** The periodic check of account scope ran (scheduled-check.ts); where our policy stands. */
  | { readonly kind: 'checked'; readonly policy: PolicyState };

export function createBackfillHandler(deps: BackfillDeps) {
  const { logger, metrics } = deps.telemetry;
  const region = deps.env.AWS_REGION ?? 'this region';

  /**
   * PUTs the answer. Never throws: a response that cannot be delivered is logged and counted
   * (`ResponseUndelivered`); throwing would make Lambda's failure path answer a second time or
   * (after a hand-off) start a second chain, and a 4xx (expired URL) cannot succeed anyway.
   */
  const answer = async (target: Target, response: Answer): Promise<void> => {
    const full: CfnResponse = {
      ...response,
      PhysicalResourceId: target.PhysicalResourceId,
      StackId: target.StackId,
      RequestId: target.RequestId,
      LogicalResourceId: target.LogicalResourceId,
    };
    logger.info('answering CloudFormation', { status: full.Status, reason: full.Reason, data: full.Data });
    try {
      await deps.sendResponse(target.ResponseURL, full);
    } catch (error) {
      const refused = error instanceof ResponseUndeliveredError && error.refused;
      logger.error('the CloudFormation response could not be delivered', {
        status: full.Status,
        refused,
        error: message(error),
      });
      metrics.addMetric('ResponseUndelivered', 'Count', 1);
      metrics.publishStoredMetrics();
    }
  };

  /** The work deadline: the sync budget, the request's own deadline, the invocation's time. */
  const workDeadline = (request: CfnRequest, context: BackfillContext): number => {
    const now = deps.clock.now();
    const due = answerDeadlineMs(request.ResponseURL);
    return Math.min(
      now + deps.budgets.syncBudgetMs,
      now + context.getRemainingTimeInMillis() - deps.budgets.graceMs,
      due === undefined ? Number.POSITIVE_INFINITY : due - ANSWER_MARGIN_MS,
    );
  };

  const installId = (): string | undefined => {
    const id = deps.env.INSTALL_ID;
    return id !== undefined && INSTALL_ID.test(id) ? id : undefined;
  };

  /**
   * Starts the cleanup worker (best effort; false when it cannot be started). `uninstall` when
   * the function still owns this filter name (the stack is going away), `replaced` when it
   * owns another one (a rename, or the rollback of one: the stack stays).
   */
  const startCleanup = async (
    filterName: string | undefined,
    progress: Pick<
      CleanupJob,
      'cursor' | 'recheckThrough' | 'recheckAll' | 'totals' | 'policyName' | 'startAfterMs'
    > & {
      pass?: 1 | 2;
      kind?: CleanupJob['kind'];
    },
  ): Promise<{ started: boolean; error?: string; worker?: string }> => {
    const id = installId();
    if (id === undefined)
      return { started: false, error: 'this stack has no cleanup worker (INSTALL_ID unset)' };
    const owned = deps.env.FILTER_NAME;
    const job: CleanupJob = {
      logReflectorCleanup: 1,
      installId: id,
      kind:
        filterName !== undefined && owned !== undefined && owned !== filterName ? 'replaced' : 'uninstall',
      ...(filterName !== undefined ? { filterName } : {}),
      requestedAtMs: deps.clock.now(),
      pass: 1,
      ...progress,
      runs: 0,
    };
    try {
      await deps.startCleanup(job);
      logger.info('cleanup worker started', { job });
      return { started: true, worker: `log-reflector-cleanup-${id}` };
    } catch (error) {
      logger.error('could not start the cleanup worker', { error: message(error) });
      return { started: false, error: message(error) };
    }
  };

  /** Runs the account policy plan with its own runtime, reports it; never throws. */
  const runPolicy = async (
    settings: MemberSettings,
    options: Parameters<typeof reconcileAccountPolicy>[2],
  ): Promise<PolicyOutcome> => {
    const outcome = await reconcileAccountPolicy(deps.runtimeFor(settings).policies, settings, options);
    reportPolicyOutcome(deps.telemetry, outcome);
    return outcome;
  };

  const handleDelete = async (request: CfnRequest, context: BackfillContext): Promise<BackfillOutcome> => {
    const filterName = request.ResourceProperties.FilterName;
    const valid = typeof filterName === 'string' && FILTER_NAME.test(filterName);
    const target: Target = {
      ResponseURL: request.ResponseURL,
      StackId: request.StackId,
      RequestId: request.RequestId,
      LogicalResourceId: request.LogicalResourceId,
      PhysicalResourceId:
        request.PhysicalResourceId ?? (valid ? physicalIdFor(filterName) : 'log-reflector-backfill-invalid'),
    };
    if (!valid) {
      // A Create that failed validation is rolled back with the same bad properties: nothing
      // of ours can exist under an invalid name. The worker is still started: it deletes itself.
      await startCleanup(undefined, { totals: emptySummary() });
      await answer(target, {
        Status: 'SUCCESS',
        Reason: `No valid FilterName (received ${JSON.stringify(filterName)}): nothing to remove`,
      });
      return { kind: 'answered', status: 'SUCCESS' };
    }
    let outcome: StepOutcome | undefined;
    let failure: string | undefined;
    try {
      outcome = await runStep(deps, {
        origin: 'backfill',
        mode: 'uninstall',
        settings: uninstallSettings(filterName, deps.env),
        chainId: request.RequestId.replace(/[^\w.-]/g, '-').slice(0, 128) || 'delete',
        hop: 1,
        startedAtMs: deps.clock.now(),
        totals: emptySummary(),
        deadlineMs: workDeadline(request, context),
      });
      if (outcome.result.fatal) failure = message(outcome.result.fatal);
    } catch (error) {
      // A listing that failed (throttled to exhaustion, denied by an SCP): the worker retries.
      failure = message(error);
    }
    const totals = outcome?.totals ?? emptySummary();
    const complete = outcome?.result.complete === true && totals.failed === 0;
    const after = outcome?.result.cursor?.after;
    // Our account-level policy goes too (ours by the same name; a foreign one is never touched).
    const policy = await runPolicy(uninstallSettings(filterName, deps.env), { mode: 'uninstall' });
    const policyLeft =
      policy.state === 'failed' &&
      (request.ResourceProperties.Scope === 'account' || policy.action?.kind === 'delete');
    // In account scope the worker deletes ours once more after the settle time, whatever this
    // Delete achieved: a periodic check already running when its rule went may put it back.
    const recheckPolicy = policyLeft || request.ResourceProperties.Scope === 'account';
    // What this pass covered happened before the settle time: the worker reads it once more
    // (all of it when this pass finished: pass 2 straight away).
    const cleanup = await startCleanup(filterName, {
      ...(recheckPolicy ? { policyName: filterName } : {}),
      totals,
      ...(outcome?.result.complete ? { pass: 2, recheckAll: true } : {}),
      ...(outcome?.result.cursor ? { cursor: outcome.result.cursor } : {}),
      ...(!outcome?.result.complete && after !== undefined ? { recheckThrough: after } : {}),
    });
    // Log-group scope with nothing of ours to delete (or no answer about it) says nothing.
    const policyNote = policy.state === 'removed' || policyLeft ? `; ${describePolicyOutcome(policy)}` : '';
    const done = `Removed ${totals.removed} filter(s) named "${filterName}"${failure ? ` (stopped: ${failure})` : ''}${policyNote}`;
    const reason = cleanup.started
      ? `${done}; ${cleanup.worker} ${complete ? 're-checks every log group' : 'removes the rest'} and then deletes itself (docs/member.md)`
      : `${done}; ${complete ? 'none should remain' : 'some may remain'}, and the cleanup worker could not be started (${cleanup.error}). Run \`log-reflector remove --filter-name ${filterName} --region ${region}\` in this account (docs/member.md).`;
    // Delete always answers SUCCESS: FAILED would leave the stack (instance) in DELETE_FAILED.
    await answer(target, { Status: 'SUCCESS', Data: summaryData(totals, complete), Reason: reason });
    return { kind: 'answered', status: 'SUCCESS' };
  };

  const handleReconcile = async (request: CfnRequest, context: BackfillContext): Promise<BackfillOutcome> => {
    const base = {
      ResponseURL: request.ResponseURL,
      StackId: request.StackId,
      RequestId: request.RequestId,
      LogicalResourceId: request.LogicalResourceId,
    };
    const isCreate = request.RequestType === 'Create';
    let settings: MemberSettings;
    try {
      settings = settingsFromProperties(request.ResourceProperties, deps.env);
    } catch (error) {
      const physical = request.PhysicalResourceId ?? `log-reflector-backfill-invalid-${request.RequestId}`;
      await answer({ ...base, PhysicalResourceId: physical }, { Status: 'FAILED', Reason: message(error) });
      return { kind: 'answered', status: 'FAILED' };
    }
    const target: Target = { ...base, PhysicalResourceId: physicalIdFor(settings.filterName) };
    if (settings.scope === 'account') return handleAccountScope(request, settings, target, context);
    /** Create fails (a clean rollback follows); Update succeeds and leaves it to the sweep. */
    const unable = async (what: string): Promise<BackfillOutcome> => {
      if (isCreate) {
        await answer(target, { Status: 'FAILED', Reason: `Backfill failed: ${what}` });
        return { kind: 'answered', status: 'FAILED' };
      }
      await answer(target, {
        Status: 'SUCCESS',
        Reason: `Settings applied; the backfill could not run (${what}): the scheduled sweep reconciles every log group`,
      });
      return { kind: 'answered', status: 'SUCCESS' };
    };
    let outcome: StepOutcome;
    try {
      outcome = await runStep(deps, {
        origin: 'backfill',
        mode: 'reconcile',
        settings,
        chainId: request.RequestId.replace(/[^\w.-]/g, '-').slice(0, 128) || randomUUID(),
        hop: 1,
        startedAtMs: deps.clock.now(),
        totals: emptySummary(),
        deadlineMs: workDeadline(request, context),
      });
    } catch (error) {
      return unable(message(error));
    }
    const { result, totals } = outcome;
    const changed = totals.subscribed + totals.updated + totals.removed;
    if (result.fatal) return unable(message(result.fatal));
    if (totals.failed > 0 && changed === 0) {
      return unable(`every change failed (${totals.failed}); first: ${result.firstFailure ?? 'unknown'}`);
    }
    // The answer is SUCCESS: only now may the rest be handed on.
    const handed = outcome.next ? await handOn(deps, context.invokedFunctionArn, outcome.next) : undefined;
    const reason =
      handed === undefined
        ? result.complete
          ? undefined
          : 'Initial part done; the remaining log groups are left to the scheduled sweep'
        : handed === 'failed'
          ? 'Initial part done; the remaining log groups are left to the scheduled sweep'
          : 'Initial part done; the backfill continues in the background (see its logs and metrics)';
    await answer(target, {
      Status: 'SUCCESS',
      Data: summaryData(totals, result.complete),
      ...(reason ? { Reason: reason } : {}),
    });
    // After the answer (never before it: a rollback to account scope must find its policy):
    // a policy of ours left from account scope goes once every eligible group has our filter;
    // when the pass goes on in the background, its last hop or the sweep does it.
    if (handed === undefined) {
      await runPolicy(settings, {
        mode: 'reconcile',
        logGroupPassComplete: result.complete && totals.failed === 0,
      });
    } else if (settings.enrollment !== 'enabled') {
      await runPolicy(settings, { mode: 'reconcile' });
    }
    return { kind: 'answered', status: 'SUCCESS', ...(handed ? { handOn: handed } : {}) };
  };

  /**
   * Account scope: one account-level subscription filter policy instead of our per-group
   * filters (docs/member.md, "Two scopes"). The policy is put (or, when not enrolled, deleted)
   * here; our per-group filters, left from log-group scope, are removed by the cleanup worker
   * (a `migrated` job) only once the policy is in place, after MIGRATION_START_DELAY_MS.
   *
   * Answers FAILED when the policy is wanted but not in place afterwards (a foreign policy,
   * which is never overwritten, or a call that failed) on a Create (clean rollback) and on an
   * Update that moves from log-group scope: the update rolls back and the log-group machinery
   * stays, so nothing is left uncovered. An Update within account scope answers SUCCESS with
   * the reason (the previous policy stays as it was). The one rollback that looks like a
   * migration, an Update back to account scope, finds its policy in place (log-group scope
   * removes it only after the stack operation, see above) and does not call PutAccountPolicy.
   */
  const handleAccountScope = async (
    request: CfnRequest,
    settings: MemberSettings,
    target: Target,
    context: BackfillContext,
  ): Promise<BackfillOutcome> => {
    const startedAtMs = deps.clock.now();
    const isCreate = request.RequestType === 'Create';
    const old = request.OldResourceProperties ?? {};
    const fromLogGroup = !isCreate && (old.Scope ?? 'log-group') !== 'account';
    const formerName =
      !isCreate && typeof old.FilterName === 'string' && old.FilterName !== settings.filterName
        ? old.FilterName
        : undefined;
    const policy = await runPolicy(settings, {
      mode: 'reconcile',
      ...(formerName ? { formerPolicyNames: [formerName] } : {}),
    });
    const wanted = settings.enrollment === 'enabled';
    const inPlace = policy.state === 'in-place';
    const data = { Scope: 'account', AccountPolicy: policy.state };
    if (wanted && !inPlace && (isCreate || fromLogGroup)) {
      await answer(target, {
        Status: 'FAILED',
        Data: data,
        Reason: `${describePolicyOutcome(policy)}${fromLogGroup ? '; the stack stays in log-group scope (its per-group filters are kept)' : ''}`,
      });
      // A refused switch leaves the stack in log-group scope, whose sweep goes on reporting; a
      // failed Create reports why the account × region is not covered (conflict, failure).
      if (isCreate) await reportAccountScope(settings, policy, startedAtMs, context);
      return { kind: 'answered', status: 'FAILED' };
    }
    const notes = [describePolicyOutcome(policy)];
    if (!wanted && policy.state === 'failed') {
      // Opted out, but the policy is still there: the worker deletes it (and any per-group
      // filter of ours) every 15 minutes until it is gone.
      const cleanup = await startCleanup(settings.filterName, {
        kind: 'opted-out',
        policyName: settings.filterName,
        totals: emptySummary(),
      });
      notes.push(
        cleanup.started
          ? `${cleanup.worker} retries the deletion`
          : `the cleanup worker could not be started (${cleanup.error}); the periodic check retries the deletion; or run \`log-reflector remove --filter-name ${settings.filterName}\` in this account`,
      );
    } else if (fromLogGroup && (inPlace || !wanted)) {
      // Our per-group filters go only now that the policy carries the subscription (or the
      // account is opted out), and only after the policy has had time to take effect.
      const cleanup = await startCleanup(settings.filterName, {
        kind: 'migrated',
        startAfterMs: deps.clock.now() + MIGRATION_START_DELAY_MS,
        totals: emptySummary(),
      });
      notes.push(
        cleanup.started
          ? `${cleanup.worker} removes our per-group filters from ${Math.round(MIGRATION_START_DELAY_MS / 60_000)} minutes from now`
          : `our per-group filters remain (the cleanup worker could not be started: ${cleanup.error}); run \`log-reflector apply --scope account\` with this stack's destination and role in this account (docs/member.md)`,
      );
    }
    await answer(target, { Status: 'SUCCESS', Data: data, Reason: notes.join('; ') });
    await reportAccountScope(settings, policy, startedAtMs, context);
    return { kind: 'answered', status: 'SUCCESS' };
  };

  /**
   * The coverage report of an account-scope stack operation or periodic check, after the answer
   * (the count of log groups may take minutes in a large account; runtime/account-coverage.ts).
   * The periodic check rewrites it every period, so it goes stale by age like a sweep's
   * (shared/coverage.ts, isStale). Never throws.
   */
  const reportAccountScope = async (
    settings: MemberSettings,
    policy: PolicyOutcome,
    startedAtMs: number,
    context: BackfillContext,
  ): Promise<void> => {
    if (!deps.coverage) return;
    try {
      const deadline = deps.clock.now() + context.getRemainingTimeInMillis() - deps.budgets.graceMs;
      const count = await countAccountScopeGroups(
        deps.runtimeFor(settings).api,
        settings.exclude,
        deadline,
        deps.clock,
      );
      await deps.coverage.publish({
        source: 'backfill',
        scope: 'account',
        enrollment: settings.enrollment,
        filterName: settings.filterName,
        startedAtMs,
        hops: 1,
        complete: count.complete,
        groups: accountScopeTally(count, policy.state, settings.enrollment === 'enabled'),
        error: count.error,
        accountPolicy: accountPolicyReport(policy),
      });
    } catch (error) {
      logger.warn('coverage report not written', { error: message(error) });
    }
  };

  /** Claims, checks the deadline, and dispatches one CloudFormation request. */
  const handleRequest = async (request: CfnRequest, context: BackfillContext): Promise<BackfillOutcome> => {
    if ((await deps.claim(`request/${claimId(request.RequestId)}`)) === 'taken') {
      logger.warn('request delivered twice; this copy stops', { requestId: request.RequestId });
      return { kind: 'duplicate' };
    }
    const due = answerDeadlineMs(request.ResponseURL);
    if (due !== undefined && deps.clock.now() >= due) {
      logger.error('request arrived after its deadline; CloudFormation no longer waits for it', {
        requestId: request.RequestId,
        deadline: new Date(due).toISOString(),
      });
      return { kind: 'expired' };
    }
    return request.RequestType === 'Delete'
      ? handleDelete(request, context)
      : handleReconcile(request, context);
  };

  /**
   * An invocation failed (crash, timeout): Lambda sent its record here (on-failure destination,
   * no retries). A CloudFormation request still gets its one answer: Delete SUCCESS (and the
   * cleanup worker), Update SUCCESS (the sweep reconciles), Create FAILED (a clean rollback).
   */
  const answerAfterFailure = async (event: unknown): Promise<BackfillOutcome> => {
    const record = InvocationRecordSchema.safeParse(event);
    const payload = record.success ? record.data.requestPayload : undefined;
    const error = JSON.stringify(record.success ? (record.data.responsePayload ?? null) : null).slice(0, 500);
    const request = CfnRequestSchema.safeParse(payload);
    if (!request.success) {
      // A hand-off that failed (the sweep covers its groups) or a record about a record: never loop.
      logger.error('an invocation failed', {
        condition: record.success ? record.data.requestContext.condition : 'unknown',
        payloadKind: isContinuation(payload)
          ? 'hand-off'
          : isInvocationRecord(payload)
            ? 'failure record'
            : isScheduledEvent(payload)
              ? 'scheduled check'
              : 'other',
        error,
      });
      return { kind: 'ignored' };
    }
    const r = request.data;
    if ((await deps.claim(`failure/${claimId(r.RequestId)}`)) === 'taken') return { kind: 'duplicate' };
    const due = answerDeadlineMs(r.ResponseURL);
    if (due !== undefined && deps.clock.now() >= due) return { kind: 'expired' };
    const filterName = r.ResourceProperties.FilterName;
    const valid = typeof filterName === 'string' && FILTER_NAME.test(filterName);
    const target: Target = {
      ResponseURL: r.ResponseURL,
      StackId: r.StackId,
      RequestId: r.RequestId,
      LogicalResourceId: r.LogicalResourceId,
      PhysicalResourceId:
        r.PhysicalResourceId ??
        (valid ? physicalIdFor(filterName) : `log-reflector-backfill-invalid-${claimId(r.RequestId)}`),
    };
    const what = `the backfill invocation failed (${error})`;
    if (r.RequestType === 'Create') {
      await answer(target, { Status: 'FAILED', Reason: `Backfill failed: ${what}` });
      return { kind: 'answered', status: 'FAILED' };
    }
    const accountScope = r.ResourceProperties.Scope === 'account';
    if (r.RequestType === 'Update' && accountScope && r.OldResourceProperties?.Scope !== 'account') {
      // A switch to account scope whose invocation failed: the policy may not be in place, so
      // the switch is refused as in handleAccountScope; the stack stays in log-group scope.
      await answer(target, {
        Status: 'FAILED',
        Reason: `Switch to account scope not done: ${what}; the stack stays in log-group scope`,
      });
      return { kind: 'answered', status: 'FAILED' };
    }
    if (r.RequestType === 'Update') {
      await answer(target, {
        Status: 'SUCCESS',
        Reason: accountScope
          ? `Settings applied; ${what}: the account policy may not match them; the periodic check reconciles it`
          : `Settings applied; ${what}: the scheduled sweep reconciles every log group`,
      });
      return { kind: 'answered', status: 'SUCCESS' };
    }
    const cleanup = await startCleanup(valid ? filterName : undefined, {
      // The policy may still be there: the worker deletes it (ours by name).
      ...(valid && accountScope ? { policyName: filterName } : {}),
      totals: emptySummary(),
    });
    await answer(target, {
      Status: 'SUCCESS',
      Reason: cleanup.started
        ? `${what}; ${cleanup.worker} removes our filters and then deletes itself (docs/member.md)`
        : `${what}; the cleanup worker could not be started (${cleanup.error}). Run \`log-reflector remove --filter-name ${String(filterName)} --region ${region}\` in this account (docs/member.md).`,
    });
    return { kind: 'answered', status: 'SUCCESS' };
  };

  const continueChain = async (event: unknown, context: BackfillContext): Promise<BackfillOutcome> => {
    const next = ContinuationSchema.parse(event);
    if (!(await claimHop(deps, next))) return { kind: 'duplicate' };
    try {
      const current = loadMemberEnv(deps.env);
      if (!sameSettings(current, next.settings)) {
        logger.info('backfill chain superseded by newer settings; stopping', { hop: next.hop });
        return { kind: 'superseded' };
      }
    } catch (error) {
      logger.warn('function environment invalid; continuing with the chain settings', {
        error: message(error),
      });
    }
    const outcome = await runStep(deps, {
      origin: 'backfill',
      mode: next.mode,
      settings: next.settings,
      cursor: next.cursor,
      chainId: next.chainId ?? randomUUID(),
      hop: next.hop,
      startedAtMs: next.startedAtMs,
      totals: next.totals,
      deadlineMs: deps.clock.now() + context.getRemainingTimeInMillis() - deps.budgets.graceMs,
      coverage: next.coverage,
    });
    if (outcome.next) await handOn(deps, context.invokedFunctionArn, outcome.next);
    else if (outcome.result.complete && next.mode === 'reconcile') {
      // The chain's last hop: a policy of ours left from account scope may go now.
      await runPolicy(next.settings, {
        mode: 'reconcile',
        logGroupPassComplete: outcome.totals.failed === 0,
      });
    }
    return { kind: 'chain' };
  };

  // ---- The periodic check of account scope (an EventBridge schedule, not CloudFormation) ----

  /**
   * One scheduled run in account scope (docs/member.md, "The periodic check"): the same plan as a
   * stack operation, from the function's environment (the stack keeps it equal to the resource
   * properties): puts ours back when it is absent or stale, deletes ours when not enrolled, and
   * never touches a foreign policy (a conflict, reported). Then it rewrites the coverage report.
   * No answer, no cleanup worker, no hand-off: the next period retries whatever failed. Two runs
   * at once converge (the plan reads before it writes and a put under our name is idempotent).
   */
  const runScheduledCheck = async (event: unknown, context: BackfillContext): Promise<BackfillOutcome> => {
    const parsed = ScheduledEventSchema.safeParse(event);
    if (!parsed.success) {
      logger.error('not the account-scope check schedule; ignored', {
        issues: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
      });
      return { kind: 'ignored' };
    }
    // EventBridge delivers at least once: the second copy of an event stops here.
    if ((await deps.claim(checkClaimKey(parsed.data))) === 'taken') return { kind: 'duplicate' };
    const startedAtMs = deps.clock.now();
    // A broken environment throws (ConfigError): the function's Errors metric shows it.
    const settings = loadMemberEnv(deps.env);
    if (settings.scope !== 'account') {
      // The rule exists in account scope only; an event left over from a switch to log-group
      // scope finds the new environment, and there the sweep does this.
      logger.info('periodic check skipped: this stack is in log-group scope (the sweep reconciles it)');
      return { kind: 'ignored' };
    }
    const policy = await runPolicy(settings, { mode: 'reconcile' });
    const kind = policy.action?.kind;
    if ((kind === 'create' || kind === 'update' || kind === 'delete') && policy.state !== 'failed') {
      // Drift since the last stack operation or check: someone deleted or changed ours, or an
      // opt-out's deletion had failed. (A call that failed is logged as an error already.)
      logger.warn('periodic check repaired our account policy', {
        action: kind,
        state: policy.state,
        ...(policy.action?.kind === 'update' ? { stale: policy.action.stale } : {}),
        eventTime: parsed.data.time,
      });
    }
    await reportAccountScope(settings, policy, startedAtMs, context);
    return { kind: 'checked', policy: policy.state };
  };

  return async (event: unknown, context: BackfillContext): Promise<BackfillOutcome> => {
    if (isInvocationRecord(event)) return answerAfterFailure(event);
    if (isContinuation(event)) return continueChain(event, context);
    if (isScheduledEvent(event)) return runScheduledCheck(event, context);
    const parsed = CfnRequestSchema.safeParse(event);
    if (!parsed.success) {
      const e = (event ?? {}) as Record<string, unknown>;
      const reason = `Invalid custom resource request: ${parsed.error.issues
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ')}`;
      if (typeof e.ResponseURL !== 'string') {
        logger.error('not a custom resource request, a hand-off or an invocation record; ignored', {
          reason,
        });
        return { kind: 'ignored' };
      }
      // A Delete is never refused, whatever else is wrong with it.
      const status = e.RequestType === 'Delete' ? 'SUCCESS' : 'FAILED';
      await answer(
        {
          ResponseURL: e.ResponseURL,
          PhysicalResourceId: String(e.PhysicalResourceId ?? 'log-reflector-backfill-invalid'),
          StackId: String(e.StackId ?? ''),
          RequestId: String(e.RequestId ?? ''),
          LogicalResourceId: String(e.LogicalResourceId ?? ''),
        },
        { Status: status, Reason: reason },
      );
      return { kind: 'answered', status };
    }
    return handleRequest(parsed.data, context);
  };
}

/** A RequestId as a claim key (CloudFormation's are UUIDs; anything else is made safe). */
function claimId(requestId: string): string {
  return requestId.replace(/[^\w.-]/g, '-').slice(0, 200) || 'empty';
}

let defaultHandler: ReturnType<typeof createBackfillHandler> | undefined;

function defaults(clock: Clock = systemClock): BackfillDeps {
  const telemetry = createTelemetry('backfill');
  return {
    env: process.env,
    runtimeFor: (settings) => createLogsRuntime({ requestsPerSecond: settings.rateLimitRps, clock }),
    handOff: createHandOff(),
    clock,
    telemetry,
    claim: createClaim(createLogsClient(), ownLogGroupName(process.env), (key, error) =>
      telemetry.logger.warn('could not claim; processing anyway', { key, error: message(error) }),
    ),
    sendResponse,
    budgets: { graceMs: GRACE_MS, syncBudgetMs: SYNC_BUDGET_MS },
    startCleanup: createCleanupStarter(process.env),
    coverage: reporterFromEnv(process.env, clock, telemetry.logger),
  };
}

/** Lambda entry point (`index.handler` in the inline bundle). */
export async function handler(event: unknown, context: BackfillContext): Promise<void> {
  defaultHandler ??= createBackfillHandler(defaults());
  await defaultHandler(event, context);
}
