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
});
