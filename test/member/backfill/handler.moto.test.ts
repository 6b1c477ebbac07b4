/**
 * The backfill custom resource against moto, answering a local ResponseURL server: Create,
 * Update (Enrollment disabled), Delete, forced failures, long runs handed on with a cursor,
 * and a Delete that runs out of CloudFormation's time.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sendResponse } from '../../../member/backfill/cfn-response';
import { type BackfillDeps, createBackfillHandler, physicalIdFor } from '../../../member/backfill/handler';
import { createLogsRuntime } from '../../../member/runtime/clients';
import type { Continuation } from '../../../member/runtime/continuation';
import { type Clock, systemClock } from '../../../shared/rate-limiter';
import { type CfnResponseServer, startCfnResponseServer } from '../../support/cfn-response-server';
import { loadEvent } from '../../support/events';
import { useMoto } from '../../support/moto';
import {
  FILTER_NAME,
  freshAccount,
  type MotoAccount,
  memberEnv,
  memberSettings,
  REGION,
  ROLE_ARN,
} from '../support';
import { recordTelemetry } from '../telemetry-recorder';

const moto = useMoto(REGION);
let cfn: CfnResponseServer;
let account: MotoAccount;
let destination: string;
let foreignDestination: string;

beforeAll(async () => {
  cfn = await startCfnResponseServer();
});
afterAll(async () => {
  await cfn?.close();
});
beforeEach(async () => {
  ({ account, destination, foreignDestination } = await freshAccount(moto));
  cfn.received.length = 0;
});

/**
 * A clock that advances 1 ms each time it is read: a run's time budget then counts clock
 * readings (about one per log group started), not wall time, so how much a hop does never
 * depends on how loaded the machine is (on a loaded one a 20 ms hop used to do nothing
 * and the chain hit its hop limit).
 */
function tickingClock(start = 1_795_651_200_000): Clock {
  let t = start;
  return {
    now: () => {
      t += 1;
      return t;
    },
    sleep: async (ms) => {
      t += Math.max(0, ms);
    },
  };
}

const FUNCTION_ARN = `arn:aws:lambda:${REGION}:123456789012:function:log-reflector-backfill`;
const GRACE_MS = 1_000;

interface Harness {
  handler: ReturnType<typeof createBackfillHandler>;
  handedOff: Continuation[];
  recorded: ReturnType<typeof recordTelemetry>;
}

function harness(overrides: Partial<BackfillDeps> = {}, maxAttempts = 8): Harness {
  const handedOff: Continuation[] = [];
  const recorded = recordTelemetry();
  // The environment mirrors properties(), as the member stack sets both from the same values.
  const settings = memberSettings({ destinationArn: destination, exclude: ['/noisy/*'] });
  const deps: BackfillDeps = {
    env: memberEnv(settings),
    // moto is local: run far above the production rate so the tests stay fast.
    runtimeFor: () =>
      createLogsRuntime({
        requestsPerSecond: 2000,
        client: account.logs,
        retry: { maxAttempts, baseDelayMs: 1, maxDelayMs: 5 },
      }),
    handOff: async (arn, payload) => {
      expect(arn).toBe(FUNCTION_ARN);
      handedOff.push(payload as Continuation);
    },
    clock: systemClock,
    telemetry: recorded.telemetry,
    sendResponse,
    budgets: { graceMs: GRACE_MS, syncBudgetMs: 60_000, deleteBudgetMs: 60_000 },
    ...overrides,
  };
  return { handler: createBackfillHandler(deps), handedOff, recorded };
}

/** A Lambda context with `workMs` of usable time left after the grace period. */
const context = (workMs = 60_000) => ({
  invokedFunctionArn: FUNCTION_ARN,
  getRemainingTimeInMillis: () => GRACE_MS + workMs,
});

function properties(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ServiceToken: FUNCTION_ARN,
    DestinationArn: destination,
    SenderRoleArn: ROLE_ARN,
    FilterName: FILTER_NAME,
    FilterPattern: '',
    Include: '',
    Exclude: '/noisy/*',
    Enrollment: 'enabled',
    ...overrides,
  };
}

/** A request built on the real sample events (test/events/cloudformation/). */
function request(
  type: 'Create' | 'Update' | 'Delete',
  props: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  const sample = loadEvent<Record<string, unknown>>(
    `cloudformation/cfn-custom-resource-${type.toLowerCase()}.powertools-ts.json`,
  );
  return {
    ...sample,
    ResponseURL: cfn.responseUrl(`${type}-${cfn.received.length}`),
    ResourceProperties: props,
    ...extra,
  };
}

/** Runs every hand-off the way Lambda would (asynchronously, one after the other). */
async function drain(h: Harness, workMs: number): Promise<number> {
  let hops = 0;
  while (h.handedOff.length > 0) {
    const next = h.handedOff.shift();
    hops += 1;
    await h.handler(JSON.parse(JSON.stringify(next)), context(workMs));
  }
  return hops;
}

const groupNames = (n: number) =>
  Array.from({ length: n }, (_, i) => `/app/bf-${String(i).padStart(4, '0')}`);

describe('backfill custom resource', () => {
  it('Create subscribes every eligible group and answers SUCCESS with counts', async () => {
    await account.createGroups(['/app/a', '/app/b', '/noisy/x', '/aws/lambda/log-reflector-backfill']);
    await account.putForeignFilter('/app/b', 'datadog', foreignDestination);
    const h = harness();
    await h.handler(request('Create', properties()), context());
    const [response] = await cfn.waitFor(1);
    expect(response?.method).toBe('PUT');
    expect(response?.headers['content-type']).toBe('');
    expect(response?.body).toStrictEqual({
      Status: 'SUCCESS',
      PhysicalResourceId: physicalIdFor(FILTER_NAME),
      StackId: 'arn:aws:cloudformation:us-east-1:xxxx:stack/xxxx/271845b0-f2e8-11ed-90ac-0eeb25b8ae21',
      RequestId: 'xxxxx-d2a0-4dfb-ab1f-xxxxxx',
      LogicalResourceId: 'xxxxxxxxx',
      Data: {
        Subscribed: '2',
        Updated: '0',
        Removed: '0',
        Conflicts: '0',
        Skipped: '2',
        Failed: '0',
        Complete: 'true',
      },
    });
    expect(
      await account.groupsWith(
        ['/app/a', '/app/b', '/noisy/x', '/aws/lambda/log-reflector-backfill'],
        FILTER_NAME,
      ),
    ).toStrictEqual(['/app/a', '/app/b']);
    expect(h.recorded.metrics).toStrictEqual({
      Subscribed: 2,
      Updated: 0,
      Removed: 0,
      Conflicts: 0,
      Skipped: 2,
      Failed: 0,
      Throttled: 0,
    });
    expect(h.handedOff).toStrictEqual([]);
  });

  it('Update with Enrollment disabled removes our filters only, keeping the physical id', async () => {
    await account.createGroups(['/app/a', '/app/b']);
    await account.putForeignFilter('/app/b', 'datadog', foreignDestination);
    const h = harness();
    await h.handler(request('Create', properties()), context());
    await cfn.waitFor(1);
    await h.handler(
      request('Update', properties({ Enrollment: 'disabled' }), {
        PhysicalResourceId: physicalIdFor(FILTER_NAME),
        OldResourceProperties: properties(),
      }),
      context(),
    );
    const responses = await cfn.waitFor(2);
    expect(responses[1]?.body).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: physicalIdFor(FILTER_NAME),
      Data: { Subscribed: '0', Removed: '2', Complete: 'true' },
    });
    expect(await account.filters('/app/a')).toStrictEqual({});
    expect(Object.keys(await account.filters('/app/b'))).toStrictEqual(['datadog']);
  });

  it('Update back to Enrollment enabled subscribes the groups again (opt back in)', async () => {
    await account.createGroups(['/app/a', '/app/b']);
    await account.putForeignFilter('/app/b', 'datadog', foreignDestination);
    const h = harness();
    const physical = { PhysicalResourceId: physicalIdFor(FILTER_NAME) };
    await h.handler(request('Create', properties()), context());
    await h.handler(
      request('Update', properties({ Enrollment: 'disabled' }), {
        ...physical,
        OldResourceProperties: properties(),
      }),
      context(),
    );
    await h.handler(
      request('Update', properties(), {
        ...physical,
        OldResourceProperties: properties({ Enrollment: 'disabled' }),
      }),
      context(),
    );
    const responses = await cfn.waitFor(3);
    expect(responses[2]?.body).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: physicalIdFor(FILTER_NAME),
      Data: { Subscribed: '2', Removed: '0', Complete: 'true' },
    });
    expect(await account.groupsWith(['/app/a', '/app/b'], FILTER_NAME)).toStrictEqual(['/app/a', '/app/b']);
    expect(Object.keys(await account.filters('/app/b')).sort()).toStrictEqual(
      ['datadog', FILTER_NAME].sort(),
    );
  });

  it('Delete removes our filters (found by the request FilterName) and answers SUCCESS', async () => {
    await account.createGroups(groupNames(70));
    const h = harness();
    await h.handler(request('Create', properties()), context());
    await account.putForeignFilter('/app/bf-0003', 'datadog', foreignDestination);
    await h.handler(
      request('Delete', properties(), { PhysicalResourceId: physicalIdFor(FILTER_NAME) }),
      context(),
    );
    const responses = await cfn.waitFor(2);
    expect(responses[1]?.body).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: physicalIdFor(FILTER_NAME),
      Data: { Removed: '70', Failed: '0', Complete: 'true' },
    });
    expect(responses[1]?.body.Reason).toBeUndefined();
    expect(await account.groupsWith(groupNames(70), FILTER_NAME)).toStrictEqual([]);
    expect(Object.keys(await account.filters('/app/bf-0003'))).toStrictEqual(['datadog']);
  });

  it('answers FAILED with the reason when the properties are invalid', async () => {
    const h = harness();
    await h.handler(
      request('Create', properties({ DestinationArn: 'not-an-arn', Enrollment: 'sometimes' })),
      context(),
    );
    const [response] = await cfn.waitFor(1);
    expect(response?.body.Status).toBe('FAILED');
    expect(response?.body.Reason).toBe(
      'ConfigError: Invalid backfill resource properties:\n' +
        '  - DestinationArn: must be a logs destination, Kinesis, Firehose or Lambda ARN (received "not-an-arn")\n' +
        '  - Enrollment: must be one of enabled, disabled (received "sometimes")',
    );
  });

  it('answers FAILED with the first failure when every change fails (destination not deliverable)', async () => {
    await account.createGroups(['/app/a', '/app/b']);
    const h = harness({}, 2);
    const missing = 'arn:aws:kinesis:us-east-1:123456789012:stream/missing';
    await h.handler(request('Create', properties({ DestinationArn: missing })), context());
    const [response] = await cfn.waitFor(1);
    expect(response?.body.Status).toBe('FAILED');
    expect(response?.body.Reason).toMatch(
      /^Backfill failed: every change failed \(2\); first: \/app\/[ab]: PutSubscriptionFilter on log group "\/app\/[ab]" failed after 2 attempt\(s\): InvalidParameterException: Could not deliver test message/,
    );
  });

  it('answers FAILED for a malformed request that still has a ResponseURL', async () => {
    const h = harness();
    await h.handler(
      {
        ResponseURL: cfn.responseUrl('bad'),
        RequestType: 'Replace',
        StackId: 's',
        RequestId: 'r',
        LogicalResourceId: 'l',
      },
      context(),
    );
    const [response] = await cfn.waitFor(1);
    expect(response?.body.Status).toBe('FAILED');
    expect(String(response?.body.Reason)).toMatch(/^Invalid custom resource request: RequestType: /);
  });

  it('answers SUCCESS to a Delete without a valid FilterName (rollback of a failed Create)', async () => {
    const h = harness();
    await h.handler(request('Delete', { FilterName: 'bad:name' }), context());
    const [response] = await cfn.waitFor(1);
    expect(response?.body).toMatchObject({
      Status: 'SUCCESS',
      Reason: 'No valid FilterName (received "bad:name"): nothing to remove',
    });
  });

  it('retries the response PUT on a 5xx', async () => {
    const h = harness();
    cfn.failNext(2, 503);
    await h.handler(request('Create', properties()), context());
    const [response] = await cfn.waitFor(1);
    expect(response?.body.Status).toBe('SUCCESS');
  });

  it('answers Create early and hands the rest on with a cursor until every group is done', async () => {
    const groups = groupNames(260);
    await account.createGroups(groups);
    const h = harness({
      budgets: { graceMs: GRACE_MS, syncBudgetMs: 30, deleteBudgetMs: 60_000 },
      clock: tickingClock(),
    });
    await h.handler(request('Create', properties()), context());
    const [response] = await cfn.waitFor(1);
    expect(response?.body).toMatchObject({
      Status: 'SUCCESS',
      Reason: 'Initial part done; the backfill continues in the background (see its logs and metrics)',
      Data: { Complete: 'false' },
    });
    expect(h.handedOff).toHaveLength(1);
    expect(h.handedOff[0]).toMatchObject({
      logReflectorContinuation: 1,
      origin: 'backfill',
      mode: 'reconcile',
      hop: 2,
    });
    expect(h.handedOff[0]?.respond).toBeUndefined();
    const hops = await drain(h, 20);
    expect(hops).toBeGreaterThanOrEqual(2);
    expect((await account.groupsWith(groups, FILTER_NAME)).length).toBe(260);
    const finished = h.recorded.lines.filter((l) => l.message === 'run step finished').at(-1);
    expect((finished?.extra[0] as { totals?: { subscribed: number } } | undefined)?.totals?.subscribed).toBe(
      260,
    );
    expect(cfn.received).toHaveLength(1);
  });

  it('stops a hand-off chain whose settings were superseded by a stack update', async () => {
    await account.createGroups(groupNames(5));
    const h = harness();
    const stale: Continuation = {
      logReflectorContinuation: 1,
      origin: 'backfill',
      mode: 'reconcile',
      settings: memberSettings({ destinationArn: destination, exclude: ['/old/*'] }),
      hop: 3,
      startedAtMs: Date.now(),
      totals: { subscribed: 0, updated: 0, removed: 0, skipped: 0, conflict: 0, failed: 0 },
    };
    await h.handler(stale, context());
    expect(await account.groupsWith(groupNames(5), FILTER_NAME)).toStrictEqual([]);
    expect(h.recorded.lines.map((l) => l.message)).toContain(
      'backfill chain superseded by newer settings; stopping',
    );
  });

  it('Delete chains invocations while CloudFormation waits and answers once, at the end', async () => {
    const groups = groupNames(200);
    await account.createGroups(groups);
    const h = harness({ clock: tickingClock() });
    await h.handler(request('Create', properties()), context());
    await cfn.waitFor(1);
    await h.handler(
      request('Delete', properties(), { PhysicalResourceId: physicalIdFor(FILTER_NAME) }),
      context(60),
    );
    expect(cfn.received).toHaveLength(1);
    expect(h.handedOff[0]?.respond?.PhysicalResourceId).toBe(physicalIdFor(FILTER_NAME));
    await drain(h, 60);
    const responses = await cfn.waitFor(2);
    expect(responses).toHaveLength(2);
    expect(responses[1]?.body).toMatchObject({
      Status: 'SUCCESS',
      Data: { Removed: '200', Complete: 'true' },
    });
    expect(await account.groupsWith(groups, FILTER_NAME)).toStrictEqual([]);
  });

  it('Delete that runs out of CloudFormation time answers SUCCESS and says what to do', async () => {
    const groups = groupNames(150);
    await account.createGroups(groups);
    const h = harness();
    await h.handler(request('Create', properties()), context());
    await cfn.waitFor(1);
    const late = harness({
      budgets: { graceMs: GRACE_MS, syncBudgetMs: 60_000, deleteBudgetMs: 20 },
      clock: tickingClock(),
    });
    await late.handler(
      request('Delete', properties(), { PhysicalResourceId: physicalIdFor(FILTER_NAME) }),
      context(),
    );
    const responses = await cfn.waitFor(2);
    expect(late.handedOff).toStrictEqual([]);
    expect(responses[1]?.body).toMatchObject({ Status: 'SUCCESS', Data: { Complete: 'false' } });
    expect(String(responses[1]?.body.Reason)).toMatch(
      /^Removed \d+ filter\(s\) named "log-reflector-us-east-1" but ran out of time before the last log groups; some may remain\. Run `log-reflector remove --filter-name log-reflector-us-east-1 --region us-east-1` in this account/,
    );
    expect((await account.groupsWith(groups, FILTER_NAME)).length).toBeGreaterThan(0);
  });
});
