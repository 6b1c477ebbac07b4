/** The scheduled sweep against moto: heals drift, hands long runs on, stops superseded chains. */
import { beforeEach, describe, expect, it } from 'vitest';
import { createLogsRuntime } from '../../../member/runtime/clients';
import type { Continuation } from '../../../member/runtime/continuation';
import { createSweepHandler, type SweepDeps } from '../../../member/sweep/handler';
import { AuthError } from '../../../shared/errors';
import { type Clock, systemClock } from '../../../shared/rate-limiter';
import { useMoto } from '../../support/moto';
import {
  FILTER_NAME,
  freshAccount,
  type MotoAccount,
  memberEnv,
  memberSettings,
  memoryClaim,
  REGION,
  ROLE_ARN,
} from '../support';
import { recordTelemetry } from '../telemetry-recorder';

const moto = useMoto(REGION);
let account: MotoAccount;
let destination: string;
let foreignDestination: string;
beforeEach(async () => {
  ({ account, destination, foreignDestination } = await freshAccount(moto));
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

const FUNCTION_ARN = `arn:aws:lambda:${REGION}:123456789012:function:log-reflector-sweep`;
const GRACE_MS = 1_000;
const context = (workMs = 60_000) => ({
  invokedFunctionArn: FUNCTION_ARN,
  getRemainingTimeInMillis: () => GRACE_MS + workMs,
});

/** An EventBridge scheduled event (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html). */
const SCHEDULED = {
  version: '0',
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2026-11-26T12:00:00Z',
  region: REGION,
  resources: [`arn:aws:events:${REGION}:123456789012:rule/log-reflector-sweep`],
  detail: {},
};

function sweep(exclude: string[] = ['/excluded/*'], overrides: Partial<SweepDeps> = {}) {
  const handedOff: Continuation[] = [];
  const recorded = recordTelemetry();
  const deps: SweepDeps = {
    env: memberEnv(memberSettings({ destinationArn: destination, exclude })),
    runtimeFor: () =>
      createLogsRuntime({
        requestsPerSecond: 2000,
        client: account.logs,
        retry: { baseDelayMs: 1, maxDelayMs: 5 },
      }),
    handOff: async (arn, payload) => {
      expect(arn).toBe(FUNCTION_ARN);
      handedOff.push(payload as Continuation);
    },
    clock: systemClock,
    telemetry: recorded.telemetry,
    claim: memoryClaim(),
    graceMs: GRACE_MS,
    ...overrides,
  };
  return { handler: createSweepHandler(deps), handedOff, recorded };
}

describe('sweep', () => {
  it('heals drift: missing, stale and no-longer-wanted filters, foreign ones untouched', async () => {
    await account.createGroups(['/app/missed', '/app/stale', '/excluded/old', '/app/fine', '/app/foreign']);
    await account.putFilter('/app/stale', FILTER_NAME, destination, '?OLD', ROLE_ARN);
    await account.putFilter('/excluded/old', FILTER_NAME, destination, '', ROLE_ARN);
    await account.putFilter('/app/fine', FILTER_NAME, destination, '', ROLE_ARN);
    await account.putForeignFilter('/app/foreign', 'datadog', foreignDestination);
    const { handler, recorded } = sweep();
    const outcome = await handler(SCHEDULED, context());
    expect(outcome?.result.complete).toBe(true);
    expect(outcome?.totals).toStrictEqual({
      subscribed: 2,
      updated: 1,
      removed: 1,
      skipped: 1,
      conflict: 0,
      failed: 0,
    });
    expect(recorded.metrics).toMatchObject({ Subscribed: 2, Updated: 1, Removed: 1, Skipped: 1 });
    expect(await account.filters('/app/stale')).toStrictEqual({
      [FILTER_NAME]: { destinationArn: destination, filterPattern: '', roleArn: ROLE_ARN },
    });
    expect(await account.filters('/excluded/old')).toStrictEqual({});
    expect(Object.keys(await account.filters('/app/foreign'))).toStrictEqual(['datadog', FILTER_NAME]);
  });

  it('hands a long sweep on and the chain finishes it', async () => {
    const groups = Array.from({ length: 180 }, (_, i) => `/app/sw-${String(i).padStart(3, '0')}`);
    await account.createGroups(groups);
    const { handler, handedOff } = sweep(undefined, { clock: tickingClock() });
    await handler(SCHEDULED, context(20));
    let hops = 1;
    while (handedOff.length > 0) {
      const next = handedOff.shift();
      hops += 1;
      await handler(JSON.parse(JSON.stringify(next)), context(20));
    }
    expect(hops).toBeGreaterThanOrEqual(2);
    expect((await account.groupsWith(groups, FILTER_NAME)).length).toBe(180);
  });

  it('stops a chain whose settings no longer match the environment', async () => {
    await account.createGroups(['/app/a']);
    const { handler, recorded } = sweep(['/new/*']);
    const stale: Continuation = {
      logReflectorContinuation: 1,
      origin: 'sweep',
      mode: 'reconcile',
      settings: memberSettings({ destinationArn: destination, exclude: ['/old/*'] }),
      hop: 2,
      startedAtMs: Date.now(),
      totals: { subscribed: 0, updated: 0, removed: 0, skipped: 0, conflict: 0, failed: 0 },
    };
    expect(await handler(stale, context())).toBeUndefined();
    expect(await account.filters('/app/a')).toStrictEqual({});
    expect(recorded.lines.map((l) => l.message)).toContain(
      'sweep chain superseded by newer settings; stopping',
    );
  });

  it('throws an AuthError when access is denied, instead of reporting success', async () => {
    await account.createGroups(['/app/a']);
    account.logs.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DescribeSubscriptionFiltersCommand') {
          throw Object.assign(new Error('not authorized to perform logs:DescribeSubscriptionFilters'), {
            name: 'AccessDeniedException',
            $fault: 'client',
          });
        }
        return next(args);
      },
      { step: 'initialize', name: 'deny' },
    );
    const { handler } = sweep();
    const error = await handler(SCHEDULED, context()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as Error).message).toBe(
      'DescribeSubscriptionFilters on "/app/a" was denied: not authorized to perform logs:DescribeSubscriptionFilters',
    );
  });

  it('with Enrollment disabled removes our filters everywhere and touches nothing else (issue 15.2)', async () => {
    const groups = ['/app/a', '/app/b', '/app/c', '/excluded/x'];
    await account.createGroups(groups);
    for (const g of ['/app/a', '/app/b', '/excluded/x'])
      await account.putFilter(g, FILTER_NAME, destination, '', ROLE_ARN);
    await account.putForeignFilter('/app/b', 'datadog', foreignDestination);
    await account.putForeignFilter('/app/c', 'datadog', foreignDestination);
    const recorded = recordTelemetry();
    const handler = createSweepHandler({
      env: memberEnv(
        memberSettings({ destinationArn: destination, exclude: ['/excluded/*'], enrollment: 'disabled' }),
      ),
      runtimeFor: () =>
        createLogsRuntime({
          requestsPerSecond: 2000,
          client: account.logs,
          retry: { baseDelayMs: 1, maxDelayMs: 5 },
        }),
      handOff: async () => {
        throw new Error('a four-group sweep must not hand off');
      },
      clock: systemClock,
      telemetry: recorded.telemetry,
      claim: memoryClaim(),
      graceMs: GRACE_MS,
    });
    const outcome = await handler(SCHEDULED, context());
    expect(outcome?.result.complete).toBe(true);
    expect(outcome?.totals).toMatchObject({ subscribed: 0, updated: 0, removed: 3, failed: 0, conflict: 0 });
    expect(await account.groupsWith(groups, FILTER_NAME)).toStrictEqual([]);
    expect(Object.keys(await account.filters('/app/b'))).toStrictEqual(['datadog']);
    expect(Object.keys(await account.filters('/app/c'))).toStrictEqual(['datadog']);
  });

  it('two sweeps overlapping on the same account converge to the same end state, without failures (issue 9.1)', async () => {
    const eligible = Array.from({ length: 60 }, (_, i) => `/app/ov-${String(i).padStart(2, '0')}`);
    const excluded = Array.from({ length: 10 }, (_, i) => `/excluded/ov-${i}`);
    await account.createGroups([...eligible, ...excluded]);
    for (const g of eligible.slice(0, 10))
      await account.putFilter(g, FILTER_NAME, destination, '?OLD', ROLE_ARN);
    for (const g of excluded) await account.putFilter(g, FILTER_NAME, destination, '', ROLE_ARN);
    const first = sweep();
    const second = sweep();
    const [a, b] = await Promise.all([
      first.handler(SCHEDULED, context()),
      second.handler(SCHEDULED, context()),
    ]);
    for (const outcome of [a, b]) {
      expect(outcome?.result.complete).toBe(true);
      expect(outcome?.totals.failed).toBe(0);
      expect(outcome?.totals.conflict).toBe(0);
    }
    for (const g of eligible) {
      expect(await account.filters(g)).toStrictEqual({
        [FILTER_NAME]: { destinationArn: destination, filterPattern: '', roleArn: ROLE_ARN },
      });
    }
    expect(await account.groupsWith(excluded, FILTER_NAME)).toStrictEqual([]);
    // Whatever the interleaving, each change was made at least once and the overlap only
    // repeated idempotent calls: a second put of the same filter, a delete that found nothing.
    const changed = (o: typeof a) => (o?.totals.subscribed ?? 0) + (o?.totals.updated ?? 0);
    expect(changed(a) + changed(b)).toBeGreaterThanOrEqual(60);
    expect((a?.totals.removed ?? 0) + (b?.totals.removed ?? 0)).toBeGreaterThanOrEqual(10);
  });

  it('a hop delivered twice runs once (issue 15.7: one chain)', async () => {
    const groups = Array.from({ length: 120 }, (_, i) => `/app/dup-${String(i).padStart(3, '0')}`);
    await account.createGroups(groups);
    const { handler, handedOff } = sweep();
    const first = await handler({ ...SCHEDULED, id: 'sched-1' }, context(20));
    expect(first?.handOn).toBe('handed-off');
    const hop = handedOff.shift() as Continuation;
    expect(hop).toMatchObject({ chainId: 'sched-1', hop: 2 });
    expect(await handler(structuredClone(hop), context(20))).toBeDefined();
    expect(await handler(structuredClone(hop), context(20))).toBeUndefined();
  });
});
