/**
 * Carries out the account policy plan (shared/plan.ts, planAccountPolicy) for the member
 * functions and the CLI, and reports the result in one log line and two EMF metrics: the seam
 * a coverage report reads (docs/member.md, "Logs and metrics"). Account scope puts our policy
 * and never overwrites anyone else's; log-group scope removes a policy of ours left from
 * account scope, once every eligible group carries our filter.
 */
import { renderSelectionCriteria, type SubscriptionScope } from '../../shared/account-policy';
import { ConflictError } from '../../shared/errors';
import {
  type AccountPolicyAction,
  type DesiredAccountPolicy,
  type PlanMode,
  planAccountPolicy,
} from '../../shared/plan';
import type { MemberSettings } from './env';
import type { AccountPolicyApi } from './logs-api';
import type { Telemetry } from './telemetry';

/**
 * Where our policy stands after a run. `in-place`: ours exists with the wanted settings.
 * `removed`: ours was deleted now. `absent`: none of ours exists (and none is wanted).
 * `kept-until-pass`: log-group scope keeps ours until every eligible group has our filter.
 * `conflict`: another subscription filter policy holds the account's one place; ours is not
 * there. `failed`: a call failed; see `error`.
 */
export type PolicyState = 'in-place' | 'removed' | 'absent' | 'kept-until-pass' | 'conflict' | 'failed';

export interface PolicyOutcome {
  readonly scope: SubscriptionScope;
  readonly policyName: string;
  readonly state: PolicyState;
  /** What the planner decided (absent when the policies could not be read). */
  readonly action?: AccountPolicyAction;
  readonly foreignPolicies?: readonly string[];
  readonly error?: Error;
}

/** The policy we want in account scope; in log-group scope only its name matters (ownership). */
export function desiredAccountPolicy(settings: MemberSettings): DesiredAccountPolicy {
  return {
    policyName: settings.filterName,
    destinationArn: settings.destinationArn,
    roleArn: settings.roleArn,
    filterPattern: settings.filterPattern,
    selectionCriteria: renderSelectionCriteria(settings.scope === 'account' ? settings.exclude : []),
  };
}

export interface PolicyRunOptions {
  readonly mode: PlanMode;
  /** Log-group scope: a reconcile pass just completed without failures. */
  readonly logGroupPassComplete?: boolean;
  /** The filter name before a rename (the Update's old FilterName): its policy is ours. */
  readonly formerPolicyNames?: readonly string[];
}

/** Reads, plans and applies; never throws (a failure comes back as state `failed`). */
export async function reconcileAccountPolicy(
  api: AccountPolicyApi,
  settings: MemberSettings,
  options: PolicyRunOptions,
): Promise<PolicyOutcome> {
  const desired = desiredAccountPolicy(settings);
  const base = { scope: settings.scope, policyName: desired.policyName };
  let action: AccountPolicyAction | undefined;
  try {
    const existing = await api.describe();
    action = planAccountPolicy(existing, {
      scope: settings.scope,
      enrollment: settings.enrollment,
      mode: options.mode,
      desired,
      ...(options.logGroupPassComplete !== undefined
        ? { logGroupPassComplete: options.logGroupPassComplete }
        : {}),
      ...(options.formerPolicyNames ? { formerPolicyNames: options.formerPolicyNames } : {}),
    });
    switch (action.kind) {
      case 'create':
      case 'update':
        await api.put(action.policy);
        return { ...base, state: 'in-place', action };
      case 'replace':
        // One policy per account and Region: the former one must go before the new one can be
        // put; between the two calls the account has none (seconds).
        await api.delete(action.formerName);
        await api.put(action.policy);
        return { ...base, state: 'in-place', action };
      case 'delete': {
        const done = await api.delete(action.policyName);
        return { ...base, state: done === 'done' ? 'removed' : 'absent', action };
      }
      case 'conflict':
        return { ...base, state: 'conflict', action, foreignPolicies: action.foreignPolicies };
      case 'skip':
        return {
          ...base,
          action,
          state:
            action.reason === 'already-correct'
              ? 'in-place'
              : action.reason === 'awaiting-log-group-pass'
                ? 'kept-until-pass'
                : 'absent',
        };
    }
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    // AWS's last word on a put: the account's one policy is held by another name.
    if (err instanceof ConflictError)
      return { ...base, state: 'conflict', ...(action ? { action } : {}), error: err };
    return { ...base, state: 'failed', ...(action ? { action } : {}), error: err };
  }
}

/** Words for a Reason or a CLI line. */
export function describePolicyOutcome(outcome: PolicyOutcome): string {
  const name = JSON.stringify(outcome.policyName);
  switch (outcome.state) {
    case 'in-place':
      return outcome.action?.kind === 'create'
        ? `account policy ${name} created`
        : outcome.action?.kind === 'replace'
          ? `account policy ${name} put in place of ${JSON.stringify(outcome.action.formerName)}`
          : outcome.action?.kind === 'update'
            ? `account policy ${name} updated (${outcome.action.stale.join(', ')})`
            : `account policy ${name} in place`;
    case 'removed':
      return `account policy ${name} removed`;
    case 'absent':
      return `no account policy of ours (${name})`;
    case 'kept-until-pass':
      return `account policy ${name} kept until every eligible log group carries our filter`;
    case 'conflict':
      return `conflict: the account's subscription filter policy ${
        outcome.foreignPolicies?.length
          ? outcome.foreignPolicies.map((p) => JSON.stringify(p)).join(', ')
          : '(another name)'
      } is not ours; log-reflector never overwrites it (remove it, or use filter.scope "log-group")`;
    case 'failed':
      return `account policy ${name} could not be ${outcome.action?.kind === 'delete' ? 'removed' : 'checked or put'}: ${outcome.error?.message ?? 'unknown error'}`;
  }
}

/**
 * One `account policy` log line (scope, policy name, state, what was done) and EMF metrics
 * `AccountPolicyInPlace` and `AccountPolicyConflict` (1 or 0): where a coverage report finds
 * each account's scope and policy state.
 */
export function reportPolicyOutcome(telemetry: Telemetry, outcome: PolicyOutcome): void {
  const fields = {
    scope: outcome.scope,
    policyName: outcome.policyName,
    state: outcome.state,
    ...(outcome.action ? { action: outcome.action.kind } : {}),
    ...(outcome.action && 'reason' in outcome.action ? { reason: outcome.action.reason } : {}),
    ...(outcome.foreignPolicies ? { foreignPolicies: outcome.foreignPolicies } : {}),
    ...(outcome.error ? { error: outcome.error.message } : {}),
    detail: describePolicyOutcome(outcome),
  };
  // In log-group scope a failure only delays removing a leftover policy (the sweep retries).
  if (outcome.state === 'failed' && outcome.scope === 'account')
    telemetry.logger.error('account policy', fields);
  else if (outcome.state === 'failed') telemetry.logger.warn('account policy', fields);
  else if (outcome.state === 'conflict') telemetry.logger.warn('account policy', fields);
  else telemetry.logger.info('account policy', fields);
  const present = outcome.state === 'in-place' || outcome.state === 'kept-until-pass';
  telemetry.metrics.addMetric('AccountPolicyInPlace', 'Count', present ? 1 : 0);
  telemetry.metrics.addMetric('AccountPolicyConflict', 'Count', outcome.state === 'conflict' ? 1 : 0);
  telemetry.metrics.publishStoredMetrics();
}
