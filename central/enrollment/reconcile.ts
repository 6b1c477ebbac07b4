/**
 * One reconcile run: read Organizations and the StackSet(s), remember what was read, plan with
 * the pure planner (`shared/enrollment.ts`), publish the enrolled accounts to the central
 * account, and start the planned UpdateStackInstances operations. The Lambda handler and
 * `log-reflector enrollment plan | apply` both call `reconcile`; only the deadline, the state
 * store and the logger differ.
 *
 * Convergence at any size (issue 15.1, docs/enrollment.md "How long it takes"):
 * - **Remember, don't re-read.** Tags, instance statuses and the Enrollment value each instance
 *   runs with live in the state object (`state.ts`) between runs. A run re-reads tags of
 *   accounts named by the event, never read, or older than `tagMaxAgeMs`; lists instances of
 *   accounts that are new, named, or still deploying (or whole regions, when that is cheaper);
 *   and spends DescribeStackInstance only on instances whose last operation it cannot explain
 *   (never one per instance per run).
 * - **Act on what each round has read.** A run works in rounds: read a slice (the triggering
 *   event's accounts first), plan, publish, start the operations for what is ready, save. A
 *   deadline ends the run between rounds, never before the first write.
 * - **Rotate by work done.** What a run did not reach is the oldest next run (never-read first,
 *   then by read time), so no account is starved however large the organization.
 *
 * Overlapping runs are harmless: a run acts only while it holds the lease in the state object,
 * every state write is conditional on the ETag it read, and StackSets serialize operations
 * (managed execution queues conflicting ones; without it, OperationInProgressException defers
 * the rest to the next run).
 */

import {
  type AccountDecision,
  ENROLLMENT_PARAMETER_KEY,
  type EnrolledList,
  type EnrollmentPlan,
  type InstanceState,
  needsResend,
  nextRetryAt,
  type OrgAccount,
  planEnrollment,
  STUCK_AFTER_ATTEMPTS,
  type UpdateOperation,
} from '../../shared/enrollment';
import { AuthError, ConfigError, LogReflectorError } from '../../shared/errors';
import type { Enrollment } from '../../shared/naming';
import type {
  EnrolledPublisher,
  InstanceSummary,
  OperationFailure,
  OrganizationsPort,
  PermissionModel,
  StackSetInfo,
  StackSetPort,
} from './aws';
import type { CallAs, EnrollmentConfig } from './env';
import {
  type AccountMemory,
  emptyStackSetMemory,
  type InstanceMemory,
  LEASE_SLACK_MS,
  LeaseHeldError,
  landed,
  leaseFree,
  memoryStateStore,
  type ReconcilerState,
  type StackSetMemory,
  StateConflictError,
  type StateStore,
} from './state';

/** Operation statuses after which the StackSet is done with an operation. */
const TERMINAL_OPERATION_STATUSES: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'STOPPED']);
const IN_FLIGHT: ReadonlySet<string> = new Set(['PENDING', 'RUNNING']);

/** Parallel reads: Organizations is the tighter of the two control planes. */
export const DEFAULT_TAG_READ_CONCURRENCY = 4;
export const DEFAULT_OVERRIDE_READ_CONCURRENCY = 4;
export const DEFAULT_LIST_CONCURRENCY = 2;
/** Between DescribeStackSetOperation polls, lease polls and polls for a named account's instances. */
export const DEFAULT_POLL_INTERVAL_MS = 10_000;
/** Accounts whose tags one round reads before it plans and writes. */
export const TAGS_PER_ROUND = 500;
/** Tags older than this are re-read (events make it faster; this bounds a missed event). */
export const DEFAULT_TAG_MAX_AGE_MS = 24 * 60 * 60_000;
/** Instances re-verified with DescribeStackInstance per run (an operator's hand-made override). */
export const DEFAULT_VERIFY_PER_RUN = 50;
/** An instance is re-verified at most this often. */
export const VERIFY_MIN_AGE_MS = 60 * 60_000;
/** An account whose instances someone else is still deploying is listed again after this. */
export const IN_FLIGHT_RELIST_MS = 5 * 60_000;
/** Instance listings older than this are refreshed, oldest first. */
export const DEFAULT_INSTANCES_MAX_AGE_MS = 24 * 60 * 60_000;
/** Kept back from the deadline for the last round's writes and the final state save. */
export const ROUND_RESERVE_MS = 15_000;
/** Operations of ours not yet ended after which no new one is queued behind them. */
export const MAX_PENDING_OPERATIONS = 4;
/**
 * Polls for an event-named account's instances (auto-deployment runs minutes after the join):
 * 90 × 10 s = 15 minutes at most, whatever the deadline (the CLI has none).
 */
export const MAX_PRIORITY_POLLS = 90;
/** Recent operations remembered (id → action), newest kept. */
const OPERATIONS_REMEMBERED = 500;

export interface ReconcileLog {
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
}

const silentLog: ReconcileLog = { info: () => undefined, warn: () => undefined };

export interface ReconcileDeps {
  readonly organizations: OrganizationsPort;
  readonly stackSets: StackSetPort;
  /** @default a fresh in-memory store (nothing remembered: the CLI without --state-bucket) */
  readonly stateStore?: StateStore;
  /** Where the enrolled list goes. Without it no account is enabled (it could not be published). */
  readonly publisher?: EnrolledPublisher | undefined;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: ReconcileLog;
  /** Names this run in the lease. @default random */
  readonly runId?: string;
}

export interface ReconcileOptions {
  /** false: read and plan only (`enrollment plan`); nothing is written, the state included. */
  readonly apply: boolean;
  /** Epoch ms after which no new call or operation starts. @default no deadline */
  readonly deadline?: number;
  /** Accounts named by the triggering event: read first, waited for. */
  readonly priorityAccounts?: readonly string[];
  /** Accounts the event says left the organization: unpublished first. */
  readonly departedAccounts?: readonly string[];
  /** @default DEFAULT_POLL_INTERVAL_MS */
  readonly pollIntervalMs?: number;
  /** @default DEFAULT_TAG_READ_CONCURRENCY */
  readonly tagReadConcurrency?: number;
  /** @default DEFAULT_OVERRIDE_READ_CONCURRENCY */
  readonly overrideReadConcurrency?: number;
  /** @default DEFAULT_LIST_CONCURRENCY */
  readonly listConcurrency?: number;
  /** @default DEFAULT_TAG_MAX_AGE_MS */
  readonly tagMaxAgeMs?: number;
  /** @default DEFAULT_VERIFY_PER_RUN */
  readonly verifyPerRun?: number;
  /** @default MAX_ACCOUNTS_PER_OPERATION */
  readonly maxAccountsPerOperation?: number;
  /** @default true when there is no deadline (the CLI waits), false otherwise */
  readonly waitForOperations?: boolean;
}

export type StackSetRunStatus =
  /** Plan only (apply: false). */
  | 'planned'
  /** Nothing to write. */
  | 'in-sync'
  /** Every planned operation started (and, when waited for, ended). */
  | 'applied'
  /** Nothing started: the StackSet refused (OperationInProgressException) or too many of ours pending. */
  | 'busy'
  /** Some operations started, the rest wait for the next run. */
  | 'partial';

export interface OperationOutcome {
  readonly operation: UpdateOperation;
  readonly operationId?: string | undefined;
  /** SUCCEEDED, FAILED, STOPPED; RUNNING/QUEUED when left running; NOT_FOUND when an instance vanished. */
  readonly status: string;
  readonly failures: readonly OperationFailure[];
}

export interface RunCounters {
  tagReads: number;
  instanceListings: number;
  overrideReads: number;
  rounds: number;
}

export interface StackSetOutcome {
  readonly kind: 'members' | 'management';
  readonly stackSetName: string;
  readonly plan: EnrollmentPlan;
  readonly status: StackSetRunStatus;
  readonly operations: readonly OperationOutcome[];
  /** Planned operations not started this run. */
  readonly deferred: readonly UpdateOperation[];
  /** Accounts or instances whose state is still unknown at the end of the run. */
  readonly unread: number;
  /** Instances whose override was re-sent STUCK_AFTER_ATTEMPTS times and still fail. */
  readonly stuck: readonly { account: string; region: string; attempts: number }[];
  readonly counters: RunCounters;
}

export interface ReconcileResult {
  readonly outcomes: readonly StackSetOutcome[];
  /** The enrolled list this run published, when it published one. */
  readonly published?: EnrolledList | undefined;
  /** Why enabling was held back this run (no publisher, or publishing failed). */
  readonly publishProblem?: string | undefined;
}

interface Target {
  readonly kind: 'members' | 'management';
  readonly stackSetName: string;
  readonly callAs: CallAs;
  readonly permissionModel: PermissionModel;
}

type Deps = Required<Omit<ReconcileDeps, 'publisher'>> & { publisher: EnrolledPublisher | undefined };

class Clock {
  constructor(
    private readonly now: () => number,
    private readonly deadline: number | undefined,
  ) {}
  /** True when there is no time left to start `ms` more of work. */
  expired(ms = 0): boolean {
    return this.deadline !== undefined && this.now() + ms >= this.deadline;
  }
  get limit(): number | undefined {
    return this.deadline;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; stops taking new items once `stop()`. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
  stop: () => boolean,
): Promise<Map<T, R>> {
  const results = new Map<T, R>();
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length && !stop()) {
      const item = items[next++] as T;
      results.set(item, await fn(item));
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : '';
}

function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Maps the AWS errors that mean "misconfigured" or "not allowed" onto the taxonomy. */
function translate(err: unknown, target: Target, action: string): unknown {
  const name = errorName(err);
  if (name === 'StackSetNotFoundException') {
    return new ConfigError(
      `${target.kind} StackSet`,
      [
        {
          path: target.kind === 'members' ? 'STACK_SET_NAME' : 'MANAGEMENT_STACK_SET_NAME',
          message: `no such StackSet (CallAs ${target.callAs})`,
          received: target.stackSetName,
        },
      ],
      { cause: err },
    );
  }
  if (
    name === 'AccessDeniedException' ||
    name === 'AccessDenied' ||
    name === 'AWSOrganizationsNotInUseException'
  ) {
    return new AuthError(`${action} refused for StackSet ${JSON.stringify(target.stackSetName)}: ${name}`, {
      cause: err,
    });
  }
  return err;
}

function checkStackSet(info: StackSetInfo, target: Target): string {
  if (info.permissionModel !== target.permissionModel) {
    throw new ConfigError(`${target.kind} StackSet`, [
      {
        path: target.kind === 'members' ? 'STACK_SET_NAME' : 'MANAGEMENT_STACK_SET_NAME',
        message: `must be ${target.permissionModel}, is ${info.permissionModel}`,
        received: target.stackSetName,
      },
    ]);
  }
  const value = info.parameters[ENROLLMENT_PARAMETER_KEY];
  if (value === undefined) {
    throw new LogReflectorError(
      `StackSet ${JSON.stringify(target.stackSetName)} has no ${ENROLLMENT_PARAMETER_KEY} parameter at the StackSet level ` +
        `(parameters: ${JSON.stringify(Object.keys(info.parameters))}); deploy the current org stack first`,
    );
  }
  return value;
}

/** The enrollment an account's remembered tag asks for; undefined while its tags are unread. */
function desiredOf(account: AccountMemory, optOutValue: string): Enrollment | undefined {
  if (account.tag === undefined) return undefined;
  return account.tag === optOutValue ? 'disabled' : 'enabled';
}

/**
 * The accounts the reflector may forward: in scope at the last walk, tags read, not opted out
 * (shared/enrollment.ts `enrolledAccounts`, computed from memory so both StackSets count).
 */
export function enrolledFromState(
  state: ReconcilerState,
  targets: readonly { stackSetName: string; excluded?: string | undefined }[],
  optOutValue: string,
): string[] {
  const enrolled = new Set<string>();
  for (const target of targets) {
    const memory = state.stackSets[target.stackSetName];
    if (!memory) continue;
    for (const [id, account] of Object.entries(memory.accounts)) {
      if (id === target.excluded) continue;
      if (desiredOf(account, optOutValue) === 'enabled') enrolled.add(id);
    }
  }
  return [...enrolled].sort(byString);
}

class Run {
  readonly clock: Clock;
  readonly log: ReconcileLog;
  state: ReconcilerState;
  etag: string | undefined;
  readonly runId: string;
  publishProblem: string | undefined;
  published: EnrolledList | undefined;
  /** Enrollment may be turned on this run (the list was published in this round). */
  private listIsCurrent = false;

  constructor(
    readonly config: EnrollmentConfig,
    readonly deps: Deps,
    readonly options: ReconcileOptions,
    loaded: { state: ReconcilerState; etag: string | undefined },
  ) {
    this.clock = new Clock(deps.now, options.deadline);
    this.log = deps.log;
    this.state = loaded.state;
    this.etag = loaded.etag;
    this.runId = deps.runId;
  }

  get apply(): boolean {
    return this.options.apply;
  }

  /** Conditional save; a conflict means another run took over: stop acting. */
  async save(): Promise<void> {
    if (!this.apply) return;
    this.state = { ...this.state, generation: this.state.generation + 1, updatedAt: this.deps.now() };
    this.etag = await this.deps.stateStore.save(this.state, this.etag);
  }

  targets(): { stackSetName: string; excluded?: string | undefined }[] {
    return [
      { stackSetName: this.config.stackSetName, excluded: this.config.managementAccountId },
      ...(this.config.managementStackSetName ? [{ stackSetName: this.config.managementStackSetName }] : []),
    ];
  }

  /**
   * Publishes the enrolled list (before any operation of the round): an account is listed
   * before its override goes to enabled, and unlisted before (or when) it goes to disabled.
   */
  async publish(): Promise<void> {
    this.listIsCurrent = false;
    if (!this.apply) return;
    if (!this.deps.publisher) {
      this.publishProblem = 'no enrolled-list bucket configured: accounts are not enabled';
      return;
    }
    const accounts = enrolledFromState(this.state, this.targets(), this.config.optOut.value).filter(
      (a) => !(this.options.departedAccounts ?? []).includes(a),
    );
    const last = this.state.published;
    if (this.published && last && last.accounts.join(',') === accounts.join(',')) {
      // Published already this run and nothing changed since.
      this.listIsCurrent = true;
      return;
    }
    const generation = (last?.generation ?? 0) + 1;
    const list: EnrolledList = {
      version: 1,
      generation,
      updatedAt: new Date(this.deps.now()).toISOString(),
      accounts,
    };
    try {
      await this.deps.publisher.publish(list);
    } catch (err) {
      this.publishProblem = `publishing the enrolled list failed (${errorName(err)}: ${(err as Error).message}): accounts are not enabled this round`;
      this.log.warn('enrolled list not published; enabling waits', { error: (err as Error).message });
      return;
    }
    this.published = list;
    this.publishProblem = undefined;
    this.state = { ...this.state, published: { generation, at: this.deps.now(), accounts } };
    this.listIsCurrent = true;
  }

  get mayEnable(): boolean {
    return this.listIsCurrent;
  }
}

/** The planner's view of one account, from memory. */
function orgAccountOf(id: string, account: AccountMemory, optOutKey: string): OrgAccount {
  return {
    id,
    name: account.name,
    state: account.state,
    tags: account.tag === undefined ? undefined : account.tag === null ? {} : { [optOutKey]: account.tag },
  };
}

/** The planner's view of one instance, from memory. */
function instanceStateOf(account: string, region: string, instance: InstanceMemory): InstanceState {
  const overrides =
    instance.enrollment === undefined
      ? undefined
      : {
          [ENROLLMENT_PARAMETER_KEY]: instance.enrollment,
          ...Object.fromEntries((instance.otherKeys ?? []).map((k) => [k, '(kept)'])),
        };
  return {
    account,
    region,
    status: instance.status,
    detailedStatus: instance.detailed,
    overrides,
    retryAt: instance.retryAt,
  };
}

class TargetRun {
  memory: StackSetMemory;
  stackSetEnrollment = '';
  readonly counters: RunCounters = { tagReads: 0, instanceListings: 0, overrideReads: 0, rounds: 0 };
  readonly outcomes: OperationOutcome[] = [];
  deferred: UpdateOperation[] = [];
  busy = false;
  plan: EnrollmentPlan = { decisions: [], operations: [] };
  /** The decision behind each account written this run (later plans see it in flight). */
  private readonly started = new Map<string, AccountDecision>();
  private readonly priority: ReadonlySet<string>;
  private verified = 0;
  private readonly listedThisRun = new Set<string>();
  private readonly tagsReadThisRun = new Set<string>();

  constructor(
    readonly target: Target,
    readonly run: Run,
    /** Excluded from writes (the management account, in the members StackSet). */
    readonly managementAccountId: string | undefined,
  ) {
    this.memory = run.state.stackSets[target.stackSetName] ?? emptyStackSetMemory();
    this.priority = new Set(run.options.priorityAccounts ?? []);
  }

  private get deps(): Deps {
    return this.run.deps;
  }

  private commit(): void {
    this.run.state = {
      ...this.run.state,
      stackSets: { ...this.run.state.stackSets, [this.target.stackSetName]: this.memory },
    };
  }

  private now(): number {
    return this.deps.now();
  }

  /** No time left for reads this run. */
  readsOver(): boolean {
    return this.readsExpired();
  }

  /** Time left for reads: the round reserve stays free for writes and the final save. */
  private readsExpired(): boolean {
    return this.run.clock.expired(ROUND_RESERVE_MS);
  }

  async describe(): Promise<void> {
    let info: StackSetInfo;
    try {
      info = await this.deps.stackSets.describeStackSet(this.target.stackSetName, this.target.callAs);
    } catch (err) {
      throw translate(err, this.target, 'DescribeStackSet');
    }
    this.stackSetEnrollment = checkStackSet(info, this.target);
  }

  /** Newest operations: learns foreign ones (id → action) and how ours are doing. */
  async refreshOperations(): Promise<void> {
    let recent: Awaited<ReturnType<StackSetPort['listOperations']>>;
    try {
      recent = await this.deps.stackSets.listOperations(this.target.stackSetName, this.target.callAs);
    } catch (err) {
      throw translate(err, this.target, 'ListStackSetOperations');
    }
    const operations = { ...this.memory.operations };
    for (const op of recent) {
      const known = operations[op.operationId];
      operations[op.operationId] = known
        ? { ...known, status: op.status }
        : { action: op.action, status: op.status, ours: false };
    }
    const ids = Object.keys(operations);
    if (ids.length > OPERATIONS_REMEMBERED) {
      // Keep ours that have not ended, then the most recently listed.
      const keep = new Set([
        ...ids.filter(
          (id) => operations[id]?.ours && !TERMINAL_OPERATION_STATUSES.has(operations[id].status),
        ),
        ...recent.map((o) => o.operationId),
      ]);
      for (const id of ids) if (!keep.has(id) && keep.size < ids.length) delete operations[id];
    }
    this.memory = { ...this.memory, operations };
  }

  /** Applies the result of our operations that have ended to the instances they touched. */
  async settleOperations(wait: boolean): Promise<void> {
    const pollIntervalMs = this.run.options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    for (;;) {
      const pending = Object.entries(this.memory.operations).filter(([, op]) => op.ours && !op.settled);
      if (pending.length === 0) return;
      let open = 0;
      for (const [id, op] of pending) {
        let status = op.status;
        if (!TERMINAL_OPERATION_STATUSES.has(status)) {
          status = await this.deps.stackSets.operationStatus(
            this.target.stackSetName,
            this.target.callAs,
            id,
          );
        }
        if (!TERMINAL_OPERATION_STATUSES.has(status)) {
          this.memory.operations[id] = { ...op, status };
          open += 1;
          continue;
        }
        let failures: OperationFailure[] = [];
        try {
          failures = await this.deps.stackSets.failedResults(
            this.target.stackSetName,
            this.target.callAs,
            id,
          );
        } catch (err) {
          // Reporting only: the next listing shows the instances' statuses anyway.
          this.run.log.warn('could not list the operation results', {
            operationId: id,
            error: (err as Error).message,
          });
        }
        this.land(
          id,
          op.enrollment as Enrollment,
          op.accounts ?? [],
          op.regions ?? [],
          op.otherKeys,
          failures,
        );
        const outcome = this.outcomes.find((o) => o.operationId === id);
        if (outcome) {
          this.outcomes[this.outcomes.indexOf(outcome)] = { ...outcome, status, failures };
        }
        if (failures.length > 0 || status !== 'SUCCEEDED') {
          this.run.log.warn('enrollment operation ended with failures', {
            operationId: id,
            status,
            failures,
          });
        }
        this.memory.operations[id] = { ...op, status, settled: true };
      }
      this.commit();
      if (!wait || open === 0 || this.run.clock.expired(pollIntervalMs + ROUND_RESERVE_MS)) return;
      await this.deps.sleep(pollIntervalMs);
    }
  }

  private land(
    operationId: string,
    enrollment: Enrollment,
    accounts: readonly string[],
    regions: readonly string[],
    otherKeys: readonly string[] | undefined,
    failures: readonly OperationFailure[],
  ): void {
    const failed = new Map(failures.map((f) => [`${f.account}/${f.region}`, f.reason]));
    const now = this.now();
    for (const id of accounts) {
      const account = this.memory.accounts[id];
      if (!account) continue;
      for (const region of regions) {
        const instance = account.instances[region];
        if (!instance) continue;
        if (failed.has(`${id}/${region}`)) {
          const attempts = (instance.attempts ?? 0) + 1;
          account.instances[region] = {
            ...instance,
            status: 'OUTDATED',
            detailed: 'FAILED',
            lastOp: operationId,
            // The override is set even when the stack update failed and rolled back.
            enrollment,
            attempts,
            retryAt: nextRetryAt(now, attempts),
            failedSince: instance.failedSince ?? now,
          };
        } else {
          account.instances[region] = landed(instance, enrollment, operationId, otherKeys);
        }
      }
    }
  }

  /** Walks the target OUs (or describes the management account): who is in scope now. */
  async walk(): Promise<void> {
    let listed: { id: string; name?: string | undefined; state: string }[];
    try {
      listed =
        this.target.kind === 'members'
          ? await this.deps.organizations.listAccounts(this.run.config.targetOuIds)
          : [await this.deps.organizations.describeAccount(this.run.config.managementAccountId)];
    } catch (err) {
      throw translate(err, this.target, 'Organizations ListAccountsForParent');
    }
    const departed = new Set(this.run.options.departedAccounts ?? []);
    const accounts: Record<string, AccountMemory> = {};
    for (const a of listed) {
      if (departed.has(a.id)) continue;
      const known = this.memory.accounts[a.id];
      accounts[a.id] = known
        ? { ...known, name: a.name, state: a.state }
        : { ...(a.name ? { name: a.name } : {}), state: a.state, instances: {} };
    }
    const left = Object.keys(this.memory.accounts).filter((id) => !accounts[id]);
    if (left.length > 0) this.run.log.info('accounts no longer under the target OUs', { accounts: left });
    this.memory = { ...this.memory, accounts, walkedAt: this.now() };
    this.commit();
  }

  /** Drops accounts named as departed by the event, before anything else is read. */
  forgetDeparted(): boolean {
    const departed = (this.run.options.departedAccounts ?? []).filter((id) => this.memory.accounts[id]);
    if (departed.length === 0) return false;
    const accounts = { ...this.memory.accounts };
    for (const id of departed) delete accounts[id];
    this.memory = { ...this.memory, accounts };
    this.commit();
    return true;
  }

  tagsDue(limit: number): string[] {
    const maxAge = this.run.options.tagMaxAgeMs ?? DEFAULT_TAG_MAX_AGE_MS;
    const now = this.now();
    const entries = Object.entries(this.memory.accounts).filter(([id]) => !this.tagsReadThisRun.has(id));
    const rank = ([id, a]: [string, AccountMemory]): number =>
      this.priority.has(id) ? 0 : a.tagsReadAt === undefined ? 1 : now - a.tagsReadAt >= maxAge ? 2 : 3;
    return entries
      .filter((e) => rank(e) < 3)
      .sort(
        (x, y) =>
          rank(x) - rank(y) || (x[1].tagsReadAt ?? 0) - (y[1].tagsReadAt ?? 0) || byString(x[0], y[0]),
      )
      .slice(0, limit)
      .map(([id]) => id);
  }

  async readTags(ids: readonly string[]): Promise<void> {
    const key = this.run.config.optOut.key;
    const read = await mapLimit(
      ids,
      this.run.options.tagReadConcurrency ?? DEFAULT_TAG_READ_CONCURRENCY,
      (id) => this.deps.organizations.listTags(id),
      () => this.readsExpired(),
    );
    const now = this.now();
    for (const [id, tags] of read) {
      this.tagsReadThisRun.add(id);
      this.counters.tagReads += 1;
      const account = this.memory.accounts[id];
      if (!account) continue;
      account.tag = Object.hasOwn(tags, key) ? (tags[key] as string) : null;
      account.tagsReadAt = now;
    }
  }

  /** Accounts whose instances must be listed before anything can be decided for them. */
  private instancesDue(): string[] {
    const now = this.now();
    const unsettled = this.unsettled();
    const maxAge = DEFAULT_INSTANCES_MAX_AGE_MS;
    return Object.entries(this.memory.accounts)
      .filter(([id, a]) => {
        if (this.listedThisRun.has(id) || id === this.managementAccountId) return false;
        if (this.priority.has(id) || a.instancesReadAt === undefined) return true;
        // Someone else's operation under way (auto-deployment): look again after a while.
        // Ours are settled from the operation's results, never by listing.
        const foreign = Object.entries(a.instances).some(
          ([region, i]) => IN_FLIGHT.has(i.detailed ?? '') && !unsettled.has(`${id}/${region}`),
        );
        if (foreign && now - a.instancesReadAt >= IN_FLIGHT_RELIST_MS) return true;
        return now - a.instancesReadAt >= maxAge;
      })
      .sort(
        ([ia, a], [ib, b]) =>
          Number(!this.priority.has(ia)) - Number(!this.priority.has(ib)) ||
          (a.instancesReadAt ?? -1) - (b.instancesReadAt ?? -1) ||
          byString(ia, ib),
      )
      .map(([id]) => id);
  }

  /** `account/region` → our operation on it that has not been settled yet. */
  private unsettled(): Map<string, string> {
    const map = new Map<string, string>();
    for (const [id, op] of Object.entries(this.memory.operations)) {
      if (!op.ours || op.settled) continue;
      for (const account of op.accounts ?? [])
        for (const region of op.regions ?? []) map.set(`${account}/${region}`, id);
    }
    return map;
  }

  private observe(summary: InstanceSummary, unsettled: ReadonlyMap<string, string>): void {
    const account = this.memory.accounts[summary.account];
    if (!account) return; // not in scope: auto-deployment removes it
    const previous = account.instances[summary.region];
    const pending = unsettled.get(`${summary.account}/${summary.region}`);
    if (pending) {
      // Ours, queued or running: it lands when the operation is settled, not before.
      account.instances[summary.region] = {
        ...(previous ?? { status: summary.status }),
        detailed: 'PENDING',
        lastOp: pending,
      };
      return;
    }
    const op = summary.lastOperationId ? this.memory.operations[summary.lastOperationId] : undefined;
    let next: InstanceMemory = {
      status: summary.status,
      ...(summary.detailedStatus ? { detailed: summary.detailedStatus } : {}),
      ...(summary.lastOperationId ? { lastOp: summary.lastOperationId } : {}),
    };
    if (op?.ours) {
      next = {
        ...previous,
        ...next,
        enrollment: op.enrollment,
        ...(op.otherKeys ? { otherKeys: op.otherKeys } : {}),
      };
    } else if (previous && previous.lastOp === summary.lastOperationId) {
      next = { ...previous, ...next };
    } else if (op?.action === 'CREATE') {
      // A new instance (StackSet creation or auto-deployment): the StackSet's values, no overrides.
      next = { ...next, enrollment: this.stackSetEnrollment, otherKeys: [] };
    } else if (previous?.enrollment !== undefined) {
      // A foreign UPDATE: UpdateStackSet keeps every override ("During StackSet updates, any
      // parameter values overridden for a stack instance aren't updated",
      // API_UpdateStackInstances.html). A hand-made UpdateStackInstances is caught by verify.
      next = { ...previous, ...next };
    }
    if (needsResend(instanceStateOf(summary.account, summary.region, next))) {
      // A failure not seen before counts one more attempt; a known one keeps its backoff.
      const fresh = previous?.lastOp !== summary.lastOperationId || previous?.retryAt === undefined;
      const attempts = fresh ? (previous?.attempts ?? 0) + 1 : (previous?.attempts ?? 1);
      next = {
        ...next,
        attempts,
        retryAt: fresh ? nextRetryAt(this.now(), attempts) : previous?.retryAt,
        failedSince: previous?.failedSince ?? this.now(),
      };
    } else if (!IN_FLIGHT.has(next.detailed ?? '')) {
      const { attempts: _a, retryAt: _r, failedSince: _f, ...healthy } = next;
      next = healthy;
    }
    account.instances[summary.region] = next;
  }

  /** Lists instances: by account for a few, by region when most of the organization is due. */
  async readInstances(maxAccounts: number): Promise<void> {
    const due = this.instancesDue();
    if (due.length === 0) {
      this.memory.regionPassCut = false;
      return;
    }
    const inScope = Object.keys(this.memory.accounts).length;
    const regions = this.run.config.regions;
    const pagesPerRegion = Math.max(1, Math.ceil(inScope / 100));
    const concurrency = this.run.options.listConcurrency ?? DEFAULT_LIST_CONCURRENCY;
    const name = this.target.stackSetName;
    const callAs = this.target.callAs;
    // A region listing always starts at its first page: one the deadline keeps cutting short
    // would never reach its last accounts, so after a cut the due accounts go one by one.
    if (
      this.target.kind === 'members' &&
      regions.length > 0 &&
      !this.memory.regionPassCut &&
      due.length > regions.length * pagesPerRegion
    ) {
      // Most accounts unknown (first deploy, a long outage): whole regions, oldest listed first.
      const order = [...regions].sort(
        (a, b) => (this.memory.regionsListedAt[a] ?? -1) - (this.memory.regionsListedAt[b] ?? -1),
      );
      const seenInRegion = new Map<string, Set<string>>();
      const listed = await mapLimit(
        order,
        concurrency,
        async (region) => {
          const summaries = await this.deps.stackSets.listInstances(name, callAs, { region }, () =>
            this.readsExpired(),
          );
          this.counters.instanceListings += Math.max(1, Math.ceil(summaries.length / 100));
          return summaries;
        },
        () => this.readsExpired(),
      );
      const now = this.now();
      const unsettled = this.unsettled();
      let complete = 0;
      for (const [region, summaries] of listed) {
        const seen = new Set<string>();
        for (const s of summaries) {
          seen.add(s.account);
          this.observe(s, unsettled);
        }
        // Rotation moves on even when the deadline cut the listing short.
        this.memory.regionsListedAt[region] = now;
        // Cut short: what was read counts, nothing is inferred from the rest.
        if (summaries.complete === false) {
          this.memory.regionPassCut = true;
          continue;
        }
        complete += 1;
        seenInRegion.set(region, seen);
        for (const [id, account] of Object.entries(this.memory.accounts)) {
          if (!seen.has(id) && account.instances[region]) delete account.instances[region];
        }
      }
      // An account is known once each of its regions was seen, in this run or an earlier one.
      for (const [id, account] of Object.entries(this.memory.accounts)) {
        if (complete === regions.length || Object.keys(account.instances).length >= regions.length) {
          account.instancesReadAt = now;
          this.listedThisRun.add(id);
        }
      }
      this.commit();
      return;
    }
    const slice = due.slice(0, maxAccounts);
    const listed = await mapLimit(
      slice,
      concurrency,
      async (account) => {
        const summaries = await this.deps.stackSets.listInstances(name, callAs, { account });
        this.counters.instanceListings += 1;
        return summaries;
      },
      () => this.readsExpired(),
    );
    const now = this.now();
    const unsettled = this.unsettled();
    for (const [id, summaries] of listed) {
      const account = this.memory.accounts[id];
      if (!account) continue;
      const seen = new Set(summaries.map((s) => s.region));
      for (const region of Object.keys(account.instances))
        if (!seen.has(region)) delete account.instances[region];
      for (const s of summaries) this.observe(s, unsettled);
      account.instancesReadAt = now;
      this.listedThisRun.add(id);
    }
    this.commit();
  }

  /** Instances anywhere whose last operation FAILED: cheap discovery for re-sends (issue 15.6). */
  async readFailed(): Promise<void> {
    if (this.readsExpired()) return;
    const failed = await this.deps.stackSets.listInstances(this.target.stackSetName, this.target.callAs, {
      detailedStatus: 'FAILED',
    });
    this.counters.instanceListings += 1;
    const unsettled = this.unsettled();
    for (const s of failed) this.observe(s, unsettled);
    this.commit();
  }

  /** DescribeStackInstance for instances whose value is unknown, then a few to re-verify. */
  async readOverrides(): Promise<void> {
    const key = ENROLLMENT_PARAMETER_KEY;
    const unknown: [string, string][] = [];
    const stale: [string, string, number][] = [];
    for (const [id, account] of Object.entries(this.memory.accounts)) {
      if (id === this.managementAccountId || account.tag === undefined) continue;
      for (const [region, instance] of Object.entries(account.instances)) {
        if (IN_FLIGHT.has(instance.detailed ?? '') || instance.status === 'INOPERABLE') continue;
        if (instance.enrollment === undefined) unknown.push([id, region]);
        else if ((instance.verifiedAt ?? 0) <= this.now() - VERIFY_MIN_AGE_MS) {
          stale.push([id, region, instance.verifiedAt ?? 0]);
        }
      }
    }
    const budget = Math.max(0, (this.run.options.verifyPerRun ?? DEFAULT_VERIFY_PER_RUN) - this.verified);
    stale.sort((a, b) => a[2] - b[2]);
    const wanted = [
      ...unknown.sort((a, b) => Number(!this.priority.has(a[0])) - Number(!this.priority.has(b[0]))),
      ...stale.slice(0, budget).map(([a, r]) => [a, r] as [string, string]),
    ];
    if (wanted.length === 0) return;
    const read = await mapLimit(
      wanted,
      this.run.options.overrideReadConcurrency ?? DEFAULT_OVERRIDE_READ_CONCURRENCY,
      ([account, region]) =>
        this.deps.stackSets.readOverrides(this.target.stackSetName, this.target.callAs, account, region),
      () => this.readsExpired(),
    );
    const now = this.now();
    for (const [[account, region], overrides] of read) {
      this.counters.overrideReads += 1;
      if (this.memory.accounts[account]?.instances[region]?.enrollment !== undefined) this.verified += 1;
      const instance = this.memory.accounts[account]?.instances[region];
      if (!instance) continue;
      const value = Object.hasOwn(overrides, key) ? overrides[key] : this.stackSetEnrollment;
      this.memory.accounts[account].instances[region] = {
        ...instance,
        enrollment: value,
        otherKeys: Object.keys(overrides)
          .filter((k) => k !== key)
          .sort(byString),
        verifiedAt: now,
      };
    }
    this.commit();
  }

  /** Unread at the end: accounts without tags, instances without a known value. */
  unread(): number {
    let n = 0;
    for (const [id, a] of Object.entries(this.memory.accounts)) {
      if (a.tag === undefined) n += 1;
      else if (id !== this.managementAccountId) {
        n += Object.values(a.instances).filter((i) => i.enrollment === undefined).length;
      }
    }
    return n;
  }

  makePlan(): EnrollmentPlan {
    const key = this.run.config.optOut.key;
    const accounts = Object.entries(this.memory.accounts).map(([id, a]) => orgAccountOf(id, a, key));
    const instances = Object.entries(this.memory.accounts).flatMap(([id, a]) =>
      Object.entries(a.instances).map(([region, i]) => instanceStateOf(id, region, i)),
    );
    this.plan = planEnrollment({
      accounts,
      instances,
      stackSetEnrollment: this.stackSetEnrollment,
      optOut: this.run.config.optOut,
      managementAccountId: this.managementAccountId,
      regionOrder: this.run.config.regions,
      maxAccountsPerOperation: this.run.options.maxAccountsPerOperation,
      now: this.now(),
    });
    return this.plan;
  }

  private pendingOperations(): number {
    return Object.values(this.memory.operations).filter((op) => op.ours && !op.settled).length;
  }

  /** Starts the plan's operations: disables first; enables only once the list is published. */
  async write(): Promise<void> {
    const plan = this.makePlan();
    this.deferred = [];
    if (!this.run.apply) {
      this.deferred = [...plan.operations];
      return;
    }
    const queue = [...plan.operations];
    while (queue.length > 0) {
      const operation = queue.shift() as UpdateOperation;
      if (operation.enrollment === 'enabled' && !this.run.mayEnable) {
        this.deferred.push(operation);
        continue;
      }
      if (this.busy || this.pendingOperations() >= MAX_PENDING_OPERATIONS || this.run.clock.expired()) {
        this.deferred.push(operation);
        continue;
      }
      let operationId: string;
      try {
        operationId = await this.deps.stackSets.updateInstances({
          stackSetName: this.target.stackSetName,
          callAs: this.target.callAs,
          permissionModel: this.target.permissionModel,
          operation,
          regionOrder: this.run.config.regions,
        });
      } catch (err) {
        const name = errorName(err);
        if (name === 'OperationInProgressException' || name === 'LimitExceededException') {
          this.run.log.info('StackSet busy: remaining enrollment operations wait for the next run', {
            stackSet: this.target.stackSetName,
            error: name,
            deferred: queue.length + 1,
          });
          this.busy = true;
          this.deferred.push(operation);
          continue;
        }
        if (name === 'StackInstanceNotFoundException') {
          // An instance went away (or never existed) between the listing and the write:
          // split to keep the rest moving; a single account is re-listed next round.
          if (operation.accounts.length > 1) {
            const half = Math.ceil(operation.accounts.length / 2);
            queue.unshift(
              { ...operation, accounts: operation.accounts.slice(0, half) },
              { ...operation, accounts: operation.accounts.slice(half) },
            );
          } else {
            const account = this.memory.accounts[operation.accounts[0] as string];
            if (account) account.instancesReadAt = undefined;
            this.outcomes.push({ operation, status: 'NOT_FOUND', failures: [] });
            this.run.log.warn('stack instance vanished before the update; its instances are listed again', {
              accounts: operation.accounts,
              regions: operation.regions,
            });
          }
          continue;
        }
        throw translate(err, this.target, 'UpdateStackInstances');
      }
      this.run.log.info('enrollment operation started', {
        stackSet: this.target.stackSetName,
        operationId,
        enrollment: operation.enrollment,
        accounts: operation.accounts,
        regions: operation.regions,
      });
      this.memory.operations[operationId] = {
        action: 'UPDATE',
        status: 'RUNNING',
        ours: true,
        enrollment: operation.enrollment,
        accounts: [...operation.accounts],
        regions: [...operation.regions],
        otherKeys: [...operation.preservedKeys],
        startedAt: this.now(),
      };
      for (const id of operation.accounts) {
        const account = this.memory.accounts[id];
        for (const region of operation.regions) {
          const instance = account?.instances[region];
          if (account && instance)
            account.instances[region] = { ...instance, detailed: 'PENDING', lastOp: operationId };
        }
      }
      this.outcomes.push({ operation, operationId, status: 'RUNNING', failures: [] });
      for (const d of plan.decisions)
        if (operation.accounts.includes(d.account)) this.started.set(d.account, d);
      this.commit();
      // The operation id is in the state before anything else can happen.
      await this.run.save();
    }
  }

  /** Priority accounts still waiting for auto-deployment to create their instances. */
  waitingPriority(): string[] {
    return [...this.priority].filter((id) => {
      const account = this.memory.accounts[id];
      if (!account || id === this.managementAccountId) return false;
      // Only an account to enable is waited for: an opted-out one is disabled from the start.
      if (desiredOf(account, this.run.config.optOut.value) !== 'enabled') return false;
      const instances = Object.values(account.instances);
      return (
        instances.length < this.run.config.regions.length ||
        instances.some((i) => IN_FLIGHT.has(i.detailed ?? ''))
      );
    });
  }

  forgetListed(ids: readonly string[]): void {
    for (const id of ids) this.listedThisRun.delete(id);
  }

  stuck(): { account: string; region: string; attempts: number }[] {
    const out: { account: string; region: string; attempts: number }[] = [];
    for (const [id, a] of Object.entries(this.memory.accounts)) {
      for (const [region, i] of Object.entries(a.instances)) {
        if ((i.attempts ?? 0) >= STUCK_AFTER_ATTEMPTS)
          out.push({ account: id, region, attempts: i.attempts ?? 0 });
      }
    }
    return out.sort((x, y) => byString(x.account, y.account) || byString(x.region, y.region));
  }

  outcome(): StackSetOutcome {
    const started = this.outcomes.filter((o) => o.operationId !== undefined).length;
    const status: StackSetRunStatus = !this.run.apply
      ? 'planned'
      : this.plan.operations.length === 0 && this.outcomes.length === 0
        ? 'in-sync'
        : this.deferred.length === 0
          ? 'applied'
          : started === 0
            ? 'busy'
            : 'partial';
    return {
      kind: this.target.kind,
      stackSetName: this.target.stackSetName,
      plan: {
        decisions: this.plan.decisions.map((d) => this.started.get(d.account) ?? d),
        operations: this.plan.operations,
      },
      status,
      operations: this.outcomes,
      deferred: this.deferred,
      unread: this.unread(),
      stuck: this.stuck(),
      counters: this.counters,
    };
  }
}

async function acquire(
  store: StateStore,
  deps: Deps,
  options: ReconcileOptions,
  clock: Clock,
): Promise<{ state: ReconcilerState; etag: string | undefined }> {
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  for (;;) {
    const loaded = await store.load();
    if (!options.apply) return loaded;
    const now = deps.now();
    if (!leaseFree(loaded.state, deps.runId, now)) {
      const lease = loaded.state.lease as { owner: string; expiresAt: number };
      if (clock.expired(pollIntervalMs + ROUND_RESERVE_MS))
        throw new LeaseHeldError(lease.owner, lease.expiresAt);
      deps.log.info('another reconcile run holds the lease; waiting', {
        owner: lease.owner,
        expiresAt: lease.expiresAt,
      });
      await deps.sleep(pollIntervalMs);
      continue;
    }
    const expiresAt = (clock.limit ?? now + 60 * 60_000) + LEASE_SLACK_MS;
    const state: ReconcilerState = {
      ...loaded.state,
      generation: loaded.state.generation + 1,
      updatedAt: now,
      lease: { owner: deps.runId, expiresAt },
    };
    try {
      const etag = await store.save(state, loaded.etag);
      return { state, etag };
    } catch (err) {
      if (err instanceof StateConflictError) continue; // another run got there first: look again
      throw err;
    }
  }
}

/**
 * Reconciles the members StackSet (and the management StackSet when configured). Throws
 * ConfigError/AuthError for a missing StackSet or refused call, LeaseHeldError when another
 * run held the lease until this one's deadline; a busy StackSet is an outcome, not an error.
 */
export async function reconcile(
  config: EnrollmentConfig,
  deps: ReconcileDeps,
  options: ReconcileOptions,
): Promise<ReconcileResult> {
  const full: Deps = {
    organizations: deps.organizations,
    stackSets: deps.stackSets,
    stateStore: deps.stateStore ?? memoryStateStore(),
    publisher: deps.publisher,
    now: deps.now ?? Date.now,
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    log: deps.log ?? silentLog,
    runId: deps.runId ?? `run-${Math.random().toString(36).slice(2, 10)}`,
  };
  const clock = new Clock(full.now, options.deadline);
  const loaded = await acquire(full.stateStore, full, options, clock);
  const run = new Run(config, full, options, loaded);
  const wait = options.waitForOperations ?? options.deadline === undefined;

  const targets: TargetRun[] = [
    new TargetRun(
      {
        kind: 'members',
        stackSetName: config.stackSetName,
        callAs: config.callAs,
        permissionModel: 'SERVICE_MANAGED',
      },
      run,
      config.managementAccountId,
    ),
  ];
  if (config.managementStackSetName !== undefined) {
    // Self-managed, in the management account itself: always CallAs SELF.
    targets.push(
      new TargetRun(
        {
          kind: 'management',
          stackSetName: config.managementStackSetName,
          callAs: 'SELF',
          permissionModel: 'SELF_MANAGED',
        },
        run,
        undefined,
      ),
    );
  }

  try {
    // Departures first: off the enrolled list before anything slow happens.
    if (targets.map((t) => t.forgetDeparted()).some(Boolean)) await run.publish();

    for (const t of targets) {
      await t.describe();
      await t.refreshOperations();
      await t.settleOperations(false);
      await t.walk();
      await t.readFailed();
    }
    await run.save();

    // Rounds: read a slice, plan, publish, write, save. The first round always writes.
    for (;;) {
      let read = 0;
      for (const t of targets) {
        t.counters.rounds += 1;
        const before = t.counters.tagReads + t.counters.instanceListings + t.counters.overrideReads;
        await t.settleOperations(false);
        // Tags keep being read while the (slower) instance listing runs: the two control
        // planes are throttled separately.
        let listing = true;
        const instances = t.readInstances(TAGS_PER_ROUND).finally(() => {
          listing = false;
        });
        const tags = (async () => {
          for (let first = true; first || listing; first = false) {
            const batch = t.tagsDue(TAGS_PER_ROUND);
            if (batch.length === 0 || t.readsOver()) break;
            await t.readTags(batch);
          }
        })();
        await Promise.all([instances, tags]);
        await t.readOverrides();
        read += t.counters.tagReads + t.counters.instanceListings + t.counters.overrideReads - before;
      }
      await run.publish();
      for (const t of targets) await t.write();
      await run.save();
      if (read === 0 || clock.expired(ROUND_RESERVE_MS)) break;
    }

    // An event-named account that just joined: wait for auto-deployment, then enable it.
    const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    for (const t of targets) {
      for (
        let polls = 0;
        options.apply &&
        polls < MAX_PRIORITY_POLLS &&
        t.waitingPriority().length > 0 &&
        !clock.expired(pollIntervalMs + 2 * ROUND_RESERVE_MS);
        polls++
      ) {
        await full.sleep(pollIntervalMs);
        const waiting = t.waitingPriority();
        t.forgetListed(waiting);
        await t.refreshOperations(); // learns the auto-deployment's CREATE operation
        await t.readInstances(waiting.length);
        await t.readOverrides();
        await t.settleOperations(false);
        await run.publish();
        await t.write();
        await run.save();
      }
    }

    for (const t of targets) if (options.apply) await t.settleOperations(wait);
  } finally {
    if (options.apply) {
      // Release the lease (conditional: if another run took over, it is theirs now).
      run.state = { ...run.state, lease: undefined };
      try {
        await run.save();
      } catch (err) {
        // The lease expires by itself (LEASE_SLACK_MS after the deadline); a conflict means
        // another run already took it over.
        full.log.warn('could not release the reconcile lease', { error: (err as Error).message });
      }
    }
  }

  return {
    outcomes: targets.map((t) => t.outcome()),
    published: run.published,
    publishProblem: run.publishProblem,
  };
}

/** Counts for logs, metrics and the CLI summary line. */
export function summarize(result: ReconcileResult): Record<string, number> {
  const counts: Record<string, number> = {
    AccountsInScope: 0,
    AccountsOptedOut: 0,
    AccountsToDisable: 0,
    AccountsToEnable: 0,
    AccountsWaiting: 0,
    AccountsSkipped: 0,
    AccountsEnrolled: result.published?.accounts.length ?? 0,
    OperationsStarted: 0,
    OperationsDeferred: 0,
    InstanceFailures: 0,
    InstancesStuck: 0,
    StateUnread: 0,
    StackSetBusy: 0,
    PublishFailures: result.publishProblem ? 1 : 0,
    TagReads: 0,
    InstanceListings: 0,
    OverrideReads: 0,
  };
  const add = (key: string, n = 1) => {
    counts[key] = (counts[key] ?? 0) + n;
  };
  for (const outcome of result.outcomes) {
    for (const d of outcome.plan.decisions) {
      if (d.desired !== undefined || d.action !== 'skip') add('AccountsInScope');
      if (d.desired === ('disabled' satisfies Enrollment)) add('AccountsOptedOut');
      if (d.action === 'disable') add('AccountsToDisable');
      if (d.action === 'enable') add('AccountsToEnable');
      if (d.action === 'wait') add('AccountsWaiting');
      if (d.action === 'skip') add('AccountsSkipped');
    }
    add('OperationsStarted', outcome.operations.filter((o) => o.operationId !== undefined).length);
    add('OperationsDeferred', outcome.deferred.length);
    add(
      'InstanceFailures',
      outcome.operations.reduce((n, o) => n + o.failures.length, 0),
    );
    add('InstancesStuck', outcome.stuck.length);
    add('StateUnread', outcome.unread);
    add('TagReads', outcome.counters.tagReads);
    add('InstanceListings', outcome.counters.instanceListings);
    add('OverrideReads', outcome.counters.overrideReads);
    if (outcome.status === 'busy') add('StackSetBusy');
  }
  return counts;
}
