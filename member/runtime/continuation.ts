/**
 * Long runs (100k+ log groups at a few requests per second take hours) continue across
 * invocations: when an invocation nears its deadline it hands the rest on to a fresh
 * asynchronous invocation of the same function, with the listing cursor and the totals so
 * far. Only reconcile runs chain: CloudFormation always has its answer before a chain starts
 * (member/backfill/handler.ts), and removal after a Delete is the cleanup worker's
 * (member/cleanup/).
 */

import { DEFAULT_SUBSCRIPTION_SCOPE, SUBSCRIPTION_SCOPES } from '../../shared/account-policy';
import { CoverageTallySchema } from '../../shared/coverage';
import { ENROLLMENT_VALUES } from '../../shared/naming';
import * as z from '../../shared/zod';
import type { Summary } from './apply';

/** Hops before a chain gives up (~ 200 × 12 min ≈ 40 h): a guard against a runaway loop. */
export const MAX_HOPS = 200;

const SummarySchema = z.object({
  subscribed: z.int().check(z.gte(0)),
  updated: z.int().check(z.gte(0)),
  removed: z.int().check(z.gte(0)),
  skipped: z.int().check(z.gte(0)),
  conflict: z.int().check(z.gte(0)),
  failed: z.int().check(z.gte(0)),
});

export const CursorSchema = z.object({
  token: z.optional(z.string()),
  offset: z.int().check(z.gte(0)),
  after: z.optional(z.string()),
});

export { SummarySchema };

/** The settings a chain runs with, as `MemberSettings` (validated again on each hop). */
const SettingsSnapshotSchema = z.object({
  destinationArn: z.string(),
  roleArn: z.string(),
  filterName: z.string().check(z.minLength(1)),
  filterPattern: z.string(),
  include: z.array(z.string()),
  exclude: z.array(z.string()),
  enrollment: z.enum(ENROLLMENT_VALUES),
  rateLimitRps: z.number().check(z.gt(0)),
  filterSlots: z.int().check(z.gte(1)),
  /** Absent in hand-offs of versions before account scope: those were log-group scope. */
  scope: z._default(z.enum(SUBSCRIPTION_SCOPES), DEFAULT_SUBSCRIPTION_SCOPE),
});

/**
 * The payload of a hand-off invocation. Sample:
 * `{"logReflectorContinuation":1,"origin":"sweep","mode":"reconcile","settings":{…},
 *   "cursor":{"token":"AQAB…","offset":17,"after":"/app/orders"},"chainId":"5a1e…","hop":3,"startedAtMs":1764161000000,"totals":{"subscribed":812,…}}`
 */
export const ContinuationSchema = z.object({
  logReflectorContinuation: z.literal(1),
  origin: z.enum(['backfill', 'sweep']),
  mode: z.enum(['reconcile', 'uninstall']),
  settings: SettingsSnapshotSchema,
  cursor: z.optional(CursorSchema),
  /**
   * Names the chain (the CloudFormation RequestId, the scheduled event's id): with `hop` it is
   * the key a receiver claims, so a hand-off delivered twice runs once (runtime/claims.ts).
   */
  chainId: z.optional(z.string().check(z.regex(/^[\w.-]{1,128}$/))),
  hop: z.int().check(z.gte(1)),
  startedAtMs: z.number(),
  totals: SummarySchema,
  /** What the chain has seen so far, for its coverage report (runtime/report.ts). */
  coverage: z.optional(CoverageTallySchema),
});

export type Continuation = z.infer<typeof ContinuationSchema>;

/** True when `event` looks like one of our hand-offs (then it must also parse). */
export function isContinuation(event: unknown): boolean {
  return typeof event === 'object' && event !== null && 'logReflectorContinuation' in event;
}

export function totalsOf(summary: Summary): Continuation['totals'] {
  return { ...summary };
}
