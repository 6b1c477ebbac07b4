/**
 * One reconcile run: read Organizations and the StackSet(s), plan with the pure planner
 * (`shared/enrollment.ts`), and, when applying, start the planned UpdateStackInstances
 * operations one at a time per StackSet. The Lambda handler and `log-reflector enrollment
 * apply` both call `reconcile`; only the deadline and the logger differ.
 *
 * Patience rules (nothing is lost, everything is retried by the next run, which re-plans from
 * what AWS then reports):
 * - a StackSet with an operation RUNNING, QUEUED or STOPPING is left alone this run, and
 *   `OperationInProgressException` ends the run for that StackSet;
 * - an operation still running at the deadline is left running; the rest wait for the next run;
 * - state not read before the deadline (tags, overrides) turns into "wait" for those accounts.
 */

import {
  ENROLLMENT_PARAMETER_KEY,
  type EnrollmentPlan,
  type InstanceState,
  instancesToRead,
  type OrgAccount,
  planEnrollment,
  type UpdateOperation,
} from '../../shared/enrollment';
import { AuthError, ConfigError, LogReflectorError } from '../../shared/errors';
import type { Enrollment } from '../../shared/naming';
import type {
  InstanceSummary,
  OperationFailure,
  OrgAccountSummary,
  OrganizationsPort,
  PermissionModel,
  StackSetInfo,
  StackSetPort,
} from './aws';
import type { CallAs, EnrollmentConfig } from './env';

/** Operation statuses after which the StackSet takes a new operation. */
const TERMINAL_OPERATION_STATUSES: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'STOPPED']);
/** Operation statuses that mean the StackSet is busy (ListStackSetOperations). */
const BUSY_OPERATION_STATUSES: ReadonlySet<string> = new Set(['RUNNING', 'QUEUED', 'STOPPING']);

/** Parallel reads: Organizations is the tighter of the two control planes. */
export const DEFAULT_TAG_READ_CONCURRENCY = 4;
export const DEFAULT_OVERRIDE_READ_CONCURRENCY = 8;
/** Between DescribeStackSetOperation polls while an operation we started runs. */
export const DEFAULT_POLL_INTERVAL_MS = 10_000;

export interface ReconcileLog {
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
}

const silentLog: ReconcileLog = { info: () => undefined, warn: () => undefined };

export interface ReconcileDeps {
  readonly organizations: OrganizationsPort;
  readonly stackSets: StackSetPort;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: ReconcileLog;
}

export interface ReconcileOptions {
  /** false: read and plan only (`enrollment plan`). */
  readonly apply: boolean;
  /** Epoch ms after which no new call or operation starts. @default no deadline */
  readonly deadline?: number;
  /** Accounts named by the triggering event: their state is read first. */
  readonly priorityAccounts?: readonly string[];
  /** @default DEFAULT_POLL_INTERVAL_MS */
  readonly pollIntervalMs?: number;
  /** @default DEFAULT_TAG_READ_CONCURRENCY */
  readonly tagReadConcurrency?: number;
  /** @default DEFAULT_OVERRIDE_READ_CONCURRENCY */
  readonly overrideReadConcurrency?: number;
}

export type StackSetRunStatus =
  /** Plan only (apply: false). */
  | 'planned'
  /** Nothing to write. */
  | 'in-sync'
  /** Every planned operation ran to an end. */
  | 'applied'
  /** Another operation was running: nothing started, the next run retries. */
  | 'busy'
  /** Some operations started, the rest wait for the next run (deadline or busy midway). */
  | 'partial';

export interface OperationOutcome {
  readonly operation: UpdateOperation;
  readonly operationId?: string | undefined;
  /** SUCCEEDED, FAILED, STOPPED; RUNNING when left running at the deadline; NOT_FOUND when an instance vanished. */
  readonly status: string;
  readonly failures: readonly OperationFailure[];
}

export interface StackSetOutcome {
  readonly kind: 'members' | 'management';
  readonly stackSetName: string;
  readonly plan: EnrollmentPlan;
  readonly status: StackSetRunStatus;
  readonly operations: readonly OperationOutcome[];
  /** Planned operations not started this run. */
  readonly deferred: readonly UpdateOperation[];
  /** Accounts or instances whose state was not read before the deadline. */
  readonly unread: number;
}

export interface ReconcileResult {
  readonly outcomes: readonly StackSetOutcome[];
}

interface Target {
  readonly kind: 'members' | 'management';
  readonly stackSetName: string;
  readonly callAs: CallAs;
  readonly permissionModel: PermissionModel;
}

class Clock {
  constructor(
    private readonly now: () => number,
    private readonly deadline: number | undefined,
  ) {}
  /** True when there is no time left to start `ms` more of work. */
  expired(ms = 0): boolean {
    return this.deadline !== undefined && this.now() + ms >= this.deadline;
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

/** Puts priority accounts first, then rotates the rest so a deadline never starves the same tail. */
function readOrder<T>(
  items: readonly T[],
  accountOf: (t: T) => string,
  priority: ReadonlySet<string>,
  seed: number,
): T[] {
  const first = items.filter((i) => priority.has(accountOf(i)));
  const rest = items.filter((i) => !priority.has(accountOf(i)));
  if (rest.length === 0) return first;
  const offset = Math.abs(Math.floor(seed)) % rest.length;
  return [...first, ...rest.slice(offset), ...rest.slice(0, offset)];
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : '';
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
      `StackSet ${JSON.stringify(target.stackSetName)} has no ${ENROLLMENT_PARAMETER_KEY} parameter ` +
        `(parameters: ${JSON.stringify(Object.keys(info.parameters))}); deploy the current member template first`,
    );
  }
  return value;
}

async function readTags(
  accounts: readonly OrgAccountSummary[],
  deps: Required<ReconcileDeps>,
  clock: Clock,
  options: ReconcileOptions,
  priority: ReadonlySet<string>,
): Promise<OrgAccount[]> {
  const order = readOrder(accounts, (a) => a.id, priority, deps.now() / 60_000);
  const tags = await mapLimit(
    order,
    options.tagReadConcurrency ?? DEFAULT_TAG_READ_CONCURRENCY,
    (a) => deps.organizations.listTags(a.id),
    () => clock.expired(),
  );
  return accounts.map((a) => ({ id: a.id, name: a.name, state: a.state, tags: tags.get(a) }));
}

async function readInstances(
  target: Target,
  accounts: readonly OrgAccount[],
  summaries: readonly InstanceSummary[],
  managementAccountId: string | undefined,
  deps: Required<ReconcileDeps>,
  clock: Clock,
  options: ReconcileOptions,
  priority: ReadonlySet<string>,
): Promise<{ instances: InstanceState[]; unread: number }> {
  const bare: InstanceState[] = summaries.map((s) => ({ ...s, overrides: undefined }));
  const wanted = readOrder(
    instancesToRead(accounts, bare, managementAccountId),
    (i) => i.account,
    priority,
    deps.now() / 60_000,
  );
  const read = await mapLimit(
    wanted,
    options.overrideReadConcurrency ?? DEFAULT_OVERRIDE_READ_CONCURRENCY,
    (i) => deps.stackSets.readOverrides(target.stackSetName, target.callAs, i.account, i.region),
    () => clock.expired(),
  );
  const byKey = new Map<string, Record<string, string>>();
  for (const [instance, overrides] of read) byKey.set(`${instance.account}/${instance.region}`, overrides);
  const instances = bare.map((i) => {
    const overrides = byKey.get(`${i.account}/${i.region}`);
    return overrides ? { ...i, overrides } : i;
  });
  return { instances, unread: wanted.length - read.size };
}

async function waitForOperation(
  target: Target,
  operationId: string,
  deps: Required<ReconcileDeps>,
  clock: Clock,
  pollIntervalMs: number,
): Promise<string> {
  for (;;) {
    const status = await deps.stackSets.operationStatus(target.stackSetName, target.callAs, operationId);
    if (TERMINAL_OPERATION_STATUSES.has(status)) return status;
    if (clock.expired(pollIntervalMs)) return status;
    await deps.sleep(pollIntervalMs);
  }
}

async function applyPlan(
  target: Target,
  plan: EnrollmentPlan,
  regionOrder: readonly string[],
  deps: Required<ReconcileDeps>,
  clock: Clock,
  options: ReconcileOptions,
): Promise<{ status: StackSetRunStatus; operations: OperationOutcome[]; deferred: UpdateOperation[] }> {
  const log = deps.log;
  const operations: OperationOutcome[] = [];
  const all = [...plan.operations];
  if (all.length === 0) return { status: 'in-sync', operations, deferred: [] };

  const active = (await deps.stackSets.listOperations(target.stackSetName, target.callAs)).filter((o) =>
    BUSY_OPERATION_STATUSES.has(o.status),
  );
  if (active.length > 0) {
    log.info('StackSet busy: enrollment changes wait for the next run', {
      stackSet: target.stackSetName,
      activeOperations: active,
      deferredOperations: all.length,
    });
    return { status: 'busy', operations, deferred: all };
  }

  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  for (let index = 0; index < all.length; index++) {
    const operation = all[index] as UpdateOperation;
    const rest = all.slice(index);
    if (clock.expired()) {
      log.info('deadline: remaining enrollment operations wait for the next run', { deferred: rest.length });
      return { status: 'partial', operations, deferred: rest };
    }
    let operationId: string;
    try {
      operationId = await deps.stackSets.updateInstances({
        stackSetName: target.stackSetName,
        callAs: target.callAs,
        permissionModel: target.permissionModel,
        operation,
        regionOrder,
      });
    } catch (err) {
      const name = errorName(err);
      if (name === 'OperationInProgressException') {
        log.info('StackSet became busy: remaining enrollment operations wait for the next run', {
          stackSet: target.stackSetName,
          deferred: rest.length,
        });
        return { status: operations.length > 0 ? 'partial' : 'busy', operations, deferred: rest };
      }
      if (name === 'StackInstanceNotFoundException') {
        // An instance went away between the read and the write (account moved or removed);
        // the next run plans from the new state.
        log.warn('stack instance vanished before the update; the next run re-plans', {
          accounts: operation.accounts,
          regions: operation.regions,
          error: (err as Error).message,
        });
        operations.push({ operation, status: 'NOT_FOUND', failures: [] });
        continue;
      }
      throw translate(err, target, 'UpdateStackInstances');
    }
    log.info('enrollment operation started', {
      stackSet: target.stackSetName,
      operationId,
      enrollment: operation.enrollment,
      accounts: operation.accounts,
      regions: operation.regions,
    });
    const status = await waitForOperation(target, operationId, deps, clock, pollIntervalMs);
    if (!TERMINAL_OPERATION_STATUSES.has(status)) {
      operations.push({ operation, operationId, status, failures: [] });
      const deferred = all.slice(index + 1);
      log.info('deadline: enrollment operation left running, the rest wait for the next run', {
        operationId,
        deferred: deferred.length,
      });
      return { status: deferred.length > 0 ? 'partial' : 'applied', operations, deferred };
    }
    let failures: OperationFailure[] = [];
    if (!clock.expired()) {
      try {
        failures = await deps.stackSets.failedResults(target.stackSetName, target.callAs, operationId);
      } catch (err) {
        // Reporting only: the operation itself has ended; the next run re-plans from the instances.
        log.warn('could not list the operation results', { operationId, error: (err as Error).message });
      }
    }
    if (failures.length > 0 || status !== 'SUCCEEDED') {
      log.warn('enrollment operation ended with failures', { operationId, status, failures });
    }
    operations.push({ operation, operationId, status, failures });
  }
  return { status: 'applied', operations, deferred: [] };
}

async function reconcileTarget(
  target: Target,
  accounts: readonly OrgAccount[],
  managementAccountId: string | undefined,
  config: EnrollmentConfig,
  deps: Required<ReconcileDeps>,
  clock: Clock,
  options: ReconcileOptions,
  priority: ReadonlySet<string>,
  unreadTags: number,
): Promise<StackSetOutcome> {
  let info: StackSetInfo;
  let summaries: InstanceSummary[];
  try {
    info = await deps.stackSets.describeStackSet(target.stackSetName, target.callAs);
    summaries = await deps.stackSets.listInstances(target.stackSetName, target.callAs);
  } catch (err) {
    throw translate(err, target, 'DescribeStackSet/ListStackInstances');
  }
  const stackSetEnrollment = checkStackSet(info, target);
  const { instances, unread } = await readInstances(
    target,
    accounts,
    summaries,
    managementAccountId,
    deps,
    clock,
    options,
    priority,
  );
  const plan = planEnrollment({
    accounts,
    instances,
    stackSetEnrollment,
    optOut: config.optOut,
    managementAccountId,
    regionOrder: config.regions,
  });
  const base = { kind: target.kind, stackSetName: target.stackSetName, plan, unread: unread + unreadTags };
  if (!options.apply) return { ...base, status: 'planned', operations: [], deferred: [...plan.operations] };
  const applied = await applyPlan(target, plan, config.regions, deps, clock, options);
  return { ...base, ...applied };
}

/**
 * Reconciles the members StackSet (and the management StackSet when configured). Throws
 * ConfigError/AuthError for a missing StackSet or refused call; a busy StackSet is an outcome,
 * not an error.
 */
export async function reconcile(
  config: EnrollmentConfig,
  deps: ReconcileDeps,
  options: ReconcileOptions,
): Promise<ReconcileResult> {
  const full: Required<ReconcileDeps> = {
    organizations: deps.organizations,
    stackSets: deps.stackSets,
    now: deps.now ?? Date.now,
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    log: deps.log ?? silentLog,
  };
  const clock = new Clock(full.now, options.deadline);
  const priority = new Set(options.priorityAccounts ?? []);
  const outcomes: StackSetOutcome[] = [];

  const members: Target = {
    kind: 'members',
    stackSetName: config.stackSetName,
    callAs: config.callAs,
    permissionModel: 'SERVICE_MANAGED',
  };
  let summaries: OrgAccountSummary[];
  try {
    summaries = await full.organizations.listAccounts(config.targetOuIds);
  } catch (err) {
    throw translate(err, members, 'Organizations ListAccountsForParent');
  }
  const accounts = await readTags(summaries, full, clock, options, priority);
  const unreadTags = accounts.filter((a) => a.tags === undefined).length;
  outcomes.push(
    await reconcileTarget(
      members,
      accounts,
      config.managementAccountId,
      config,
      full,
      clock,
      options,
      priority,
      unreadTags,
    ),
  );

  if (config.managementStackSetName !== undefined) {
    // Self-managed, in the management account itself: always CallAs SELF.
    const management: Target = {
      kind: 'management',
      stackSetName: config.managementStackSetName,
      callAs: 'SELF',
      permissionModel: 'SELF_MANAGED',
    };
    const summary = await full.organizations.describeAccount(config.managementAccountId);
    const tags = clock.expired() ? undefined : await full.organizations.listTags(config.managementAccountId);
    const account: OrgAccount = { ...summary, tags };
    outcomes.push(
      await reconcileTarget(
        management,
        [account],
        undefined,
        config,
        full,
        clock,
        options,
        priority,
        tags ? 0 : 1,
      ),
    );
  }
  return { outcomes };
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
    OperationsStarted: 0,
    OperationsDeferred: 0,
    InstanceFailures: 0,
    StateUnread: 0,
    StackSetBusy: 0,
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
    add('StateUnread', outcome.unread);
    if (outcome.status === 'busy') add('StackSetBusy');
  }
  return counts;
}
