/**
 * The handler end to end against moto: real Organizations samples in, a reconcile with real
 * Organizations/StackSets calls, the UpdateStackInstances request out; ignored events make no
 * AWS call at all. Metrics go through Powertools (EMF on stdout), checked via a spy.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { TagResourceCommand } from '@aws-sdk/client-organizations';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createHandler,
  DEADLINE_GRACE_MS,
  type HandlerDeps,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from '../../../central/enrollment/handler';
import type { ReconcileDeps } from '../../../central/enrollment/reconcile';
import { LeaseHeldError } from '../../../central/enrollment/state';
import { useMoto } from '../../support/moto';
import {
  accountJoined,
  apiCallEvent,
  createAccountRecord,
  moveAccount,
  scheduledEvent,
  serviceEventEnvelope,
} from './factories';
import { buildWorld, OPT_OUT_TAG, REGIONS, type World } from './world';

const moto = useMoto();
let world: World;

beforeEach(async () => {
  await moto.reset();
  world = await buildWorld();
});

const context = { getRemainingTimeInMillis: () => 300_000 };

function setup(reconcileDeps: ReconcileDeps = world.deps()) {
  const logger = new Logger({ serviceName: SERVICE_NAME, logLevel: 'SILENT' });
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
  const added: [string, number][] = [];
  vi.spyOn(metrics, 'addMetric').mockImplementation((name, _unit, value) => {
    added.push([name, value]);
    return metrics;
  });
  const published = vi.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
  const deps: HandlerDeps = { config: world.config(), reconcileDeps, logger, metrics };
  return { handler: createHandler(() => deps), added, published };
}

function sentAccounts(): string[][] {
  return world.takeUpdates().map((u) => u.DeploymentTargets?.Accounts ?? []);
}

describe('enrollment handler', () => {
  it('reconciles on the real MoveAccount sample', async () => {
    const { alpha, gamma } = world.accounts;
    const { handler, added, published } = setup();
    const result = await handler(moveAccount(), context);
    expect(sentAccounts()).toStrictEqual([[alpha, gamma].sort()]);
    expect(result).toStrictEqual({
      status: 'reconciled',
      trigger: 'organizations',
      counts: {
        AccountsInScope: 3,
        AccountsOptedOut: 1,
        AccountsToDisable: 0,
        AccountsToEnable: 2,
        AccountsWaiting: 0,
        AccountsSkipped: 0,
        AccountsEnrolled: 2,
        OperationsStarted: 1,
        OperationsDeferred: 0,
        InstanceFailures: 0,
        InstancesStuck: 0,
        StateUnread: 0,
        StackSetBusy: 0,
        PublishFailures: 0,
        TagReads: 3,
        // The FAILED listing and both regions (cheaper than one listing per account here).
        InstanceListings: 3,
        OverrideReads: 6,
      },
      stackSets: [
        {
          name: 'log-reflector-members',
          status: 'applied',
          changes: [alpha, gamma].sort().map((account) => ({ account, action: 'enable', regions: REGIONS })),
          operationIds: [expect.any(String)],
          deferredOperations: 0,
        },
      ],
    });
    expect(added).toContainEqual(['AccountsToEnable', 2]);
    expect(added).toContainEqual(['OperationsStarted', 1]);
    expect(published).toHaveBeenCalledTimes(1);
  });

  it('reconciles on the real CreateAccountResult sample (in its EventBridge envelope)', async () => {
    await world.org.send(new TagResourceCommand({ ResourceId: world.accounts.alpha, Tags: [OPT_OUT_TAG] }));
    const { handler } = setup();
    const result = await handler(serviceEventEnvelope(createAccountRecord()), context);
    expect(result.status).toBe('reconciled');
    expect(sentAccounts()).toStrictEqual([[world.accounts.gamma]]);
  });

  it('reconciles on AccountJoinedOrganization, the event an invited account produces in the management account', async () => {
    const { handler } = setup();
    const result = await handler(accountJoined(), context);
    expect(result).toMatchObject({ status: 'reconciled', trigger: 'organizations' });
    expect(sentAccounts()).toStrictEqual([[world.accounts.alpha, world.accounts.gamma].sort()]);
  });

  it('reconciles on the schedule and on the post-deploy invoke, remembering between them', async () => {
    const { handler } = setup();
    await handler(scheduledEvent, context);
    expect(sentAccounts()).toStrictEqual([[world.accounts.alpha, world.accounts.gamma].sort()]);
    const again = await handler({ trigger: 'deploy' }, context);
    expect(sentAccounts()).toStrictEqual([]);
    expect(again.status === 'reconciled' && again.counts.TagReads).toBe(0);
  });

  it('a run that never gets the lease fails (Lambda retries it) and counts LeaseBusy', async () => {
    const held = await world.store.load();
    await world.store.save({ ...held.state, lease: { owner: 'other', expiresAt: 10 ** 13 } }, held.etag);
    let now = 0;
    const { handler, added } = setup({
      ...world.deps(),
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
    await expect(handler(scheduledEvent, { getRemainingTimeInMillis: () => 60_000 })).rejects.toBeInstanceOf(
      LeaseHeldError,
    );
    expect(added).toStrictEqual([['LeaseBusy', 1]]);
  });

  it.each([
    [
      'an Organizations call that changes no account (CreatePolicy)',
      apiCallEvent('CreatePolicy', { name: 'p' }),
      'CreatePolicy does not affect enrollment',
    ],
    [
      'a bare CloudTrail record',
      createAccountRecord(),
      'not an EventBridge event, schedule or {"trigger":"deploy"}',
    ],
    [
      'a CloudWatch Logs event',
      { source: 'aws.logs', 'detail-type': 'AWS API Call via CloudTrail', detail: {} },
      'event from aws.logs is not handled',
    ],
  ])('ignores %s without a single AWS call', async (_name, event, reason) => {
    const mark = world.calls.length;
    const { handler, added } = setup();
    expect(await handler(event, context)).toStrictEqual({ status: 'ignored', reason });
    expect(world.calls.slice(mark)).toStrictEqual([]);
    expect(added).toStrictEqual([['IgnoredEvents', 1]]);
  });

  it('leaves the grace period free: the deadline passed to the run is remaining time minus the grace', async () => {
    const { handler } = setup({ ...world.deps(), now: () => 1_000_000 });
    const result = await handler(scheduledEvent, { getRemainingTimeInMillis: () => DEADLINE_GRACE_MS });
    // No time left at all: nothing read, nothing written, everything waits.
    expect(world.takeUpdates()).toStrictEqual([]);
    expect(result.status === 'reconciled' && result.counts.AccountsWaiting).toBe(3);
  });

  it('fails the invocation (and counts it) when the StackSet is missing', async () => {
    const logger = new Logger({ serviceName: SERVICE_NAME, logLevel: 'SILENT' });
    const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
    const added: string[] = [];
    vi.spyOn(metrics, 'addMetric').mockImplementation((name) => {
      added.push(name);
      return metrics;
    });
    vi.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
    const handler = createHandler(() => ({
      config: world.config({ stackSetName: 'log-reflector-missing' }),
      reconcileDeps: world.deps(),
      logger,
      metrics,
    }));
    await expect(handler(scheduledEvent, context)).rejects.toThrow(
      'Invalid members StackSet:\n  - STACK_SET_NAME: no such StackSet (CallAs SELF) (received "log-reflector-missing")',
    );
    expect(added).toStrictEqual(['ReconcileErrors']);
  });
});
