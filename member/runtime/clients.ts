/**
 * AWS clients of the member functions and the CLI. The SDK honours `AWS_ENDPOINT_URL`
 * (moto in tests). CloudWatch Logs calls get `maxAttempts: 1` because retries and throttle
 * feedback happen in `callWithRetry`, under the shared rate limiter.
 */
import { CloudWatchLogsClient, type CloudWatchLogsClientConfig } from '@aws-sdk/client-cloudwatch-logs';
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { LogReflectorError } from '../../shared/errors';
import { type Clock, RateLimiter, systemClock } from '../../shared/rate-limiter';
import {
  type AccountPolicyApi,
  type CallContext,
  createAccountPolicyApi,
  createLogsApi,
  type LogsApi,
  type RetryOptions,
} from './logs-api';

/** Per-request timeouts: a hung connection must not eat the invocation's deadline. */
const REQUEST_TIMEOUT_MS = 15_000;
const CONNECTION_TIMEOUT_MS = 5_000;

const LIMITER_BURST = 2;

/**
 * `target` adds an endpoint and credentials: the demo (test/demo/) runs one client per
 * emulated account in one process; the functions themselves never pass it.
 */
export function createLogsClient(
  region?: string,
  target: Pick<CloudWatchLogsClientConfig, 'endpoint' | 'credentials'> = {},
): CloudWatchLogsClient {
  return new CloudWatchLogsClient({
    ...(region ? { region } : {}),
    ...target,
    maxAttempts: 1,
    requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: CONNECTION_TIMEOUT_MS },
  });
}

export interface LogsRuntime {
  readonly api: LogsApi;
  /** Account-level subscription filter policy calls (account scope), same limiter. */
  readonly policies: AccountPolicyApi;
  readonly limiter: RateLimiter;
}

export interface LogsRuntimeOptions {
  readonly requestsPerSecond: number;
  readonly client?: CloudWatchLogsClient;
  readonly region?: string;
  readonly clock?: Clock;
  readonly retry?: RetryOptions;
}

/** One limiter and one API facade over one client: every call of a run shares them. */
export function createLogsRuntime(options: LogsRuntimeOptions): LogsRuntime {
  const clock = options.clock ?? systemClock;
  // A burst of 2 lets one API catch up a slot lost while the call it depends on was being
  // retried (reads feed writes); the average stays at the configured rate.
  const limiter = new RateLimiter({
    requestsPerSecond: options.requestsPerSecond,
    burst: LIMITER_BURST,
    clock,
  });
  const context: CallContext = { limiter, clock, ...(options.retry ? { retry: options.retry } : {}) };
  const client = options.client ?? createLogsClient(options.region);
  return { api: createLogsApi(client, context), policies: createAccountPolicyApi(client, context), limiter };
}

/**
 * Starts `functionArn` asynchronously with `payload` (the hand-off of a long run). Resolves
 * when Lambda accepted it (202); throws a HandOffError saying whether it may have been
 * accepted all the same.
 */
export type HandOff = (functionArn: string, payload: unknown) => Promise<void>;

/**
 * A hand-off that failed. `ambiguous` when Lambda may have queued the event anyway (a
 * timeout, a dropped connection, a 5xx after the request was sent): the caller must then
 * treat the chain as possibly running, never start a second one on its own. The receiver's
 * claim (runtime/claims.ts) makes a resent hand-off run once, which is what lets the SDK
 * retry these.
 */
export class HandOffError extends LogReflectorError {
  readonly ambiguous: boolean;

  constructor(message: string, ambiguous: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HandOffError';
    this.ambiguous = ambiguous;
  }
}

/** True when an Invoke error proves the event was not queued (a 4xx answer from Lambda). */
export function invokeDefinitelyRejected(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500;
}

export function createHandOff(client: LambdaClient = new LambdaClient({})): HandOff {
  return async (functionArn, payload) => {
    let out: InvokeCommandOutput;
    try {
      out = await client.send(
        new InvokeCommand({
          FunctionName: functionArn,
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify(payload)),
        }),
      );
    } catch (error) {
      const rejected = invokeDefinitelyRejected(error);
      throw new HandOffError(
        `Invoke of ${functionArn} failed (${rejected ? 'rejected' : 'the event may still have been queued'}): ${(error as Error).message}`,
        !rejected,
        { cause: error },
      );
    }
    // Asynchronous invocation answers 202 Accepted
    // (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
    if (out.StatusCode !== 202)
      throw new HandOffError(`Invoke of ${functionArn} answered ${out.StatusCode}, expected 202`, true);
  };
}
