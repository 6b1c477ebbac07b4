/**
 * An in-memory CloudWatch Logs control plane with AWS's documented semantics, for tests at a
 * scale moto cannot reach (100,000 groups) and for behaviour moto does not model:
 * - DescribeLogGroups pages of at most 50, "ASCII-sorted by log group name"
 *   (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogGroups.html);
 *   its token is the last name of the page, so groups created or deleted between pages do
 *   not shift later pages (the real token is opaque; the project never relies on its form).
 * - PutSubscriptionFilter with an existing filter's name updates that filter in place; a new
 *   name on a group whose two slots are taken is LimitExceededException
 *   (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutSubscriptionFilter.html).
 * - DeleteSubscriptionFilter of a filter that is not there is ResourceNotFoundException.
 *
 * Wrapped by `fakeRuntime`, every call goes through the project's own retry policy and rate
 * limiter on a virtual clock, so the time a run takes at a given rate can be read off the clock.
 */
import type { LogsRuntime } from '../../member/runtime/clients';
import { callWithRetry, type LogsApi } from '../../member/runtime/logs-api';
import type { ExistingFilter } from '../../shared/plan';
import { type Clock, RateLimiter } from '../../shared/rate-limiter';

const PAGE = 50;
const SLOTS = 2;

function awsError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $fault: 'client' });
}

export type Operation =
  | 'DescribeLogGroups'
  | 'DescribeSubscriptionFilters'
  | 'PutSubscriptionFilter'
  | 'DeleteSubscriptionFilter';

export class FakeLogs {
  private readonly groups = new Map<string, ExistingFilter[]>();
  private sorted: string[] | undefined;
  readonly calls: Record<Operation, number> = {
    DescribeLogGroups: 0,
    DescribeSubscriptionFilters: 0,
    PutSubscriptionFilter: 0,
    DeleteSubscriptionFilter: 0,
  };
  /** Called before each operation; may throw an AWS-shaped error (throttling, denial). */
  fault: ((operation: Operation, logGroupName?: string) => void) | undefined;
  /** Awaited between reading a group's filters and answering: lets tests interleave runs. */
  pause: ((logGroupName: string) => Promise<void>) | undefined;

  addGroups(names: Iterable<string>): void {
    for (const name of names) if (!this.groups.has(name)) this.groups.set(name, []);
    this.sorted = undefined;
  }

  deleteGroup(name: string): void {
    this.groups.delete(name);
    this.sorted = undefined;
  }

  putFilterDirect(logGroupName: string, filter: ExistingFilter): void {
    const filters = this.groups.get(logGroupName);
    if (!filters) throw new Error(`no group ${logGroupName}`);
    const at = filters.findIndex((f) => f.filterName === filter.filterName);
    if (at >= 0) filters[at] = filter;
    else filters.push(filter);
  }

  filtersOf(logGroupName: string): ExistingFilter[] {
    return [...(this.groups.get(logGroupName) ?? [])];
  }

  /** Names of the groups carrying a filter called `filterName`. */
  groupsWith(filterName: string): string[] {
    const out: string[] = [];
    for (const [name, filters] of this.groups)
      if (filters.some((f) => f.filterName === filterName)) out.push(name);
    return out.sort();
  }

  private names(): string[] {
    this.sorted ??= [...this.groups.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return this.sorted;
  }

  private enter(operation: Operation, logGroupName?: string): void {
    this.calls[operation] += 1;
    this.fault?.(operation, logGroupName);
  }

  /** The raw API, answering like the AWS SDK would (errors thrown with AWS names). */
  readonly raw = {
    describeLogGroups: async (nextToken?: string) => {
      this.enter('DescribeLogGroups');
      const names = this.names();
      let start = 0;
      if (nextToken !== undefined) {
        // First name after the token's name (binary search over the sorted names).
        let lo = 0;
        let hi = names.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if ((names[mid] as string) <= nextToken) lo = mid + 1;
          else hi = mid;
        }
        start = lo;
      }
      const page = names.slice(start, start + PAGE);
      const more = start + PAGE < names.length;
      return {
        logGroups: page.map((logGroupName) => ({ logGroupName })),
        nextToken: more ? page.at(-1) : undefined,
      };
    },
    describeSubscriptionFilters: async (logGroupName: string) => {
      this.enter('DescribeSubscriptionFilters', logGroupName);
      const filters = this.groups.get(logGroupName);
      if (!filters) throw awsError('ResourceNotFoundException', 'The specified log group does not exist.');
      const snapshot = filters.map((f) => ({ ...f }));
      await this.pause?.(logGroupName);
      return snapshot;
    },
    putSubscriptionFilter: async (logGroupName: string, filter: ExistingFilter) => {
      this.enter('PutSubscriptionFilter', logGroupName);
      const filters = this.groups.get(logGroupName);
      if (!filters) throw awsError('ResourceNotFoundException', 'The specified log group does not exist.');
      const at = filters.findIndex((f) => f.filterName === filter.filterName);
      if (at >= 0) filters[at] = { ...filter };
      else if (filters.length >= SLOTS) throw awsError('LimitExceededException', 'Resource limit exceeded.');
      else filters.push({ ...filter });
    },
    deleteSubscriptionFilter: async (logGroupName: string, filterName: string) => {
      this.enter('DeleteSubscriptionFilter', logGroupName);
      const filters = this.groups.get(logGroupName);
      const at = filters?.findIndex((f) => f.filterName === filterName) ?? -1;
      if (!filters || at < 0)
        throw awsError('ResourceNotFoundException', 'The specified resource does not exist.');
      filters.splice(at, 1);
    },
  };

  /** A LogsRuntime over this fake: the project's limiter and retry policy on `clock`. */
  runtime(options: { requestsPerSecond: number; clock: Clock; maxAttempts?: number }): LogsRuntime {
    const limiter = new RateLimiter({
      requestsPerSecond: options.requestsPerSecond,
      burst: 2,
      clock: options.clock,
    });
    const context = {
      limiter,
      clock: options.clock,
      retry: { maxAttempts: options.maxAttempts ?? 8, baseDelayMs: 200, maxDelayMs: 20_000 },
      random: () => 0.5,
    };
    const raw = this.raw;
    const api: LogsApi = {
      async listLogGroups(nextToken) {
        const out = await callWithRetry(context, 'DescribeLogGroups', undefined, () =>
          raw.describeLogGroups(nextToken),
        );
        if (out === 'not-found') return { groups: [] };
        return { groups: out.logGroups, nextToken: out.nextToken };
      },
      async describeFilters(logGroupName) {
        const out = await callWithRetry(context, 'DescribeSubscriptionFilters', logGroupName, () =>
          raw.describeSubscriptionFilters(logGroupName),
        );
        return out === 'not-found' ? undefined : out;
      },
      async putFilter(logGroupName, filter) {
        const out = await callWithRetry(context, 'PutSubscriptionFilter', logGroupName, () =>
          raw.putSubscriptionFilter(logGroupName, filter),
        );
        return out === 'not-found' ? 'gone' : 'done';
      },
      async deleteFilter(logGroupName, filterName) {
        const out = await callWithRetry(context, 'DeleteSubscriptionFilter', logGroupName, () =>
          raw.deleteSubscriptionFilter(logGroupName, filterName),
        );
        return out === 'not-found' ? 'gone' : 'done';
      },
    };
    return { api, limiter };
  }
}

/**
 * A virtual clock for concurrent waiters: `sleep(ms)` queues the waiter at `now + ms`, and
 * once everything runnable has run (setImmediate comes after the microtasks) time jumps to
 * the earliest queued waiter and wakes it. Waiters wake in time order, as they would for real,
 * so throughput measured on this clock is what the rate limiter allows.
 */
export function virtualClock(
  start = Date.UTC(2026, 0, 5, 12),
): Clock & { t: number; advance(ms: number): void } {
  const waiters: { at: number; seq: number; wake: () => void }[] = [];
  let seq = 0;
  let scheduled = false;
  const drain = () => {
    scheduled = false;
    if (waiters.length === 0) return;
    let best = 0;
    for (let i = 1; i < waiters.length; i += 1) {
      const w = waiters[i] as (typeof waiters)[number];
      const b = waiters[best] as (typeof waiters)[number];
      if (w.at < b.at || (w.at === b.at && w.seq < b.seq)) best = i;
    }
    const [next] = waiters.splice(best, 1);
    if (!next) return;
    clock.t = Math.max(clock.t, next.at);
    next.wake();
    schedule();
  };
  const schedule = () => {
    if (scheduled || waiters.length === 0) return;
    scheduled = true;
    setImmediate(drain);
  };
  const clock = {
    t: start,
    now: () => clock.t,
    sleep: (ms: number) =>
      new Promise<void>((wake) => {
        waiters.push({ at: clock.t + Math.max(0, ms), seq: seq++, wake });
        schedule();
      }),
    advance: (ms: number) => {
      clock.t += ms;
    },
  };
  return clock;
}
