/**
 * Every CloudWatch Logs control-plane call the member automation makes, each one through the
 * shared rate limiter and one retry policy. The SDK's own retries are switched off
 * (`maxAttempts: 1` on the client) so throttles are seen, counted and fed back to the
 * limiter here instead of being retried blind.
 *
 * Retried with full-jitter backoff: ThrottlingException, OperationAbortedException (a
 * concurrent change to the same log group), "Could not deliver test message" (the
 * destination's Kinesis stream or policy is not ready yet) and 5xx
 * (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/CommonErrors.html).
 * Mapped: ResourceNotFoundException → the group (or our filter) is gone;
 * LimitExceededException → ConflictError; access denied → AuthError.
 */
import {
  type CloudWatchLogsClient,
  DeleteAccountPolicyCommand,
  DeleteSubscriptionFilterCommand,
  DescribeAccountPoliciesCommand,
  DescribeLogGroupsCommand,
  DescribeSubscriptionFiltersCommand,
  PutAccountPolicyCommand,
  PutSubscriptionFilterCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { renderPolicyDocument, SUBSCRIPTION_FILTER_POLICY } from '../../shared/account-policy';
import { backoffDelayMs } from '../../shared/backoff';
import { AuthError, ConflictError, LogReflectorError, TransientError } from '../../shared/errors';
import type {
  DesiredAccountPolicy,
  DesiredFilter,
  ExistingAccountPolicy,
  ExistingFilter,
} from '../../shared/plan';
import { type Clock, type RateLimiter, systemClock } from '../../shared/rate-limiter';

/** DescribeLogGroups returns at most 50 groups per page (its `limit` is 1-50). */
export const DESCRIBE_LOG_GROUPS_PAGE_SIZE = 50;

export interface ListedLogGroup {
  readonly logGroupName: string;
  readonly logGroupClass?: string | undefined;
}

export interface LogGroupPage {
  readonly groups: readonly ListedLogGroup[];
  readonly nextToken?: string | undefined;
}

/** The calls the apply loop needs; the AWS implementation is `createLogsApi`, tests may fake it. */
export interface LogsApi {
  listLogGroups(nextToken?: string): Promise<LogGroupPage>;
  /** undefined when the log group no longer exists. */
  describeFilters(logGroupName: string): Promise<ExistingFilter[] | undefined>;
  /** 'gone' when the log group no longer exists. Throws ConflictError when the slots are full. */
  putFilter(logGroupName: string, filter: DesiredFilter): Promise<'done' | 'gone'>;
  /** 'gone' when the group or the filter no longer exists (nothing left to remove). */
  deleteFilter(logGroupName: string, filterName: string): Promise<'done' | 'gone'>;
}

/**
 * The account-level subscription filter policy calls (account scope, docs/member.md). Only
 * SUBSCRIPTION_FILTER_POLICY is ever read, written or deleted.
 */
export interface AccountPolicyApi {
  /** Every subscription filter policy of the account in this region (ours and anyone's). */
  describe(): Promise<ExistingAccountPolicy[]>;
  /** Creates or updates (by name) our policy. */
  put(policy: DesiredAccountPolicy): Promise<void>;
  /** 'gone' when no policy of that name exists. */
  delete(policyName: string): Promise<'done' | 'gone'>;
}

export interface RetryOptions {
  /** Attempts per call, first included. @default 8 */
  readonly maxAttempts?: number;
  /** @default 200 */
  readonly baseDelayMs?: number;
  /** @default 20000 */
  readonly maxDelayMs?: number;
}

export type ErrorClass = 'throttled' | 'retryable' | 'not-found' | 'limit-exceeded' | 'denied' | 'fatal';

interface AwsErrorLike {
  name?: string;
  message?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
}

/** How to treat an error thrown by the SDK. */
export function classifyAwsError(error: unknown): ErrorClass {
  const e = (error ?? {}) as AwsErrorLike;
  const name = e.name ?? '';
  const message = e.message ?? '';
  if (name === 'ThrottlingException' || name === 'Throttling' || /rate exceeded/i.test(message)) {
    return 'throttled';
  }
  if (name === 'OperationAbortedException' || name === 'ServiceUnavailableException') return 'retryable';
  if (/could not deliver test message/i.test(message)) return 'retryable';
  if (name === 'ResourceNotFoundException') return 'not-found';
  if (name === 'LimitExceededException') return 'limit-exceeded';
  if (name === 'AccessDeniedException' || name === 'AccessDenied' || name === 'UnrecognizedClientException') {
    return 'denied';
  }
  if (e.$fault === 'server' || (e.$metadata?.httpStatusCode ?? 0) >= 500) return 'retryable';
  if (name === 'TimeoutError' || /ECONNRESET|socket hang up|ETIMEDOUT/.test(message)) return 'retryable';
  return 'fatal';
}

/** A call that still failed after every retry, or failed in a way retrying cannot fix. */
export class ControlPlaneError extends LogReflectorError {
  readonly operation: string;
  readonly logGroupName: string | undefined;
  readonly attempts: number;

  constructor(operation: string, logGroupName: string | undefined, attempts: number, cause: unknown) {
    const e = (cause ?? {}) as AwsErrorLike;
    super(
      `${operation}${logGroupName === undefined ? '' : ` on log group ${JSON.stringify(logGroupName)}`} failed after ${attempts} attempt(s): ${e.name ?? 'Error'}: ${e.message ?? String(cause)}`,
      { cause },
    );
    this.name = 'ControlPlaneError';
    this.operation = operation;
    this.logGroupName = logGroupName;
    this.attempts = attempts;
  }
}

export interface CallContext {
  readonly limiter: RateLimiter;
  readonly clock?: Clock;
  readonly retry?: RetryOptions;
  readonly random?: () => number;
}

/**
 * Runs `send` under the limiter, retrying what is retryable. Returns 'not-found' for
 * ResourceNotFoundException so callers decide what a missing resource means.
 */
export async function callWithRetry<T>(
  context: CallContext,
  operation: string,
  logGroupName: string | undefined,
  send: () => Promise<T>,
): Promise<T | 'not-found'> {
  const clock = context.clock ?? systemClock;
  const maxAttempts = context.retry?.maxAttempts ?? 8;
  const backoff = { baseMs: context.retry?.baseDelayMs ?? 200, capMs: context.retry?.maxDelayMs ?? 20_000 };
  for (let attempt = 1; ; attempt += 1) {
    await context.limiter.acquire(operation);
    try {
      const result = await send();
      context.limiter.onSuccess(operation);
      return result;
    } catch (error) {
      const kind = classifyAwsError(error);
      if (kind === 'throttled') context.limiter.onThrottle(operation);
      if (kind === 'not-found') return 'not-found';
      if (kind === 'limit-exceeded') {
        throw new ConflictError(
          logGroupName === undefined
            ? `${operation}: LimitExceededException, the account's subscription filter policy in this region is held by another name (one per account and Region)`
            : `${operation} on log group ${JSON.stringify(logGroupName)}: LimitExceededException, its subscription filter slots are held by other filters`,
          { cause: error },
        );
      }
      if (kind === 'denied') {
        throw new AuthError(
          `${operation}${logGroupName === undefined ? '' : ` on ${JSON.stringify(logGroupName)}`} was denied: ${(error as Error).message}`,
          { cause: error },
        );
      }
      if ((kind === 'throttled' || kind === 'retryable') && attempt < maxAttempts) {
        await clock.sleep(backoffDelayMs(attempt - 1, backoff, context.random));
        continue;
      }
      const failure = new ControlPlaneError(operation, logGroupName, attempt, error);
      if (kind === 'throttled' || kind === 'retryable') {
        throw new TransientError(failure.message, { cause: failure });
      }
      throw failure;
    }
  }
}

/** The AWS implementation. `client` must be built with `maxAttempts: 1` (see `createLogsClient`). */
export function createLogsApi(client: CloudWatchLogsClient, context: CallContext): LogsApi {
  return {
    async listLogGroups(nextToken) {
      const out = await callWithRetry(context, 'DescribeLogGroups', undefined, () =>
        client.send(new DescribeLogGroupsCommand({ limit: DESCRIBE_LOG_GROUPS_PAGE_SIZE, nextToken })),
      );
      if (out === 'not-found') return { groups: [] };
      const groups: ListedLogGroup[] = [];
      for (const g of out.logGroups ?? []) {
        if (g.logGroupName) groups.push({ logGroupName: g.logGroupName, logGroupClass: g.logGroupClass });
      }
      return { groups, nextToken: out.nextToken || undefined };
    },

    async describeFilters(logGroupName) {
      const filters: ExistingFilter[] = [];
      let nextToken: string | undefined;
      do {
        const out = await callWithRetry(context, 'DescribeSubscriptionFilters', logGroupName, () =>
          client.send(new DescribeSubscriptionFiltersCommand({ logGroupName, nextToken })),
        );
        if (out === 'not-found') return undefined;
        for (const f of out.subscriptionFilters ?? []) {
          filters.push({
            filterName: f.filterName ?? '',
            destinationArn: f.destinationArn ?? '',
            filterPattern: f.filterPattern ?? '',
            roleArn: f.roleArn,
          });
        }
        nextToken = out.nextToken || undefined;
      } while (nextToken);
      return filters;
    },

    async putFilter(logGroupName, filter) {
      const out = await callWithRetry(context, 'PutSubscriptionFilter', logGroupName, () =>
        client.send(
          new PutSubscriptionFilterCommand({
            logGroupName,
            filterName: filter.filterName,
            filterPattern: filter.filterPattern,
            destinationArn: filter.destinationArn,
            roleArn: filter.roleArn,
          }),
        ),
      );
      return out === 'not-found' ? 'gone' : 'done';
    },

    async deleteFilter(logGroupName, filterName) {
      const out = await callWithRetry(context, 'DeleteSubscriptionFilter', logGroupName, () =>
        client.send(new DeleteSubscriptionFilterCommand({ logGroupName, filterName })),
      );
      return out === 'not-found' ? 'gone' : 'done';
    },
  };
}

/**
 * The AWS implementation of the account policy calls, through the same limiter and retry
 * policy. A LimitExceededException on put means the account already has its one subscription
 * filter policy under another name (the planner checks first; this is AWS's last word): it
 * comes back as ConflictError, like a group whose slots are full.
 */
export function createAccountPolicyApi(client: CloudWatchLogsClient, context: CallContext): AccountPolicyApi {
  return {
    async describe() {
      const policies: ExistingAccountPolicy[] = [];
      let nextToken: string | undefined;
      do {
        const out = await callWithRetry(context, 'DescribeAccountPolicies', undefined, () =>
          client.send(
            new DescribeAccountPoliciesCommand({ policyType: SUBSCRIPTION_FILTER_POLICY, nextToken }),
          ),
        );
        // No policy of the type: some answers are ResourceNotFoundException rather than [].
        if (out === 'not-found') return policies;
        for (const p of out.accountPolicies ?? []) {
          if (p.policyName && (p.policyType ?? SUBSCRIPTION_FILTER_POLICY) === SUBSCRIPTION_FILTER_POLICY) {
            policies.push({
              policyName: p.policyName,
              policyDocument: p.policyDocument,
              selectionCriteria: p.selectionCriteria,
            });
          }
        }
        nextToken = out.nextToken || undefined;
      } while (nextToken);
      return policies;
    },

    async put(policy) {
      await callWithRetry(context, 'PutAccountPolicy', undefined, () =>
        client.send(
          new PutAccountPolicyCommand({
            policyName: policy.policyName,
            policyType: SUBSCRIPTION_FILTER_POLICY,
            policyDocument: renderPolicyDocument(policy),
            selectionCriteria: policy.selectionCriteria,
            scope: 'ALL',
          }),
        ),
      );
    },

    async delete(policyName) {
      const out = await callWithRetry(context, 'DeleteAccountPolicy', undefined, () =>
        client.send(new DeleteAccountPolicyCommand({ policyName, policyType: SUBSCRIPTION_FILTER_POLICY })),
      );
      return out === 'not-found' ? 'gone' : 'done';
    },
  };
}
