/**
 * The retry and error mapping of every control-plane call, with aws-sdk-client-mock (no
 * network): what is retried, what becomes a skip, a conflict or an auth failure.
 */
import {
  CloudWatchLogsClient,
  DeleteSubscriptionFilterCommand,
  DescribeLogGroupsCommand,
  DescribeSubscriptionFiltersCommand,
  PutSubscriptionFilterCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlPlaneError, classifyAwsError, createLogsApi } from '../../../member/runtime/logs-api';
import { AuthError, ConflictError, TransientError } from '../../../shared/errors';
import { RateLimiter } from '../../../shared/rate-limiter';

const cwl = mockClient(CloudWatchLogsClient);
afterEach(() => cwl.reset());

function awsError(name: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    ...extra,
  });
}

const sleeps: number[] = [];
function makeApi(maxAttempts = 4) {
  sleeps.length = 0;
  const limiter = new RateLimiter({ requestsPerSecond: 1000 });
  const clock = {
    now: () => Date.now(),
    sleep: async (ms: number) => {
      sleeps.push(ms);
    },
  };
  return {
    limiter,
    api: createLogsApi(new CloudWatchLogsClient({ region: 'us-east-1' }), {
      limiter,
      clock,
      retry: { maxAttempts, baseDelayMs: 100, maxDelayMs: 1000 },
      random: () => 0.5,
    }),
  };
}

const FILTER = {
  filterName: 'log-reflector-us-east-1',
  destinationArn: 'arn:aws:logs:us-east-1:111122223333:destination:d',
  filterPattern: '',
  roleArn: 'arn:aws:iam::444455556666:role/r',
};

describe('classifyAwsError', () => {
  it.each([
    [awsError('ThrottlingException', 'Rate exceeded'), 'throttled'],
    [awsError('SomethingElse', 'Rate exceeded'), 'throttled'],
    [awsError('OperationAbortedException', 'conflicting operation'), 'retryable'],
    [
      awsError('InvalidParameterException', 'Could not deliver test message to specified destination.'),
      'retryable',
    ],
    [awsError('ServiceUnavailableException', 'try later'), 'retryable'],
    [
      awsError('InternalFailure', 'boom', { $fault: 'server', $metadata: { httpStatusCode: 500 } }),
      'retryable',
    ],
    [awsError('ResourceNotFoundException', 'The specified log group does not exist.'), 'not-found'],
    [awsError('LimitExceededException', 'Resource limit exceeded.'), 'limit-exceeded'],
    [awsError('AccessDeniedException', 'not authorized to perform: iam:PassRole'), 'denied'],
    [awsError('InvalidParameterException', 'filterName failed to satisfy constraint'), 'fatal'],
  ])('%s → %s', (error, expected) => {
    expect(classifyAwsError(error)).toBe(expected);
  });
});

describe('createLogsApi', () => {
  it('retries throttling with backoff, tells the limiter, then succeeds', async () => {
    cwl
      .on(PutSubscriptionFilterCommand)
      .rejectsOnce(awsError('ThrottlingException', 'Rate exceeded'))
      .rejectsOnce(awsError('OperationAbortedException', 'Multiple users are modifying'))
      .rejectsOnce(
        awsError('InvalidParameterException', 'Could not deliver test message to specified destination.'),
      )
      .resolves({});
    const { api, limiter } = makeApi();
    expect(await api.putFilter('/app/a', FILTER)).toBe('done');
    expect(cwl.commandCalls(PutSubscriptionFilterCommand)).toHaveLength(4);
    expect(cwl.commandCalls(PutSubscriptionFilterCommand)[0]?.args[0].input).toStrictEqual({
      logGroupName: '/app/a',
      ...FILTER,
    });
    // Full jitter with random() = 0.5: half of 100, 200, 400 ms.
    expect(sleeps).toStrictEqual([50, 100, 200]);
    expect(limiter.throttledTotal).toBe(1);
  });

  it('gives up after maxAttempts with a TransientError naming the call and the group', async () => {
    cwl.on(PutSubscriptionFilterCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    const { api } = makeApi(3);
    const error = await api.putFilter('/app/a', FILTER).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toBe(
      'PutSubscriptionFilter on log group "/app/a" failed after 3 attempt(s): ThrottlingException: Rate exceeded',
    );
    expect(((error as Error).cause as ControlPlaneError).name).toBe('ControlPlaneError');
  });

  it('does not retry a bad parameter', async () => {
    cwl.on(PutSubscriptionFilterCommand).rejects(awsError('InvalidParameterException', 'bad filter pattern'));
    const { api } = makeApi();
    const error = await api.putFilter('/app/a', FILTER).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ControlPlaneError);
    expect((error as ControlPlaneError).attempts).toBe(1);
    expect(cwl.commandCalls(PutSubscriptionFilterCommand)).toHaveLength(1);
  });

  it('maps LimitExceededException to ConflictError and access denied to AuthError', async () => {
    cwl
      .on(PutSubscriptionFilterCommand)
      .rejects(awsError('LimitExceededException', 'Resource limit exceeded.'));
    cwl.on(DeleteSubscriptionFilterCommand).rejects(awsError('AccessDeniedException', 'not authorized'));
    const { api } = makeApi();
    const conflict = await api.putFilter('/app/a', FILTER).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as Error).message).toBe(
      'PutSubscriptionFilter on log group "/app/a": LimitExceededException, its subscription filter slots are held by other filters',
    );
    const denied = await api.deleteFilter('/app/a', FILTER.filterName).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(AuthError);
    expect((denied as Error).message).toBe('DeleteSubscriptionFilter on "/app/a" was denied: not authorized');
  });

  it('reports a vanished group or filter as gone / undefined', async () => {
    const notFound = awsError('ResourceNotFoundException', 'The specified log group does not exist.');
    cwl.on(PutSubscriptionFilterCommand).rejects(notFound);
    cwl.on(DeleteSubscriptionFilterCommand).rejects(notFound);
    cwl.on(DescribeSubscriptionFiltersCommand).rejects(notFound);
    const { api } = makeApi();
    expect(await api.putFilter('/app/a', FILTER)).toBe('gone');
    expect(await api.deleteFilter('/app/a', FILTER.filterName)).toBe('gone');
    expect(await api.describeFilters('/app/a')).toBeUndefined();
  });

  it('pages DescribeSubscriptionFilters and DescribeLogGroups', async () => {
    cwl
      .on(DescribeSubscriptionFiltersCommand)
      .resolvesOnce({
        subscriptionFilters: [{ filterName: 'a', destinationArn: 'd1', filterPattern: '' }],
        nextToken: 't',
      })
      .resolvesOnce({
        subscriptionFilters: [{ filterName: 'b', destinationArn: 'd2', filterPattern: 'x', roleArn: 'r' }],
      });
    cwl.on(DescribeLogGroupsCommand).resolves({
      logGroups: [
        { logGroupName: 'g1', logGroupClass: 'STANDARD' },
        { logGroupName: 'g2', logGroupClass: 'DELIVERY' },
      ],
      nextToken: 'next',
    });
    const { api } = makeApi();
    expect(await api.describeFilters('/app/a')).toStrictEqual([
      { filterName: 'a', destinationArn: 'd1', filterPattern: '', roleArn: undefined },
      { filterName: 'b', destinationArn: 'd2', filterPattern: 'x', roleArn: 'r' },
    ]);
    expect(cwl.commandCalls(DescribeSubscriptionFiltersCommand)[1]?.args[0].input).toStrictEqual({
      logGroupName: '/app/a',
      nextToken: 't',
    });
    expect(await api.listLogGroups('prev')).toStrictEqual({
      groups: [
        { logGroupName: 'g1', logGroupClass: 'STANDARD' },
        { logGroupName: 'g2', logGroupClass: 'DELIVERY' },
      ],
      nextToken: 'next',
    });
    expect(cwl.commandCalls(DescribeLogGroupsCommand)[0]?.args[0].input).toStrictEqual({
      limit: 50,
      nextToken: 'prev',
    });
  });
});
