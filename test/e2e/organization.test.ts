/**
 * End to end: a small emulated organization (test/demo/, docs/demo.md) with the project's real
 * handlers. The verdict of `npm run demo` holds — nothing written while enrolled is lost, the
 * opted-out account forwards nothing — the enrollment control plane runs in the deployed order
 * (instances created disabled, the enrolled list published into the central account's state
 * bucket, then the untagged accounts enabled), `log-reflector coverage` (the CLI, after the
 * aggregator's scheduled run) says what the demo counted, and `log-reflector verify`, pointed at
 * the emulator the way docs/demo.md says, passes in the central account.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoReport, DemoSession } from '../demo/demo';
import { formatReport } from '../demo/report';
import { CLI, childEnv, startNode } from './support';

/** The home region of the example config (cdk.json) the demo deploys. */
const HOME_REGION = 'eu-west-1';

const E2E_TIMEOUT = 300_000;

describe('a small organization on one machine', () => {
  let session: DemoSession;
  let report: DemoReport;
  const progress: string[] = [];

  beforeAll(async () => {
    session = await DemoSession.start({
      accounts: 2,
      regions: 2,
      groups: 2,
      eventsPerGroup: 5,
      progress: (line) => progress.push(line),
    });
    report = await session.run();
  }, E2E_TIMEOUT);

  afterAll(async () => {
    await session?.stop();
  });

  it('loses nothing and forwards nothing from the opted-out account', () => {
    expect(report.lost).toBe(0);
    expect(report.forwardedWhileOptedOut).toBe(0);
    expect(report.eventsWhileOptedOut).toBeGreaterThan(0);
    expect(report.eventsExpected).toBeGreaterThan(0);
    expect(report.eventsReceived).toBe(report.eventsExpected);
    expect(report.ok).toBe(true);
    expect(report.verdict).toMatch(/^PASS: /);
  });

  it('covers management, central and members in every region, with the documented JSON fields', () => {
    const byName = new Map(report.accounts.map((a) => [a.name, a]));
    expect([...byName.keys()].sort()).toStrictEqual(['log-archive', 'management', 'member-1', 'member-2']);
    for (const a of report.accounts) {
      expect(Object.keys(a)).toEqual(expect.arrayContaining(['account', 'optedOut', 'regions']));
      expect(a.regions.map((r) => r.region)).toStrictEqual(['eu-west-1', 'us-east-1']);
      for (const r of a.regions) {
        expect(Object.keys(r)).toEqual(
          expect.arrayContaining(['region', 'logGroups', 'subscribed', 'eventsWritten', 'eventsReceived']),
        );
      }
    }
    for (const key of ['eventsWritten', 'eventsReceived', 'lost', 'duplicates', 'wallSeconds'])
      expect(typeof (report as unknown as Record<string, unknown>)[key]).toBe('number');
  });

  it('subscribes every workload group of enrolled accounts and none of the opted-out one', () => {
    const optedOut = report.accounts.filter((a) => a.optedOut);
    expect(optedOut.map((a) => a.name)).toStrictEqual(['member-2']);
    for (const a of report.accounts) {
      for (const r of a.regions) {
        // 2 early + 1 late workload groups, the excluded canary group, the stack's 4 own groups
        // (subscriber, backfill, sweep and the cleanup worker's).
        expect(r.logGroups).toBe(8);
        if (a.optedOut) {
          expect(r.enrollment).toBe('disabled');
          expect(r.subscribed).toBe(0);
          expect(r.eventsReceived).toBe(0);
        } else if (a.role === 'central' && r.region !== HOME_REGION) {
          // Not forwarded by design: a destination serves cross-account delivery only
          // (docs/architecture.md, decision 10); the parameter says enabled, the stack runs disabled.
          expect(r.enrollment).toBe('disabled†');
          expect(r.subscribed).toBe(0);
          expect(r.eventsReceived).toBe(0);
        } else {
          expect(r.enrollment).toBe('enabled');
          expect(r.subscribed).toBe(3);
          expect(r.eventsReceived).toBe(r.eventsWritten);
        }
        // Two rounds of 5 events into 3 groups (the late group only in round 2).
        expect(r.eventsWritten).toBe(25);
      }
    }
    expect(report.unsubscribed).toBe(0);
    expect(report.strayFilters).toBe(0);
    // The subscriber subscribed the late group of each enrolled account × region (management
    // and member-1 in both regions, central in its home region only); the sweep found nothing
    // left to do.
    expect(report.counters.subscribedBy.subscriber).toBe(5);
    expect(report.counters.subscribedBy.sweep).toBe(0);
  });

  it('creates every instance disabled, publishes the enrolled list, then enables the untagged accounts', () => {
    const id = (name: string) => report.accounts.find((a) => a.name === name)?.account ?? '';
    const untagged = ['management', 'log-archive', 'member-1'].map(id).sort();
    // One run, after the deploy: the list (management, central and the untagged member) is
    // published, and exactly those accounts are enabled; the tagged one is never written.
    expect(report.enrollmentRuns).toStrictEqual([
      {
        trigger: 'deploy',
        published: { generation: 1, accounts: untagged },
        changes: expect.any(Array),
        waits: 0,
      },
    ]);
    const changes = report.enrollmentRuns[0]?.changes ?? [];
    expect(changes.every((c) => c.action === 'enable')).toBe(true);
    expect(changes.map((c) => c.account).sort()).toStrictEqual(untagged);
    // What the reflector reads: the list as published, in the central account's state bucket.
    expect(report.enrolledList?.generation).toBe(1);
    expect(report.enrolledList?.accounts).toStrictEqual(untagged);
    expect(report.enrolledList?.bucket).toMatch(/^log-reflector-state-[0-9a-f-]{36}$/);
    for (const a of report.accounts) expect(a.enrolled).toBe(!a.optedOut);
    // The order, as the progress lines tell it: 8 stacks created disabled (the backfill's Create
    // subscribes nothing), then the run publishes and enables, then the backfill's Update subscribes.
    const deployed = progress.findIndex((l) =>
      l.includes('StackSets deployed: 8 member stacks, 8 of them created with Enrollment=disabled'),
    );
    const reconciled = progress.findIndex((l) =>
      l.includes(
        'enrollment reconciled after deploy: published enrolled list generation 1 (3 accounts), then enable',
      ),
    );
    expect(progress[deployed]).toContain('backfill Create subscribed 0 groups');
    expect(reconciled).toBeGreaterThan(deployed);
    // management and member-1 in both regions, central in its home region: 5 × 2 early groups.
    expect(progress[reconciled]).toMatch(
      /operations landed: 6 stacks updated \(backfill Update subscribed 10 groups\)/,
    );
  });

  it('log-reflector coverage shows every account × region as the demo counted it, 100 % org-wide', () => {
    const cov = report.coverage;
    expect(cov.command).toBe('log-reflector coverage --region eu-west-1 --json');
    expect(cov.exitCode).toBe(0);
    expect(cov.disagreements).toStrictEqual([]);
    // The member functions ran without a warning (their reports included).
    expect(report.counters.memberProblems).toBe(0);
    // Enrolled and running enabled: management and member-1 in both regions, central at home.
    // 3 eligible workload groups each (2 early + 1 late), all subscribed.
    const enabled = report.accounts.flatMap((a) => a.regions.filter((r) => r.enrollment === 'enabled'));
    expect(enabled).toHaveLength(5);
    const subscribed = enabled.reduce((n, r) => n + r.subscribed, 0);
    expect(subscribed).toBe(15);
    expect(cov.totals?.groups).toMatchObject({ eligible: 15, subscribed: 15, conflicts: 0, failed: 0 });
    expect(cov.totals).toMatchObject({ expected: 5, reporting: 5, missing: 0, stale: 0, runErrors: 0 });
    expect(report.coveragePercent).toBe(100);
    expect(cov.percent).toBe(100);
    // The aggregator's scheduled run published the same figure.
    expect(cov.aggregator.totals.groups.subscribed).toBe(15);
    expect(cov.aggregator.metrics.CoveragePercent).toBe(100);
    // One row per account × region, each with the demo's own count.
    expect(cov.rows).toHaveLength(8);
    for (const a of report.accounts) {
      for (const r of a.regions) {
        const row = cov.rows.find((x) => x.account === a.account && x.region === r.region);
        expect(row, `${a.name}/${r.region}`).toBeDefined();
        expect(row?.subscribed).toBe(r.subscribed);
        expect(row?.conflicts).toBe(0);
        expect((row?.eligible ?? 0) + (row?.excluded ?? 0)).toBe(r.logGroups);
        expect(row?.lastRunSource).toBe('sweep');
        if (a.optedOut) expect(row?.enrollment).toBe('opted out');
        else if (r.enrollment === 'disabled†') expect(row?.enrollment).toBe('not covered');
        else {
          expect(row?.enrollment).toBe('enrolled');
          expect(row?.eligible).toBe(3);
          expect(row?.coverage).toBe(100);
        }
      }
    }
    expect(report.verdict).toContain(
      'org-wide coverage 100 % (15 of 15 eligible log groups subscribed, 0 conflicts), as the demo counted',
    );
    // The demo prints the command's table.
    const text = formatReport(report);
    expect(text).toContain('$ log-reflector coverage --region eu-west-1 --json');
    expect(text).toContain(
      'org-wide coverage: 100 % (15 of 15 eligible log groups subscribed); in 5 of 5 enrolled account × regions reporting',
    );
  });

  it('the reflector had a list all along and held nothing back (no stray filter in this run)', () => {
    expect(report.counters.enrollmentListUnavailable).toBe(0);
    expect(report.strayEvents).toBe(0);
    expect(report.eventsNotEnrolled).toBe(0);
    for (const a of report.accounts) expect(a.eventsNotEnrolled).toBe(0);
    expect(report.verdict).toContain(
      'the reflector held back 0 of accounts off the enrolled list (generation 1)',
    );
  });

  it('prints a row per account × region and the verdict', () => {
    const text = formatReport(report);
    // The demo's table and the coverage table: 8 rows each.
    const rows = text.split('\n').filter((l) => /^\d{12}\s/.test(l));
    expect(rows).toHaveLength(16);
    expect(text.trimEnd().split('\n').at(-1)).toBe(report.verdict);
  });

  it(
    'log-reflector verify passes against the emulator in the central account',
    async () => {
      const access = session.serve();
      const central = access.accounts.find((a) => a.role === 'central');
      expect(central).toBeDefined();
      const verify = startNode(
        [CLI, 'verify', '--region', access.homeRegion, '--timeout-seconds', '60', '--json'],
        childEnv(central?.env),
      );
      const done = await verify.finished;
      expect(done.stderr).toBe('');
      const out = JSON.parse(done.stdout) as {
        ok: boolean;
        marker: string;
        steps: { step: string; status: string }[];
      };
      expect(out.steps.map((s) => [s.step, s.status])).toStrictEqual([
        ['credentials', 'ok'],
        ['log group', 'ok'],
        ['subscription', 'ok'],
        ['marker event', 'ok'],
        ['stream', 'ok'],
      ]);
      expect(done.code).toBe(0);
      // And the reflector forwards the marker to the local Sumo source.
      await session.drain();
      const marker = session.acceptedLines().filter((l) => l.message === out.marker);
      expect(marker).toHaveLength(1);
      expect(marker[0]?.logGroup).toBe('log-reflector-verify');
    },
    E2E_TIMEOUT,
  );
});
