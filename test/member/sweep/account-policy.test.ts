/**
 * The sweep in log-group scope and a policy of ours left from account scope (issue 14): it goes
 * after a complete pass without failures (every eligible group then carries our filter), stays
 * while a group could not be subscribed, goes at once when the account is opted out, and a
 * foreign policy is never touched. AWS semantics in memory (fake-logs.ts).
 */
import { describe, expect, it } from 'vitest';
import { createSweepHandler } from '../../../member/sweep/handler';
import { FakeLogs, virtualClock } from '../fake-logs';
import { FILTER_NAME, memberEnv, memberSettings, memoryClaim, REGION, streamArn } from '../support';
import { recordTelemetry } from '../telemetry-recorder';

const DESTINATION = streamArn('central');
const FUNCTION_ARN = `arn:aws:lambda:${REGION}:123456789012:function:log-reflector-sweep`;
const context = { invokedFunctionArn: FUNCTION_ARN, getRemainingTimeInMillis: () => 15 * 60_000 };
const GROUPS = ['/app/a', '/app/b', '/app/c'];

function sweep(logs: FakeLogs, enrollment: 'enabled' | 'disabled' = 'enabled') {
  const clock = virtualClock();
  const recorded = recordTelemetry();
  const handler = createSweepHandler({
    env: memberEnv(memberSettings({ destinationArn: DESTINATION, enrollment })),
    runtimeFor: () => logs.runtime({ requestsPerSecond: 50, clock, maxAttempts: 2 }),
    handOff: async () => {
      throw new Error('one pass fits in one invocation here');
    },
    clock,
    telemetry: recorded.telemetry,
    claim: memoryClaim(),
    graceMs: 0,
  });
  return { run: () => handler({}, context), recorded };
}

function leftover(logs: FakeLogs): void {
  logs.accountPolicy = { policyName: FILTER_NAME, policyDocument: `{"DestinationArn":"${DESTINATION}"}` };
}

describe('sweep and a policy of ours left from account scope', () => {
  it('removes it after a complete pass that left every eligible group with our filter', async () => {
    const logs = new FakeLogs();
    logs.addGroups(GROUPS);
    leftover(logs);
    const s = sweep(logs);
    await s.run();
    expect(logs.groupsWith(FILTER_NAME)).toStrictEqual(GROUPS);
    expect(logs.accountPolicy).toBeUndefined();
    expect(s.recorded.metrics).toMatchObject({ AccountPolicyInPlace: 0, AccountPolicyConflict: 0 });
  });

  it('keeps it while a group failed, and removes it at the next pass that succeeds', async () => {
    const logs = new FakeLogs();
    logs.addGroups(GROUPS);
    leftover(logs);
    let broken = true;
    logs.fault = (op, group) => {
      if (broken && op === 'PutSubscriptionFilter' && group === '/app/b')
        throw Object.assign(new Error('bad'), { name: 'InvalidParameterException' });
    };
    const s = sweep(logs);
    await s.run();
    expect(logs.accountPolicy?.policyName).toBe(FILTER_NAME);
    expect(s.recorded.metrics.AccountPolicyInPlace).toBe(1);
    broken = false;
    await sweep(logs).run();
    expect(logs.accountPolicy).toBeUndefined();
  });

  it('removes it at once when the account is opted out (and our filters with it)', async () => {
    const logs = new FakeLogs();
    logs.addGroups(GROUPS);
    leftover(logs);
    await sweep(logs, 'disabled').run();
    expect(logs.accountPolicy).toBeUndefined();
    expect(logs.groupsWith(FILTER_NAME)).toStrictEqual([]);
  });

  it('never touches a policy that is not ours', async () => {
    const logs = new FakeLogs();
    logs.addGroups(GROUPS);
    logs.accountPolicy = { policyName: 'someone-elses' };
    await sweep(logs).run();
    await sweep(logs, 'disabled').run();
    expect(logs.accountPolicy).toStrictEqual({ policyName: 'someone-elses' });
    expect(logs.calls.DeleteAccountPolicy + logs.calls.PutAccountPolicy).toBe(0);
  });
});
