/**
 * Exactly-once markers for asynchronous events. Lambda may deliver the same asynchronous
 * event more than once ("Even if your function doesn't return an error, it's possible for it
 * to receive the same event from Lambda multiple times because the queue itself is eventually
 * consistent", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html), and a
 * hand-off whose Invoke call failed on the client side may still have been accepted and is
 * then retried. A CloudFormation request answered twice, or a chain running twice, is what
 * issue 15.7 forbids, so the first thing an invocation does with such an event is claim it.
 *
 * A claim is an empty log stream in the function's own log group: CreateLogStream is atomic
 * and answers ResourceAlreadyExistsException to the second caller
 * (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogStream.html).
 * The function already may create streams there (it writes its logs), so this needs no new
 * resource and no new permission. Stream names: `claims/<kind>/<id>[/<hop>]`; `[^:*]{1,512}`.
 *
 * When the claim itself cannot be made (throttled, denied) the event is processed anyway: a
 * duplicate is harmless (every action is idempotent), a dropped event is not.
 */
import {
  type CloudWatchLogsClient,
  CreateLogStreamCommand,
  ResourceAlreadyExistsException,
} from '@aws-sdk/client-cloudwatch-logs';

export type ClaimOutcome = 'claimed' | 'taken' | 'unknown';

/** Claims `key` once; 'taken' means another invocation already has it. */
export type Claim = (key: string) => Promise<ClaimOutcome>;

const STREAM_NAME = /^[^:*]{1,512}$/;

export function claimStreamName(key: string): string {
  const name = `claims/${key}`;
  if (!STREAM_NAME.test(name))
    throw new Error(`claim key ${JSON.stringify(key)} is not a valid log stream name`);
  return name;
}

export function createClaim(
  client: CloudWatchLogsClient,
  logGroupName: string,
  onUnknown: (key: string, error: unknown) => void = () => {},
): Claim {
  return async (key) => {
    try {
      await client.send(new CreateLogStreamCommand({ logGroupName, logStreamName: claimStreamName(key) }));
      return 'claimed';
    } catch (error) {
      if (
        error instanceof ResourceAlreadyExistsException ||
        (error as { name?: string }).name === 'ResourceAlreadyExistsException'
      )
        return 'taken';
      onUnknown(key, error);
      return 'unknown';
    }
  };
}

/** The function's own log group (Lambda's default, `/aws/lambda/<function name>`). */
export function ownLogGroupName(env: Readonly<Record<string, string | undefined>>): string {
  return env.AWS_LAMBDA_LOG_GROUP_NAME ?? `/aws/lambda/${env.AWS_LAMBDA_FUNCTION_NAME ?? 'unknown'}`;
}
