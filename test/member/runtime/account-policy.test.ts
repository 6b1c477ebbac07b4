/**
 * The account-level subscription filter policy calls (account scope, issue 14). moto answers
 * PutAccountPolicy and DescribeAccountPolicies for subscription policies with an error, so the
 * requests are pinned with aws-sdk-client-mock, and the executor runs on the in-memory fake
 * (test/member/fake-logs.ts), which follows the documented one-policy-per-Region rule.
 */
import {
  CloudWatchLogsClient,
  DeleteAccountPolicyCommand,
  DescribeAccountPoliciesCommand,
  PutAccountPolicyCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  desiredAccountPolicy,
  reconcileAccountPolicy,
  reportPolicyOutcome,
} from '../../../member/runtime/account-policy';
import type { MemberSettings } from '../../../member/runtime/env';
import { createAccountPolicyApi } from '../../../member/runtime/logs-api';
import {
  ownLogGroupNames,
  renderPolicyDocument,
  renderSelectionCriteria,
} from '../../../shared/account-policy';
import { AuthError, ConflictError } from '../../../shared/errors';
import { RateLimiter } from '../../../shared/rate-limiter';
import { FakeLogs, virtualClock } from '../fake-logs';
import { memberSettings } from '../support';
import { recordTelemetry } from '../telemetry-recorder';

const cwl = mockClient(CloudWatchLogsClient);
afterEach(() => cwl.reset());

function awsError(name: string, message: string, status = 400): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: status } });
}

function makeApi() {
  const clock = { now: () => 0, sleep: async () => {} };
  return createAccountPolicyApi(new CloudWatchLogsClient({ region: 'us-east-1' }), {
    limiter: new RateLimiter({ requestsPerSecond: 1000, clock }),
    clock,
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
  });
}

const ACCOUNT: MemberSettings = memberSettings({
  destinationArn: 'arn:aws:logs:us-east-1:222222222222:destination:log-reflector',
  filterPattern: '?ERROR',
  exclude: [...ownLogGroupNames('0a1b2c3d'), '/ecs/debug'],
  scope: 'account',
});

describe('account policy API (aws-sdk-client-mock)', () => {
  it('puts our subscription filter policy with the documented fields, for ALL, by our name', async () => {
    cwl.on(PutAccountPolicyCommand).resolves({});
    await makeApi().put(desiredAccountPolicy(ACCOUNT));
    const calls = cwl.commandCalls(PutAccountPolicyCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toStrictEqual({
      policyName: 'log-reflector-us-east-1',
      policyType: 'SUBSCRIPTION_FILTER_POLICY',
      policyDocument: renderPolicyDocument(ACCOUNT),
      selectionCriteria: renderSelectionCriteria([...ownLogGroupNames('0a1b2c3d'), '/ecs/debug']),
      scope: 'ALL',
    });
    expect(JSON.parse(input?.policyDocument ?? '{}')).toStrictEqual({
      DestinationArn: ACCOUNT.destinationArn,
      RoleArn: ACCOUNT.roleArn,
      FilterPattern: '?ERROR',
      Distribution: 'ByLogStream',
    });
    expect(input?.selectionCriteria).toContain('"/aws/lambda/log-reflector-reflector"');
  });

  it('describes subscription filter policies only, across pages; none is an empty list', async () => {
    cwl
      .on(DescribeAccountPoliciesCommand, { nextToken: undefined })
      .resolves({
        accountPolicies: [{ policyName: 'a', policyType: 'SUBSCRIPTION_FILTER_POLICY' }],
        nextToken: 't',
      })
      .on(DescribeAccountPoliciesCommand, { nextToken: 't' })
      .resolves({
        accountPolicies: [
          {
            policyName: 'b',
            policyType: 'SUBSCRIPTION_FILTER_POLICY',
            selectionCriteria: 'LogGroupName NOT IN []',
          },
          { policyName: 'dp', policyType: 'DATA_PROTECTION_POLICY' },
        ],
      });
    expect((await makeApi().describe()).map((p) => p.policyName)).toStrictEqual(['a', 'b']);
    for (const call of cwl.commandCalls(DescribeAccountPoliciesCommand))
      expect(call.args[0].input.policyType).toBe('SUBSCRIPTION_FILTER_POLICY');
    cwl.reset();
    cwl.on(DescribeAccountPoliciesCommand).rejects(awsError('ResourceNotFoundException', 'none'));
    expect(await makeApi().describe()).toStrictEqual([]);
  });

  it('maps a second policy name to a conflict, a denial to AuthError, a missing policy to gone', async () => {
    cwl.on(PutAccountPolicyCommand).rejects(awsError('LimitExceededException', 'Resource limit exceeded.'));
    const conflict = await makeApi()
      .put(desiredAccountPolicy(ACCOUNT))
      .catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as Error).message).toContain('held by another name');
    cwl.on(PutAccountPolicyCommand).rejects(awsError('AccessDeniedException', 'denied by SCP'));
    await expect(makeApi().put(desiredAccountPolicy(ACCOUNT))).rejects.toBeInstanceOf(AuthError);
    cwl.on(DeleteAccountPolicyCommand).rejects(awsError('ResourceNotFoundException', 'no such policy'));
    expect(await makeApi().delete('log-reflector-us-east-1')).toBe('gone');
    expect(cwl.commandCalls(DeleteAccountPolicyCommand)[0]?.args[0].input).toStrictEqual({
      policyName: 'log-reflector-us-east-1',
      policyType: 'SUBSCRIPTION_FILTER_POLICY',
    });
  });

  it('retries a throttled put', async () => {
    cwl
      .on(PutAccountPolicyCommand)
      .rejectsOnce(awsError('ThrottlingException', 'Rate exceeded'))
      .resolves({});
    await makeApi().put(desiredAccountPolicy(ACCOUNT));
    expect(cwl.commandCalls(PutAccountPolicyCommand)).toHaveLength(2);
  });
});

describe('reconcileAccountPolicy (AWS semantics, in memory)', () => {
  const runtime = (logs: FakeLogs) =>
    logs.runtime({ requestsPerSecond: 100, clock: virtualClock(), maxAttempts: 2 });

  it('creates ours, then finds it in place; reports scope and state as metrics and one log line', async () => {
    const logs = new FakeLogs();
    const first = await reconcileAccountPolicy(runtime(logs).policies, ACCOUNT, { mode: 'reconcile' });
    expect(first).toMatchObject({ scope: 'account', state: 'in-place', action: { kind: 'create' } });
    expect(logs.accountPolicy?.policyName).toBe('log-reflector-us-east-1');
    const again = await reconcileAccountPolicy(runtime(logs).policies, ACCOUNT, { mode: 'reconcile' });
    expect(again.action).toStrictEqual({ kind: 'skip', reason: 'already-correct' });
    expect(logs.calls.PutAccountPolicy).toBe(1);
    const recorded = recordTelemetry();
    reportPolicyOutcome(recorded.telemetry, again);
    expect(recorded.metrics).toStrictEqual({ AccountPolicyInPlace: 1, AccountPolicyConflict: 0 });
    expect(recorded.lines).toContainEqual({
      level: 'info',
      message: 'account policy',
      extra: [
        expect.objectContaining({
          scope: 'account',
          state: 'in-place',
          policyName: 'log-reflector-us-east-1',
        }),
      ],
    });
  });

  it('leaves a foreign policy exactly as it was and reports the conflict', async () => {
    const logs = new FakeLogs();
    logs.accountPolicy = { policyName: 'lza', policyDocument: '{"DestinationArn":"x"}' };
    const outcome = await reconcileAccountPolicy(runtime(logs).policies, ACCOUNT, { mode: 'reconcile' });
    expect(outcome).toMatchObject({ state: 'conflict', foreignPolicies: ['lza'] });
    expect(logs.accountPolicy).toStrictEqual({ policyName: 'lza', policyDocument: '{"DestinationArn":"x"}' });
    expect(logs.calls.PutAccountPolicy + logs.calls.DeleteAccountPolicy).toBe(0);
    // Uninstall and opt-out do not touch it either.
    for (const s of [{ ...ACCOUNT, enrollment: 'disabled' as const }, ACCOUNT]) {
      await reconcileAccountPolicy(runtime(logs).policies, s, {
        mode: s === ACCOUNT ? 'uninstall' : 'reconcile',
      });
    }
    expect(logs.accountPolicy?.policyName).toBe('lza');
    expect(logs.calls.DeleteAccountPolicy).toBe(0);
  });

  it("a foreign policy that appears between the read and the put is AWS's conflict, not an overwrite", async () => {
    const logs = new FakeLogs();
    logs.fault = (op) => {
      if (op === 'PutAccountPolicy' && !logs.accountPolicy) logs.accountPolicy = { policyName: 'late' };
    };
    const outcome = await reconcileAccountPolicy(runtime(logs).policies, ACCOUNT, { mode: 'reconcile' });
    expect(outcome.state).toBe('conflict');
    expect(logs.accountPolicy).toStrictEqual({ policyName: 'late' });
  });

  it('a failing call is state failed with the error, never thrown', async () => {
    const logs = new FakeLogs();
    logs.fault = (op) => {
      if (op === 'DescribeAccountPolicies') throw awsError('ServiceUnavailableException', 'down', 503);
    };
    const outcome = await reconcileAccountPolicy(runtime(logs).policies, ACCOUNT, { mode: 'reconcile' });
    expect(outcome.state).toBe('failed');
    expect(outcome.error?.message).toContain('DescribeAccountPolicies');
  });
});
