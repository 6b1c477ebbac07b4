/**
 * The enrollment planner (docs/architecture.md, decision 4), pure: accounts + their tags + the members
 * StackSet's instances and their parameter overrides → what each account should be, and the
 * `UpdateStackInstances` operations that get it there.
 *
 * An account opts out by carrying the opt-out tag (default `log-reflector:opt-out` = `true`);
 * the reconciler then sets the `Enrollment` parameter of that account's stack instances to
 * `disabled` with a per-account parameter override, and back to `enabled` when the tag goes.
 * Nothing here calls AWS: `central/enrollment/reconcile.ts` reads the state, calls `planEnrollment`
 * and applies its operations; the CLI prints the same plan.
 *
 * Rules, in order, for each account under the target OUs:
 * 1. the management account is never written through the members StackSet (service-managed
 *    StackSets never deploy to it; it has its own self-managed StackSet when covered);
 * 2. an account that is not ACTIVE (suspended, pending closure, closed) is left as it is:
 *    StackSets cannot update its instances (their DetailedStatus becomes
 *    SKIPPED_SUSPENDED_ACCOUNT) and a write would only fail the operation;
 * 3. desired = `disabled` when the tag is present with exactly the configured value, else `enabled`;
 * 4. no stack instances yet, one still PENDING/RUNNING, or its overrides not read this run →
 *    wait (auto-deployment still running; a later run picks it up);
 * 5. otherwise write `Enrollment=desired` to exactly the instances whose effective value
 *    (override, else the StackSet's own value) differs, and re-send it to instances whose last
 *    operation FAILED or that are OUTDATED (a failed update rolls the stack back to its previous
 *    parameters while the override already says the new value, so "already right" would be a
 *    lie; issue 15.6), each no earlier than its `retryAt` backoff. Nothing to send → no write.
 * Accounts that have instances but are no longer under the target OUs (moved out) are reported
 * and never written: auto-deployment removes their instances.
 */
import type { Enrollment } from './naming';
import * as z from './zod';

/** The member stack parameter the reconciler overrides per account. */
export const ENROLLMENT_PARAMETER_KEY = 'Enrollment';

/**
 * Accounts per `UpdateStackInstances` call. The API takes any number of accounts (even an S3
 * list of ~800,000), but every account × region in an operation counts against the
 * "StackSets instance operations" quota: stack instances, across all StackSets, in operations
 * at the same time per Region and administrator account (10,000 today, 3,500 in older
 * accounts' docs; https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
 * An operation of ours puts at most this many instances per Region in flight: 2,000 leaves
 * four fifths of today's quota (and more than two fifths of the older one) to auto-deployment
 * and the deployment's other StackSets, and lets 5,000 accounts go in three operations
 * (operations on one StackSet run one after another).
 */
export const MAX_ACCOUNTS_PER_OPERATION = 2_000;

/**
 * Backoff between re-sends of the override to an instance that keeps failing: 15 minutes
 * doubling per attempt, at most 24 hours. A re-send is a whole StackSet operation for that
 * account, so a broken account (an SCP, a full concurrency quota) must not be hammered.
 */
export const RETRY_BASE_MS = 15 * 60_000;
export const RETRY_CAP_MS = 24 * 60 * 60_000;
/** Re-sends after which an instance counts as stuck (metric `InstancesStuck`, alarmed). */
export const STUCK_AFTER_ATTEMPTS = 3;

/** When the next re-send to an instance that failed `attempts` times in a row may go out. */
export function nextRetryAt(now: number, attempts: number): number {
  return now + Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1));
}

/** Organizations account states that the reconciler writes to (everything else is left alone). */
const WRITABLE_ACCOUNT_STATE = 'ACTIVE';

/** Instance detailed statuses that mean an operation on it is still under way. */
const IN_FLIGHT_DETAILED_STATUSES: ReadonlySet<string> = new Set(['PENDING', 'RUNNING']);

/** Instances StackSets will not update: INOPERABLE (a failed delete) and suspended accounts. */
const NOT_UPDATABLE_STATUSES: ReadonlySet<string> = new Set(['INOPERABLE', 'SKIPPED_SUSPENDED_ACCOUNT']);

/** An account under the target OUs, as Organizations reports it. */
export interface OrgAccount {
  readonly id: string;
  readonly name?: string | undefined;
  /** Organizations `State` (or the older `Status`): ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED… */
  readonly state: string;
  /** The account's tags (Organizations ListTagsForResource); undefined when not read this run. */
  readonly tags: Readonly<Record<string, string>> | undefined;
}

/** One stack instance of the StackSet (ListStackInstances + DescribeStackInstance). */
export interface InstanceState {
  readonly account: string;
  readonly region: string;
  /** CURRENT, OUTDATED or INOPERABLE. */
  readonly status: string;
  /** StackInstanceStatus.DetailedStatus: PENDING, RUNNING, SUCCEEDED, FAILED, … */
  readonly detailedStatus?: string | undefined;
  /** The instance's parameter overrides (key → value); undefined when not known. */
  readonly overrides: Readonly<Record<string, string>> | undefined;
  /** Epoch ms before which a failed instance is not re-sent (backoff); undefined = now. */
  readonly retryAt?: number | undefined;
}

export interface OptOutTag {
  readonly key: string;
  readonly value: string;
}

export interface PlanInput {
  /** Accounts under the target OUs (recursively), with their tags. */
  readonly accounts: readonly OrgAccount[];
  /** Every stack instance of the StackSet. */
  readonly instances: readonly InstanceState[];
  /** The StackSet's own `Enrollment` value: what an instance without an override runs with. */
  readonly stackSetEnrollment: string;
  readonly optOut: OptOutTag;
  /** When set, this account is never written (the members StackSet cannot deploy to it). */
  readonly managementAccountId?: string | undefined;
  /** Regions in the order operations should list them (others follow, sorted). */
  readonly regionOrder?: readonly string[] | undefined;
  /** @default MAX_ACCOUNTS_PER_OPERATION */
  readonly maxAccountsPerOperation?: number | undefined;
  /** Epoch ms, for the re-send backoff. @default 0 (every failed instance is due) */
  readonly now?: number | undefined;
}

export type EnrollmentAction = 'none' | 'enable' | 'disable' | 'wait' | 'skip';

/** What the planner decided for one account: one row of `log-reflector enrollment plan`. */
export interface AccountDecision {
  readonly account: string;
  readonly name?: string | undefined;
  /** The opt-out tag's value on the account; undefined when absent or not read. */
  readonly tag: string | undefined;
  /** undefined when the account is not the reconciler's to decide (out of scope). */
  readonly desired: Enrollment | undefined;
  /** The effective value its instances run with, `mixed`, or `none` (no instances yet). */
  readonly current: string;
  readonly action: EnrollmentAction;
  /** Regions written this run (empty unless the action is enable or disable). */
  readonly regions: readonly string[];
  readonly reason: string;
}

/** One `UpdateStackInstances` call: set `Enrollment` for these accounts in these regions. */
export interface UpdateOperation {
  readonly enrollment: Enrollment;
  readonly accounts: readonly string[];
  readonly regions: readonly string[];
  /**
   * Other parameters these accounts already override. `UpdateStackInstances` resets every
   * override left out of `ParameterOverrides` back to the StackSet's value, so these are sent
   * with `UsePreviousValue: true` (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackInstances.html).
   */
  readonly preservedKeys: readonly string[];
}

export interface EnrollmentPlan {
  /** One per account under the target OUs, then one per out-of-scope account with instances. */
  readonly decisions: readonly AccountDecision[];
  /** Opt-outs first (the privacy-relevant direction), then opt-ins; deterministic order. */
  readonly operations: readonly UpdateOperation[];
}

/** The enrollment an account's tags ask for. Exact, case-sensitive match on key and value. */
export function desiredEnrollment(tags: Readonly<Record<string, string>>, optOut: OptOutTag): Enrollment {
  return Object.hasOwn(tags, optOut.key) && tags[optOut.key] === optOut.value ? 'disabled' : 'enabled';
}

/** The value an instance runs with: its override, else the StackSet's own. */
export function effectiveEnrollment(instance: InstanceState, stackSetEnrollment: string): string | undefined {
  if (instance.overrides === undefined) return undefined;
  return Object.hasOwn(instance.overrides, ENROLLMENT_PARAMETER_KEY)
    ? instance.overrides[ENROLLMENT_PARAMETER_KEY]
    : stackSetEnrollment;
}

/**
 * An instance whose stack does not run its override: its last operation FAILED or was
 * CANCELLED, or it is OUTDATED (CloudFormation could not bring it to the StackSet's current
 * template and parameters). Re-sending the override is what heals it
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceSummary.html).
 */
export function needsResend(instance: InstanceState): boolean {
  return (
    instance.status === 'OUTDATED' ||
    instance.detailedStatus === 'FAILED' ||
    instance.detailedStatus === 'CANCELLED'
  );
}

function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortRegions(regions: Iterable<string>, order: readonly string[] | undefined): string[] {
  const rank = new Map((order ?? []).map((r, i) => [r, i] as const));
  return [...new Set(regions)].sort((a, b) => {
    const ra = rank.get(a) ?? Number.MAX_SAFE_INTEGER;
    const rb = rank.get(b) ?? Number.MAX_SAFE_INTEGER;
    return ra !== rb ? ra - rb : byString(a, b);
  });
}

function describeCurrent(values: readonly (string | undefined)[]): string {
  if (values.length === 0) return 'none';
  const distinct = new Set(values.map((v) => v ?? 'unknown'));
  return distinct.size === 1 ? ([...distinct][0] ?? 'unknown') : 'mixed';
}

interface Pending {
  readonly account: string;
  readonly enrollment: Enrollment;
  readonly regions: readonly string[];
  readonly preservedKeys: readonly string[];
}

/** Decides every account and groups the writes into operations. Pure and deterministic. */
export function planEnrollment(input: PlanInput): EnrollmentPlan {
  const maxAccounts = input.maxAccountsPerOperation ?? MAX_ACCOUNTS_PER_OPERATION;
  if (!Number.isInteger(maxAccounts) || maxAccounts < 1) {
    throw new RangeError(`maxAccountsPerOperation must be a positive integer (received ${maxAccounts})`);
  }
  const instancesByAccount = new Map<string, InstanceState[]>();
  for (const instance of input.instances) {
    const list = instancesByAccount.get(instance.account) ?? [];
    list.push(instance);
    instancesByAccount.set(instance.account, list);
  }

  const decisions: AccountDecision[] = [];
  const pending: Pending[] = [];
  const inScope = new Set<string>();
  const accounts = [...input.accounts].sort((a, b) => byString(a.id, b.id));

  for (const account of accounts) {
    if (inScope.has(account.id)) continue; // listed twice (overlapping target OUs)
    inScope.add(account.id);
    const instances = instancesByAccount.get(account.id) ?? [];
    const tags = account.tags ?? {};
    const tag = Object.hasOwn(tags, input.optOut.key) ? tags[input.optOut.key] : undefined;
    const desired = desiredEnrollment(tags, input.optOut);
    const current = describeCurrent(instances.map((i) => effectiveEnrollment(i, input.stackSetEnrollment)));
    const base = { account: account.id, name: account.name, tag, desired, current, regions: [] as string[] };

    if (account.id === input.managementAccountId) {
      decisions.push({
        ...base,
        action: 'skip',
        reason: 'management account: service-managed StackSets never deploy to it',
      });
      continue;
    }
    if (account.state !== WRITABLE_ACCOUNT_STATE) {
      decisions.push({
        ...base,
        action: 'skip',
        reason: `account is ${account.state}: StackSets cannot update it, left as it is`,
      });
      continue;
    }
    if (account.tags === undefined) {
      decisions.push({ ...base, desired: undefined, action: 'wait', reason: 'tags not read this run' });
      continue;
    }
    if (instances.length === 0) {
      decisions.push({ ...base, action: 'wait', reason: 'no stack instances yet (auto-deployment pending)' });
      continue;
    }
    const inFlight = instances.filter((i) => IN_FLIGHT_DETAILED_STATUSES.has(i.detailedStatus ?? ''));
    if (inFlight.length > 0) {
      decisions.push({
        ...base,
        action: 'wait',
        reason: `${inFlight.length} stack instance(s) ${[...new Set(inFlight.map((i) => i.detailedStatus))].sort().join('/')}: an operation is under way`,
      });
      continue;
    }
    const updatable = instances.filter(
      (i) => !NOT_UPDATABLE_STATUSES.has(i.status) && !NOT_UPDATABLE_STATUSES.has(i.detailedStatus ?? ''),
    );
    if (updatable.some((i) => i.overrides === undefined)) {
      decisions.push({ ...base, action: 'wait', reason: 'parameter overrides not read this run' });
      continue;
    }
    if (updatable.length === 0) {
      decisions.push({
        ...base,
        action: 'skip',
        reason: 'no stack instance StackSets can update (INOPERABLE or SKIPPED_SUSPENDED_ACCOUNT)',
      });
      continue;
    }
    const now = input.now ?? 0;
    const stale = updatable.filter((i) => effectiveEnrollment(i, input.stackSetEnrollment) !== desired);
    const broken = updatable.filter(
      (i) => effectiveEnrollment(i, input.stackSetEnrollment) === desired && needsResend(i),
    );
    const due = broken.filter((i) => (i.retryAt ?? 0) <= now);
    const differing = [...stale, ...due];
    const failedNote =
      broken.length > 0 ? `; re-send to ${due.length} of ${broken.length} FAILED/OUTDATED instance(s)` : '';
    if (differing.length === 0) {
      if (broken.length > 0) {
        const next = Math.min(...broken.map((i) => i.retryAt ?? 0));
        decisions.push({
          ...base,
          action: 'wait',
          reason: `${broken.length} instance(s) FAILED/OUTDATED with Enrollment=${desired}: re-sent after ${new Date(next).toISOString()} (backoff)`,
        });
        continue;
      }
      decisions.push({ ...base, action: 'none', reason: `already ${desired}` });
      continue;
    }
    const regions = sortRegions(
      differing.map((i) => i.region),
      input.regionOrder,
    );
    const preservedKeys = [...new Set(differing.flatMap((i) => Object.keys(i.overrides ?? {})))]
      .filter((k) => k !== ENROLLMENT_PARAMETER_KEY)
      .sort(byString);
    pending.push({ account: account.id, enrollment: desired, regions, preservedKeys });
    decisions.push({
      ...base,
      action: desired === 'disabled' ? 'disable' : 'enable',
      regions,
      reason:
        tag === undefined
          ? `no opt-out tag: set Enrollment=enabled in ${regions.length} region(s)${failedNote}`
          : desired === 'disabled'
            ? `opt-out tag set: set Enrollment=disabled in ${regions.length} region(s)${failedNote}`
            : `opt-out tag is ${JSON.stringify(tag)}, not ${JSON.stringify(input.optOut.value)}: set Enrollment=enabled in ${regions.length} region(s)${failedNote}`,
    });
  }

  const outOfScope = [...instancesByAccount.keys()].filter((a) => !inScope.has(a)).sort(byString);
  for (const account of outOfScope) {
    const instances = instancesByAccount.get(account) ?? [];
    decisions.push({
      account,
      tag: undefined,
      desired: undefined,
      current: describeCurrent(instances.map((i) => effectiveEnrollment(i, input.stackSetEnrollment))),
      action: 'skip',
      regions: [],
      reason:
        account === input.managementAccountId
          ? 'management account: not written through this StackSet'
          : 'not under the target OUs (moved out): auto-deployment removes its instances',
    });
  }

  return { decisions, operations: groupOperations(pending, maxAccounts) };
}

function groupOperations(pending: readonly Pending[], maxAccounts: number): UpdateOperation[] {
  const groups = new Map<
    string,
    { enrollment: Enrollment; regions: string[]; keys: string[]; accounts: string[] }
  >();
  for (const p of pending) {
    // Every account in one call gets the same regions and the same override list.
    const id = JSON.stringify([p.enrollment, p.regions, p.preservedKeys]);
    const group = groups.get(id) ?? {
      enrollment: p.enrollment,
      regions: [...p.regions],
      keys: [...p.preservedKeys],
      accounts: [],
    };
    group.accounts.push(p.account);
    groups.set(id, group);
  }
  const ordered = [...groups.entries()].sort(([idA, a], [idB, b]) => {
    if (a.enrollment !== b.enrollment) return a.enrollment === 'disabled' ? -1 : 1;
    return byString(idA, idB);
  });
  const operations: UpdateOperation[] = [];
  for (const [, group] of ordered) {
    const accounts = [...group.accounts].sort(byString);
    for (let i = 0; i < accounts.length; i += maxAccounts) {
      operations.push({
        enrollment: group.enrollment,
        accounts: accounts.slice(i, i + maxAccounts),
        regions: group.regions,
        preservedKeys: group.keys,
      });
    }
  }
  return operations;
}

/**
 * What the instances look like once `operations` succeeded: each written instance overrides
 * `Enrollment` with the new value and keeps its other overrides. Used by the property tests and
 * by `enrollment plan` to show the end state.
 */
export function applyOperations(
  instances: readonly InstanceState[],
  operations: readonly UpdateOperation[],
): InstanceState[] {
  const writes = new Map<string, Enrollment>();
  for (const op of operations) {
    for (const account of op.accounts) {
      for (const region of op.regions) writes.set(`${account}\u0000${region}`, op.enrollment);
    }
  }
  return instances.map((instance) => {
    const value = writes.get(`${instance.account}\u0000${instance.region}`);
    if (value === undefined) return instance;
    // A successful operation leaves the instance CURRENT with its new override.
    return {
      ...instance,
      status: 'CURRENT',
      detailedStatus: 'SUCCEEDED',
      retryAt: undefined,
      overrides: { ...(instance.overrides ?? {}), [ENROLLMENT_PARAMETER_KEY]: value },
    };
  });
}

/**
 * The accounts whose events the reflector may forward (docs/enrollment.md, "Defence in depth"):
 * in scope, tags read, not opted out. Accounts still undecided (tags not read), opted out,
 * outside the target OUs or gone are not listed. Published before any `enable` operation of
 * the same run, so an account is listed before its filters can exist; an account that turns
 * `disable` leaves the list in the same publish, before its operation starts.
 */
export function enrolledAccounts(plans: readonly EnrollmentPlan[]): string[] {
  const enrolled = new Set<string>();
  for (const plan of plans) {
    for (const d of plan.decisions) if (d.desired === 'enabled') enrolled.add(d.account);
  }
  return [...enrolled].sort(byString);
}

/**
 * The enrolled-accounts document the reconciler publishes to the central state bucket
 * (`enrollment/accounts.json`) and the reflector reads. `generation` only grows, so a reader
 * can tell an older copy from a newer one.
 *
 * Sample: `{"version":1,"generation":42,"updatedAt":"2026-06-02T09:15:00.000Z","accounts":["111122223333"]}`
 */
export const ENROLLED_LIST_KEY = 'enrollment/accounts.json';

/**
 * The instances whose overrides the planner will look at: those of ACTIVE, in-scope,
 * non-management accounts with no operation under way, and only the ones StackSets can update.
 * The runtime reads just these (one DescribeStackInstance each), so suspended, moving and
 * still-deploying accounts cost no calls.
 */
export function instancesToRead(
  accounts: readonly OrgAccount[],
  instances: readonly InstanceState[],
  managementAccountId?: string,
): InstanceState[] {
  const eligible = new Set(
    accounts
      .filter(
        (a) => a.state === WRITABLE_ACCOUNT_STATE && a.id !== managementAccountId && a.tags !== undefined,
      )
      .map((a) => a.id),
  );
  const busy = new Set(
    instances.filter((i) => IN_FLIGHT_DETAILED_STATUSES.has(i.detailedStatus ?? '')).map((i) => i.account),
  );
  return instances.filter(
    (i) =>
      eligible.has(i.account) &&
      !busy.has(i.account) &&
      !NOT_UPDATABLE_STATUSES.has(i.status) &&
      !NOT_UPDATABLE_STATUSES.has(i.detailedStatus ?? ''),
  );
}

export const EnrolledListSchema = z.object({
  version: z.literal(1),
  generation: z.number().check(z.int(), z.minimum(0)),
  updatedAt: z.string(),
  accounts: z.array(z.string().check(z.regex(/^\d{12}$/, 'must be a 12-digit account id'))),
});
export type EnrolledList = z.infer<typeof EnrolledListSchema>;
