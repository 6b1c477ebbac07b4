/**
 * The coverage report of an account-scope stack (docs/member.md, "Coverage report"): the
 * backfill, after it has answered CloudFormation or at its periodic check, counts the account ×
 * region's log groups and says what our account-level policy does for them. Pure but for the
 * listing.
 *
 * Why count log groups, not the account × region as one unit: the org-wide coverage % is
 * subscribed ÷ eligible log groups, and a switch of scope rolls over the org stack instance by
 * stack instance, so for hours some reports come from each scope; in one unit they add up. The
 * count costs one DescribeLogGroups call per 50 groups (its `limit` is at most 50,
 * https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogGroups.html),
 * under the member rate limiter, on stack operations (after the answer: it never delays or changes
 * what CloudFormation hears) and at each periodic check (member/backfill/scheduled-check.ts). It
 * stops at the invocation's deadline (at the default 4 calls/s about 150,000 groups fit); the
 * report then says `complete: false` and counts what it saw.
 */
import { type AccountPolicyReport, type CoverageTally, emptyTally } from '../../shared/coverage';
import { STANDARD_LOG_GROUP_CLASS } from '../../shared/plan';
import type { Clock } from '../../shared/rate-limiter';
import type { PolicyOutcome } from './account-policy';
import type { LogsApi } from './logs-api';

const MAX_ERROR_LENGTH = 1000;
const MAX_FOREIGN = 10;

/** What the listing saw: groups the policy applies to, and the ones it leaves out. */
export interface GroupCount {
  readonly total: number;
  /** STANDARD groups whose name the selection criteria do not list. */
  readonly applies: number;
  /** Named in the criteria (our own, `logGroups.exclude`) or not STANDARD. */
  readonly excluded: number;
  /** True when every page was listed. */
  readonly complete: boolean;
  /** Why the listing stopped early (a failure; the deadline is not an error). */
  readonly error?: string;
}

/**
 * Lists every log group until `deadlineMs`. `exclude` holds the exact names the policy leaves
 * out (account scope: EXCLUDE, docs/member.md "Two scopes"). Never throws.
 */
export async function countAccountScopeGroups(
  api: Pick<LogsApi, 'listLogGroups'>,
  exclude: readonly string[],
  deadlineMs: number,
  clock: Clock,
): Promise<GroupCount> {
  const named = new Set(exclude);
  let total = 0;
  let excluded = 0;
  let token: string | undefined;
  try {
    do {
      if (clock.now() >= deadlineMs) return { total, applies: total - excluded, excluded, complete: false };
      const page = await api.listLogGroups(token);
      for (const g of page.groups) {
        total += 1;
        const standard = (g.logGroupClass ?? STANDARD_LOG_GROUP_CLASS) === STANDARD_LOG_GROUP_CLASS;
        if (!standard || named.has(g.logGroupName)) excluded += 1;
      }
      token = page.nextToken;
    } while (token !== undefined);
  } catch (error) {
    return {
      total,
      applies: total - excluded,
      excluded,
      complete: false,
      error: `listing failed: ${(error as Error).message}`,
    };
  }
  return { total, applies: total - excluded, excluded, complete: true };
}

/**
 * The tally of an account-scope report: every group the policy applies to is `subscribed` when
 * our policy is in place, a `conflict` when a foreign policy holds the account's one place, and
 * `failed` otherwise; all of them `notEnrolled` when the stack runs disabled.
 */
export function accountScopeTally(
  count: GroupCount,
  state: PolicyOutcome['state'],
  enrolled: boolean,
): CoverageTally {
  const t = emptyTally();
  t.total = count.total;
  if (!enrolled) {
    t.notEnrolled = count.total;
    return t;
  }
  t.excluded = count.excluded;
  t.eligible = count.applies;
  if (state === 'in-place') t.subscribed = count.applies;
  else if (state === 'conflict') t.conflicts = count.applies;
  else t.failed = count.applies;
  return t;
}

/** The `accountPolicy` field of the report. */
export function accountPolicyReport(outcome: PolicyOutcome): AccountPolicyReport {
  return {
    state: outcome.state,
    ...(outcome.foreignPolicies?.length
      ? { foreignPolicies: outcome.foreignPolicies.slice(0, MAX_FOREIGN).map((p) => p.slice(0, 256)) }
      : {}),
    ...(outcome.state === 'failed' && outcome.error
      ? { error: outcome.error.message.slice(0, MAX_ERROR_LENGTH) }
      : {}),
  };
}
