/**
 * The reconciler against moto_server: real Organizations and StackSets calls, the overrides
 * fed through the injectable read, the UpdateStackInstances requests and the published enrolled
 * lists asserted as sent, the memory kept across runs in a conditional store.
 *
 * The StackSet declares Enrollment=disabled at the StackSet level (fail-closed, as the org stack
 * does): untagged accounts are enabled by the reconciler, tagged ones are never written.
 */

import { CreateStackInstancesCommand, CreateStackSetCommand } from '@aws-sdk/client-cloudformation';
import {
  CloseAccountCommand,
  MoveAccountCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-organizations';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  type ReconcileOptions,
  type ReconcileResult,
  reconcile,
  summarize,
} from '../../../central/enrollment/reconcile';
import { LeaseHeldError, StateConflictError } from '../../../central/enrollment/state';
import { RETRY_BASE_MS, STUCK_AFTER_ATTEMPTS } from '../../../shared/enrollment';
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

async function run(
  options: Partial<ReconcileOptions> = {},
  stackSets = {},
  publisher: Parameters<World['deps']>[1] = undefined,
): Promise<ReconcileResult> {
  return reconcile(world.config(), world.deps(stackSets, publisher), { apply: true, ...options });
}

/** One run whose writes AWS keeps (the overrides store follows), as after a real run. */
async function runAndLand(options: Partial<ReconcileOptions> = {}): Promise<ReconcileResult> {
  const result = await run(options);
  world.landWrites(world.takeUpdates());
  return result;
}

const sorted = (...ids: string[]) => [...ids].sort();

describe('reconcile against moto (fail-closed StackSet)', () => {
  it('publishes the untagged accounts, then enables them; the opted-out account is never written', async () => {
    const { alpha, beta, gamma } = world.accounts;
    const result = await run();
    expect(sent()).toStrictEqual([expectedUpdate('enabled', sorted(alpha, gamma))]);
    expect(world.events).toStrictEqual([
      `publish ${sorted(alpha, gamma).join(',')}`,
      `update enabled ${sorted(alpha, gamma).join(',')}`,
    ]);
    const members = result.outcomes[0];
    expect(members?.status).toBe('applied');
    expect(members?.operations.map((o) => o.status)).toStrictEqual(['SUCCEEDED']);
    expect(members?.plan.decisions.map((d) => [d.account, d.tag, d.desired, d.action])).toStrictEqual(
      [
        [alpha, undefined, 'enabled', 'enable'],
        [beta, 'true', 'disabled', 'none'],
        [gamma, undefined, 'enabled', 'enable'],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    expect(result.published?.accounts).toStrictEqual(sorted(alpha, gamma));
  });

  it('remembers between runs: nothing changed → no write, no tag or instance re-read', async () => {
    await runAndLand();
    const mark = world.calls.length;
    const result = await run();
    expect(world.writesSince(mark)).toStrictEqual([]);
    expect(result.outcomes[0]?.status).toBe('in-sync');
    const calls = world.calls.slice(mark);
    // The walk and the StackSet's own description, never one ListTagsForResource per account.
    expect(calls.filter((c) => c === 'ListTagsForResourceCommand')).toStrictEqual([]);
    expect(calls.filter((c) => c === 'ListStackInstancesCommand')).toHaveLength(1); // the FAILED listing
    expect(summarize(result).TagReads).toBe(0);
  });

  it('a tag added (TagResource event) unpublishes, then disables that account only, reading only its tags', async () => {
    const { alpha, gamma } = world.accounts;
    await runAndLand();
    await world.org.send(new TagResourceCommand({ ResourceId: alpha, Tags: [OPT_OUT_TAG] }));
    world.events.length = 0;
    const mark = world.calls.length;
    const result = await run({ priorityAccounts: [alpha] });
    expect(sent()).toStrictEqual([expectedUpdate('disabled', [alpha])]);
    expect(world.events).toStrictEqual([`publish ${gamma}`, `update disabled ${alpha}`]);
    expect(world.calls.slice(mark).filter((c) => c === 'ListTagsForResourceCommand')).toHaveLength(1);
    expect(summarize(result).TagReads).toBe(1);
  });

  it('a tag removed enables the account again, published first', async () => {
    const { alpha, beta, gamma } = world.accounts;
    await runAndLand();
    await world.org.send(new UntagResourceCommand({ ResourceId: beta, TagKeys: [OPT_OUT_TAG.Key] }));
    world.events.length = 0;
    await run({ priorityAccounts: [beta] });
    expect(sent()).toStrictEqual([expectedUpdate('enabled', [beta])]);
    expect(world.events).toStrictEqual([
      `publish ${sorted(alpha, beta, gamma).join(',')}`,
      `update enabled ${beta}`,
    ]);
  });

  it('a tag set to another value counts as no opt-out', async () => {
    const { beta } = world.accounts;
    await runAndLand();
    await world.org.send(
      new TagResourceCommand({ ResourceId: beta, Tags: [{ Key: OPT_OUT_TAG.Key, Value: 'false' }] }),
    );
    await run({ priorityAccounts: [beta] });
    expect(sent()).toStrictEqual([expectedUpdate('enabled', [beta])]);
  });

  it('a tag change without an event is found by the refresh of tags older than tagMaxAgeMs', async () => {
    const { alpha } = world.accounts;
    let now = 1_000;
    const deps = () => ({ ...world.deps(), now: () => now });
    await reconcile(world.config(), deps(), { apply: true });
    world.landWrites(world.takeUpdates());
    await world.org.send(new TagResourceCommand({ ResourceId: alpha, Tags: [OPT_OUT_TAG] }));
    await reconcile(world.config(), deps(), { apply: true, tagMaxAgeMs: 60_000 });
    expect(sent()).toStrictEqual([]); // still fresh: remembered, not re-read
    now += 60_000;
    await reconcile(world.config(), deps(), { apply: true, tagMaxAgeMs: 60_000 });
    expect(sent()).toStrictEqual([expectedUpdate('disabled', [alpha])]);
  });

  it('an account moved out of the target OUs is unpublished and never written', async () => {
    const { alpha, beta, gamma } = world.accounts;
    await runAndLand();
    await world.org.send(
      new MoveAccountCommand({
        AccountId: alpha,
        SourceParentId: world.workloads,
        DestinationParentId: world.sandbox,
      }),
    );
    const mark = world.calls.length;
    const result = await run({ priorityAccounts: [alpha] });
    expect(world.writesSince(mark)).toStrictEqual([]);
    expect(result.published?.accounts).toStrictEqual([gamma]);
    expect(result.outcomes[0]?.plan.decisions.map((d) => d.account)).toStrictEqual(sorted(beta, gamma));
  });

  it('a departed account (RemoveAccountFromOrganization) is unpublished before anything else is read', async () => {
    const { alpha, gamma } = world.accounts;
    await runAndLand();
    world.events.length = 0;
    const mark = world.calls.length;
    await run({ departedAccounts: [alpha], priorityAccounts: [alpha] });
    // The first call after loading the state is no AWS call at all: the publish.
    expect(world.events[0]).toBe(`publish ${gamma}`);
    expect(world.calls.slice(mark)[0]).toBe('DescribeStackSetCommand');
  });

  it('OperationInProgressException defers the write to the next run, not lost', async () => {
    world.failNextUpdatesAsBusy(1);
    const busy = await run();
    expect(busy.outcomes[0]?.status).toBe('busy');
    expect(busy.outcomes[0]?.deferred).toHaveLength(1);
    expect(sent()).toStrictEqual([]);
    await run();
    expect(sent()).toStrictEqual([
      expectedUpdate('enabled', sorted(world.accounts.alpha, world.accounts.gamma)),
    ]);
  });

  it('never enables an account it could not publish: no publisher, or a failed publish', async () => {
    const none = await run({}, {}, null);
    expect(sent()).toStrictEqual([]);
    expect(none.publishProblem).toBe('no enrolled-list bucket configured: accounts are not enabled');
    expect(none.outcomes[0]?.deferred.map((o) => o.enrollment)).toStrictEqual(['enabled']);

    const failing = await run(
      {},
      {},
      {
        publish: async () => {
          throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
        },
      },
    );
    expect(sent()).toStrictEqual([]);
    expect(failing.publishProblem).toMatch(
      /^publishing the enrolled list failed \(AccessDenied: Access Denied\)/,
    );
    expect(summarize(failing).PublishFailures).toBe(1);
  });

  it('disables still go out when publishing fails (the safe direction)', async () => {
    const { alpha } = world.accounts;
    await runAndLand();
    await world.org.send(new TagResourceCommand({ ResourceId: alpha, Tags: [OPT_OUT_TAG] }));
    await run(
      { priorityAccounts: [alpha] },
      {},
      {
        publish: async () => {
          throw new Error('down');
        },
      },
    );
    expect(sent()).toStrictEqual([expectedUpdate('disabled', [alpha])]);
  });

  it('re-sends the override to instances that failed, with backoff, and reports them stuck (issue 15.6)', async () => {
    const { alpha } = world.accounts;
    let now = 0;
    const failure = { account: alpha, region: 'eu-west-1', reason: 'Resource handler returned message' };
    const deps = (failing: boolean) => ({
      ...world.deps(failing ? { failedResults: async () => [failure] } : {}),
      now: () => now,
    });
    const first = await reconcile(world.config(), deps(true), { apply: true });
    world.landWrites(world.takeUpdates());
    expect(first.outcomes[0]?.operations.map((o) => o.failures)).toStrictEqual([[failure]]);
    expect(summarize(first).InstanceFailures).toBe(1);

    // Before the backoff: nothing re-sent.
    now += RETRY_BASE_MS - 1;
    await reconcile(world.config(), deps(true), { apply: true, verifyPerRun: 0 });
    expect(sent()).toStrictEqual([]);
    // After it: the failed instance's account, that region only.
    for (let attempt = 2; attempt <= STUCK_AFTER_ATTEMPTS; attempt++) {
      now += RETRY_BASE_MS * 2 ** (attempt - 1);
      const again = await reconcile(world.config(), deps(true), { apply: true, verifyPerRun: 0 });
      expect(sent()).toStrictEqual([expectedUpdate('enabled', [alpha], ['eu-west-1'])]);
      expect(again.outcomes[0]?.stuck.length).toBe(attempt >= STUCK_AFTER_ATTEMPTS ? 1 : 0);
    }
    const stuck = await reconcile(world.config(), deps(true), { apply: true, verifyPerRun: 0 });
    expect(stuck.outcomes[0]?.stuck).toStrictEqual([{ account: alpha, region: 'eu-west-1', attempts: 3 }]);
    expect(summarize(stuck).InstancesStuck).toBe(1);
    // Healed: the next re-send (after the 4th backoff step) succeeds and is no longer counted.
    now += RETRY_BASE_MS * 2 ** STUCK_AFTER_ATTEMPTS;
    const healed = await reconcile(world.config(), deps(false), { apply: true, verifyPerRun: 0 });
    expect(sent().map((u) => u.DeploymentTargets?.Accounts)).toStrictEqual([[alpha]]);
    expect(healed.outcomes[0]?.stuck).toStrictEqual([]);
  });

  it('keeps other parameter overrides it has read, with UsePreviousValue', async () => {
    for (const region of REGIONS)
      world.overrides.set(`${world.accounts.alpha}/${region}`, { Team: 'payments' });
    await run();
    const [update] = sent();
    expect(update?.ParameterOverrides).toStrictEqual([
      { ParameterKey: 'Enrollment', ParameterValue: 'enabled' },
      { ParameterKey: 'Team', UsePreviousValue: true },
    ]);
  });

  it('never writes to a suspended account', async () => {
    await world.org.send(new CloseAccountCommand({ AccountId: world.accounts.alpha }));
    const result = await run();
    expect(sent()).toStrictEqual([expectedUpdate('enabled', [world.accounts.gamma])]);
    const alpha = result.outcomes[0]?.plan.decisions.find((d) => d.account === world.accounts.alpha);
    expect([alpha?.action, alpha?.reason]).toStrictEqual([
      'skip',
      'account is SUSPENDED: StackSets cannot update it, left as it is',
    ]);
  });

  it('plan only (apply: false) writes nothing, publishes nothing, remembers nothing', async () => {
    const mark = world.calls.length;
    const result = await reconcile(world.config(), world.deps(), { apply: false });
    expect(world.writesSince(mark)).toStrictEqual([]);
    expect(world.published).toStrictEqual([]);
    expect(result.outcomes[0]?.status).toBe('planned');
    expect(result.outcomes[0]?.deferred).toHaveLength(1);
    expect((await world.store.load()).etag).toBeUndefined();
  });

  it('honours the management account tag through the self-managed management StackSet', async () => {
    await world.cfn.send(
      new CreateStackSetCommand({
        StackSetName: MANAGEMENT_STACK_SET,
        TemplateBody: MEMBER_TEMPLATE,
        PermissionModel: 'SELF_MANAGED',
        Parameters: [{ ParameterKey: 'Enrollment', ParameterValue: 'disabled' }],
      }),
    );
    await world.cfn.send(
      new CreateStackInstancesCommand({
        StackSetName: MANAGEMENT_STACK_SET,
        Accounts: [MANAGEMENT_ACCOUNT_ID],
        Regions: REGIONS,
      }),
    );
    world.takeUpdates();
    const config = world.config({ callAs: 'DELEGATED_ADMIN', managementStackSetName: MANAGEMENT_STACK_SET });
    const untagged = await reconcile(config, world.deps(), { apply: true });
    expect(untagged.published?.accounts).toContain(MANAGEMENT_ACCOUNT_ID);
    expect(sent().find((u) => u.StackSetName === MANAGEMENT_STACK_SET)).toStrictEqual({
      StackSetName: MANAGEMENT_STACK_SET,
      CallAs: 'SELF',
      Accounts: [MANAGEMENT_ACCOUNT_ID],
      Regions: REGIONS,
      ParameterOverrides: [{ ParameterKey: 'Enrollment', ParameterValue: 'enabled' }],
      OperationPreferences: PREFERENCES,
    });
    await world.org.send(new TagResourceCommand({ ResourceId: MANAGEMENT_ACCOUNT_ID, Tags: [OPT_OUT_TAG] }));
    const tagged = await reconcile(config, world.deps(), {
      apply: true,
      priorityAccounts: [MANAGEMENT_ACCOUNT_ID],
    });
    expect(tagged.published?.accounts).not.toContain(MANAGEMENT_ACCOUNT_ID);
    expect(sent().map((u) => [u.StackSetName, u.ParameterOverrides?.[0]?.ParameterValue])).toStrictEqual([
      [MANAGEMENT_STACK_SET, 'disabled'],
    ]);
  });

  it('a deadline already passed: nothing is read and nothing written, the lease is released', async () => {
    const mark = world.calls.length;
    const result = await reconcile(
      world.config(),
      { ...world.deps(), now: () => 2_000 },
      {
        apply: true,
        deadline: 1_000,
      },
    );
    expect(world.writesSince(mark)).toStrictEqual([]);
    expect(summarize(result).TagReads).toBe(0);
    expect(result.outcomes[0]?.unread).toBe(3);
    expect((await world.store.load()).state.lease).toBeUndefined();
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
    const error = await run(
      {},
      {
        describeStackSet: async () => {
          throw denied;
        },
      },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).message).toBe(
      'DescribeStackSet refused for StackSet "log-reflector-members": AccessDeniedException',
    );
  });
});

describe('overlapping runs are harmless', () => {
  it('a second run waits for the lease, then acts on what it reads itself', async () => {
    const { alpha } = world.accounts;
    await runAndLand();
    // Another run holds the lease until t=50s.
    const held = await world.store.load();
    await world.store.save({ ...held.state, lease: { owner: 'other', expiresAt: 50_000 } }, held.etag);
    await world.org.send(new TagResourceCommand({ ResourceId: alpha, Tags: [OPT_OUT_TAG] }));
    let now = 0;
    const slept: number[] = [];
    const result = await reconcile(
      world.config(),
      {
        ...world.deps(),
        now: () => now,
        sleep: async (ms) => {
          slept.push(ms);
          now += ms;
        },
      },
      { apply: true, deadline: 300_000, priorityAccounts: [alpha], pollIntervalMs: 10_000 },
    );
    expect(slept.slice(0, 5)).toStrictEqual([10_000, 10_000, 10_000, 10_000, 10_000]);
    expect(sent()).toStrictEqual([expectedUpdate('disabled', [alpha])]);
    expect(result.outcomes[0]?.status).toBe('applied');
  });

  it('gives up with LeaseHeldError (retried by Lambda) when the lease outlasts its deadline', async () => {
    const held = await world.store.load();
    await world.store.save({ ...held.state, lease: { owner: 'other', expiresAt: 10_000_000 } }, held.etag);
    let now = 0;
    const mark = world.calls.length;
    const error = await reconcile(
      world.config(),
      {
        ...world.deps(),
        now: () => now,
        sleep: async (ms) => {
          now += ms;
        },
      },
      { apply: true, deadline: 120_000 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaseHeldError);
    expect((error as LeaseHeldError).retryable).toBe(true);
    expect(world.calls.slice(mark)).toStrictEqual([]);
  });

  it('every state write is conditional: a stale ETag is refused', async () => {
    const first = await world.store.load();
    await world.store.save(first.state, first.etag);
    await expect(world.store.save(first.state, first.etag)).rejects.toBeInstanceOf(StateConflictError);
  });

  it('two runs started together: one acts, the other waits and then finds nothing left to do', async () => {
    let now = 0;
    // The waiting run polls (10 s of its clock each) until the first releases the lease; its
    // deadline is far enough that the outcome never depends on how fast moto answers.
    const deps = {
      ...world.deps(),
      now: () => now,
      sleep: async (ms: number) => {
        now += ms;
        await new Promise((resolve) => setTimeout(resolve, 1));
      },
    };
    const far = 10 ** 12;
    const [a, b] = await Promise.all([
      reconcile(world.config(), { ...deps, runId: 'a' }, { apply: true, deadline: far }),
      reconcile(world.config(), { ...deps, runId: 'b' }, { apply: true, deadline: far }),
    ]);
    const updates = sent();
    expect(updates).toStrictEqual([
      expectedUpdate('enabled', sorted(world.accounts.alpha, world.accounts.gamma)),
    ]);
    expect([a.outcomes[0]?.status, b.outcomes[0]?.status].sort()).toStrictEqual(['applied', 'in-sync']);
  });
});
