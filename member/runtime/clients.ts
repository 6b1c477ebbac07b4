/**
 * AWS clients of the member functions and the CLI. The SDK honours `AWS_ENDPOINT_URL`
 * (moto in tests). CloudWatch Logs calls get `maxAttempts: 1` because retries and throttle
 * feedback happen in `callWithRetry`, under the shared rate limiter.
 */
import { CloudWatchLogsClient, type CloudWatchLogsClientConfig } from '@aws-sdk/client-cloudwatch-logs';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { type Clock, RateLimiter, systemClock } from '../../shared/rate-limiter';
import { type CallContext, createLogsApi, type LogsApi, type RetryOptions } from './logs-api';

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
  const api = createLogsApi(options.client ?? createLogsClient(options.region), context);
  return { api, limiter };
}

/** Starts `functionArn` asynchronously with `payload` (the hand-off of a long run). */
export type HandOff = (functionArn: string, payload: unknown) => Promise<void>;

export function createHandOff(client: LambdaClient = new LambdaClient({})): HandOff {
  return async (functionArn, payload) => {
    const out = await client.send(
      new InvokeCommand({
        FunctionName: functionArn,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }),
    );
    // Asynchronous invocation answers 202 Accepted
    // (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
    if (out.StatusCode !== 202)
      throw new Error(`Invoke of ${functionArn} answered ${out.StatusCode}, expected 202`);
  };
}
