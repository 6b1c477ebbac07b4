/**
 * The apply loop the subscriber, backfill, sweep and CLI share: list log groups page by page,
 * read each group's filters, plan it with the pure planner, carry out the action, and report
 * one result per group. Stops cleanly at a deadline and hands back a cursor, so long work
 * continues in another invocation instead of timing out (STYLE.md §7).
 */
import { ConflictError, LogReflectorError } from '../../shared/errors';
import {
  type LogGroupState,
  type PlanAction,
  type Planner,
  STANDARD_LOG_GROUP_CLASS,
} from '../../shared/plan';
import { type Clock, systemClock } from '../../shared/rate-limiter';
import { ControlPlaneError, type ListedLogGroup, type LogsApi } from './logs-api';

export type Outcome = 'subscribed' | 'updated' | 'removed' | 'skipped' | 'conflict' | 'failed';

export interface GroupResult {
  readonly logGroupName: string;
  readonly outcome: Outcome;
  /** The planned action (absent when reading the group's filters failed). */
  readonly action?: PlanAction;
  /** Skip reason, remove reason, conflict detail or error message. */
  readonly detail?: string;
  readonly error?: Error;
}

export type Summary = Record<Outcome, number>;

export function emptySummary(): Summary {
  return { subscribed: 0, updated: 0, removed: 0, skipped: 0, conflict: 0, failed: 0 };
}

export function addSummaries(a: Summary, b: Summary): Summary {
  const out = emptySummary();
  for (const key of Object.keys(out) as Outcome[]) out[key] = a[key] + b[key];
  return out;
}

/** The group vanished between listing and acting on it: nothing to do, not an error. */
const GONE = 'log group no longer exists';

function describeAction(action: PlanAction): string {
  switch (action.kind) {
    case 'skip':
    case 'remove':
      return action.reason;
    case 'update':
      return `stale ${action.stale.join(', ')}`;
    case 'conflict':
      return `slots held by ${action.foreignFilters.map((f) => JSON.stringify(f)).join(', ')}`;
    default:
      return '';
  }
}

/** Carries out one planned action. Never throws: failures come back as a `failed` result. */
export async function executeAction(api: LogsApi, action: PlanAction): Promise<GroupResult> {
  const logGroupName = action.logGroupName;
  try {
    switch (action.kind) {
      case 'subscribe':
      case 'update': {
        const done = await api.putFilter(logGroupName, action.filter);
        if (done === 'gone') return { logGroupName, outcome: 'skipped', action, detail: GONE };
        return {
          logGroupName,
          outcome: action.kind === 'subscribe' ? 'subscribed' : 'updated',
          action,
          detail: describeAction(action),
        };
      }
      case 'remove': {
        const done = await api.deleteFilter(logGroupName, action.filterName);
        if (done === 'gone')
          return { logGroupName, outcome: 'skipped', action, detail: 'filter already gone' };
        return { logGroupName, outcome: 'removed', action, detail: action.reason };
      }
      case 'conflict':
        return { logGroupName, outcome: 'conflict', action, detail: describeAction(action) };
      case 'skip':
        return { logGroupName, outcome: 'skipped', action, detail: action.reason };
    }
  } catch (error) {
    if (error instanceof ConflictError) {
      return { logGroupName, outcome: 'conflict', action, detail: error.message, error };
    }
    return failed(logGroupName, error, action);
  }
}

function failed(logGroupName: string, error: unknown, action?: PlanAction): GroupResult {
  const err = error instanceof Error ? error : new Error(String(error));
  return { logGroupName, outcome: 'failed', ...(action ? { action } : {}), detail: err.message, error: err };
}

/**
 * Reads one group's filters, plans it and applies the action. Groups of a class that cannot
 * carry filters are planned without a read (saves a rate-limited call per group).
 */
export async function reconcileGroup(
  api: LogsApi,
  planner: Planner,
  group: ListedLogGroup,
): Promise<GroupResult> {
  const logGroupName = group.logGroupName;
  let filters: LogGroupState['filters'] = [];
  const standard = (group.logGroupClass ?? STANDARD_LOG_GROUP_CLASS) === STANDARD_LOG_GROUP_CLASS;
  if (standard) {
    try {
      const read = await api.describeFilters(logGroupName);
      if (read === undefined) return { logGroupName, outcome: 'skipped', detail: GONE };
      filters = read;
    } catch (error) {
      return failed(logGroupName, error);
    }
  }
  const action = planner.planGroup({ logGroupName, logGroupClass: group.logGroupClass, filters });
  return executeAction(api, action);
}

/** DescribeLogGroups refused our nextToken (InvalidParameterException, not retryable). */
function isExpiredToken(error: unknown): boolean {
  const cause = (error as { cause?: { name?: string } } | undefined)?.cause;
  return error instanceof ControlPlaneError && cause?.name === 'InvalidParameterException';
}

/** Errors that make the rest of a run pointless (bad credentials, bad configuration). */
export function isFatal(error: Error | undefined): boolean {
  return error instanceof LogReflectorError && (error.name === 'AuthError' || error.name === 'ConfigError');
}

/**
 * Where a run resumes: the token of the page being processed (undefined = the first page),
 * how many of its groups were already done, and the name of the last group done.
 * DescribeLogGroups lists groups "ASCII-sorted by log group name"
 * (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogGroups.html),
 * so a resumed run skips the names up to `after`: groups created or deleted meanwhile cannot
 * shift a group past the cursor unvisited (an offset alone could). `offset` is the fallback
 * for cursors handed on by an older version.
 */
export interface Cursor {
  readonly token?: string | undefined;
  readonly offset: number;
  readonly after?: string | undefined;
}

export interface ReconcileOptions {
  readonly api: LogsApi;
  readonly planner: Planner;
  /** Where to start (a cursor handed back by an earlier run). @default the beginning */
  readonly cursor?: Cursor | undefined;
  /** Absolute time (clock ms) after which no new group is started. */
  readonly deadlineMs?: number;
  /** Groups in flight at once; the rate limiter sets the pace, this only hides latency. @default 8 */
  readonly concurrency?: number;
  readonly clock?: Clock;
  readonly onResult?: (result: GroupResult) => void;
  /** Called after each listed page, with the number of groups in it. */
  readonly onPage?: (groups: number) => void;
  /** Stop (complete) after this name: the listing is sorted, so later names are not visited. */
  readonly through?: string | undefined;
  /** Asked before each page is listed; false stops the run (the result says `stopped`). */
  readonly beforePage?: () => Promise<boolean>;
}

export interface ReconcileResult {
  readonly summary: Summary;
  /** True when every page was processed. */
  readonly complete: boolean;
  /** Where to resume when not complete. */
  readonly cursor?: Cursor | undefined;
  /** Set when a fatal error (AuthError, ConfigError) stopped the run. */
  readonly fatal?: Error;
  readonly groupsSeen: number;
  /** Message of the first failed group, for reports. */
  readonly firstFailure?: string;
  /** True when `beforePage` stopped the run. */
  readonly stopped?: boolean;
}

/** Runs `worker` over `items` with at most `concurrency` in flight, stopping new starts when `stop()`. */
async function pool<T>(
  items: readonly T[],
  concurrency: number,
  stop: () => boolean,
  worker: (item: T) => Promise<void>,
): Promise<number> {
  let next = 0;
  let started = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length && !stop()) {
      const item = items[next] as T;
      next += 1;
      started += 1;
      await worker(item);
    }
  });
  await Promise.all(lanes);
  return started;
}

/** Reconciles every log group of the account and region (from `cursor` on) until done or the deadline. */
export async function reconcileAll(options: ReconcileOptions): Promise<ReconcileResult> {
  const clock = options.clock ?? systemClock;
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const summary = emptySummary();
  let token = options.cursor?.token;
  let offset = options.cursor?.offset ?? 0;
  let after = options.cursor?.after;
  let fatal: Error | undefined;
  let groupsSeen = 0;
  let firstFailure: string | undefined;
  let restarted = false;
  const pastDeadline = () => options.deadlineMs !== undefined && clock.now() >= options.deadlineMs;
  const result = (complete: boolean, extra: Partial<ReconcileResult> = {}): ReconcileResult => ({
    summary,
    complete,
    groupsSeen,
    ...(complete ? {} : { cursor: { token, offset, ...(after !== undefined ? { after } : {}) } }),
    ...(firstFailure !== undefined ? { firstFailure } : {}),
    ...extra,
  });

  for (;;) {
    if (pastDeadline()) return result(false);
    if (options.beforePage && !(await options.beforePage())) return result(false, { stopped: true });
    let page: Awaited<ReturnType<LogsApi['listLogGroups']>>;
    try {
      page = await options.api.listLogGroups(token);
    } catch (error) {
      // A paging token from an earlier invocation may have expired; everything is
      // idempotent, so start the listing over (once) rather than abandon the run; with a
      // name cursor the groups already done are skipped without being read again.
      if (token === undefined || restarted || !isExpiredToken(error)) throw error;
      restarted = true;
      token = undefined;
      offset = 0;
      continue;
    }
    options.onPage?.(page.groups.length);
    const through = options.through;
    const from = after;
    let todo =
      from !== undefined ? page.groups.filter((g) => g.logGroupName > from) : page.groups.slice(offset);
    const beyond = through !== undefined && todo.some((g) => g.logGroupName > through);
    if (beyond) todo = todo.filter((g) => g.logGroupName <= (through as string));
    const stop = () => fatal !== undefined || pastDeadline();
    // Every started group has finished when pool() returns, so offset + started is done.
    const started = await pool(todo, concurrency, stop, async (group) => {
      const r = await reconcileGroup(options.api, options.planner, group);
      summary[r.outcome] += 1;
      if (r.outcome === 'failed') {
        firstFailure ??= `${r.logGroupName}: ${r.detail ?? 'failed'}`;
        if (isFatal(r.error)) fatal ??= r.error;
      }
      options.onResult?.(r);
    });
    groupsSeen += started;
    if (started > 0) after = todo[started - 1]?.logGroupName;
    if (started < todo.length || fatal) {
      const at = after === undefined ? -1 : page.groups.findIndex((g) => g.logGroupName === after);
      offset = at >= 0 ? at + 1 : offset + started;
      return result(false, fatal ? { fatal } : {});
    }
    if (beyond || !page.nextToken) return result(true);
    after = page.groups.at(-1)?.logGroupName ?? after;
    token = page.nextToken;
    offset = 0;
  }
}

export interface PlannedGroups {
  /** One action per listed group that could be read, in listing order. */
  readonly actions: readonly PlanAction[];
  /** Groups whose filters could not be read. */
  readonly failures: readonly GroupResult[];
}

/** Reads and plans every group without changing anything (the CLI's `plan`, and `apply`'s first phase). */
export async function planAll(options: {
  readonly api: LogsApi;
  readonly planner: Planner;
  readonly concurrency?: number;
  readonly onPage?: (groups: number) => void;
}): Promise<PlannedGroups> {
  const actions: PlanAction[] = [];
  const failures: GroupResult[] = [];
  let cursor: string | undefined;
  do {
    const page = await options.api.listLogGroups(cursor);
    options.onPage?.(page.groups.length);
    const slots: (PlanAction | undefined)[] = new Array(page.groups.length);
    let index = 0;
    const indexed = page.groups.map((group) => ({ group, at: index++ }));
    await pool(
      indexed,
      Math.max(1, options.concurrency ?? 8),
      () => false,
      async ({ group, at }) => {
        const standard = (group.logGroupClass ?? STANDARD_LOG_GROUP_CLASS) === STANDARD_LOG_GROUP_CLASS;
        let filters: LogGroupState['filters'] = [];
        if (standard) {
          try {
            const read = await options.api.describeFilters(group.logGroupName);
            if (read === undefined) return; // deleted since it was listed
            filters = read;
          } catch (error) {
            failures.push(failed(group.logGroupName, error));
            return;
          }
        }
        slots[at] = options.planner.planGroup({ ...group, filters });
      },
    );
    for (const action of slots) if (action) actions.push(action);
    cursor = page.nextToken;
  } while (cursor);
  return { actions, failures };
}

/** Carries out planned actions with bounded concurrency; returns the summary. */
export async function executeAll(options: {
  readonly api: LogsApi;
  readonly actions: readonly PlanAction[];
  readonly concurrency?: number;
  readonly onResult?: (result: GroupResult) => void;
}): Promise<Summary> {
  const summary = emptySummary();
  await pool(
    options.actions,
    Math.max(1, options.concurrency ?? 8),
    () => false,
    async (action) => {
      const result = await executeAction(options.api, action);
      summary[result.outcome] += 1;
      options.onResult?.(result);
    },
  );
  return summary;
}
