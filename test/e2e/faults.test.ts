/**
 * End to end under faults (docs/demo.md): Sumo answers 503 and 429 (and refuses one record
 * until it goes back to Kinesis), the member functions' CloudWatch Logs API is throttled and
 * aborts some writes, an account joins mid-run and an enrolled account is tagged mid-run.
 * Still nothing is lost, and nothing written after the tag arrives.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type DemoReport, runDemo } from '../demo/demo';

describe('the organization under faults', () => {
  let report: DemoReport;

  beforeAll(async () => {
    report = await runDemo({ accounts: 3, regions: 2, groups: 2, eventsPerGroup: 5, faults: true });
  }, 300_000);

  it('loses nothing and forwards nothing written while opted out', () => {
    expect(report.lost).toBe(0);
    expect(report.forwardedWhileOptedOut).toBe(0);
    expect(report.eventsReceived).toBe(report.eventsExpected);
    expect(report.ok).toBe(true);
    expect(report.unsubscribed).toBe(0);
    expect(report.strayFilters).toBe(0);
    expect(report.counters.subscriberEventsParked).toBe(0);
  });

  it('went through the faults it injected', () => {
    const c = report.counters;
    expect(c.sumoRefused).toBeGreaterThan(0);
    expect(c.logsThrottled).toBeGreaterThan(0);
    expect(c.logsAborted).toBeGreaterThan(0);
    // The refused record came back through a partial batch response and was delivered again.
    expect(c.esm.partialFailures).toBeGreaterThanOrEqual(1);
    expect(c.esm.redeliveredRecords).toBeGreaterThan(0);
    expect(c.esm.parkedBatches).toBe(0);
  });

  it('forwards the account that joined mid-run', () => {
    const joined = report.accounts.find((a) => a.name === 'member-4');
    expect(joined?.optedOut).toBe(false);
    for (const r of joined?.regions ?? []) {
      expect(r.enrollment).toBe('enabled');
      expect(r.eventsWritten).toBeGreaterThan(0);
      expect(r.eventsReceived).toBe(r.eventsWritten);
      expect(r.subscribed).toBe(3);
    }
    expect(joined?.regions).toHaveLength(2);
  });

  it('stops forwarding the account tagged mid-run, keeping what it sent before', () => {
    const tagged = report.accounts.find((a) => a.name === 'member-1');
    expect(tagged?.optedOut).toBe(true);
    for (const r of tagged?.regions ?? []) {
      expect(r.enrollment).toBe('disabled');
      expect(r.subscribed).toBe(0);
      expect(r.eventsExpected).toBeGreaterThan(0);
      expect(r.eventsReceived).toBe(r.eventsExpected);
      expect(r.eventsWhileOptedOut).toBeGreaterThan(0);
      expect(r.forwardedWhileOptedOut).toBe(0);
    }
    expect(tagged?.regions).toHaveLength(2);
  });
});
