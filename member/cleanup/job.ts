/**
 * The cleanup worker's job: what it removes, how far it got, and its names. The job lives in
 * the Input of the worker's own schedule rule (each run reads it from its event and writes
 * the next one back with PutTargets), so the worker needs no table and leaves none behind.
 * docs/member.md, "Uninstall and leaving the target OUs".
 */
import { CLEANUP_PREFIX, POLICY_NAME } from '../../shared/account-policy';
import * as z from '../../shared/zod';
import { CursorSchema, SummarySchema } from '../runtime/continuation';

/** Everything the worker creates or is named by starts with this (shared/account-policy.ts). */
export { CLEANUP_PREFIX };

/**
 * The install id: the first 8 hex digits of the stack's UUID (the last part of its StackId).
 * A reinstall is a new stack, so its worker never collides with a worker still running for
 * the stack before it.
 */
export const INSTALL_ID = /^[0-9a-f]{8}$/;

export function cleanupFunctionName(installId: string): string {
  return `${CLEANUP_PREFIX}${installId}`;
}

/** The worker's schedule; created by the backfill's Delete, deleted by the worker when done. */
export function cleanupRuleName(installId: string): string {
  return `${CLEANUP_PREFIX}${installId}`;
}

/** IAM is global and the stack is regional: the region is part of the name (≤ 45 characters). */
export function cleanupRoleName(installId: string, region: string): string {
  return `${CLEANUP_PREFIX}${installId}-${region}`;
}

/** Inline policies of the worker's role, deleted in this order before the role itself. */
export const CLEANUP_POLICY_NAMES = { work: 'work', selfDelete: 'self-delete' } as const;

/** The schedule target's id. */
export const CLEANUP_TARGET_ID = 'cleanup';

/** How often the schedule runs the worker (rate expressions: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html). */
export const CLEANUP_SCHEDULE = 'rate(15 minutes)';
export const CLEANUP_PERIOD_MS = 15 * 60_000;

/**
 * After this much time from the Delete request, nothing of the deleted stack can still write
 * our filter: its rules went before the backfill resource, its functions right after, and a
 * Lambda invocation lasts at most 15 minutes (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html).
 * A pass that starts later is final; what an earlier pass covered is read once more after it.
 */
export const CLEANUP_SETTLE_MS = 30 * 60_000;

/**
 * A `migrated` job (the stack switched from log-group to account scope) removes our per-group
 * filters no sooner than this after the policy was put. AWS documents no delay for a
 * subscription filter policy to reach existing log groups; for an account-level data
 * protection policy it says "It might take up to 5 minutes"
 * (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutAccountPolicy.html).
 * We wait three times that, the worker's first scheduled run: overlap costs duplicates, a
 * filter removed too early would cost a gap.
 */
export const MIGRATION_START_DELAY_MS = 15 * 60_000;

/** A worker that could not finish in this long (e.g. every call denied by an SCP) gives up and deletes itself. */
export const CLEANUP_MAX_AGE_MS = 30 * 24 * 3600_000;

const FILTER_NAME = /^[^:*]{1,512}$/;

/**
 * Sample: `{"logReflectorCleanup":1,"installId":"271845b0","kind":"uninstall",
 * "filterName":"log-reflector-eu-west-1","requestedAtMs":1767614400000,"pass":1,
 * "cursor":{"token":"…","offset":12,"after":"/app/orders"},"recheckThrough":"/app/a",
 * "totals":{"subscribed":0,"updated":0,"removed":5120,…},"runs":3}`
 */
export const CleanupJobSchema = z.object({
  logReflectorCleanup: z.literal(1),
  installId: z.string().check(z.regex(INSTALL_ID)),
  /**
   * `uninstall`: the stack is being deleted (or the instance left the target OUs); the worker
   * deletes itself at the end. `replaced`: the filter was renamed in a live stack; the worker
   * only removes the old name and its schedule. `migrated`: the live stack switched to account
   * scope and its policy is in place (or the account is opted out); the worker removes our
   * per-group filters. `opted-out`: an account-scope stack was opted out and its policy could
   * not be deleted at once; the worker deletes it (and any per-group filter of ours). The last
   * three keep the worker (it belongs to the live stack) and remove only its schedule.
   */
  kind: z.enum(['uninstall', 'replaced', 'migrated', 'opted-out']),
  /** The filter to remove; absent when the Delete carried no valid name (nothing to remove). */
  filterName: z.optional(z.string().check(z.regex(FILTER_NAME))),
  /** Our account-level policy to delete first (a deletion the backfill could not finish). */
  policyName: z.optional(z.string().check(z.regex(POLICY_NAME))),
  requestedAtMs: z.number(),
  /** No removal before this (a `migrated` job waits for the policy to take effect). */
  startAfterMs: z.optional(z.number()),
  /** 1: the removal pass; 2: the re-check of what pass 1 covered before the settle time. */
  pass: z.union([z.literal(1), z.literal(2)]),
  cursor: z.optional(CursorSchema),
  /** Pass 1 covered names up to here before the settle time: pass 2 reads them again. */
  recheckThrough: z.optional(z.string()),
  /** Pass 1 finished before the settle time: pass 2 reads everything again. */
  recheckAll: z.optional(z.boolean()),
  totals: SummarySchema,
  runs: z.int().check(z.gte(0)),
  /** A run holds the job until then; a schedule event that arrives meanwhile returns at once. */
  leaseUntilMs: z.optional(z.number()),
});

export type CleanupJob = z.infer<typeof CleanupJobSchema>;

export function isCleanupJob(event: unknown): boolean {
  return typeof event === 'object' && event !== null && 'logReflectorCleanup' in event;
}
