/**
 * Two sweeps on the same account and region at once (a scheduled run while a long pass is
 * still handing itself on; no function reserves concurrency, issue 9.1): with AWS's semantics
 * (fake-logs.ts) and every group read by both runs before either writes, the end state is the
 * one a single sweep reaches, with no conflict and no failure. The planner is idempotent, a
 * second PutSubscriptionFilter with our name updates our filter in place (even when a foreign
 * filter holds the other slot), and a second delete finds nothing and is a skip.
 */
import { describe, expect, it } from 'vitest';
import { createSweepHandler } from '../../../member/sweep/handler';
import { FakeLogs, virtualClock } from '../fake-logs';
import { FILTER_NAME, memberEnv, memberSettings, memoryClaim, REGION, ROLE_ARN, streamArn } from '../support';
import { recordTelemetry } from '../telemetry-recorder';

const DESTINATION = streamArn('central');
const FOREIGN = streamArn('someone-else');
const FUNCTION_ARN = `arn:aws:lambda:${REGION}:123456789012:function:log-reflector-sweep`;

/** Holds the first reader of each group until a second reader has read it too. */
function bothReadFirst(): (logGroupName: string) => Promise<void> {
  const waiting = new Map<string, () => void>();
  return async (name) => {
    const other = waiting.get(name);
    if (other) {
      waiting.delete(name);
      other();
      return;
    }
    await new Promise<void>((resolve) => waiting.set(name, resolve));
  };
}

describe('overlapping sweeps', () => {
  it('converge on AWS semantics when both read every group before either writes', async () => {
    const logs = new FakeLogs();
    const eligible = Array.from({ length: 120 }, (_, i) => `/app/g-${String(i).padStart(3, '0')}`);
    const excluded = Array.from({ length: 20 }, (_, i) => `/excluded/g-${String(i).padStart(2, '0')}`);
    logs.addGroups([...eligible, ...excluded]);
    const ours = {
      filterName: FILTER_NAME,
      destinationArn: DESTINATION,
      filterPattern: '',
      roleArn: ROLE_ARN,
    };
    const foreign = { filterName: 'datadog', destinationArn: FOREIGN, filterPattern: '' };
    // A third of the eligible groups carry a foreign filter in the other slot.
    for (const g of eligible.filter((_, i) => i % 3 === 0)) logs.putFilterDirect(g, foreign);
    for (const g of eligible.slice(0, 30)) logs.putFilterDirect(g, { ...ours, filterPattern: '?OLD' });
    for (const g of excluded) logs.putFilterDirect(g, ours);
    logs.pause = bothReadFirst();

    const clock = virtualClock();
    const sweep = () =>
      createSweepHandler({
        env: memberEnv(memberSettings({ destinationArn: DESTINATION, exclude: ['/excluded/*'] })),
        runtimeFor: () => logs.runtime({ requestsPerSecond: 4, clock }),
        handOff: async () => {
          throw new Error('one pass fits in one invocation here');
        },
        clock,
        telemetry: recordTelemetry().telemetry,
        claim: memoryClaim(),
        graceMs: 0,
      });
    const context = { invokedFunctionArn: FUNCTION_ARN, getRemainingTimeInMillis: () => 15 * 60_000 };
    const [a, b] = await Promise.all([sweep()({}, context), sweep()({}, context)]);

    for (const outcome of [a, b]) {
      expect(outcome?.result.complete).toBe(true);
      expect(outcome?.totals).toMatchObject({ conflict: 0, failed: 0 });
    }
    // Both planned every change (both read first), so each change was made twice.
    expect((a?.totals.subscribed ?? 0) + (b?.totals.subscribed ?? 0)).toBe(2 * 90);
    expect((a?.totals.updated ?? 0) + (b?.totals.updated ?? 0)).toBe(2 * 30);
    expect((a?.totals.removed ?? 0) + (b?.totals.removed ?? 0)).toBe(20);
    for (const g of eligible) {
      const filters = logs.filtersOf(g);
      expect(filters.filter((f) => f.filterName === FILTER_NAME)).toStrictEqual([ours]);
      expect(filters.some((f) => f.filterName === 'datadog')).toBe(eligible.indexOf(g) % 3 === 0);
    }
    expect(logs.groupsWith(FILTER_NAME)).toStrictEqual(eligible);
  });
});
