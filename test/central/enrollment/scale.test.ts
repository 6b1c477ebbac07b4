/**
 * Convergence at organization scale (issue 15.1), on the simulated organization of
 * `simulation.ts` (API rates at AWS's quotas, a virtual clock: deterministic, no waiting).
 * The figures themselves are printed by `npm run bench` (test/bench/enrollment-scale.bench.ts).
 */
import { describe, expect, it } from 'vitest';
import { reconcile } from '../../../central/enrollment/reconcile';
import { OPT_OUT, SCHEDULE_MS, simulateRun, simulateSchedule } from './simulation';

describe('the reconciler on a generated organization', () => {
  it('5,000 accounts × 17 regions converge within 3 scheduled runs', async () => {
    const { runs } = await simulateSchedule(
      { accounts: 5_000, regions: 17, optOutEvery: 20, ous: 50 },
      reconcile,
      3,
    );
    expect(runs.at(-1)?.converged).toBe(true);
    expect(runs.length).toBeLessThanOrEqual(3);
  }, 120_000);

  it('never lets a deadline stop all progress: 120 s runs each enable more or learn more, then converge', async () => {
    const { runs } = await simulateSchedule(
      { accounts: 2_000, regions: 17, optOutEvery: 20, ous: 20 },
      reconcile,
      30,
      120_000,
    );
    expect(runs.at(-1)?.converged).toBe(true);
    for (let i = 1; i < runs.length; i++) {
      const before = runs[i - 1] as (typeof runs)[number];
      const after = runs[i] as (typeof runs)[number];
      // Progress: fewer accounts wrong, or new knowledge (tags are never re-read within a day).
      expect(after.wrong < before.wrong || after.reads > 0, `run ${after.run}`).toBe(true);
      expect(after.wrong, `run ${after.run}`).toBeLessThanOrEqual(before.wrong);
    }
  }, 120_000);

  it('an account named by an event converges within that one run: tagged, and joined', async () => {
    const { sim, store } = await simulateSchedule(
      { accounts: 5_000, regions: 17, optOutEvery: 20, ous: 50 },
      reconcile,
      3,
    );
    const clock = sim.clock;
    // Tag an enrolled account: the TagResource event names it.
    const tagged = [...sim.accounts.keys()].find((id) => !sim.optedOut(id)) as string;
    (sim.accounts.get(tagged) as { tags: Record<string, string> }).tags[OPT_OUT.key] = OPT_OUT.value;
    clock.advanceTo(clock.now + 60_000);
    await simulateRun(sim, store, reconcile, { priorityAccounts: [tagged] });
    expect(sim.published.at(-1)?.accounts).not.toContain(tagged);
    clock.advanceTo(clock.now + SCHEDULE_MS);
    expect(sim.regions.map((r) => sim.effective(tagged, r))).toStrictEqual(sim.regions.map(() => 'disabled'));

    // An untagged account joins (AccountJoinedOrganization); auto-deployment comes 3 minutes later.
    const joined = sim.join(false);
    await simulateRun(sim, store, reconcile, { priorityAccounts: [joined] });
    expect(sim.published.at(-1)?.accounts).toContain(joined);
    clock.advanceTo(clock.now + SCHEDULE_MS);
    expect(sim.regions.map((r) => sim.effective(joined, r))).toStrictEqual(sim.regions.map(() => 'enabled'));
  }, 120_000);
});
