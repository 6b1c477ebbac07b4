/**
 * Throttling and OperationAborted injected by a client middleware in front of moto: every
 * group still ends subscribed exactly once, and the rate limiter keeps the achieved request
 * rate at ≥ 90 % of the configured one.
 *
 * Rates are measured in simulated time, not on the wall: moto's answers take no simulated
 * time, and the limiter's and the retries' sleeps advance it (see `simulatedClock`). On the
 * wall, a loaded machine slowed moto and the event loop below the configured rate, and the
 * test failed for reasons that had nothing to do with the limiter.
 */
import { PutSubscriptionFilterCommand } from '@aws-sdk/client-cloudwatch-logs';
import { describe, expect, it } from 'vitest';
import { type GroupResult, reconcileAll } from '../../../member/runtime/apply';
import { createLogsRuntime } from '../../../member/runtime/clients';
import { planSettings } from '../../../member/runtime/env';
import { createPlanner } from '../../../shared/plan';
import type { Clock } from '../../../shared/rate-limiter';
import { useMoto } from '../../support/moto';
import { FILTER_NAME, MotoAccount, memberSettings, REGION } from '../support';

const moto = useMoto(REGION);

/**
 * Discrete-event time for code that waits only on `sleep` and on calls to moto: time stands
 * still while any call is in flight (a call takes no simulated time), and otherwise jumps to
 * the earliest sleeper's wake-up, which it then resumes. Every call goes through `call`.
 */
function simulatedClock(): Clock & { call<T>(work: () => Promise<T>): Promise<T> } {
  let t = 0;
  let inFlight = 0;
  let scheduled = false;
  const sleepers: { wake: number; seq: number; resume: () => void }[] = [];
  let seq = 0;
  const tick = () => {
    scheduled = false;
    // Resumed only once the code resumed last has issued its calls or gone to sleep.
    if (inFlight > 0 || sleepers.length === 0) return;
    sleepers.sort((a, b) => a.wake - b.wake || a.seq - b.seq);
    const next = sleepers.shift() as (typeof sleepers)[number];
    t = Math.max(t, next.wake);
    next.resume();
    schedule();
  };
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(tick);
    }
  };
  return {
    now: () => t,
    sleep: (ms) =>
      new Promise<void>((resume) => {
        sleepers.push({ wake: t + Math.max(0, ms), seq: seq++, resume });
        schedule();
      }),
    async call(work) {
      inFlight++;
      try {
        return await work();
      } finally {
        inFlight--;
        schedule();
      }
    },
  };
}

/** An error shaped like the SDK's service exceptions. */
function awsError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

describe('under injected throttling', () => {
  it('subscribes every group exactly once at ≥ 90 % of the configured rate', async () => {
    const account = new MotoAccount(moto.endpoint);
    const destination = await account.createStream('central');
    const groups = Array.from({ length: 150 }, (_, i) => `/svc/throttled-${String(i).padStart(3, '0')}`);
    await account.createGroups(groups);

    const client = account.logs;
    const attempts: Record<string, number> = {};
    const putAttemptTimes: number[] = [];
    const putApplied = new Map<string, number>();
    let injectedThrottles = 0;
    let injectedAborts = 0;
    let inject = true;
    const clock = simulatedClock();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (!inject) return next(args);
        const op = context.commandName ?? '';
        attempts[op] = (attempts[op] ?? 0) + 1;
        const n = attempts[op] ?? 0;
        if (op === 'PutSubscriptionFilterCommand') putAttemptTimes.push(clock.now());
        // 5 % of puts and describes throttled, 4 % of puts aborted by a "concurrent change".
        if (op !== 'DescribeLogGroupsCommand' && n % 20 === 7) {
          injectedThrottles += 1;
          throw awsError('ThrottlingException', 'Rate exceeded');
        }
        if (op === 'PutSubscriptionFilterCommand' && n % 25 === 11) {
          injectedAborts += 1;
          throw awsError(
            'OperationAbortedException',
            'Multiple users are attempting to modify this resource',
          );
        }
        const out = await clock.call(() => next(args));
        if (context.commandName === PutSubscriptionFilterCommand.name) {
          const name = (args.input as { logGroupName: string }).logGroupName;
          putApplied.set(name, (putApplied.get(name) ?? 0) + 1);
        }
        return out;
      },
      { step: 'initialize', name: 'injectFaults' },
    );

    const configuredRps = 40;
    const { api, limiter } = createLogsRuntime({
      requestsPerSecond: configuredRps,
      client,
      retry: { baseDelayMs: 5, maxDelayMs: 50 },
      clock,
    });
    const results: GroupResult[] = [];
    const out = await reconcileAll({
      api,
      planner: createPlanner(planSettings(memberSettings({ destinationArn: destination }))),
      onResult: (r) => results.push(r),
    });

    inject = false;
    expect(out.complete).toBe(true);
    expect(out.summary).toStrictEqual({
      subscribed: 150,
      updated: 0,
      removed: 0,
      skipped: 0,
      conflict: 0,
      failed: 0,
    });
    expect(injectedThrottles).toBeGreaterThan(10);
    expect(injectedAborts).toBeGreaterThan(4);
    expect(limiter.throttledTotal).toBe(injectedThrottles);
    // Exactly one applied put per group: nothing subscribed twice, nothing missed.
    expect(putApplied.size).toBe(150);
    expect([...putApplied.values()].every((n) => n === 1)).toBe(true);
    expect((await account.groupsWith(groups, FILTER_NAME)).length).toBe(150);

    const first = putAttemptTimes[0] ?? 0;
    const last = putAttemptTimes[putAttemptTimes.length - 1] ?? 0;
    const achievedRps = (putAttemptTimes.length - 1) / ((last - first) / 1000);
    expect(achievedRps).toBeGreaterThanOrEqual(0.9 * configuredRps);
    expect(achievedRps).toBeLessThanOrEqual(1.05 * configuredRps);
  });

  it('settles under a server quota below the configured rate: every group once, throttles contained', async () => {
    await moto.reset();
    const account = new MotoAccount(moto.endpoint);
    const destination = await account.createStream('quota');
    const groups = Array.from({ length: 80 }, (_, i) => `/svc/quota-${String(i).padStart(3, '0')}`);
    await account.createGroups(groups);
    const client = account.logs;
    // The service: a token bucket of 15 rps (burst 2) per API, as CloudWatch Logs enforces per account.
    const quotaRps = 15;
    const buckets = new Map<string, { tokens: number; at: number }>();
    let inject = true;
    const applied = new Map<string, number>();
    let requests = 0;
    let throttled = 0;
    const clock = simulatedClock();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const op = context.commandName ?? '';
        if (!inject) return next(args);
        if (op === 'DescribeLogGroupsCommand') return clock.call(() => next(args));
        requests += 1;
        const now = clock.now();
        const b = buckets.get(op) ?? { tokens: 2, at: now };
        b.tokens = Math.min(2, b.tokens + ((now - b.at) / 1000) * quotaRps);
        b.at = now;
        buckets.set(op, b);
        if (b.tokens < 1) {
          throttled += 1;
          throw awsError('ThrottlingException', 'Rate exceeded');
        }
        b.tokens -= 1;
        const out = await clock.call(() => next(args));
        if (op === 'PutSubscriptionFilterCommand') {
          const name = (args.input as { logGroupName: string }).logGroupName;
          applied.set(name, (applied.get(name) ?? 0) + 1);
        }
        return out;
      },
      { step: 'initialize', name: 'serverQuota' },
    );
    const { api, limiter } = createLogsRuntime({
      requestsPerSecond: 30,
      client,
      retry: { maxAttempts: 12, baseDelayMs: 20, maxDelayMs: 500 },
      clock,
    });
    let slowest = Number.POSITIVE_INFINITY;
    const out = await reconcileAll({
      api,
      planner: createPlanner(planSettings(memberSettings({ destinationArn: destination }))),
      onResult: () => {
        slowest = Math.min(slowest, limiter.stats().DescribeSubscriptionFilters?.currentRps ?? slowest);
      },
    });
    inject = false;
    expect(out.summary).toStrictEqual({
      subscribed: 80,
      updated: 0,
      removed: 0,
      skipped: 0,
      conflict: 0,
      failed: 0,
    });
    expect([...applied.values()].every((n) => n === 1)).toBe(true);
    expect(applied.size).toBe(80);
    // The limiter slowed down: fewer than a third of the requests were refused.
    expect(throttled).toBeGreaterThan(0);
    expect(throttled / requests).toBeLessThan(1 / 3);
    expect(slowest).toBeLessThan(0.75 * 30);
  });
});
