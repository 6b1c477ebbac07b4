/**
 * The planner: given log groups (with the subscription filters they carry) and the member
 * settings, decide per group what to do. Pure and synchronous, so the subscriber, the
 * backfill, the sweep and the operator CLI all share one decision, and property tests can
 * pin its guarantees (deterministic, idempotent, never touches a filter we do not own, never
 * subscribes our own log groups).
 *
 * Ownership rule (docs/architecture.md, decision 5): we own exactly one filter name per log group,
 * `settings.filterName` (`<base>-<region>`). Every other filter is foreign: it is never
 * updated, removed or counted as ours, and a group whose slots are all foreign is a
 * conflict, never a takeover.
 */
import {
  DEFAULT_SUBSCRIPTION_SCOPE,
  POLICY_DISTRIBUTION,
  parsePolicyDocument,
  parseSelectionCriteria,
  type SubscriptionScope,
} from './account-policy';
import { compileGlobs, type GlobSet } from './glob';
import { type Enrollment, isOwnLogGroup } from './naming';

/**
 * Subscription filters per log group. "Each log group can have up to two subscription
 * filters" (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutSubscriptionFilter.html).
 * Some sources mention a higher figure, so it is a setting and the runtime still treats
 * LimitExceededException from AWS as the final word (a conflict).
 */
export const DEFAULT_FILTER_SLOTS = 2;

/** The only class that takes subscription filters (INFREQUENT_ACCESS and DELIVERY do not). */
export const STANDARD_LOG_GROUP_CLASS = 'STANDARD';

/** A subscription filter as DescribeSubscriptionFilters reports it. */
export interface ExistingFilter {
  readonly filterName: string;
  readonly destinationArn: string;
  /** `""` means every event. */
  readonly filterPattern: string;
  readonly roleArn?: string | undefined;
}

/** A log group as listed, with its filters. */
export interface LogGroupState {
  readonly logGroupName: string;
  /** STANDARD when absent (the AWS default; moto does not report it). */
  readonly logGroupClass?: string | undefined;
  readonly filters: readonly ExistingFilter[];
}

/**
 * `reconcile`: make every eligible group carry our filter and drop ours where it no longer
 * belongs (backfill Create/Update, sweep, subscriber, CLI apply). `uninstall`: remove ours
 * everywhere (backfill Delete, CLI remove).
 */
export type PlanMode = 'reconcile' | 'uninstall';

export interface PlanSettings {
  readonly destinationArn: string;
  readonly roleArn: string;
  /** The full filter name we own, `<base>-<region>`. */
  readonly filterName: string;
  /** `""` forwards every event. */
  readonly filterPattern: string;
  /** Globs; empty = every log group. */
  readonly include: readonly string[];
  /** Globs; wins over include. */
  readonly exclude: readonly string[];
  readonly enrollment: Enrollment;
  readonly mode: PlanMode;
  /** @default DEFAULT_FILTER_SLOTS */
  readonly filterSlots?: number;
  /**
   * `account`: one account-level policy carries the subscription, so no group should carry our
   * filter (every one of ours is removed, reason `account-scope`; the runtime does that only
   * once the policy is in place). @default 'log-group'
   */
  readonly scope?: SubscriptionScope;
}

/** The filter we want on an eligible group. */
export interface DesiredFilter {
  readonly filterName: string;
  readonly destinationArn: string;
  readonly filterPattern: string;
  readonly roleArn: string;
}

export type StaleField = 'destination' | 'pattern' | 'role';

export type SkipReason =
  | 'own-log-group'
  | 'excluded'
  | 'not-standard-class'
  | 'already-correct'
  | 'not-enrolled'
  | 'nothing-to-remove'
  | 'account-scope';

export type RemoveReason = 'own-log-group' | 'excluded' | 'not-enrolled' | 'uninstall' | 'account-scope';

export type PlanAction =
  | { readonly kind: 'subscribe'; readonly logGroupName: string; readonly filter: DesiredFilter }
  | {
      readonly kind: 'update';
      readonly logGroupName: string;
      readonly filter: DesiredFilter;
      readonly stale: readonly StaleField[];
    }
  | {
      readonly kind: 'remove';
      readonly logGroupName: string;
      readonly filterName: string;
      readonly reason: RemoveReason;
    }
  | { readonly kind: 'skip'; readonly logGroupName: string; readonly reason: SkipReason }
  | {
      readonly kind: 'conflict';
      readonly logGroupName: string;
      /** The foreign filters holding every slot. */
      readonly foreignFilters: readonly string[];
    };

export type ActionKind = PlanAction['kind'];

export type PlanCounts = Record<ActionKind, number>;

/** A planner bound to one set of settings: globs compiled once, then one call per group. */
export interface Planner {
  readonly settings: PlanSettings;
  readonly desired: DesiredFilter;
  /** True when `name` passes include/exclude and is not one of our own groups. */
  isSelected(logGroupName: string): boolean;
  planGroup(group: LogGroupState): PlanAction;
}

export function createPlanner(settings: PlanSettings): Planner {
  const include: GlobSet = compileGlobs(settings.include, 'include');
  const exclude: GlobSet = compileGlobs(settings.exclude, 'exclude');
  const slots = settings.filterSlots ?? DEFAULT_FILTER_SLOTS;
  const desired: DesiredFilter = {
    filterName: settings.filterName,
    destinationArn: settings.destinationArn,
    filterPattern: settings.filterPattern,
    roleArn: settings.roleArn,
  };

  const isSelected = (name: string): boolean =>
    !isOwnLogGroup(name) &&
    (include.patterns.length === 0 || include.matches(name)) &&
    !exclude.matches(name);

  const planGroup = (group: LogGroupState): PlanAction => {
    const logGroupName = group.logGroupName;
    const ours = group.filters.find((f) => f.filterName === settings.filterName);

    // Why a group must not carry our filter, in order of precedence; undefined = it must.
    let unwanted: RemoveReason | 'not-standard-class' | undefined;
    if (isOwnLogGroup(logGroupName)) unwanted = 'own-log-group';
    else if (settings.mode === 'uninstall') unwanted = 'uninstall';
    else if (settings.enrollment !== 'enabled') unwanted = 'not-enrolled';
    else if ((settings.scope ?? DEFAULT_SUBSCRIPTION_SCOPE) === 'account') unwanted = 'account-scope';
    else if ((group.logGroupClass ?? STANDARD_LOG_GROUP_CLASS) !== STANDARD_LOG_GROUP_CLASS) {
      unwanted = 'not-standard-class';
    } else if (!isSelected(logGroupName)) unwanted = 'excluded';

    if (unwanted !== undefined) {
      if (ours && unwanted !== 'not-standard-class') {
        return { kind: 'remove', logGroupName, filterName: ours.filterName, reason: unwanted };
      }
      const reason: SkipReason = unwanted === 'uninstall' ? 'nothing-to-remove' : unwanted;
      return { kind: 'skip', logGroupName, reason };
    }

    if (ours) {
      const stale: StaleField[] = [];
      if (ours.destinationArn !== desired.destinationArn) stale.push('destination');
      if ((ours.filterPattern ?? '') !== desired.filterPattern) stale.push('pattern');
      if ((ours.roleArn ?? '') !== desired.roleArn) stale.push('role');
      if (stale.length === 0) return { kind: 'skip', logGroupName, reason: 'already-correct' };
      return { kind: 'update', logGroupName, filter: desired, stale };
    }
    if (group.filters.length >= slots) {
      return {
        kind: 'conflict',
        logGroupName,
        foreignFilters: group.filters.map((f) => f.filterName),
      };
    }
    return { kind: 'subscribe', logGroupName, filter: desired };
  };

  return { settings, desired, isSelected, planGroup };
}

export function emptyCounts(): PlanCounts {
  return { subscribe: 0, update: 0, remove: 0, skip: 0, conflict: 0 };
}

export interface Plan {
  readonly actions: readonly PlanAction[];
  readonly counts: PlanCounts;
}

/** Plans every group, in input order. */
export function plan(groups: Iterable<LogGroupState>, settings: PlanSettings): Plan {
  const planner = createPlanner(settings);
  const actions: PlanAction[] = [];
  const counts = emptyCounts();
  for (const group of groups) {
    const action = planner.planGroup(group);
    counts[action.kind] += 1;
    actions.push(action);
  }
  return { actions, counts };
}

/** True when the action changes something in AWS. */
export function isMutation(action: PlanAction): boolean {
  return action.kind === 'subscribe' || action.kind === 'update' || action.kind === 'remove';
}

/**
 * The filters a group carries once `action` has been applied: the model the property tests
 * and the CLI dry run use. Foreign filters are carried over untouched, by construction.
 */
export function applyToState(group: LogGroupState, action: PlanAction): LogGroupState {
  switch (action.kind) {
    case 'subscribe':
      return { ...group, filters: [...group.filters, action.filter] };
    case 'update':
      return {
        ...group,
        filters: group.filters.map((f) => (f.filterName === action.filter.filterName ? action.filter : f)),
      };
    case 'remove':
      return { ...group, filters: group.filters.filter((f) => f.filterName !== action.filterName) };
    default:
      return group;
  }
}

/**
 * An account-level subscription filter policy as DescribeAccountPolicies reports it
 * (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_AccountPolicy.html).
 */
export interface ExistingAccountPolicy {
  readonly policyName: string;
  readonly policyDocument?: string | undefined;
  readonly selectionCriteria?: string | undefined;
}

/** The policy we want in account scope (shared/account-policy.ts renders its document). */
export interface DesiredAccountPolicy {
  /** Our filter name, `<base>-<region>`: we own the policy by this name, as we own filters. */
  readonly policyName: string;
  readonly destinationArn: string;
  readonly roleArn: string;
  readonly filterPattern: string;
  /** `LogGroupName NOT IN [...]`: our own log groups and the configured exact names. */
  readonly selectionCriteria: string;
}

export type PolicyStaleField = 'destination' | 'role' | 'pattern' | 'distribution' | 'selection';

export interface AccountPolicySettings {
  readonly scope: SubscriptionScope;
  readonly enrollment: Enrollment;
  readonly mode: PlanMode;
  /** The policy we want (in account scope) or own by name (in any scope). */
  readonly desired: DesiredAccountPolicy;
  /**
   * Log-group scope only: every eligible group carries our filter (a reconcile pass completed
   * without failures). Until then a policy of ours left from account scope stays, so switching
   * back never leaves a group uncovered (docs/member.md, "Switching scope").
   */
  readonly logGroupPassComplete?: boolean;
  /**
   * Names ours had before a rename of the filter (the Update's old FilterName): a policy under
   * one of them is ours, replaced by the new name rather than reported as foreign.
   */
  readonly formerPolicyNames?: readonly string[];
}

export type AccountPolicyAction =
  | { readonly kind: 'create'; readonly policy: DesiredAccountPolicy }
  | {
      readonly kind: 'update';
      readonly policy: DesiredAccountPolicy;
      readonly stale: readonly PolicyStaleField[];
    }
  | {
      /** A rename: ours under its former name goes, then ours under the new name is put. */
      readonly kind: 'replace';
      readonly formerName: string;
      readonly policy: DesiredAccountPolicy;
    }
  | {
      readonly kind: 'delete';
      readonly policyName: string;
      readonly reason: 'uninstall' | 'not-enrolled' | 'log-group-scope';
    }
  | {
      readonly kind: 'skip';
      readonly reason: 'already-correct' | 'nothing-to-remove' | 'awaiting-log-group-pass';
    }
  | {
      readonly kind: 'conflict';
      /** The account's subscription filter policy that is not ours: never overwritten. */
      readonly foreignPolicies: readonly string[];
    };

/** Which fields of our stored policy differ from the one we want. */
export function stalePolicyFields(
  existing: ExistingAccountPolicy,
  desired: DesiredAccountPolicy,
): PolicyStaleField[] {
  const doc = parsePolicyDocument(existing.policyDocument);
  const stale: PolicyStaleField[] = [];
  if (doc.DestinationArn !== desired.destinationArn) stale.push('destination');
  if ((doc.RoleArn ?? '') !== desired.roleArn) stale.push('role');
  if ((doc.FilterPattern ?? '') !== desired.filterPattern) stale.push('pattern');
  // Absent means the documented default, which is ours.
  if ((doc.Distribution ?? POLICY_DISTRIBUTION) !== POLICY_DISTRIBUTION) stale.push('distribution');
  const have = parseSelectionCriteria(existing.selectionCriteria);
  const want = parseSelectionCriteria(desired.selectionCriteria) ?? [];
  const same =
    have !== undefined &&
    have.length === want.length &&
    [...have].sort().join('\n') === [...want].sort().join('\n');
  if (!same) stale.push('selection');
  return stale;
}

/**
 * Decides what to do with the account's subscription filter policy. Ownership as for filters:
 * ours is the one named `desired.policyName`; any other is foreign, never updated or deleted,
 * and blocks ours (one per account and Region) as a reported conflict.
 */
export function planAccountPolicy(
  existing: readonly ExistingAccountPolicy[],
  settings: AccountPolicySettings,
): AccountPolicyAction {
  const name = settings.desired.policyName;
  const ours = existing.find((p) => p.policyName === name);
  const wanted =
    settings.mode === 'reconcile' && settings.scope === 'account' && settings.enrollment === 'enabled';
  if (wanted) {
    if (ours) {
      const stale = stalePolicyFields(ours, settings.desired);
      return stale.length === 0
        ? { kind: 'skip', reason: 'already-correct' }
        : { kind: 'update', policy: settings.desired, stale };
    }
    const former = existing.find((p) => settings.formerPolicyNames?.includes(p.policyName));
    const foreign = existing.filter((p) => p.policyName !== name && p !== former).map((p) => p.policyName);
    if (foreign.length > 0) return { kind: 'conflict', foreignPolicies: foreign };
    if (former) return { kind: 'replace', formerName: former.policyName, policy: settings.desired };
    return { kind: 'create', policy: settings.desired };
  }
  if (!ours) return { kind: 'skip', reason: 'nothing-to-remove' };
  if (settings.mode === 'uninstall') return { kind: 'delete', policyName: name, reason: 'uninstall' };
  if (settings.enrollment !== 'enabled') return { kind: 'delete', policyName: name, reason: 'not-enrolled' };
  return settings.logGroupPassComplete === true
    ? { kind: 'delete', policyName: name, reason: 'log-group-scope' }
    : { kind: 'skip', reason: 'awaiting-log-group-pass' };
}
