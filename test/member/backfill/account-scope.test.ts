/**
 * The backfill custom resource in account scope (issue 14), and switching scope both ways on a
 * running account, on AWS semantics in memory (fake-logs.ts: moto refuses PutAccountPolicy for
 * subscription policies) with the cleanup worker that removes our per-group filters.
 *
 * The guarantees under test (docs/member.md, "Switching scope"): a foreign account policy is a
 * reported conflict, never overwritten, and a migration towards it is refused (FAILED: the
 * stack stays as it was); at every moment of a switch each eligible group is covered by our
 * filter or by our policy (checked at every call that removes one of them); foreign filters
 * are never touched; opt-out removes the policy.
 */
import { describe, expect, it } from 'vitest';
import type { CfnResponse } from '../../../member/backfill/cfn-response';
import { type BackfillDeps, createBackfillHandler } from '../../../member/backfill/handler';
import { ACCOUNT_CHECK_RULE_NAME } from '../../../member/backfill/scheduled-check';
import type { CleanupControl, LiveInstall } from '../../../member/cleanup/control';
import { createCleanupHandler } from '../../../member/cleanup/handler';
import {
  CLEANUP_PERIOD_MS,
  type CleanupJob,
  CleanupJobSchema,
  MIGRATION_START_DELAY_MS,
} from '../../../member/cleanup/job';
import type { Continuation } from '../../../member/runtime/continuation';
import { createCoverageReporter } from '../../../member/runtime/report';
import { ownLogGroupNames, parseSelectionCriteria } from '../../../shared/account-policy';
import { type CoverageReport, coverageReportKey, parseCoverageReport } from '../../../shared/coverage';
import type { ExistingFilter } from '../../../shared/plan';
import { loadEvent } from '../../support/events';
import { FakeLogs, virtualClock } from '../fake-logs';
import {
  ACCOUNT,
  FILTER_NAME,
  memberEnv,
  memberSettings,
  memoryClaim,
  REGION,
  ROLE_ARN,
  streamArn,
} from '../support';
import { recordTelemetry } from '../telemetry-recorder';

const INSTALL = '271845b0';
const DESTINATION = streamArn('central');
const OURS: ExistingFilter = {
  filterName: FILTER_NAME,
  destinationArn: DESTINATION,
  filterPattern: '',
  roleArn: ROLE_ARN,
};
const FOREIGN: ExistingFilter = {
  filterName: 'datadog',
  destinationArn: streamArn('someone-else'),
  filterPattern: '',
};
const EXCLUDE = [...ownLogGroupNames(INSTALL), '/ecs/debug'];
const FUNCTION_ARN = `arn:aws:lambda:${REGION}:123456789012:function:log-reflector-backfill`;
const context = { invokedFunctionArn: FUNCTION_ARN, getRemainingTimeInMillis: () => 900_000 };

/** Backfill properties as the member stack renders them in each scope. */
function props(scope: 'log-group' | 'account', overrides: Record<string, unknown> = {}) {
  return {
    ServiceToken: FUNCTION_ARN,
    DestinationArn: DESTINATION,
    SenderRoleArn: ROLE_ARN,
    FilterName: FILTER_NAME,
    FilterPattern: '',
    Include: '',
    Exclude: scope === 'account' ? EXCLUDE.join(',') : '/aws/lambda/log-reflector-*,/ecs/debug',
    Enrollment: 'enabled',
    ...(scope === 'account' ? { Scope: 'account' } : {}),
    ...overrides,
  };
}

let requests = 0;
function request(
  type: 'Create' | 'Update' | 'Delete',
  properties: Record<string, unknown>,
  old?: Record<string, unknown>,
) {
  requests += 1;
  return {
    RequestType: type,
    ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x',
    StackId: `arn:aws:cloudformation:${REGION}:123456789012:stack/StackSet-log-reflector-members-x/${INSTALL}-f2e8-11ed-90ac-0eeb25b8ae21`,
    RequestId: `request-${requests}`,
    LogicalResourceId: 'BackfillRun',
    ...(type === 'Create' ? {} : { PhysicalResourceId: `log-reflector-backfill-${FILTER_NAME}` }),
    ResourceProperties: properties,
    ...(old ? { OldResourceProperties: old } : {}),
  };
}

interface Answer {
  readonly response: CfnResponse;
  /** The account policy and our per-group filters when the answer went out. */
  readonly policyAtAnswer: string | undefined;
  readonly oursAtAnswer: number;
  /** DescribeLogGroups calls made before the answer went out. */
  readonly listedAtAnswer: number;
}

/** A coverage report as written to the bucket (parsed back), and how many answers preceded it. */
interface Written {
  readonly report: CoverageReport;
  readonly answersBefore: number;
}

/** The backfill over one fake account; the environment is the stack's for `scope`. */
function backfill(
  logs: FakeLogs,
  clock: ReturnType<typeof virtualClock>,
  scope: 'log-group' | 'account',
  rateLimitRps = 100,
  envOverrides: Record<string, string> = {},
) {
  const answers: Answer[] = [];
  const reports: Written[] = [];
  const key = coverageReportKey(ACCOUNT, REGION);
  const jobs: CleanupJob[] = [];
  const handedOff: Continuation[] = [];
  const recorded = recordTelemetry();
  const settings = memberSettings({
    destinationArn: DESTINATION,
    rateLimitRps,
    scope,
    exclude: scope === 'account' ? EXCLUDE : ['/aws/lambda/log-reflector-*', '/ecs/debug'],
  });
  const deps: BackfillDeps = {
    env: { ...memberEnv(settings), INSTALL_ID: INSTALL, ...envOverrides },
    runtimeFor: (s) => logs.runtime({ requestsPerSecond: s.rateLimitRps, clock }),
    handOff: async (_arn, payload) => {
      handedOff.push(payload as Continuation);
    },
    clock,
    telemetry: recorded.telemetry,
    claim: memoryClaim(),
    sendResponse: async (_url, response) => {
      answers.push({
        response,
        policyAtAnswer: logs.accountPolicy?.policyName,
        oursAtAnswer: logs.groupsWith(FILTER_NAME).length,
        listedAtAnswer: logs.calls.DescribeLogGroups,
      });
    },
    budgets: { graceMs: 1_000, syncBudgetMs: 60_000 },
    startCleanup: async (job) => {
      jobs.push(CleanupJobSchema.parse(JSON.parse(JSON.stringify(job))));
    },
    // The real reporter over an in-memory bucket: what is written must parse as a report.
    coverage: createCoverageReporter({
      target: { bucket: 'log-reflector-state-x', key, account: ACCOUNT, region: REGION },
      store: {
        async put(_bucket, k, body) {
          reports.push({ report: parseCoverageReport(body, k), answersBefore: answers.length });
        },
        queueDepth: async () => 0,
      },
      clock,
      logger: recorded.telemetry.logger,
    }),
  };
  return { handler: createBackfillHandler(deps), answers, jobs, handedOff, recorded, reports };
}

/** The cleanup worker over the same account, its schedule and live install in memory. */
function worker(logs: FakeLogs, clock: ReturnType<typeof virtualClock>, live: () => LiveInstall | undefined) {
  const state = { job: undefined as CleanupJob | undefined, scheduleRemoved: 0, selfDeleted: 0 };
  const control: CleanupControl = {
    async saveJob(job) {
      state.job = CleanupJobSchema.parse(JSON.parse(JSON.stringify(job)));
    },
    liveInstall: async () => live(),
    async removeSchedule() {
      state.scheduleRemoved += 1;
    },
    async deleteSelf() {
      state.selfDeleted += 1;
      return { roleDeleted: true };
    },
  };
  const handler = createCleanupHandler({
    env: { INSTALL_ID: INSTALL, RATE_LIMIT_RPS: '100', AWS_REGION: REGION },
    runtimeFor: (rps) => logs.runtime({ requestsPerSecond: rps, clock }),
    control,
    clock,
    telemetry: recordTelemetry().telemetry,
    graceMs: 120_000,
  });
  return { handler, state };
}

/** Runs the worker once every CLEANUP_PERIOD_MS after `outcome` until it finishes (10 runs at most). */
async function untilFinished(
  w: ReturnType<typeof worker>,
  clock: ReturnType<typeof virtualClock>,
  outcome: Awaited<ReturnType<ReturnType<typeof worker>['handler']>>,
) {
  for (let i = 0; outcome.kind !== 'finished' && i < 10; i += 1) {
    clock.t += CLEANUP_PERIOD_MS;
    outcome = await w.handler(w.state.job, context);
  }
  return outcome;
}

/** An account with eligible groups, some with a foreign filter, our own log groups and an excluded one. */
function account(eligible: readonly string[], withOurs: boolean): FakeLogs {
  const logs = new FakeLogs();
  logs.addGroups([...eligible, '/aws/lambda/log-reflector-sweep', '/ecs/debug']);
  for (const [i, g] of eligible.entries()) {
    if (withOurs) logs.putFilterDirect(g, OURS);
    if (i % 3 === 0) logs.putFilterDirect(g, FOREIGN);
  }
  return logs;
}

/**
 * No gap: whenever one of our subscriptions is about to go (a per-group filter of ours, or our
 * policy), every eligible group must still be covered by the other one.
 */
function guardNoGap(logs: FakeLogs, eligible: readonly string[]): { checks: number } {
  const seen = { checks: 0 };
  logs.fault = (operation, logGroupName) => {
    if (operation === 'DeleteSubscriptionFilter' && eligible.includes(logGroupName ?? '')) {
      seen.checks += 1;
      expect(
        logs.accountPolicy?.policyName,
        `policy must be in place before ${logGroupName} loses our filter`,
      ).toBe(FILTER_NAME);
    }
    if (operation === 'DeleteAccountPolicy' && logs.accountPolicy?.policyName === FILTER_NAME) {
      seen.checks += 1;
      const uncovered = eligible.filter((g) => !logs.filtersOf(g).some((f) => f.filterName === FILTER_NAME));
      expect(uncovered, 'every eligible group carries our filter before the policy goes').toStrictEqual([]);
    }
  };
  return seen;
}

const eligibleNames = (n: number) =>
  Array.from({ length: n }, (_, i) => `/app/g-${String(i).padStart(4, '0')}`);

describe('backfill in account scope', () => {
  it('Create puts our policy (own log groups and configured names left out) and answers SUCCESS; no per-group work', async () => {
    const logs = account(eligibleNames(5), false);
    const clock = virtualClock();
    const b = backfill(logs, clock, 'account');
    await b.handler(request('Create', props('account')), context);
    expect(b.answers.map((a) => a.response.Status)).toStrictEqual(['SUCCESS']);
    expect(b.answers[0]?.response.Data).toStrictEqual({ Scope: 'account', AccountPolicy: 'in-place' });
    expect(b.answers[0]?.response.Reason).toContain('created');
    expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME);
    expect(parseSelectionCriteria(logs.accountPolicy?.selectionCriteria)).toStrictEqual(EXCLUDE);
    expect(JSON.parse(logs.accountPolicy?.policyDocument ?? '{}')).toStrictEqual({
      DestinationArn: DESTINATION,
      RoleArn: ROLE_ARN,
      FilterPattern: '',
      Distribution: 'ByLogStream',
    });
    // No per-group work; the log groups are only counted for the coverage report, after the answer.
    expect(b.answers[0]?.listedAtAnswer).toBe(0);
    expect(logs.calls.DescribeSubscriptionFilters + logs.calls.PutSubscriptionFilter).toBe(0);
    expect(b.jobs).toStrictEqual([]);
    expect(b.recorded.metrics).toMatchObject({ AccountPolicyInPlace: 1, AccountPolicyConflict: 0 });
  });

  it('Create with a foreign account policy answers FAILED, names it, and leaves it untouched', async () => {
    const logs = account(eligibleNames(3), false);
    const theirs = {
      policyName: 'aws-accelerator-subscription',
      policyDocument: '{"DestinationArn":"arn:x"}',
    };
    logs.accountPolicy = theirs;
    const b = backfill(logs, virtualClock(), 'account');
    await b.handler(request('Create', props('account')), context);
    expect(b.answers[0]?.response).toMatchObject({
      Status: 'FAILED',
      Data: { Scope: 'account', AccountPolicy: 'conflict' },
      Reason: expect.stringContaining('"aws-accelerator-subscription" is not ours'),
    });
    expect(logs.accountPolicy).toStrictEqual(theirs);
    expect(logs.calls.PutAccountPolicy + logs.calls.DeleteAccountPolicy).toBe(0);
    expect(b.recorded.metrics).toMatchObject({ AccountPolicyInPlace: 0, AccountPolicyConflict: 1 });
  });

  it('opt-out (Enrollment disabled) deletes our policy; opting in again puts it back', async () => {
    const logs = account(eligibleNames(3), false);
    const b = backfill(logs, virtualClock(), 'account');
    await b.handler(request('Create', props('account')), context);
    await b.handler(
      request('Update', props('account', { Enrollment: 'disabled' }), props('account')),
      context,
    );
    expect(b.answers[1]?.response).toMatchObject({ Status: 'SUCCESS', Data: { AccountPolicy: 'removed' } });
    expect(logs.accountPolicy).toBeUndefined();
    await b.handler(
      request('Update', props('account'), props('account', { Enrollment: 'disabled' })),
      context,
    );
    expect(b.answers[2]?.response).toMatchObject({ Status: 'SUCCESS', Data: { AccountPolicy: 'in-place' } });
    expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME);
  });

  it('an opt-out whose deletion fails answers SUCCESS and leaves the deletion to the worker, which retries until it is gone', async () => {
    const logs = account(eligibleNames(2), false);
    const clock = virtualClock();
    const b = backfill(logs, clock, 'account');
    await b.handler(request('Create', props('account')), context);
    let denied = true;
    logs.fault = (op) => {
      if (op === 'DeleteAccountPolicy' && denied)
        throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
    };
    await b.handler(
      request('Update', props('account', { Enrollment: 'disabled' }), props('account')),
      context,
    );
    expect(b.answers[1]?.response).toMatchObject({ Status: 'SUCCESS', Data: { AccountPolicy: 'failed' } });
    expect(b.answers[1]?.response.Reason).toContain('retries the deletion');
    expect(b.jobs).toMatchObject([{ kind: 'opted-out', policyName: FILTER_NAME, filterName: FILTER_NAME }]);
    const w = worker(logs, clock, () => ({
      installId: INSTALL,
      filterName: FILTER_NAME,
      scope: 'account',
      enrollment: 'disabled',
    }));
    w.state.job = b.jobs[0];
    expect(await w.handler(w.state.job, context)).toMatchObject({ kind: 'progress' });
    expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME); // still denied: retried next run
    denied = false;
    clock.t += CLEANUP_PERIOD_MS;
    const outcome = await untilFinished(w, clock, await w.handler(w.state.job, context));
    expect(outcome).toMatchObject({ kind: 'finished', reason: 'done' });
    expect(logs.accountPolicy).toBeUndefined();
    expect(w.state.selfDeleted).toBe(0); // it belongs to the live stack
  });

  it('Delete (uninstall) deletes our policy and never a foreign one', async () => {
    const logs = account(eligibleNames(2), false);
    const b = backfill(logs, virtualClock(), 'account');
    await b.handler(request('Create', props('account')), context);
    await b.handler(request('Delete', props('account')), context);
    expect(b.answers[1]?.response.Status).toBe('SUCCESS');
    expect(b.answers[1]?.response.Reason).toContain('account policy "log-reflector-us-east-1" removed');
    expect(logs.accountPolicy).toBeUndefined();
    // The worker deletes ours once more after the settle time (a check in flight may put it back).
    expect(b.jobs).toMatchObject([{ kind: 'uninstall', filterName: FILTER_NAME, policyName: FILTER_NAME }]);
    const theirs = { policyName: 'theirs' };
    logs.accountPolicy = theirs;
    await b.handler(request('Delete', props('account')), context);
    expect(logs.accountPolicy).toStrictEqual(theirs);
  });

  it('a rename puts the policy under the new name in place of ours, not as a conflict', async () => {
    const logs = account(eligibleNames(2), false);
    const b = backfill(logs, virtualClock(), 'account');
    await b.handler(request('Create', props('account', { FilterName: 'old-us-east-1' })), context);
    expect(logs.accountPolicy?.policyName).toBe('old-us-east-1');
    await b.handler(
      request('Update', props('account'), props('account', { FilterName: 'old-us-east-1' })),
      context,
    );
    expect(b.answers[1]?.response.Status).toBe('SUCCESS');
    expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME);
  });
});

describe('switching scope on a running account, without a gap', () => {
  it('log-group → account: the policy first, our per-group filters after it took effect, foreign filters untouched', async () => {
    const eligible = eligibleNames(300);
    const logs = account(eligible, true);
    const clock = virtualClock();
    const t0 = clock.now();
    const guard = guardNoGap(logs, eligible);
    const b = backfill(logs, clock, 'account');
    // The old properties had no Scope: the stack was in log-group scope.
    await b.handler(request('Update', props('account'), props('log-group')), context);
    const [answer] = b.answers;
    expect(answer?.response).toMatchObject({
      Status: 'SUCCESS',
      Data: { Scope: 'account', AccountPolicy: 'in-place' },
    });
    expect(answer?.response.Reason).toContain('removes our per-group filters from 15 minutes from now');
    expect(answer?.policyAtAnswer).toBe(FILTER_NAME);
    expect(answer?.oursAtAnswer).toBe(300); // the backfill itself removes none
    expect(b.jobs).toStrictEqual([
      expect.objectContaining({
        kind: 'migrated',
        filterName: FILTER_NAME,
        startAfterMs: t0 + MIGRATION_START_DELAY_MS,
      }),
    ]);

    const live: LiveInstall = {
      installId: INSTALL,
      filterName: FILTER_NAME,
      scope: 'account',
      enrollment: 'enabled',
    };
    const w = worker(logs, clock, () => live);
    w.state.job = b.jobs[0];
    // The kick-off invocation comes at once: it waits for the policy to take effect.
    expect(await w.handler(w.state.job, context)).toStrictEqual({ kind: 'waiting' });
    expect(logs.groupsWith(FILTER_NAME)).toHaveLength(300);
    let outcome = await w.handler(w.state.job, context);
    for (let tick = 1; outcome.kind !== 'finished' && tick < 50; tick += 1) {
      clock.t = t0 + tick * CLEANUP_PERIOD_MS;
      outcome = await w.handler(w.state.job, context);
    }
    expect(outcome).toMatchObject({ kind: 'finished', reason: 'done' });
    expect(logs.groupsWith(FILTER_NAME)).toStrictEqual([]);
    expect(logs.groupsWith('datadog')).toHaveLength(100);
    expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME);
    expect(w.state).toMatchObject({ scheduleRemoved: 1, selfDeleted: 0 });
    expect(guard.checks).toBe(300);
  });

  it('log-group → account with a foreign policy: FAILED, the stack stays in log-group scope, nothing removed', async () => {
    const eligible = eligibleNames(10);
    const logs = account(eligible, true);
    logs.accountPolicy = { policyName: 'central-logging' };
    const b = backfill(logs, virtualClock(), 'account');
    await b.handler(request('Update', props('account'), props('log-group')), context);
    expect(b.answers[0]?.response).toMatchObject({ Status: 'FAILED', Data: { AccountPolicy: 'conflict' } });
    expect(b.answers[0]?.response.Reason).toContain('the stack stays in log-group scope');
    expect(logs.groupsWith(FILTER_NAME)).toHaveLength(10);
    expect(logs.accountPolicy).toStrictEqual({ policyName: 'central-logging' });
    expect(b.jobs).toStrictEqual([]);
  });

  it('a migrated job stops when the stack switched back to log-group scope before it started', async () => {
    const eligible = eligibleNames(20);
    const logs = account(eligible, true);
    const clock = virtualClock();
    const b = backfill(logs, clock, 'account');
    await b.handler(request('Update', props('account'), props('log-group')), context);
    const w = worker(logs, clock, () => ({
      installId: INSTALL,
      filterName: FILTER_NAME,
      scope: 'log-group',
    }));
    clock.t += MIGRATION_START_DELAY_MS;
    expect(await w.handler(b.jobs[0], context)).toMatchObject({ kind: 'finished', reason: 'superseded' });
    expect(logs.groupsWith(FILTER_NAME)).toHaveLength(20);
    expect(w.state.selfDeleted).toBe(0);
  });

  it('account → log-group: every group gets our filter first; the policy goes after the answer', async () => {
    const eligible = eligibleNames(40);
    const logs = account(eligible, false);
    const clock = virtualClock();
    await backfill(logs, clock, 'account').handler(request('Create', props('account')), context);
    const guard = guardNoGap(logs, eligible);
    const b = backfill(logs, clock, 'log-group');
    await b.handler(request('Update', props('log-group'), props('account')), context);
    expect(b.answers[0]?.response.Status).toBe('SUCCESS');
    // A rollback to account scope must find the policy: it is still there at the answer.
    expect(b.answers[0]?.policyAtAnswer).toBe(FILTER_NAME);
    expect(b.answers[0]?.oursAtAnswer).toBe(40);
    expect(logs.accountPolicy).toBeUndefined();
    expect(logs.groupsWith('datadog')).toHaveLength(14);
    expect(guard.checks).toBe(1);
  });

  it('account → log-group in a large account: the policy stays through the chain and goes at its last hop', async () => {
    const eligible = eligibleNames(600);
    const logs = account(eligible, false);
    const clock = virtualClock();
    await backfill(logs, clock, 'account').handler(request('Create', props('account')), context);
    const guard = guardNoGap(logs, eligible);
    // 4 requests/s and a 60 s budget: the first step covers a fraction, the rest is handed on.
    const b = backfill(logs, clock, 'log-group', 4);
    await b.handler(request('Update', props('log-group'), props('account')), context);
    expect(b.handedOff.length).toBeGreaterThan(0);
    expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME);
    let hops = 0;
    while (b.handedOff.length > 0) {
      const next = b.handedOff.shift();
      hops += 1;
      await b.handler(JSON.parse(JSON.stringify(next)), context);
      if (b.handedOff.length > 0) expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME);
    }
    expect(hops).toBeGreaterThan(0);
    expect(logs.groupsWith(FILTER_NAME)).toHaveLength(600);
    expect(logs.accountPolicy).toBeUndefined();
    expect(guard.checks).toBe(1);
  });

  it('account → log-group with a group that cannot be subscribed keeps the policy', async () => {
    const eligible = eligibleNames(10);
    const logs = account(eligible, false);
    const clock = virtualClock();
    await backfill(logs, clock, 'account').handler(request('Create', props('account')), context);
    logs.fault = (op, group) => {
      if (op === 'PutSubscriptionFilter' && group === '/app/g-0004')
        throw Object.assign(new Error('boom'), { name: 'InvalidParameterException' });
    };
    const b = backfill(logs, clock, 'log-group');
    await b.handler(request('Update', props('log-group'), props('account')), context);
    expect(b.answers[0]?.response.Status).toBe('SUCCESS');
    expect(logs.groupsWith(FILTER_NAME)).toHaveLength(9);
    expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME);
    expect(b.recorded.lines).toContainEqual(
      expect.objectContaining({
        message: 'account policy',
        extra: [expect.objectContaining({ state: 'kept-until-pass' })],
      }),
    );
  });
});

describe('an invocation that failed still gets its one answer (account scope)', () => {
  const record = (payload: unknown) => ({
    version: '1.0',
    requestContext: {
      requestId: 'r',
      functionArn: FUNCTION_ARN,
      condition: 'RetriesExhausted',
      approximateInvokeCount: 1,
    },
    requestPayload: payload,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: { errorType: 'Error', errorMessage: 'boom' },
  });

  it('a switch to account scope → FAILED (log-group scope stays); within account scope → SUCCESS; Delete → the worker deletes the policy', async () => {
    const logs = account(eligibleNames(2), true);
    const b = backfill(logs, virtualClock(), 'account');
    await b.handler(record(request('Update', props('account'), props('log-group'))), context);
    expect(b.answers[0]?.response).toMatchObject({
      Status: 'FAILED',
      Reason: expect.stringContaining('the stack stays in log-group scope'),
    });
    await b.handler(
      record(request('Update', props('account', { FilterPattern: '?ERROR' }), props('account'))),
      context,
    );
    expect(b.answers[1]?.response.Status).toBe('SUCCESS');
    await b.handler(record(request('Delete', props('account'))), context);
    expect(b.answers[2]?.response.Status).toBe('SUCCESS');
    expect(b.jobs).toMatchObject([{ kind: 'uninstall', filterName: FILTER_NAME, policyName: FILTER_NAME }]);
    expect(logs.groupsWith(FILTER_NAME)).toHaveLength(2);
  });
});

describe('coverage report in account scope (issue 12.1 × 14)', () => {
  const counted = { total: 7, excluded: 2, notEnrolled: 0 }; // 5 eligible + our sweep's group + /ecs/debug

  it('Create: after the answer, the groups the policy applies to count as subscribed; the report says account scope', async () => {
    const logs = account(eligibleNames(5), false);
    const b = backfill(logs, virtualClock(), 'account');
    await b.handler(request('Create', props('account')), context);
    expect(b.reports).toHaveLength(1);
    const [written] = b.reports;
    expect(written?.answersBefore).toBe(1);
    expect(written?.report).toMatchObject({
      source: 'backfill',
      scope: 'account',
      enrollment: 'enabled',
      filterName: FILTER_NAME,
      complete: true,
      groups: { ...counted, eligible: 5, subscribed: 5, conflicts: 0, failed: 0 },
      accountPolicy: { state: 'in-place' },
    });
    expect(written?.report.error).toBeUndefined();
    expect(logs.calls.DescribeLogGroups).toBe(1);
  });

  it('Create with a foreign policy (FAILED): every group it would cover is a conflict, the foreign policy named', async () => {
    const logs = account(eligibleNames(3), false);
    logs.accountPolicy = { policyName: 'aws-accelerator-subscription' };
    const b = backfill(logs, virtualClock(), 'account');
    await b.handler(request('Create', props('account')), context);
    expect(b.answers[0]?.response.Status).toBe('FAILED');
    expect(b.reports.map((w) => w.report)).toMatchObject([
      {
        scope: 'account',
        groups: { total: 5, eligible: 3, subscribed: 0, conflicts: 3, failed: 0, excluded: 2 },
        accountPolicy: { state: 'conflict', foreignPolicies: ['aws-accelerator-subscription'] },
      },
    ]);
  });

  it('Update whose put fails (SUCCESS, the old policy stays): the groups count as failed, with the error', async () => {
    const logs = account(eligibleNames(4), false);
    const b = backfill(logs, virtualClock(), 'account');
    await b.handler(request('Create', props('account')), context);
    logs.fault = (op) => {
      if (op === 'PutAccountPolicy')
        throw Object.assign(new Error('denied by an SCP'), { name: 'AccessDeniedException' });
    };
    await b.handler(
      request('Update', props('account', { FilterPattern: '?ERROR' }), props('account')),
      context,
    );
    expect(b.answers[1]?.response.Status).toBe('SUCCESS');
    expect(b.reports[1]?.report).toMatchObject({
      groups: { eligible: 4, subscribed: 0, failed: 4 },
      accountPolicy: { state: 'failed', error: expect.stringContaining('denied by an SCP') },
    });
  });

  it('opt-out reports every group as not enrolled, as log-group scope does; Delete writes no report', async () => {
    const logs = account(eligibleNames(3), false);
    const b = backfill(logs, virtualClock(), 'account');
    await b.handler(request('Create', props('account')), context);
    await b.handler(
      request('Update', props('account', { Enrollment: 'disabled' }), props('account')),
      context,
    );
    expect(b.reports[1]?.report).toMatchObject({
      enrollment: 'disabled',
      groups: { total: 5, eligible: 0, subscribed: 0, excluded: 0, notEnrolled: 5 },
      accountPolicy: { state: 'removed' },
    });
    await b.handler(request('Delete', props('account')), context);
    expect(b.answers).toHaveLength(3);
    expect(b.reports).toHaveLength(2);
  });

  it('a switch from log-group scope reports account scope; a refused switch writes nothing (the sweep goes on reporting)', async () => {
    const refused = account(eligibleNames(4), true);
    refused.accountPolicy = { policyName: 'central-logging' };
    const r = backfill(refused, virtualClock(), 'account');
    await r.handler(request('Update', props('account'), props('log-group')), context);
    expect(r.answers[0]?.response.Status).toBe('FAILED');
    expect(r.reports).toStrictEqual([]);

    const logs = account(eligibleNames(4), true);
    const b = backfill(logs, virtualClock(), 'account');
    await b.handler(request('Update', props('account'), props('log-group')), context);
    expect(b.reports.map((w) => w.report)).toMatchObject([
      { scope: 'account', groups: { eligible: 4, subscribed: 4 }, accountPolicy: { state: 'in-place' } },
    ]);
  });

  it('a listing that fails leaves the answer alone; the report says what was counted and why it stopped', async () => {
    const logs = account(eligibleNames(3), false);
    logs.fault = (op) => {
      if (op === 'DescribeLogGroups')
        throw Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
    };
    const b = backfill(logs, virtualClock(), 'account');
    await b.handler(request('Create', props('account')), context);
    expect(b.answers[0]?.response.Status).toBe('SUCCESS');
    expect(b.reports[0]?.report).toMatchObject({
      complete: false,
      error: expect.stringContaining('listing failed'),
      groups: { total: 0, eligible: 0 },
      accountPolicy: { state: 'in-place' },
    });
  });

  it('a count that outlasts the invocation stops at its deadline and says so (complete false, no error)', async () => {
    const logs = account(eligibleNames(600), false);
    const clock = virtualClock();
    const end = clock.now() + 5_000;
    const short = { ...context, getRemainingTimeInMillis: () => end - clock.now() };
    // 1 call per second: about 4 of the 13 pages fit before the deadline (1 s grace).
    const b = backfill(logs, clock, 'account', 1);
    await b.handler(request('Create', props('account')), short);
    expect(b.answers[0]?.response.Status).toBe('SUCCESS');
    const report = b.reports[0]?.report;
    expect(report).toMatchObject({ complete: false, accountPolicy: { state: 'in-place' } });
    expect(report?.error).toBeUndefined();
    expect(report?.groups.total).toBeGreaterThan(0);
    expect(report?.groups.total).toBeLessThan(602);
    expect(report?.groups.subscribed).toBe(report?.groups.eligible);
  });
});

describe('the periodic check in account scope: the control plane converges between stack operations', () => {
  /** The schedule's event as AWS documents it, from our rule (the sample names another rule). */
  const SAMPLE = loadEvent<Record<string, unknown>>('eventbridge/scheduled-event.awsdocs.json');
  let checks = 0;
  function scheduled(overrides: Record<string, unknown> = {}) {
    checks += 1;
    return {
      ...SAMPLE,
      id: `53dc4d37-cffa-4f76-80c9-${String(checks).padStart(12, '0')}`,
      region: REGION,
      account: ACCOUNT,
      resources: [`arn:aws:events:${REGION}:${ACCOUNT}:rule/${ACCOUNT_CHECK_RULE_NAME}`],
      ...overrides,
    };
  }
  const installed = async (eligible = 4, envOverrides: Record<string, string> = {}) => {
    const logs = account(eligibleNames(eligible), false);
    const clock = virtualClock();
    const b = backfill(logs, clock, 'account', 100, envOverrides);
    await b.handler(request('Create', props('account')), context);
    expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME);
    return { logs, clock, b };
  };
  const policyCalls = (logs: FakeLogs) => logs.calls.PutAccountPolicy + logs.calls.DeleteAccountPolicy;
  /** Someone deletes our policy outside log-reflector (a function, so the type is not narrowed). */
  const deletedByHand = (logs: FakeLogs) => {
    logs.accountPolicy = undefined;
  };

  it('puts our policy back when someone deleted it, and rewrites the report (in-place, later than the last one)', async () => {
    const { logs, clock, b } = await installed(4);
    deletedByHand(logs); // between stack operations
    clock.t += 6 * 3_600_000;
    expect(await b.handler(scheduled(), context)).toStrictEqual({ kind: 'checked', policy: 'in-place' });
    expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME);
    expect(parseSelectionCriteria(logs.accountPolicy?.selectionCriteria)).toStrictEqual(EXCLUDE);
    expect(b.answers).toHaveLength(1); // nothing is sent to CloudFormation
    expect(b.reports).toHaveLength(2);
    const [first, second] = b.reports.map((w) => w.report);
    expect(second).toMatchObject({
      source: 'backfill',
      scope: 'account',
      enrollment: 'enabled',
      complete: true,
      groups: { total: 6, eligible: 4, subscribed: 4 },
      accountPolicy: { state: 'in-place' },
    });
    expect(Date.parse(second?.generatedAt ?? '')).toBeGreaterThan(Date.parse(first?.generatedAt ?? ''));
    expect(b.recorded.lines).toContainEqual(
      expect.objectContaining({ level: 'warn', message: 'periodic check repaired our account policy' }),
    );
  });

  it('updates ours when someone changed it (pattern, destination), and leaves a correct one alone', async () => {
    const { logs, b } = await installed(2);
    const puts = logs.calls.PutAccountPolicy;
    await b.handler(scheduled(), context);
    expect(logs.calls.PutAccountPolicy).toBe(puts); // correct: read only
    logs.accountPolicy = {
      ...(logs.accountPolicy as NonNullable<FakeLogs['accountPolicy']>),
      policyDocument: JSON.stringify({
        DestinationArn: 'arn:aws:kinesis:x',
        RoleArn: ROLE_ARN,
        FilterPattern: 'x',
      }),
    };
    await b.handler(scheduled(), context);
    expect(logs.calls.PutAccountPolicy).toBe(puts + 1);
    expect(JSON.parse(logs.accountPolicy?.policyDocument ?? '{}')).toMatchObject({
      DestinationArn: DESTINATION,
      FilterPattern: '',
    });
  });

  it('a foreign policy that replaced ours is reported as a conflict and never touched', async () => {
    const { logs, b } = await installed(3);
    const theirs = {
      policyName: 'aws-accelerator-subscription',
      policyDocument: '{"DestinationArn":"arn:x"}',
    };
    logs.accountPolicy = theirs;
    const before = policyCalls(logs);
    expect(await b.handler(scheduled(), context)).toStrictEqual({ kind: 'checked', policy: 'conflict' });
    expect(logs.accountPolicy).toStrictEqual(theirs);
    expect(policyCalls(logs)).toBe(before);
    expect(b.reports.at(-1)?.report).toMatchObject({
      groups: { eligible: 3, subscribed: 0, conflicts: 3 },
      accountPolicy: { state: 'conflict', foreignPolicies: ['aws-accelerator-subscription'] },
    });
  });

  it('honours Enrollment disabled: deletes ours if it is back (a failed opt-out deletion), never a foreign one', async () => {
    const disabled = { ENROLLMENT: 'disabled' };
    const { logs, b } = await installed(3, disabled);
    // The Create under a disabled environment is not what we test; the check reads the environment.
    logs.accountPolicy = { policyName: FILTER_NAME, policyDocument: '{}' };
    expect(await b.handler(scheduled(), context)).toStrictEqual({ kind: 'checked', policy: 'removed' });
    expect(logs.accountPolicy).toBeUndefined();
    expect(b.reports.at(-1)?.report).toMatchObject({
      enrollment: 'disabled',
      groups: { total: 5, eligible: 0, notEnrolled: 5 },
      accountPolicy: { state: 'removed' },
    });
    const theirs = { policyName: 'central-logging' };
    logs.accountPolicy = theirs;
    expect(await b.handler(scheduled(), context)).toStrictEqual({ kind: 'checked', policy: 'absent' });
    expect(logs.accountPolicy).toStrictEqual(theirs);
  });

  it('two checks at once converge on one policy of ours; a second delivery of the same event stops', async () => {
    const { logs, b } = await installed(3);
    deletedByHand(logs);
    const [one, two] = await Promise.all([b.handler(scheduled(), context), b.handler(scheduled(), context)]);
    expect([one, two]).toStrictEqual([
      { kind: 'checked', policy: 'in-place' },
      { kind: 'checked', policy: 'in-place' },
    ]);
    expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME);
    const event = scheduled();
    await b.handler(event, context);
    const calls = logs.calls.DescribeAccountPolicies;
    expect(await b.handler(structuredClone(event), context)).toStrictEqual({ kind: 'duplicate' });
    expect(logs.calls.DescribeAccountPolicies).toBe(calls);
  });

  it('ignores a scheduled event of another rule (the AWS sample as is) and runs nothing in log-group scope', async () => {
    const { logs, b } = await installed(2);
    logs.accountPolicy = undefined;
    expect(await b.handler(SAMPLE, context)).toStrictEqual({ kind: 'ignored' });
    expect(b.recorded.lines).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'not the account-scope check schedule; ignored' }),
    );
    expect(await b.handler(scheduled({ time: 'yesterday' }), context)).toStrictEqual({ kind: 'ignored' });
    expect(logs.accountPolicy).toBeUndefined();

    const lg = account(eligibleNames(2), true);
    const g = backfill(lg, virtualClock(), 'log-group');
    expect(await g.handler(scheduled(), context)).toStrictEqual({ kind: 'ignored' });
    expect(lg.calls.DescribeAccountPolicies + lg.calls.DescribeLogGroups).toBe(0);
    expect(g.reports).toStrictEqual([]);
  });

  it('uninstall: a check that was running when its rule went and puts ours back is undone by the worker after the settle time', async () => {
    const { logs, clock, b } = await installed(3);
    await b.handler(request('Delete', props('account')), context);
    expect(logs.accountPolicy).toBeUndefined();
    const w = worker(logs, clock, () => undefined); // the stack is gone
    w.state.job = b.jobs[0];
    const first = await w.handler(w.state.job, context);
    // The check's put lands after the Delete (its invocation started before the rule was deleted).
    expect(await b.handler(scheduled(), context)).toMatchObject({ kind: 'checked', policy: 'in-place' });
    expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME);
    const outcome = await untilFinished(w, clock, first);
    expect(outcome).toMatchObject({ kind: 'finished', reason: 'done' });
    expect(logs.accountPolicy).toBeUndefined();
  });

  it('uninstall in a large account: the worker keeps deleting ours at every run until the settle time has passed', async () => {
    const { logs, clock, b } = await installed(3);
    const w = worker(logs, clock, () => undefined);
    // A Delete that did not finish its pass: the worker's first run is pass 1, before the settle time.
    w.state.job = CleanupJobSchema.parse({
      logReflectorCleanup: 1,
      installId: INSTALL,
      kind: 'uninstall',
      filterName: FILTER_NAME,
      policyName: FILTER_NAME,
      requestedAtMs: clock.now(),
      pass: 1,
      runs: 0,
      totals: { subscribed: 0, updated: 0, removed: 0, conflict: 0, skipped: 0, failed: 0 },
    });
    await w.handler(w.state.job, context);
    expect(logs.accountPolicy).toBeUndefined();
    expect(w.state.job?.policyName).toBe(FILTER_NAME);
    await b.handler(scheduled(), context); // a check in flight puts it back
    const outcome = await untilFinished(w, clock, { kind: 'waiting' });
    expect(outcome).toMatchObject({ kind: 'finished', reason: 'done' });
    expect(logs.accountPolicy).toBeUndefined();
  });

  it('a check whose invocation failed is logged by the on-failure path, never answered or retried', async () => {
    const { logs, b } = await installed(2);
    const calls = logs.calls.DescribeAccountPolicies;
    const record = {
      version: '1.0',
      requestContext: { requestId: 'r', functionArn: FUNCTION_ARN, condition: 'RetriesExhausted' },
      requestPayload: scheduled(),
      responsePayload: { errorType: 'Error', errorMessage: 'boom' },
    };
    expect(await b.handler(record, context)).toStrictEqual({ kind: 'ignored' });
    expect(b.answers).toHaveLength(1);
    expect(logs.calls.DescribeAccountPolicies).toBe(calls);
    expect(b.recorded.lines).toContainEqual(
      expect.objectContaining({
        message: 'an invocation failed',
        extra: [expect.objectContaining({ payloadKind: 'scheduled check' })],
      }),
    );
  });
});
