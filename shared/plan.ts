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
  | 'nothing-to-remove';

export type RemoveReason = 'own-log-group' | 'excluded' | 'not-enrolled' | 'uninstall';

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
