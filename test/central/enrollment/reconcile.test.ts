/**
 * The reconciler against moto_server: real Organizations and StackSets calls, the overrides
 * fed through the injectable read, and the UpdateStackInstances requests asserted as sent.
 */

import { CreateStackInstancesCommand, CreateStackSetCommand } from '@aws-sdk/client-cloudformation';
import {
  CloseAccountCommand,
  MoveAccountCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-organizations';
import { beforeEach, describe, expect, it } from 'vitest';
import { awsOrganizations, awsStackSets } from '../../../central/enrollment/aws';
import { type ReconcileResult, reconcile, summarize } from '../../../central/enrollment/reconcile';
import { AuthError, ConfigError } from '../../../shared/errors';
import { useMoto } from '../../support/moto';
import {
  buildWorld,
  MANAGEMENT_ACCOUNT_ID,
  MANAGEMENT_STACK_SET,
  MEMBER_TEMPLATE,
  MEMBERS_STACK_SET,
  OPT_OUT_TAG,
  REGIONS,
  type World,
} from './world';

const moto = useMoto();
let world: World;

beforeEach(async () => {
  await moto.reset();
  world = await buildWorld();
});

const PREFERENCES = {
  RegionConcurrencyType: 'PARALLEL',
  RegionOrder: REGIONS,
  FailureTolerancePercentage: 100,
  MaxConcurrentPercentage: 100,
  ConcurrencyMode: 'SOFT_FAILURE_TOLERANCE',
};

function expectedUpdate(enrollment: string, accounts: string[], regions = REGIONS) {
  return {
    StackSetName: MEMBERS_STACK_SET,
    CallAs: 'SELF',
    DeploymentTargets: { Accounts: accounts },
    Regions: regions,
    ParameterOverrides: [{ ParameterKey: 'Enrollment', ParameterValue: enrollment }],
    OperationPreferences: { ...PREFERENCES, RegionOrder: regions },
  };
}

/** Sent requests without the SDK-generated idempotency token. */
function sent() {
  return world.takeUpdates().map(({ OperationId: _token, ...rest }) => rest);
}

async function run(options: { apply?: boolean } = {}, stackSets = {}): Promise<ReconcileResult> {
  return reconcile(world.config(), world.deps(stackSets), { apply: options.apply ?? true });
}

/** One run whose writes AWS keeps (the overrides store follows), as after a real run. */
async function runAndLand(): Promise<ReconcileResult> {
  const result = await run();
  const updates = world.takeUpdates();
  world.landWrites(updates);
  return result;
}

describe('reconcile against moto', () => {
  it('disables an opted-out account the first time it is seen, then writes nothing', async () => {
    const result = await run();
    expect(sent()).toStrictEqual([expectedUpdate('disabled', [world.accounts.beta])]);
    const members = result.outcomes[0];
    expect(members?.status).toBe('applied');
    expect(members?.operations.map((o) => o.status)).toStrictEqual(['SUCCEEDED']);
    expect(
      members?.plan.decisions.map((d) => [d.account, d.tag, d.desired, d.current, d.action]),
    ).toStrictEqual(
      [
        [world.accounts.alpha, undefined, 'enabled', 'enabled', 'none'],
        [world.accounts.beta, 'true', 'disabled', 'enabled', 'disable'],
        [world.accounts.gamma, undefined, 'enabled', 'enabled', 'none'],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
  });

  it('a new tagged account waits for its instances, then is disabled', async () => {
    await runAndLand();
    const teamB = (
      await world.org.send(
        new (
          await import('@aws-sdk/client-organizations')
        ).CreateOrganizationalUnitCommand({
          ParentId: world.workloads,
          Name: 'team-b',
        }),
      )
    ).OrganizationalUnit?.Id as string;
    const delta = await world.createAccount('delta', teamB, [OPT_OUT_TAG]);

    const mark = world.calls.length;
    const waiting = await run();
    expect(world.writesSince(mark)).toStrictEqual([]);
    expect(waiting.outcomes[0]?.plan.decisions.find((d) => d.account === delta)).toStrictEqual({
      account: delta,
      name: 'delta',
      tag: 'true',
      desired: 'disabled',
      current: 'none',
      action: 'wait',
      regions: [],
      reason: 'no stack instances yet (auto-deployment pending)',
    });

    await world.deployInstances(teamB); // auto-deployment catches up
    await run();
    expect(sent()).toStrictEqual([expectedUpdate('disabled', [delta])]);
  });

  it('a tag added disables that account only', async () => {
    await runAndLand();
    await world.org.send(new TagResourceCommand({ ResourceId: world.accounts.alpha, Tags: [OPT_OUT_TAG] }));
    await run();
    expect(sent()).toStrictEqual([expectedUpdate('disabled', [world.accounts.alpha])]);
  });

  it('a tag removed enables the account again', async () => {
    await runAndLand();
    await world.org.send(
      new UntagResourceCommand({ ResourceId: world.accounts.beta, TagKeys: [OPT_OUT_TAG.Key] }),
    );
    await run();
    expect(sent()).toStrictEqual([expectedUpdate('enabled', [world.accounts.beta])]);
  });

  it('a tag set to another value counts as no opt-out', async () => {
    await runAndLand();
    await world.org.send(
      new TagResourceCommand({
        ResourceId: world.accounts.beta,
        Tags: [{ Key: OPT_OUT_TAG.Key, Value: 'false' }],
      }),
    );
    await run();
    expect(sent()).toStrictEqual([expectedUpdate('enabled', [world.accounts.beta])]);
  });

  it('an account moved out of the target OUs is reported and never written', async () => {
    await runAndLand();
    await world.org.send(
      new MoveAccountCommand({
        AccountId: world.accounts.beta,
        SourceParentId: world.teamA,
        DestinationParentId: world.sandbox,
      }),
    );
    await world.org.send(
      new UntagResourceCommand({ ResourceId: world.accounts.beta, TagKeys: [OPT_OUT_TAG.Key] }),
    );
    const mark = world.calls.length;
    const result = await run();
    expect(world.writesSince(mark)).toStrictEqual([]);
    expect(result.outcomes[0]?.plan.decisions.find((d) => d.account === world.accounts.beta)).toStrictEqual({
      account: world.accounts.beta,
      tag: undefined,
      desired: undefined,
      // Out-of-scope instances are not read (no DescribeStackInstance spent on them).
      current: 'unknown',
      action: 'skip',
      regions: [],
      reason: 'not under the target OUs (moved out): auto-deployment removes its instances',
    });
  });

  it('nothing changed: no write call at all', async () => {
    await runAndLand();
    const mark = world.calls.length;
    const result = await run();
    expect(world.writesSince(mark)).toStrictEqual([]);
    expect(result.outcomes[0]?.status).toBe('in-sync');
    // Reads only: the Organizations walk, tags, the StackSet, its instances (overrides are injected).
    expect([...new Set(world.calls.slice(mark))].sort()).toStrictEqual([
      'DescribeStackSetCommand',
      'ListAccountsForParentCommand',
      'ListOrganizationalUnitsForParentCommand',
      'ListStackInstancesCommand',
      'ListTagsForResourceCommand',
    ]);
  });

  it('a busy StackSet (operation RUNNING) is left alone and picked up by the next run', async () => {
    const busy = await run(
      {},
      {
        listOperations: async () => [{ operationId: 'op-1', action: 'UPDATE', status: 'RUNNING' }],
      },
    );
    expect(sent()).toStrictEqual([]);
    expect(busy.outcomes[0]?.status).toBe('busy');
    expect(busy.outcomes[0]?.deferred).toStrictEqual([
      { enrollment: 'disabled', accounts: [world.accounts.beta], regions: REGIONS, preservedKeys: [] },
    ]);
    expect(summarize(busy).StackSetBusy).toBe(1);

    await run();
    expect(sent()).toStrictEqual([expectedUpdate('disabled', [world.accounts.beta])]);
  });

  it('OperationInProgressException defers the write to the next run, not lost', async () => {
    world.failNextUpdatesAsBusy(1);
    const busy = await run();
    expect(busy.outcomes[0]?.status).toBe('busy');
    expect(busy.outcomes[0]?.deferred).toHaveLength(1);
    expect(sent()).toStrictEqual([]);

    await run();
    expect(sent()).toStrictEqual([expectedUpdate('disabled', [world.accounts.beta])]);
  });

  it('runs one operation at a time, opt-outs first', async () => {
    await world.org.send(new TagResourceCommand({ ResourceId: world.accounts.alpha, Tags: [OPT_OUT_TAG] }));
    world.overrides.set(`${world.accounts.gamma}/us-east-1`, { Enrollment: 'disabled' });
    world.overrides.set(`${world.accounts.gamma}/eu-west-1`, { Enrollment: 'disabled' });
    const order: string[] = [];
    const base = world.deps().stackSets;
    const result = await run(
      {},
      {
        updateInstances: async (request: Parameters<typeof base.updateInstances>[0]) => {
          order.push(`start ${request.operation.enrollment}`);
          const id = await base.updateInstances(request);
          return id;
        },
        operationStatus: async (name: string, callAs: 'SELF', id: string) => {
          order.push('poll');
          return base.operationStatus(name, callAs, id);
        },
      },
    );
    expect(order).toStrictEqual(['start disabled', 'poll', 'start enabled', 'poll']);
    expect(sent()).toStrictEqual([
      expectedUpdate('disabled', [world.accounts.alpha, world.accounts.beta].sort()),
      expectedUpdate('enabled', [world.accounts.gamma]),
    ]);
    expect(result.outcomes[0]?.status).toBe('applied');
  });

  it('an operation still running at the deadline is left running; the rest wait for the next run', async () => {
    await world.org.send(new TagResourceCommand({ ResourceId: world.accounts.alpha, Tags: [OPT_OUT_TAG] }));
    for (const region of REGIONS)
      world.overrides.set(`${world.accounts.gamma}/${region}`, { Enrollment: 'disabled' });
    const result = await reconcile(
      world.config(),
      { ...world.deps({ operationStatus: async () => 'RUNNING' }), now: () => 0 },
      { apply: true, deadline: 5_000, pollIntervalMs: 10_000 },
    );
    const members = result.outcomes[0];
    expect(members?.status).toBe('partial');
    expect(members?.operations.map((o) => o.status)).toStrictEqual(['RUNNING']);
    expect(members?.deferred).toStrictEqual([
      { enrollment: 'enabled', accounts: [world.accounts.gamma], regions: REGIONS, preservedKeys: [] },
    ]);
    expect(sent()).toStrictEqual([
      expectedUpdate('disabled', [world.accounts.alpha, world.accounts.beta].sort()),
    ]);
  });

  it('reports instances that failed in the operation, and survives not being allowed to list them', async () => {
    const failure = {
      account: world.accounts.beta,
      region: 'eu-west-1',
      reason: 'Resource handler returned message',
    };
    const reported = await run({}, { failedResults: async () => [failure] });
    expect(reported.outcomes[0]?.operations.map((o) => o.failures)).toStrictEqual([[failure]]);
    expect(summarize(reported).InstanceFailures).toBe(1);

    const denied = await run(
      {},
      {
        failedResults: async () => {
          throw Object.assign(new Error('not allowed'), { name: 'AccessDenied' });
        },
      },
    );
    expect(denied.outcomes[0]?.status).toBe('applied');
    expect(denied.outcomes[0]?.operations.map((o) => [o.status, o.failures])).toStrictEqual([
      ['SUCCEEDED', []],
    ]);
  });

  it('keeps other parameter overrides with UsePreviousValue', async () => {
    for (const region of REGIONS)
      world.overrides.set(`${world.accounts.beta}/${region}`, { Team: 'payments' });
    await run();
    const [update] = sent();
    expect(update?.ParameterOverrides).toStrictEqual([
      { ParameterKey: 'Enrollment', ParameterValue: 'disabled' },
      { ParameterKey: 'Team', UsePreviousValue: true },
    ]);
  });

  it('never writes to a suspended account', async () => {
    await world.org.send(new CloseAccountCommand({ AccountId: world.accounts.beta }));
    const mark = world.calls.length;
    const result = await run();
    expect(world.writesSince(mark)).toStrictEqual([]);
    const beta = result.outcomes[0]?.plan.decisions.find((d) => d.account === world.accounts.beta);
    expect([beta?.action, beta?.reason]).toStrictEqual([
      'skip',
      'account is SUSPENDED: StackSets cannot update it, left as it is',
    ]);
  });

  it('plan only (apply: false) reads and plans but writes nothing', async () => {
    const mark = world.calls.length;
    const result = await run({ apply: false });
    expect(world.writesSince(mark)).toStrictEqual([]);
    expect(result.outcomes[0]?.status).toBe('planned');
    expect(result.outcomes[0]?.deferred).toHaveLength(1);
  });

  it('reads overrides with DescribeStackInstance when nothing is injected', async () => {
    const result = await reconcile(
      world.config(),
      { organizations: awsOrganizations(world.org), stackSets: awsStackSets(world.cfn) },
      { apply: false },
    );
    // moto kept the Enrollment=enabled override the instances were created with.
    expect(result.outcomes[0]?.plan.decisions.map((d) => d.current)).toStrictEqual([
      'enabled',
      'enabled',
      'enabled',
    ]);
    expect(result.outcomes[0]?.plan.operations).toStrictEqual([
      { enrollment: 'disabled', accounts: [world.accounts.beta], regions: REGIONS, preservedKeys: [] },
    ]);
    expect(world.calls.filter((c) => c === 'DescribeStackInstanceCommand')).toHaveLength(6);
  });

  it('honours the management account tag through the self-managed management StackSet', async () => {
    await world.cfn.send(
      new CreateStackSetCommand({
        StackSetName: MANAGEMENT_STACK_SET,
        TemplateBody: MEMBER_TEMPLATE,
        PermissionModel: 'SELF_MANAGED',
        Parameters: [{ ParameterKey: 'Enrollment', ParameterValue: 'enabled' }],
      }),
    );
    await world.cfn.send(
      new CreateStackInstancesCommand({
        StackSetName: MANAGEMENT_STACK_SET,
        Accounts: [MANAGEMENT_ACCOUNT_ID],
        Regions: REGIONS,
      }),
    );
    await world.org.send(new TagResourceCommand({ ResourceId: MANAGEMENT_ACCOUNT_ID, Tags: [OPT_OUT_TAG] }));
    world.takeUpdates();
    const result = await reconcile(
      world.config({ callAs: 'DELEGATED_ADMIN', managementStackSetName: MANAGEMENT_STACK_SET }),
      world.deps(),
      { apply: true },
    );
    const updates = sent();
    expect(updates).toStrictEqual([
      { ...expectedUpdate('disabled', [world.accounts.beta]), CallAs: 'DELEGATED_ADMIN' },
      {
        StackSetName: MANAGEMENT_STACK_SET,
        CallAs: 'SELF',
        Accounts: [MANAGEMENT_ACCOUNT_ID],
        Regions: REGIONS,
        ParameterOverrides: [{ ParameterKey: 'Enrollment', ParameterValue: 'disabled' }],
        OperationPreferences: PREFERENCES,
      },
    ]);
    expect(result.outcomes.map((o) => [o.kind, o.status])).toStrictEqual([
      ['members', 'applied'],
      ['management', 'applied'],
    ]);
  });

  it('a deadline already passed reads nothing more and writes nothing', async () => {
    const mark = world.calls.length;
    const result = await reconcile(
      world.config(),
      { ...world.deps(), now: () => 2_000 },
      { apply: true, deadline: 1_000 },
    );
    expect(world.writesSince(mark)).toStrictEqual([]);
    expect(result.outcomes[0]?.plan.decisions.map((d) => [d.action, d.reason])).toStrictEqual([
      ['wait', 'tags not read this run'],
      ['wait', 'tags not read this run'],
      ['wait', 'tags not read this run'],
    ]);
    expect(result.outcomes[0]?.unread).toBe(3);
  });

  it('a missing StackSet is a ConfigError naming STACK_SET_NAME', async () => {
    const error = await reconcile(world.config({ stackSetName: 'log-reflector-nope' }), world.deps(), {
      apply: true,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toStrictEqual([
      { path: 'STACK_SET_NAME', message: 'no such StackSet (CallAs SELF)', received: 'log-reflector-nope' },
    ]);
  });

  it('a refused call is an AuthError', async () => {
    const denied = Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' });
    const error = await reconcile(
      world.config(),
      world.deps({
        describeStackSet: async () => {
          throw denied;
        },
      }),
      { apply: true },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).message).toBe(
      'DescribeStackSet/ListStackInstances refused for StackSet "log-reflector-members": AccessDeniedException',
    );
  });
});
