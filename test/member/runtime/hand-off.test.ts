/**
 * The hand-off client says whether a failed Invoke may still have queued the event (issue
 * 15.7: "a hand-off that Lambda accepted but the client saw fail is not treated as not handed
 * off"): a 4xx from Lambda proves it was not; a timeout, a dropped connection or a 5xx does not.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { createHandOff, HandOffError } from '../../../member/runtime/clients';

const lambdaMock = mockClient(LambdaClient);
afterEach(() => lambdaMock.reset());

const ARN = 'arn:aws:lambda:us-east-1:123456789012:function:log-reflector-backfill';
const fail = (name: string, status: number | undefined, message = name) =>
  Object.assign(new Error(message), {
    name,
    $metadata: status === undefined ? {} : { httpStatusCode: status },
  });

async function handOffError(error: Error): Promise<HandOffError> {
  lambdaMock.on(InvokeCommand).rejects(error);
  return (await createHandOff(new LambdaClient({ region: 'us-east-1' }))(ARN, { hop: 2 }).catch(
    (e: unknown) => e,
  )) as HandOffError;
}

describe('createHandOff', () => {
  it('resolves on 202 and sends the payload as an Event invocation', async () => {
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202 });
    await createHandOff(new LambdaClient({ region: 'us-east-1' }))(ARN, { hop: 2 });
    const call = lambdaMock.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(call?.InvocationType).toBe('Event');
    expect(JSON.parse(new TextDecoder().decode(call?.Payload as Uint8Array))).toStrictEqual({ hop: 2 });
  });

  it.each([
    ['ResourceNotFoundException', 404],
    ['AccessDeniedException', 403],
    ['TooManyRequestsException', 429],
  ])('%s (%i) was not queued: not ambiguous', async (name, status) => {
    const error = await handOffError(fail(name, status));
    expect(error).toBeInstanceOf(HandOffError);
    expect(error.ambiguous).toBe(false);
  });

  it.each([
    ['TimeoutError', undefined],
    ['ServiceException', 500],
    ['Error', undefined, 'socket hang up'],
  ])('%s may have been queued: ambiguous', async (name, status, message?: string) => {
    const error = await handOffError(fail(name, status as number | undefined, message));
    expect(error.ambiguous).toBe(true);
    expect(error.message).toContain('the event may still have been queued');
  });
});
