/**
 * The cleanup worker on AWS semantics (fake-logs.ts) and a virtual clock at the member rate
 * (4 requests/s per API): uninstall of a 100,000-group account (issue 15.3: the Delete budget
 * alone left ~89k of our filters streaming), the re-check after the settle time, a reinstall
 * while it runs, a renamed filter in a live stack, the lease, and giving up.
 */
import { describe, expect, it } from 'vitest';
import { createBackfillHandler } from '../../../member/backfill/handler';
import type { CleanupControl, LiveInstall } from '../../../member/cleanup/control';
import { type CleanupOutcome, createCleanupHandler } from '../../../member/cleanup/handler';
import {
  CLEANUP_MAX_AGE_MS,
  CLEANUP_PERIOD_MS,
  CLEANUP_SETTLE_MS,
  type CleanupJob,
  CleanupJobSchema,
} from '../../../member/cleanup/job';
import { type CleanupReporter, createCleanupReporter } from '../../../member/cleanup/report';
import { emptySummary } from '../../../member/runtime/apply';
import { type CleanupReport, cleanupReportKey, parseCleanupReport } from '../../../shared/coverage';
import { FakeLogs, virtualClock } from '../fake-logs';
import { FILTER_NAME, memberEnv, memberSettings, memoryClaim, REGION, ROLE_ARN, streamArn } from '../support';
import { recordTelemetry } from '../telemetry-recorder';

const DESTINATION = streamArn('central');
const INSTALL = '271845b0';
const OURS = { filterName: FILTER_NAME, destinationArn: DESTINATION, filterPattern: '', roleArn: ROLE_ARN };
const FOREIGN = { filterName: 'datadog', destinationArn: streamArn('someone-else'), filterPattern: '' };
const RPS = 4;
/** The worker's Lambda timeout (900 s). */
const context = { getRemainingTimeInMillis: () => 900_000 };

const names = (n: number, prefix = '/app/g-') =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);

/** The schedule and the worker's own resources, in memory. */
function fakeControl(live: () => LiveInstall | undefined = () => undefined) {
  const state = {
    job: undefined as CleanupJob | undefined,
    scheduleRemoved: 0,
    selfDeleted: 0,
    saves: 0,
  };
  const control: CleanupControl = {
    async saveJob(job) {
      state.saves += 1;
      state.job = CleanupJobSchema.parse(JSON.parse(JSON.stringify(job)));
    },
    async liveInstall() {
      return live();
    },
    async removeSchedule() {
      state.scheduleRemoved += 1;
    },
    async deleteSelf() {
      state.selfDeleted += 1;
      return { roleDeleted: true };
    },
  };
  return { control, state };
}

function worker(
  logs: FakeLogs,
  clock: ReturnType<typeof virtualClock>,
  control: CleanupControl,
  reporter?: (recorded: ReturnType<typeof recordTelemetry>) => CleanupReporter,
) {
  const recorded = recordTelemetry();
  const handler = createCleanupHandler({
    env: { INSTALL_ID: INSTALL, RATE_LIMIT_RPS: String(RPS), AWS_REGION: REGION },
    runtimeFor: (rps) => logs.runtime({ requestsPerSecond: rps, clock }),
    control,
    clock,
    telemetry: recorded.telemetry,
    graceMs: 120_000,
    reporter: reporter?.(recorded),
  });
  return { handler, recorded };
}

/** Runs the worker at every schedule tick, as EventBridge would, until it finishes. */
async function tickUntilFinished(
  handler: ReturnType<typeof worker>['handler'],
  clock: ReturnType<typeof virtualClock>,
  state: ReturnType<typeof fakeControl>['state'],
  onTick: (tick: number) => void = () => {},
): Promise<{ finished: CleanupOutcome; ticks: number }> {
  let tick = clock.now();
  for (let ticks = 1; ticks < 2000; ticks += 1) {
    const outcome = await handler(JSON.parse(JSON.stringify(state.job)), context);
    if (outcome.kind === 'finished') return { finished: outcome, ticks };
    tick += CLEANUP_PERIOD_MS;
    expect(clock.now()).toBeLessThanOrEqual(tick); // a run never overruns the period
    clock.t = tick;
    onTick(ticks);
  }
  throw new Error('the worker did not finish in 2,000 ticks');
}

function job(overrides: Partial<CleanupJob> = {}, clock = virtualClock()): CleanupJob {
  return {
    logReflectorCleanup: 1,
    installId: INSTALL,
    kind: 'uninstall',
    filterName: FILTER_NAME,
    requestedAtMs: clock.now(),
    pass: 1,
    totals: emptySummary(),
    runs: 0,
    ...overrides,
  };
}

describe('cleanup worker at scale', () => {
  it('uninstall of 100,000 groups at 4 rps: the Delete answers at once, the worker removes every filter of ours, then itself', async () => {
    const logs = new FakeLogs();
    const all = names(100_000);
    logs.addGroups(all);
    for (const g of all) logs.putFilterDirect(g, OURS);
    for (const g of all.filter((_, i) => i % 10 === 0)) logs.putFilterDirect(g, FOREIGN);
    const clock = virtualClock();
    const t0 = clock.now();
    const { control, state } = fakeControl();

    // The backfill's Delete, with its 5-minute budget, as CloudFormation sends it.
    const responses: { Status: string; Reason?: string; Data?: Record<string, string> }[] = [];
    const backfill = createBackfillHandler({
      env: {
        ...memberEnv(memberSettings({ destinationArn: DESTINATION })),
        INSTALL_ID: INSTALL,
        RATE_LIMIT_RPS: '4',
      },
      runtimeFor: (s) => logs.runtime({ requestsPerSecond: s.rateLimitRps, clock }),
      handOff: async () => {},
      clock,
      telemetry: recordTelemetry().telemetry,
      claim: memoryClaim(),
      sendResponse: async (_url, response) => {
        responses.push(response);
      },
      budgets: { graceMs: 150_000, syncBudgetMs: 5 * 60_000 },
      startCleanup: async (j) => {
        state.job = j;
      },
    });
    await backfill(
      {
        RequestType: 'Delete',
        ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x',
        StackId: `arn:aws:cloudformation:${REGION}:123456789012:stack/StackSet-log-reflector-members-x/${INSTALL}-f2e8-11ed-90ac-0eeb25b8ae21`,
        RequestId: 'd2a0-4dfb',
        LogicalResourceId: 'BackfillRun',
        PhysicalResourceId: `log-reflector-backfill-${FILTER_NAME}`,
        ResourceProperties: { FilterName: FILTER_NAME },
      },
      {
        invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:log-reflector-backfill',
        getRemainingTimeInMillis: () => 900_000,
      },
    );
    expect(responses).toHaveLength(1);
    expect(responses[0]?.Status).toBe('SUCCESS');
    const answeredAfterMs = clock.now() - t0;
    expect(answeredAfterMs).toBeLessThanOrEqual(5 * 60_000 + 60_000);
    // What the Delete alone leaves (the old design stopped here, after at most 45 minutes).
    const leftAtAnswer = logs.groupsWith(FILTER_NAME).length;
    expect(leftAtAnswer).toBeGreaterThan(95_000);

    const { handler, recorded } = worker(logs, clock, control);
    clock.t = t0 + CLEANUP_PERIOD_MS; // the first tick (the kick-off invocation is the same run)
    const { finished, ticks } = await tickUntilFinished(handler, clock, state);

    expect(finished).toMatchObject({ kind: 'finished', reason: 'done', roleDeleted: true });
    expect(logs.groupsWith(FILTER_NAME)).toStrictEqual([]);
    expect(logs.groupsWith('datadog')).toHaveLength(10_000);
    expect(state.scheduleRemoved).toBe(1);
    expect(state.selfDeleted).toBe(1);
    const totals = (finished as { job: CleanupJob }).job.totals;
    // The job carries the Delete's own count: the worker's totals are the whole uninstall's.
    expect(totals.removed).toBe(100_000);
    expect(responsesRemoved(responses)).toBe(100_000 - leftAtAnswer);
    expect(totals.failed).toBe(0);
    // Time to converge at the member rate: one DescribeSubscriptionFilters per group at 4/s
    // is 6.9 hours of calls; runs take 13 of every 15 minutes, and the re-check of what the
    // first 30 minutes covered adds a few ticks (measured: 8.8 h, 35 runs).
    const hours = (clock.now() - t0) / 3600_000;
    expect(hours).toBeGreaterThan(6.9);
    expect(hours).toBeLessThan(9);
    expect(ticks).toBeLessThan(40);
    expect(recorded.lines.filter((l) => l.message === 'cleanup progress')).toHaveLength(ticks);
    expect(recorded.metrics).toMatchObject({ Removed: leftAtAnswer, CleanupFinished: 1 });
    console.info(
      `cleanup of 100,000 groups at ${RPS} rps: Delete answered after ${Math.round(answeredAfterMs / 1000)} s with ${leftAtAnswer} filters left; worker done after ${hours.toFixed(2)} h in ${ticks} runs; ${logs.calls.DescribeSubscriptionFilters} DescribeSubscriptionFilters calls`,
    );
  }, 120_000);
});

function responsesRemoved(responses: { Data?: Record<string, string> }[]): number {
  return Number((responses[0] as { Data?: Record<string, string> }).Data?.Removed ?? 0);
}

describe('cleanup worker lifecycle', () => {
  it('re-reads what pass 1 covered before the settle time, catching a filter a dying function wrote behind it', async () => {
    const logs = new FakeLogs();
    const all = names(3_000);
    logs.addGroups(all);
    for (const g of all) logs.putFilterDirect(g, OURS);
    const clock = virtualClock();
    const { control, state } = fakeControl();
    state.job = job({}, clock);
    const { handler } = worker(logs, clock, control);
    // A sweep invocation of the deleted stack, still running, subscribes an early group again
    // after pass 1 passed it.
    const { finished } = await tickUntilFinished(handler, clock, state, (tick) => {
      if (tick === 1) logs.putFilterDirect('/app/g-000007', OURS);
    });
    expect(finished).toMatchObject({ reason: 'done' });
    expect(logs.groupsWith(FILTER_NAME)).toStrictEqual([]);
    expect(state.job?.pass ?? 2).toBe(2);
  });

  it('does not finish before the settle time even when everything is removed at once', async () => {
    const logs = new FakeLogs();
    logs.addGroups(names(10));
    const clock = virtualClock();
    const { control, state } = fakeControl();
    state.job = job({}, clock);
    const { handler } = worker(logs, clock, control);
    expect(await handler(state.job, context)).toMatchObject({
      kind: 'progress',
      job: { pass: 2, recheckAll: true },
    });
    expect(await handler(state.job, context)).toStrictEqual({ kind: 'waiting' });
    clock.t = (state.job?.requestedAtMs ?? 0) + CLEANUP_SETTLE_MS;
    expect(await handler(state.job, context)).toMatchObject({ kind: 'finished', reason: 'done' });
  });

  it('stops at once, removing nothing more, when a reinstall owns the same filter name', async () => {
    const logs = new FakeLogs();
    const all = names(20_000);
    logs.addGroups(all);
    for (const g of all) logs.putFilterDirect(g, OURS);
    const clock = virtualClock();
    let live: LiveInstall | undefined;
    const { control, state } = fakeControl(() => live);
    state.job = job({}, clock);
    const { handler } = worker(logs, clock, control);
    const first = await handler(state.job, context);
    expect(first.kind).toBe('progress');
    const leftAfterFirst = logs.groupsWith(FILTER_NAME).length;
    expect(leftAfterFirst).toBeGreaterThan(0);
    // The account comes back into the target OUs: a new stack (another install id) subscribes.
    live = { installId: 'aaaaaaaa', filterName: FILTER_NAME };
    for (const g of all.slice(0, 100)) logs.putFilterDirect(g, OURS);
    clock.t += CLEANUP_PERIOD_MS;
    expect(await handler(state.job, context)).toMatchObject({ kind: 'finished', reason: 'superseded' });
    expect(logs.groupsWith(FILTER_NAME).length).toBe(leftAfterFirst + 100);
    expect(state).toMatchObject({ scheduleRemoved: 1, selfDeleted: 1 });
  });

  it('keeps going while its own dying stack still has the backfill with this name', async () => {
    const logs = new FakeLogs();
    logs.addGroups(names(10));
    for (const g of names(10)) logs.putFilterDirect(g, OURS);
    const clock = virtualClock();
    const { control, state } = fakeControl(() => ({ installId: INSTALL, filterName: FILTER_NAME }));
    state.job = job({}, clock);
    const { handler } = worker(logs, clock, control);
    expect((await handler(state.job, context)).kind).toBe('progress');
    expect(logs.groupsWith(FILTER_NAME)).toStrictEqual([]);
  });

  it('a rename in a live stack removes the old name only and keeps the worker (schedule removed, no self-deletion)', async () => {
    const logs = new FakeLogs();
    logs.addGroups(names(10));
    for (const g of names(10)) {
      logs.putFilterDirect(g, { ...OURS, filterName: 'old-us-east-1' });
      logs.putFilterDirect(g, OURS);
    }
    const clock = virtualClock();
    const { control, state } = fakeControl(() => ({ installId: INSTALL, filterName: FILTER_NAME }));
    state.job = job({ kind: 'replaced', filterName: 'old-us-east-1' }, clock);
    const { handler } = worker(logs, clock, control);
    const { finished } = await tickUntilFinished(handler, clock, state);
    expect(finished).toMatchObject({ reason: 'done' });
    expect(logs.groupsWith('old-us-east-1')).toStrictEqual([]);
    expect(logs.groupsWith(FILTER_NAME)).toHaveLength(10);
    expect(state).toMatchObject({ scheduleRemoved: 1, selfDeleted: 0 });
  });

  it('a rename back to the removed name in the live stack stops the job', async () => {
    const clock = virtualClock();
    const { control, state } = fakeControl(() => ({ installId: INSTALL, filterName: 'old-us-east-1' }));
    const { handler } = worker(new FakeLogs(), clock, control);
    expect(
      await handler(job({ kind: 'replaced', filterName: 'old-us-east-1' }, clock), context),
    ).toMatchObject({
      kind: 'finished',
      reason: 'superseded',
    });
    expect(state.selfDeleted).toBe(0);
  });

  it('a tick during a run returns at once (lease); a job with nothing to remove only deletes the worker', async () => {
    const clock = virtualClock();
    const { control, state } = fakeControl();
    const { handler } = worker(new FakeLogs(), clock, control);
    expect(await handler(job({ leaseUntilMs: clock.now() + 60_000 }, clock), context)).toStrictEqual({
      kind: 'busy',
    });
    const { filterName: _none, ...nothing } = job({}, clock);
    expect(await handler(nothing, context)).toMatchObject({ kind: 'finished', reason: 'nothing-to-remove' });
    expect(state.selfDeleted).toBe(1);
    expect(await handler({ not: 'a job' }, context)).toStrictEqual({ kind: 'invalid' });
  });

  it('keeps retrying while every call is denied, and gives up (deleting itself) after 30 days', async () => {
    const logs = new FakeLogs();
    logs.addGroups(names(10));
    logs.fault = () => {
      throw Object.assign(new Error('explicit deny in a service control policy'), {
        name: 'AccessDeniedException',
        $fault: 'client',
      });
    };
    const clock = virtualClock();
    const { control, state } = fakeControl();
    state.job = job({}, clock);
    const { handler } = worker(logs, clock, control);
    await expect(handler(state.job, context)).rejects.toThrow(/explicit deny/);
    clock.t += CLEANUP_MAX_AGE_MS + 1;
    expect(await handler(state.job, context)).toMatchObject({ kind: 'finished', reason: 'gave-up' });
    expect(state.selfDeleted).toBe(1);
  });
});

const ACCOUNT = '123456789012';
const BUCKET = 'log-reflector-state-abc';

/**
 * The central bucket as the worker sees it: every PUT recorded (parsed with the central side's
 * own parser) with how many times the worker had deleted itself at that moment; `fail` makes
 * every PUT throw.
 */
function centralBucket(state: ReturnType<typeof fakeControl>['state'], fail?: Error) {
  const puts: { key: string; report: CleanupReport; selfDeletedBefore: number }[] = [];
  const reporter = (recorded: ReturnType<typeof recordTelemetry>) =>
    createCleanupReporter({
      target: { bucket: BUCKET, key: cleanupReportKey(ACCOUNT, REGION), account: ACCOUNT, region: REGION },
      store: {
        async put(bucket, key, body) {
          if (fail) throw fail;
          expect(bucket).toBe(BUCKET);
          puts.push({ key, report: parseCleanupReport(body, key), selfDeletedBefore: state.selfDeleted });
        },
      },
      clock: { now: () => recordedClock.now() },
      logger: recorded.telemetry.logger,
    });
  const recordedClock = { now: () => 0 };
  return { puts, reporter, useClock: (c: { now(): number }) => (recordedClock.now = () => c.now()) };
}

describe('cleanup worker progress report (issue 15.3: progress visible centrally)', () => {
  it('writes one report per run: removed grows, the position advances, and the last says done before the worker deletes itself', async () => {
    const logs = new FakeLogs();
    const all = names(10_000);
    logs.addGroups(all);
    for (const g of all) logs.putFilterDirect(g, OURS);
    const clock = virtualClock();
    const { control, state } = fakeControl();
    state.job = job({}, clock);
    const bucket = centralBucket(state);
    bucket.useClock(clock);
    const { handler } = worker(logs, clock, control, bucket.reporter);
    const { finished, ticks } = await tickUntilFinished(handler, clock, state);
    expect(finished).toMatchObject({ kind: 'finished', reason: 'done' });

    const reports = bucket.puts.map((p) => p.report);
    expect(bucket.puts.every((p) => p.key === `coverage/${ACCOUNT}/cleanup/${REGION}.json`)).toBe(true);
    // Every run wrote exactly one (waiting runs included), the removal runs more than one.
    expect(reports).toHaveLength(ticks);
    const removing = reports.filter((r) => r.state === 'removing');
    expect(removing.length).toBeGreaterThan(2);
    expect(removing[0]).toMatchObject({
      kind: 'uninstall',
      installId: INSTALL,
      filterName: FILTER_NAME,
      pass: 1,
    });
    expect(removing[0]?.removed).toBeGreaterThan(0);
    expect(removing[0]?.removed).toBeLessThan(10_000);
    expect(removing[0]?.position).toMatch(/^\/app\/g-\d{6}$/);
    for (let i = 1; i < reports.length; i += 1) {
      expect(reports[i]?.removed).toBeGreaterThanOrEqual(reports[i - 1]?.removed ?? 0);
      expect(Date.parse(reports[i]?.generatedAt ?? '')).toBeGreaterThan(
        Date.parse(reports[i - 1]?.generatedAt ?? ''),
      );
    }
    const last = bucket.puts.at(-1);
    expect(last?.report).toMatchObject({ state: 'done', removed: 10_000, failed: 0, pass: 2 });
    expect(last?.report.checked).toBeGreaterThanOrEqual(10_000);
    expect(last?.report.generatedAt).toBe(new Date(clock.now()).toISOString());
    // Written while the worker still had its role (deleteSelf removes the permission).
    expect(last?.selfDeletedBefore).toBe(0);
    expect(state.selfDeleted).toBe(1);
  }, 60_000);

  it('a report that cannot be written never stops or changes the removal (a warning, nothing more)', async () => {
    const run = async (fail?: Error) => {
      const logs = new FakeLogs();
      const all = names(6_000);
      logs.addGroups(all);
      for (const g of all) logs.putFilterDirect(g, OURS);
      const clock = virtualClock();
      const { control, state } = fakeControl();
      state.job = job({}, clock);
      const bucket = centralBucket(state, fail);
      bucket.useClock(clock);
      const { handler, recorded } = worker(logs, clock, control, bucket.reporter);
      const { finished, ticks } = await tickUntilFinished(handler, clock, state);
      return { finished, ticks, left: logs.groupsWith(FILTER_NAME).length, state, recorded, at: clock.now() };
    };
    const ok = await run();
    const failing = await run(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
    expect(failing.finished).toStrictEqual(ok.finished);
    expect(failing.ticks).toBe(ok.ticks);
    expect(failing.at).toBe(ok.at);
    expect(failing.left).toBe(0);
    expect(failing.state.selfDeleted).toBe(1);
    const warnings = failing.recorded.lines.filter(
      (l) => l.message === 'cleanup report not written; removal goes on',
    );
    expect(warnings).toHaveLength(failing.ticks);
    expect(warnings[0]?.extra[0]).toMatchObject({
      error: 'Access Denied',
      key: `coverage/${ACCOUNT}/cleanup/${REGION}.json`,
    });
  }, 60_000);

  it('reports a run that stopped (listing denied), a wait for the settle time, and a job superseded by a reinstall', async () => {
    const logs = new FakeLogs();
    logs.addGroups(names(10));
    for (const g of names(10)) logs.putFilterDirect(g, OURS);
    const clock = virtualClock();
    let live: LiveInstall | undefined;
    const { control, state } = fakeControl(() => live);
    state.job = job({}, clock);
    const bucket = centralBucket(state);
    bucket.useClock(clock);
    const { handler } = worker(logs, clock, control, bucket.reporter);
    logs.fault = () => {
      throw Object.assign(new Error('explicit deny in a service control policy'), {
        name: 'AccessDeniedException',
        $fault: 'client',
      });
    };
    await expect(handler(state.job, context)).rejects.toThrow(/explicit deny/);
    expect(bucket.puts.at(-1)?.report).toMatchObject({
      state: 'removing',
      removed: 0,
      error: 'AuthError: DescribeLogGroups was denied: explicit deny in a service control policy',
    });
    logs.fault = undefined;
    clock.t += CLEANUP_PERIOD_MS;
    await handler({ ...state.job, leaseUntilMs: undefined }, context);
    expect(bucket.puts.at(-1)?.report).toMatchObject({ state: 'removing', removed: 10, pass: 2 });
    expect(bucket.puts.at(-1)?.report.error).toBeUndefined();
    clock.t += 60_000;
    expect(await handler(state.job, context)).toStrictEqual({ kind: 'waiting' });
    expect(bucket.puts.at(-1)?.report).toMatchObject({ state: 'waiting', removed: 10 });
    live = { installId: 'aaaaaaaa', filterName: FILTER_NAME };
    expect(await handler(state.job, context)).toMatchObject({ reason: 'superseded' });
    expect(bucket.puts.at(-1)?.report).toMatchObject({ state: 'superseded', installId: INSTALL });
    expect(bucket.puts).toHaveLength(4);
  });
});
