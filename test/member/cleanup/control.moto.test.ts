/**
 * The cleanup worker's AWS calls against moto: the backfill starts it (schedule with the job
 * as input), the worker writes its job back, reads the live install's backfill, removes its
 * schedule and deletes its function, its role's inline policies and its role. moto does not
 * evaluate IAM, so "the role cannot delete itself once its last policy is gone" is a
 * documented limit (docs/member.md), not something this test can show.
 */
import {
  DescribeRuleCommand,
  EventBridgeClient,
  ListTargetsByRuleCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateRoleCommand, GetRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateFunctionCommand, GetFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { createCleanupControl, createCleanupStarter } from '../../../member/cleanup/control';
import {
  type CleanupJob,
  cleanupFunctionName,
  cleanupRoleName,
  cleanupRuleName,
} from '../../../member/cleanup/job';
import { emptySummary } from '../../../member/runtime/apply';
import { useMoto } from '../../support/moto';
import { ACCOUNT, FILTER_NAME, REGION } from '../support';

const moto = useMoto(REGION);
const INSTALL = '271845b0';
const FN = cleanupFunctionName(INSTALL);
const ROLE = cleanupRoleName(INSTALL, REGION);
const RULE = cleanupRuleName(INSTALL);
const env = {
  INSTALL_ID: INSTALL,
  AWS_REGION: REGION,
  CLEANUP_FUNCTION_ARN: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${FN}`,
};

let events: EventBridgeClient;
let lambda: LambdaClient;
let iam: IAMClient;

async function createFunction(name: string, roleArn: string, variables: Record<string, string> = {}) {
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs22.x',
      Role: roleArn,
      Handler: 'index.handler',
      Code: { ZipFile: new Uint8Array([80, 75, 5, 6, ...new Array(18).fill(0)]) },
      Environment: { Variables: variables },
    }),
  );
}

beforeEach(async () => {
  await moto.reset();
  events = new EventBridgeClient({ endpoint: moto.endpoint, region: REGION });
  lambda = new LambdaClient({ endpoint: moto.endpoint, region: REGION, maxAttempts: 1 });
  iam = new IAMClient({ endpoint: moto.endpoint, region: REGION });
  const role = await iam.send(
    new CreateRoleCommand({
      RoleName: ROLE,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      }),
    }),
  );
  for (const name of ['work', 'self-delete']) {
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: ROLE,
        PolicyName: name,
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'logs:*', Resource: '*' }],
        }),
      }),
    );
  }
  await createFunction(FN, role.Role?.Arn ?? '');
});

const job: CleanupJob = {
  logReflectorCleanup: 1,
  installId: INSTALL,
  kind: 'uninstall',
  filterName: FILTER_NAME,
  requestedAtMs: Date.UTC(2026, 0, 5, 12),
  pass: 1,
  totals: emptySummary(),
  runs: 0,
};

describe('cleanup control on moto', () => {
  it('the backfill starts the worker: a 15-minute schedule whose input is the job, targeting the worker', async () => {
    await createCleanupStarter(env, { events, lambda })(job);
    const rule = await events.send(new DescribeRuleCommand({ Name: RULE }));
    expect(rule).toMatchObject({ ScheduleExpression: 'rate(15 minutes)', State: 'ENABLED' });
    const targets = await events.send(new ListTargetsByRuleCommand({ Rule: RULE }));
    expect(targets.Targets).toHaveLength(1);
    expect(targets.Targets?.[0]?.Arn).toBe(env.CLEANUP_FUNCTION_ARN);
    expect(JSON.parse(targets.Targets?.[0]?.Input ?? '{}')).toStrictEqual(job);
  });

  it('the worker writes its job back, finds the live install, removes its schedule and deletes itself', async () => {
    await createCleanupStarter(env, { events, lambda })(job);
    const control = createCleanupControl(env, { events, lambda, iam });
    const next = { ...job, runs: 1, cursor: { offset: 3, after: '/app/x' } };
    await control.saveJob(next);
    const targets = await events.send(new ListTargetsByRuleCommand({ Rule: RULE }));
    expect(JSON.parse(targets.Targets?.[0]?.Input ?? '{}')).toStrictEqual(next);

    expect(await control.liveInstall()).toBeUndefined();
    const role = await iam.send(new GetRoleCommand({ RoleName: ROLE }));
    await createFunction('log-reflector-backfill', role.Role?.Arn ?? '', {
      INSTALL_ID: 'aaaaaaaa',
      FILTER_NAME,
      SCOPE: 'account',
      ENROLLMENT: 'enabled',
    });
    expect(await control.liveInstall()).toStrictEqual({
      installId: 'aaaaaaaa',
      filterName: FILTER_NAME,
      scope: 'account',
      enrollment: 'enabled',
    });

    await control.removeSchedule();
    await expect(events.send(new DescribeRuleCommand({ Name: RULE }))).rejects.toThrow();
    await control.removeSchedule(); // idempotent

    expect(await control.deleteSelf()).toStrictEqual({ roleDeleted: true });
    await expect(lambda.send(new GetFunctionCommand({ FunctionName: FN }))).rejects.toThrow();
    await expect(iam.send(new GetRoleCommand({ RoleName: ROLE }))).rejects.toThrow();
    expect(await control.deleteSelf()).toStrictEqual({ roleDeleted: true }); // already gone
  });

  it('refuses to target anything but its own function', async () => {
    await expect(
      createCleanupStarter(
        { ...env, CLEANUP_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:1:function:other' },
        { events, lambda },
      )(job),
    ).rejects.toThrow(/CLEANUP_FUNCTION_ARN must name the function log-reflector-cleanup-271845b0/);
  });
});
