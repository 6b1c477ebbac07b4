/**
 * Convergence figures of the enrollment reconciler on generated organizations (issue 15.1):
 * scheduled runs until every account runs what its tag asks for and the enrolled list is
 * exact, with every API served at the rates of test/central/enrollment/simulation.ts.
 * Simulated time, so the figures are the same on every machine.
 */
import { reconcile } from '../../central/enrollment/reconcile';
import { RATES, simulateSchedule } from '../central/enrollment/simulation';

const shapes = [
  { accounts: 1_000, regions: 2, optOutEvery: 20, ous: 10 },
  { accounts: 3_000, regions: 17, optOutEvery: 20, ous: 30 },
  { accounts: 5_000, regions: 17, optOutEvery: 20, ous: 50 },
  { accounts: 10_000, regions: 17, optOutEvery: 20, ous: 100 },
];

process.stdout.write(
  `rates: Organizations ${RATES.organizations}/s per API, StackSets ${RATES.stackSets}/s per API; runs every 15 min, 900 s timeout\n`,
);
for (const shape of shapes) {
  const { sim, store, runs } = await simulateSchedule(shape, reconcile, 8);
  const last = runs.at(-1);
  process.stdout.write(
    `${shape.accounts} accounts × ${shape.regions} regions: ${last?.converged ? `converged after run ${last.run}` : `NOT converged after ${runs.length} runs`}; ` +
      runs
        .map(
          (r) =>
            `run ${r.run}: ${Math.round(r.durationMs / 1000)} s, ${r.operationsStarted} ops, ${r.enabled} enabled, ${r.wrong} wrong, ${r.listed} listed`,
        )
        .join('; ') +
      `; calls ${JSON.stringify(sim.calls)}; state ${Math.round(store.bytes() / 1024)} KiB JSON\n`,
  );
}
