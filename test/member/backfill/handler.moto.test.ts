/**
 * The backfill custom resource against moto, answering a local ResponseURL server: Create,
 * Update (Enrollment disabled), Delete, forced failures, long runs handed on with a cursor,
 * and a Delete that runs out of CloudFormation's time.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sendResponse } from '../../../member/backfill/cfn-response';
import { type BackfillDeps, createBackfillHandler, physicalIdFor } from '../../../member/backfill/handler';
import type { CleanupJob } from '../../../member/cleanup/job';
import { createClaim } from '../../../member/runtime/claims';
import { createLogsRuntime, HandOffError } from '../../../member/runtime/clients';
import type { Continuation } from '../../../member/runtime/continuation';
import type { RunReport } from '../../../member/runtime/report';
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
/** The backfill's own log group, where it claims requests and hops (runtime/claims.ts). */
const OWN_LOG_GROUP = '/aws/lambda/log-reflector-backfill';

beforeEach(async () => {
  ({ account, destination, foreignDestination } = await freshAccount(moto));
  await account.createGroups([OWN_LOG_GROUP]);
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
  cleanups: CleanupJob[];
  recorded: ReturnType<typeof recordTelemetry>;
}

function harness(overrides: Partial<BackfillDeps> = {}, maxAttempts = 8): Harness {
  const handedOff: Continuation[] = [];
  const cleanups: CleanupJob[] = [];
  const recorded = recordTelemetry();
  // The environment mirrors properties(), as the member stack sets both from the same values.
  const settings = memberSettings({ destinationArn: destination, exclude: ['/noisy/*'] });
  const deps: BackfillDeps = {
    env: { ...memberEnv(settings), INSTALL_ID: '271845b0' },
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
    claim: createClaim(account.logs, OWN_LOG_GROUP),
    sendResponse,
    budgets: { graceMs: GRACE_MS, syncBudgetMs: 60_000 },
    startCleanup: async (job) => {
      cleanups.push(job);
    },
    ...overrides,
  };
  return { handler: createBackfillHandler(deps), handedOff, cleanups, recorded };
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

let requestCount = 0;

/** A request built on the real sample events (test/events/cloudformation/). */
function request(
  type: 'Create' | 'Update' | 'Delete',
  props: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  const sample = loadEvent<Record<string, unknown>>(
    `cloudformation/cfn-custom-resource-${type.toLowerCase()}.powertools-ts.json`,
  );
  requestCount += 1;
  return {
    ...sample,
    RequestId: `request-${requestCount}`,
    ResponseURL: cfn.responseUrl(`${type}-${requestCount}`),
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
    await account.createGroups(['/app/a', '/app/b', '/noisy/x']);
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
      RequestId: expect.stringMatching(/^request-\d+$/),
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
      // The account policy seam (runtime/account-policy.ts): none of ours in log-group scope.
      AccountPolicyInPlace: 0,
      AccountPolicyConflict: 0,
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
      Reason: `Removed 70 filter(s) named "${FILTER_NAME}"; log-reflector-cleanup-271845b0 re-checks every log group and then deletes itself (docs/member.md)`,
    });
    // Everything was removed before the settle time: the worker's one job is the re-check.
    expect(h.cleanups).toMatchObject([
      {
        installId: '271845b0',
        kind: 'uninstall',
        filterName: FILTER_NAME,
        pass: 2,
        recheckAll: true,
        runs: 0,
      },
    ]);
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
    const h = harness({ budgets: { graceMs: GRACE_MS, syncBudgetMs: 30 }, clock: tickingClock() });
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

  it('Delete that runs out of its budget answers SUCCESS and hands the rest to the cleanup worker with the cursor', async () => {
    const groups = groupNames(150);
    await account.createGroups(groups);
    const h = harness();
    await h.handler(request('Create', properties()), context());
    await cfn.waitFor(1);
    const late = harness({ budgets: { graceMs: GRACE_MS, syncBudgetMs: 20 }, clock: tickingClock() });
    await late.handler(
      request('Delete', properties(), { PhysicalResourceId: physicalIdFor(FILTER_NAME) }),
      context(),
    );
    const responses = await cfn.waitFor(2);
    expect(late.handedOff).toStrictEqual([]);
    expect(responses[1]?.body).toMatchObject({ Status: 'SUCCESS', Data: { Complete: 'false' } });
    expect(String(responses[1]?.body.Reason)).toMatch(
      /^Removed \d+ filter\(s\) named "log-reflector-us-east-1"; log-reflector-cleanup-271845b0 removes the rest and then deletes itself/,
    );
    const [job] = late.cleanups;
    expect(job).toMatchObject({ kind: 'uninstall', pass: 1, filterName: FILTER_NAME });
    expect(job?.cursor?.after).toBe(job?.recheckThrough);
    expect((await account.groupsWith(groups, FILTER_NAME)).length).toBeGreaterThan(0);
  });

  it('Delete of a renamed filter starts a `replaced` job: the stack stays, only the old name goes', async () => {
    await account.createGroups(['/app/a']);
    const h = harness();
    await h.handler(
      request('Delete', properties({ FilterName: 'old-name-us-east-1' }), {
        PhysicalResourceId: physicalIdFor('old-name-us-east-1'),
      }),
      context(),
    );
    const [response] = await cfn.waitFor(1);
    expect(response?.body.Status).toBe('SUCCESS');
    expect(h.cleanups).toMatchObject([{ kind: 'replaced', filterName: 'old-name-us-east-1' }]);
  });
});

/** Makes every call of `command` fail with `error` on the harness account's client. */
function failing(command: string, error: () => Error): void {
  account.logs.middlewareStack.add(
    (next, ctx) => async (args) => {
      if (ctx.commandName === command) throw error();
      return next(args);
    },
    { step: 'initialize', name: `fail-${command}-${Math.random()}` },
  );
}
const denied = () =>
  Object.assign(
    new Error(
      'User is not authorized to perform: logs:DescribeLogGroups with an explicit deny in a service control policy',
    ),
    {
      name: 'AccessDeniedException',
      $fault: 'client',
    },
  );
const throttled = () =>
  Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client' });

describe('never wedge a stack instance (issue 15.5)', () => {
  it('Delete answers SUCCESS when listing is denied by an SCP, and the worker takes over', async () => {
    failing('DescribeLogGroupsCommand', denied);
    const h = harness();
    await h.handler(
      request('Delete', properties(), { PhysicalResourceId: physicalIdFor(FILTER_NAME) }),
      context(),
    );
    const [response] = await cfn.waitFor(1);
    expect(response?.body).toMatchObject({ Status: 'SUCCESS', Data: { Removed: '0', Complete: 'false' } });
    expect(String(response?.body.Reason)).toContain('explicit deny in a service control policy');
    expect(String(response?.body.Reason)).toContain('log-reflector-cleanup-271845b0 removes the rest');
    expect(h.cleanups).toMatchObject([{ pass: 1, filterName: FILTER_NAME }]);
    expect(h.cleanups[0]?.cursor).toBeUndefined();
  });

  it('Delete answers SUCCESS when listing is throttled to exhaustion', async () => {
    failing('DescribeLogGroupsCommand', throttled);
    const h = harness({}, 2);
    await h.handler(
      request('Delete', properties(), { PhysicalResourceId: physicalIdFor(FILTER_NAME) }),
      context(),
    );
    const [response] = await cfn.waitFor(1);
    expect(response?.body.Status).toBe('SUCCESS');
    expect(String(response?.body.Reason)).toMatch(
      /DescribeLogGroups failed after 2 attempt\(s\): ThrottlingException/,
    );
  });

  it('Delete answers SUCCESS and names the CLI when even the worker cannot be started', async () => {
    failing('DescribeLogGroupsCommand', denied);
    const h = harness({
      startCleanup: async () => {
        throw new Error('events:PutRule denied');
      },
    });
    await h.handler(
      request('Delete', properties(), { PhysicalResourceId: physicalIdFor(FILTER_NAME) }),
      context(),
    );
    const [response] = await cfn.waitFor(1);
    expect(response?.body.Status).toBe('SUCCESS');
    expect(String(response?.body.Reason)).toContain(
      'the cleanup worker could not be started (Error: events:PutRule denied). Run `log-reflector remove --filter-name log-reflector-us-east-1 --region us-east-1`',
    );
  });

  it('an Update (as in a rollback) whose every change fails answers SUCCESS; a Create answers FAILED', async () => {
    await account.createGroups(['/app/a', '/app/b']);
    const missing = 'arn:aws:kinesis:us-east-1:123456789012:stream/missing';
    const h = harness({}, 2);
    await h.handler(
      request('Update', properties({ DestinationArn: missing }), {
        PhysicalResourceId: physicalIdFor(FILTER_NAME),
        OldResourceProperties: properties(),
      }),
      context(),
    );
    await h.handler(request('Create', properties({ DestinationArn: missing })), context());
    const [update, create] = await cfn.waitFor(2);
    expect(update?.body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: physicalIdFor(FILTER_NAME) });
    expect(String(update?.body.Reason)).toMatch(
      /^Settings applied; the backfill could not run \(every change failed \(2\); first: .*Could not deliver test message.*\): the scheduled sweep reconciles every log group$/,
    );
    expect(create?.body.Status).toBe('FAILED');
  });

  it('an Update whose listing is denied answers SUCCESS', async () => {
    failing('DescribeLogGroupsCommand', denied);
    const h = harness();
    await h.handler(
      request('Update', properties({ Enrollment: 'disabled' }), {
        PhysicalResourceId: physicalIdFor(FILTER_NAME),
        OldResourceProperties: properties(),
      }),
      context(),
    );
    const [response] = await cfn.waitFor(1);
    expect(response?.body.Status).toBe('SUCCESS');
    expect(String(response?.body.Reason)).toContain('AuthError');
  });
});

describe('exactly one answer, exactly one chain (issue 15.7)', () => {
  it('hands nothing on when the answer is FAILED', async () => {
    await account.createGroups(groupNames(120));
    const missing = 'arn:aws:kinesis:us-east-1:123456789012:stream/missing';
    // Stops after a few groups (every put fails), so a hand-off would have been due.
    const h = harness({ budgets: { graceMs: GRACE_MS, syncBudgetMs: 300 } }, 1);
    await h.handler(request('Create', properties({ DestinationArn: missing })), context());
    const [response] = await cfn.waitFor(1);
    expect(response?.body.Status).toBe('FAILED');
    expect(h.handedOff).toStrictEqual([]);
  });

  it('a response PUT refused with 403 after a hand-off does not throw (no retry, no second chain)', async () => {
    await account.createGroups(groupNames(120));
    const h = harness({ budgets: { graceMs: GRACE_MS, syncBudgetMs: 30 } });
    cfn.failNext(1, 403);
    const outcome = await h.handler(request('Create', properties()), context());
    expect(outcome).toStrictEqual({ kind: 'answered', status: 'SUCCESS', handOn: 'handed-off' });
    expect(h.handedOff).toHaveLength(1);
    expect(cfn.received).toHaveLength(0);
    expect(h.recorded.metrics.ResponseUndelivered).toBe(1);
  });

  it('the same request delivered twice is answered once and starts one chain', async () => {
    await account.createGroups(groupNames(120));
    const h = harness({ budgets: { graceMs: GRACE_MS, syncBudgetMs: 30 } });
    const event = request('Create', properties());
    const first = await h.handler(structuredClone(event), context());
    const second = await h.handler(structuredClone(event), context());
    expect(first).toMatchObject({ kind: 'answered', status: 'SUCCESS' });
    expect(second).toStrictEqual({ kind: 'duplicate' });
    expect(cfn.received).toHaveLength(1);
    expect(h.handedOff).toHaveLength(1);
    // A hand-off delivered twice runs once.
    const hop = h.handedOff.shift() as Continuation;
    expect(hop.chainId).toBe(event.RequestId);
    expect(await h.handler(structuredClone(hop), context(20))).toStrictEqual({ kind: 'chain' });
    expect(await h.handler(structuredClone(hop), context(20))).toStrictEqual({ kind: 'duplicate' });
  });

  it('an unconfirmed hand-off (Lambda may have queued it) is not resent and the answer says it continues', async () => {
    await account.createGroups(groupNames(120));
    let calls = 0;
    const h = harness({
      budgets: { graceMs: GRACE_MS, syncBudgetMs: 30 },
      handOff: async () => {
        calls += 1;
        throw new HandOffError('Invoke timed out after the request was sent', true);
      },
    });
    const outcome = await h.handler(request('Create', properties()), context());
    expect(outcome).toStrictEqual({ kind: 'answered', status: 'SUCCESS', handOn: 'maybe' });
    expect(calls).toBe(1);
    const [response] = await cfn.waitFor(1);
    expect(response?.body.Reason).toBe(
      'Initial part done; the backfill continues in the background (see its logs and metrics)',
    );
  });

  describe('the deadline comes from the ResponseURL (X-Amz-Date + X-Amz-Expires), not from the delivery', () => {
    const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
    const amzDate = (ms: number) =>
      new Date(ms)
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
    const signed = (name: string, signedAtMs: number) =>
      `${cfn.responseUrl(name)}&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=${amzDate(signedAtMs)}&X-Amz-Expires=7200`;
    const frozen = { now: () => NOW, sleep: systemClock.sleep };

    it('a request redelivered after CloudFormation stopped waiting (signed 61 minutes ago) is neither worked on nor answered', async () => {
      await account.createGroups(groupNames(5));
      const h = harness({ clock: frozen });
      const outcome = await h.handler(
        request('Create', properties(), { ResponseURL: signed('late', NOW - 61 * 60_000) }),
        context(),
      );
      expect(outcome).toStrictEqual({ kind: 'expired' });
      expect(cfn.received).toHaveLength(0);
      expect(await account.groupsWith(groupNames(5), FILTER_NAME)).toStrictEqual([]);
    });

    it('a request signed 59 minutes ago is answered at once, the work handed on', async () => {
      await account.createGroups(groupNames(5));
      const h = harness({ clock: frozen });
      await h.handler(
        request('Create', properties(), { ResponseURL: signed('tight', NOW - 59 * 60_000) }),
        context(),
      );
      const [response] = await cfn.waitFor(1);
      expect(response?.body).toMatchObject({
        Status: 'SUCCESS',
        Data: { Subscribed: '0', Complete: 'false' },
      });
      expect(h.handedOff).toHaveLength(1);
    });
  });

  describe('an invocation that failed (Lambda on-failure record) still gets its one answer', () => {
    const record = (payload: unknown) => ({
      version: '1.0',
      timestamp: '2026-01-05T12:00:00.000Z',
      requestContext: {
        requestId: 'e4b46cbf-b738-xmpl-8880-a18cdf61200e',
        functionArn: `${FUNCTION_ARN}:$LATEST`,
        condition: 'RetriesExhausted',
        approximateInvokeCount: 1,
      },
      requestPayload: payload,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: {
        errorType: 'Runtime.ExitError',
        errorMessage: 'Task timed out after 900.00 seconds',
      },
    });

    it('Create → FAILED, Update → SUCCESS, Delete → SUCCESS with the cleanup worker; once each', async () => {
      const h = harness();
      const create = request('Create', properties());
      const update = request('Update', properties(), { PhysicalResourceId: physicalIdFor(FILTER_NAME) });
      const del = request('Delete', properties(), { PhysicalResourceId: physicalIdFor(FILTER_NAME) });
      for (const r of [create, update, del]) await h.handler(record(r), context());
      expect(await h.handler(record(create), context())).toStrictEqual({ kind: 'duplicate' });
      const responses = await cfn.waitFor(3);
      expect(responses).toHaveLength(3);
      expect(responses.map((r) => r.body.Status)).toStrictEqual(['FAILED', 'SUCCESS', 'SUCCESS']);
      expect(String(responses[0]?.body.Reason)).toContain('Task timed out after 900.00 seconds');
      expect(responses[0]?.body.PhysicalResourceId).toBe(physicalIdFor(FILTER_NAME));
      expect(h.cleanups).toMatchObject([{ kind: 'uninstall', filterName: FILTER_NAME, pass: 1 }]);
    });

    it('a failed hand-off or a record about a record is logged, never answered or looped', async () => {
      const h = harness();
      const hop = {
        logReflectorContinuation: 1,
        origin: 'backfill',
        mode: 'reconcile',
        settings: memberSettings({ destinationArn: destination }),
        hop: 2,
        startedAtMs: 0,
        totals: { subscribed: 0, updated: 0, removed: 0, skipped: 0, conflict: 0, failed: 0 },
      };
      expect(await h.handler(record(hop), context())).toStrictEqual({ kind: 'ignored' });
      expect(await h.handler(record(record(request('Create', properties()))), context())).toStrictEqual({
        kind: 'ignored',
      });
      expect(cfn.received).toHaveLength(0);
    });
  });
});

describe('backfill coverage report (issue 12.1)', () => {
  /** A reporter that keeps the runs it is asked to report. */
  function reporting() {
    const runs: RunReport[] = [];
    return {
      runs,
      coverage: {
        publish: async (run: RunReport) => {
          runs.push(run);
        },
      },
    };
  }

  it('Create reports the account × region it caught up, as the backfill', async () => {
    await account.createGroups(['/app/a', '/app/b', '/noisy/x']);
    const r = reporting();
    const h = harness({ coverage: r.coverage });
    await h.handler(request('Create', properties()), context());
    await cfn.waitFor(1);
    expect(r.runs).toMatchObject([
      {
        source: 'backfill',
        enrollment: 'enabled',
        complete: true,
        hops: 1,
        // /noisy/x and the backfill's own log group are excluded.
        groups: { total: 4, eligible: 2, subscribed: 2, excluded: 2, conflicts: 0, failed: 0 },
      },
    ]);
  });

  it('a Create handed on reports once, from the last hop, with every hop counted; Delete reports nothing', async () => {
    const groups = groupNames(120);
    await account.createGroups(groups);
    const r = reporting();
    const h = harness({ coverage: r.coverage, budgets: { graceMs: GRACE_MS, syncBudgetMs: 30 } });
    await h.handler(request('Create', properties()), context());
    await cfn.waitFor(1);
    expect(r.runs).toStrictEqual([]);
    const hops = await drain(h, 20);
    expect(r.runs).toHaveLength(1);
    expect(r.runs[0]).toMatchObject({
      hops: hops + 1,
      complete: true,
      groups: { eligible: 120, subscribed: 120 },
    });
    await h.handler(
      request('Delete', properties(), { PhysicalResourceId: physicalIdFor(FILTER_NAME) }),
      context(),
    );
    await cfn.waitFor(2);
    expect(r.runs).toHaveLength(1);
  });
});
