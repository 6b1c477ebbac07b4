/**
 * Resuming a run after groups were deleted in the page being processed (issue 15.2: "a page
 * shifting between hops"). With only an offset the resumed run skips a group; with the name
 * of the last group done (the listing is sorted by name) it visits every group that existed
 * throughout.
 */
import { describe, expect, it } from 'vitest';
import { type Cursor, reconcileAll } from '../../../member/runtime/apply';
import { createPlanner } from '../../../shared/plan';
import type { Clock } from '../../../shared/rate-limiter';
import { FakeLogs, virtualClock } from '../fake-logs';
import { FILTER_NAME, ROLE_ARN, streamArn } from '../support';

const planner = createPlanner({
  destinationArn: streamArn('central'),
  roleArn: ROLE_ARN,
  filterName: FILTER_NAME,
  filterPattern: '',
  include: [],
  exclude: [],
  enrollment: 'enabled',
  mode: 'uninstall',
});

/** Removes ours from 120 groups, stopping after `stopAfter` groups, then resumes from `resume(cursor)`. */
async function interruptedRemoval(resume: (cursor: Cursor) => Cursor) {
  const logs = new FakeLogs();
  const names = Array.from({ length: 120 }, (_, i) => `/app/g-${String(i).padStart(3, '0')}`);
  logs.addGroups(names);
  const ours = {
    filterName: FILTER_NAME,
    destinationArn: streamArn('central'),
    filterPattern: '',
    roleArn: ROLE_ARN,
  };
  for (const n of names) logs.putFilterDirect(n, ours);
  const api = logs.runtime({ requestsPerSecond: 1000, clock: virtualClock() }).api;
  let done = 0;
  // Past the deadline once 60 groups are done: the second page (50-99) stops after 10.
  const clock: Clock = { now: () => (done >= 60 ? 2 : 0), sleep: async () => {} };
  const first = await reconcileAll({
    api,
    planner,
    deadlineMs: 1,
    clock,
    concurrency: 1,
    onResult: () => (done += 1),
  });
  expect(first.complete).toBe(false);
  // Two groups done earlier in that page are deleted before the next hop.
  logs.deleteGroup('/app/g-051');
  logs.deleteGroup('/app/g-052');
  const second = await reconcileAll({ api, planner, cursor: resume(first.cursor as Cursor), concurrency: 1 });
  expect(second.complete).toBe(true);
  return logs.groupsWith(FILTER_NAME);
}

describe('resuming a run on a shifted page', () => {
  it('an offset-only cursor (the old form) leaves groups behind', async () => {
    const left = await interruptedRemoval(({ token, offset }) => ({ token, offset }));
    expect(left).toStrictEqual(['/app/g-060', '/app/g-061']);
  });

  it('the name cursor visits every group that existed throughout', async () => {
    const left = await interruptedRemoval((cursor) => cursor);
    expect(left).toStrictEqual([]);
  });
});
