/**
 * Throttling and OperationAborted injected by a client middleware in front of moto: every
 * group still ends subscribed exactly once, and the rate limiter keeps the achieved request
 * rate at ≥ 90 % of the configured one.
 */
import { PutSubscriptionFilterCommand } from '@aws-sdk/client-cloudwatch-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GroupResult, reconcileAll } from '../../../member/runtime/apply';
import { createLogsRuntime } from '../../../member/runtime/clients';
import { planSettings } from '../../../member/runtime/env';
import { createPlanner } from '../../../shared/plan';
import { type MotoServer, startMoto, useLocalAwsEnv } from '../../support/moto';
import { FILTER_NAME, MotoAccount, memberSettings, REGION } from '../support';

let moto: MotoServer;
let restoreEnv: () => void;

beforeAll(async () => {
  moto = await startMoto();
  restoreEnv = useLocalAwsEnv(moto.endpoint, REGION);
});
afterAll(async () => {
  restoreEnv?.();
  await moto?.stop();
});

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
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (!inject) return next(args);
        const op = context.commandName ?? '';
        attempts[op] = (attempts[op] ?? 0) + 1;
        const n = attempts[op] ?? 0;
        if (op === 'PutSubscriptionFilterCommand') putAttemptTimes.push(performance.now());
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
        const out = await next(args);
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
    const appliedRps = (150 - 1) / ((last - first) / 1000);
    process.stdout.write(
      `throttling: configured ${configuredRps} rps, achieved ${achievedRps.toFixed(1)} requests/s ` +
        `(${appliedRps.toFixed(1)} subscriptions/s), ${injectedThrottles} throttles and ${injectedAborts} aborts injected\n`,
    );
    expect(achievedRps).toBeGreaterThanOrEqual(0.9 * configuredRps);
    expect(achievedRps).toBeLessThanOrEqual(1.05 * configuredRps);
  });
});
