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
 * - Account-level subscription filter policies: "Each account can have one account-level
 *   subscription filter policy per Region. If you are updating an existing filter, you must
 *   specify the correct name in PolicyName"
 *   (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutAccountPolicy.html):
 *   a put under the existing name updates it, a put under another name is LimitExceededException
 *   (the error the page lists for "the maximum number of resources"); they take no filter slot
 *   ("A log group can have up to 1 account-level and up to 2 log-group-level subscription
 *   filters"). moto refuses PutAccountPolicy for subscription policies, hence this fake.
 *
 * Wrapped by `fakeRuntime`, every call goes through the project's own retry policy and rate
 * limiter on a virtual clock, so the time a run takes at a given rate can be read off the clock.
 */
import type { LogsRuntime } from '../../member/runtime/clients';
import { type AccountPolicyApi, callWithRetry, type LogsApi } from '../../member/runtime/logs-api';
import { renderPolicyDocument } from '../../shared/account-policy';
import type { ExistingAccountPolicy, ExistingFilter } from '../../shared/plan';
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
  | 'DeleteSubscriptionFilter'
  | 'DescribeAccountPolicies'
  | 'PutAccountPolicy'
  | 'DeleteAccountPolicy';

export class FakeLogs {
  private readonly groups = new Map<string, ExistingFilter[]>();
  private sorted: string[] | undefined;
  readonly calls: Record<Operation, number> = {
    DescribeLogGroups: 0,
    DescribeSubscriptionFilters: 0,
    PutSubscriptionFilter: 0,
    DeleteSubscriptionFilter: 0,
    DescribeAccountPolicies: 0,
    PutAccountPolicy: 0,
    DeleteAccountPolicy: 0,
  };
  /** The account's subscription filter policy in this region (at most one). */
  accountPolicy: ExistingAccountPolicy | undefined;
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

  /** The account policy calls, answering like the SDK (policy documents as rendered by the caller). */
  readonly rawPolicies = {
    describe: async (): Promise<ExistingAccountPolicy[]> => {
      this.enter('DescribeAccountPolicies');
      return this.accountPolicy ? [{ ...this.accountPolicy }] : [];
    },
    put: async (policy: ExistingAccountPolicy): Promise<void> => {
      this.enter('PutAccountPolicy');
      if (this.accountPolicy && this.accountPolicy.policyName !== policy.policyName)
        throw awsError('LimitExceededException', 'Resource limit exceeded.');
      this.accountPolicy = { ...policy };
    },
    delete: async (policyName: string): Promise<void> => {
      this.enter('DeleteAccountPolicy');
      if (this.accountPolicy?.policyName !== policyName)
        throw awsError('ResourceNotFoundException', 'Policy not found.');
      this.accountPolicy = undefined;
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
    const rawPolicies = this.rawPolicies;
    const policies: AccountPolicyApi = {
      describe: async () => {
        const out = await callWithRetry(context, 'DescribeAccountPolicies', undefined, () =>
          rawPolicies.describe(),
        );
        return out === 'not-found' ? [] : out;
      },
      put: async (policy) => {
        await callWithRetry(context, 'PutAccountPolicy', undefined, () =>
          rawPolicies.put({
            policyName: policy.policyName,
            policyDocument: renderPolicyDocument(policy),
            selectionCriteria: policy.selectionCriteria,
          }),
        );
      },
      delete: async (policyName) => {
        const out = await callWithRetry(context, 'DeleteAccountPolicy', undefined, () =>
          rawPolicies.delete(policyName),
        );
        return out === 'not-found' ? 'gone' : 'done';
      },
    };
    return { api, policies, limiter };
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
