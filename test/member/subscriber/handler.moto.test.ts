/**
 * The subscriber on the real CloudTrail CreateLogGroup sample (test/events/eventbridge/,
 * account 789639879501, ap-southeast-2), against moto in that region.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogsRuntime } from '../../../member/runtime/clients';
import { createSubscriberHandler, type SubscriberDeps } from '../../../member/subscriber/handler';
import { type ConfigError, DecodeError, TransientError } from '../../../shared/errors';
import { loadEvent } from '../../support/events';
import { useMoto } from '../../support/moto';
import { FILTER_NAME, freshAccount, type MotoAccount, memberEnv, memberSettings, ROLE_ARN } from '../support';
import { recordTelemetry } from '../telemetry-recorder';

const SAMPLE_REGION = 'ap-southeast-2';
const SAMPLE_GROUP = 'bhavik-test-log';

const moto = useMoto(SAMPLE_REGION);
let account: MotoAccount;
let destination: string;
let foreignDestination: string;
beforeEach(async () => {
  ({ account, destination, foreignDestination } = await freshAccount(moto, SAMPLE_REGION));
});

type Event = Record<string, unknown> & {
  detail: Record<string, unknown> & { requestParameters: Record<string, unknown> };
};
const sample = () => loadEvent<Event>('eventbridge/cloudtrail-createloggroup.eventbridge.previewme.json');
const forGroup = (logGroupName: string, extra: Record<string, unknown> = {}): Event => {
  const event = sample();
  return { ...event, detail: { ...event.detail, ...extra, requestParameters: { logGroupName } } };
};

function subscriber(overrides: Partial<SubscriberDeps> = {}, maxAttempts = 8) {
  const recorded = recordTelemetry();
  const handler = createSubscriberHandler({
    settings: memberSettings({ destinationArn: destination }),
    runtime: createLogsRuntime({
      requestsPerSecond: 100,
      client: account.logs,
      retry: { maxAttempts, baseDelayMs: 1, maxDelayMs: 5 },
    }),
    telemetry: recorded.telemetry,
    region: SAMPLE_REGION,
    ...overrides,
  });
  return { handler, recorded };
}

describe('subscriber', () => {
  it('subscribes the group of the real CreateLogGroup sample and counts it', async () => {
    await account.createGroups([SAMPLE_GROUP]);
    const { handler, recorded } = subscriber();
    const result = await handler(sample());
    expect(result).toMatchObject({ logGroupName: SAMPLE_GROUP, outcome: 'subscribed' });
    expect(await account.filters(SAMPLE_GROUP)).toStrictEqual({
      [FILTER_NAME]: { destinationArn: destination, filterPattern: '', roleArn: ROLE_ARN },
    });
    expect(recorded.metrics).toStrictEqual({
      Subscribed: 1,
      Updated: 0,
      Removed: 0,
      Conflicts: 0,
      Skipped: 0,
      Failed: 0,
      Throttled: 0,
    });
    expect(recorded.lines.find((l) => l.message === 'log group subscribed')?.extra).toStrictEqual([
      { logGroupName: SAMPLE_GROUP, outcome: 'subscribed', action: 'subscribe' },
    ]);
  });

  it('is idempotent: the same event twice subscribes once', async () => {
    await account.createGroups([SAMPLE_GROUP]);
    const { handler } = subscriber();
    await handler(sample());
    expect(await handler(sample())).toMatchObject({ outcome: 'skipped', detail: 'already-correct' });
  });

  it('ignores an aws.logs call that is not CreateLogGroup (the PutRetentionPolicy sample)', async () => {
    const { handler } = subscriber();
    const event = loadEvent('eventbridge/cloudtrail-putretentionpolicy.eventbridge.previewme.json');
    expect(await handler(event)).toStrictEqual({
      outcome: 'ignored',
      detail: 'event PutRetentionPolicy is not CreateLogGroup',
    });
  });

  it('ignores a failed CreateLogGroup call', async () => {
    const { handler } = subscriber();
    const event = forGroup('x', { errorCode: 'ResourceAlreadyExistsException' });
    expect(await handler(event)).toStrictEqual({
      outcome: 'ignored',
      detail: 'the CreateLogGroup call failed (ResourceAlreadyExistsException)',
    });
  });

  it('ignores events of another region and when the account is not enrolled', async () => {
    await account.createGroups([SAMPLE_GROUP]);
    const other = subscriber({ region: 'eu-west-1' });
    expect(await other.handler(sample())).toStrictEqual({
      outcome: 'ignored',
      detail: 'event from region ap-southeast-2, this function serves eu-west-1',
    });
    const disabled = subscriber({
      settings: memberSettings({ destinationArn: destination, enrollment: 'disabled' }),
    });
    expect((await disabled.handler(sample())).outcome).toBe('ignored');
    expect(await account.filters(SAMPLE_GROUP)).toStrictEqual({});
  });

  it('skips a group deleted before it could be subscribed', async () => {
    const { handler } = subscriber();
    expect(await handler(sample())).toStrictEqual({
      logGroupName: SAMPLE_GROUP,
      outcome: 'skipped',
      detail: 'log group no longer exists',
    });
  });

  it('never subscribes our own log groups', async () => {
    await account.createGroups(['/aws/lambda/log-reflector-subscriber']);
    const { handler } = subscriber();
    expect(await handler(forGroup('/aws/lambda/log-reflector-subscriber'))).toMatchObject({
      outcome: 'skipped',
      detail: 'own-log-group',
    });
    expect(await account.filters('/aws/lambda/log-reflector-subscriber')).toStrictEqual({});
  });

  it('reports a conflict (no throw, no retry) when two foreign filters hold the slots', async () => {
    await account.createGroups([SAMPLE_GROUP]);
    await account.putForeignFilter(SAMPLE_GROUP, 'a', foreignDestination);
    await account.putForeignFilter(SAMPLE_GROUP, 'b', foreignDestination);
    const { handler, recorded } = subscriber();
    expect(await handler(sample())).toMatchObject({ outcome: 'conflict', detail: 'slots held by "a", "b"' });
    expect(recorded.metrics.Conflicts).toBe(1);
    expect(
      recorded.lines.some((l) => l.level === 'warn' && l.message === 'log group conflict: not subscribed'),
    ).toBe(true);
  });

  it('retries throttling and counts it', async () => {
    await account.createGroups([SAMPLE_GROUP]);
    let throttles = 0;
    account.logs.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutSubscriptionFilterCommand' && throttles < 3) {
          throttles += 1;
          throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'throttle3' },
    );
    const { handler, recorded } = subscriber();
    expect((await handler(sample())).outcome).toBe('subscribed');
    expect(recorded.metrics.Throttled).toBe(3);
  });

  it('throws when the group still cannot be subscribed, so the event is retried and dead-lettered', async () => {
    await account.createGroups([SAMPLE_GROUP]);
    const missing = 'arn:aws:kinesis:ap-southeast-2:123456789012:stream/missing';
    const { handler, recorded } = subscriber({ settings: memberSettings({ destinationArn: missing }) }, 2);
    const error = await handler(sample()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(
      /^PutSubscriptionFilter on log group "bhavik-test-log" failed after 2 attempt\(s\): InvalidParameterException: Could not deliver test message/,
    );
    expect(recorded.metrics.Failed).toBe(1);
  });

  it('rejects an event that is not a CloudTrail CreateLogGroup event', async () => {
    const { handler } = subscriber();
    const error = await handler({ source: 'aws.s3', detail: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecodeError);
    expect((error as DecodeError).reason).toBe('schema');
    expect((error as Error).message).toMatch(/^Not a CloudTrail CreateLogGroup event: source: /);
  });
});

describe('subscriber entry point', () => {
  it('fails with a ConfigError naming the bad variable', async () => {
    vi.resetModules();
    const saved = { ...process.env };
    Object.assign(process.env, memberEnv(memberSettings({ destinationArn: destination })), {
      ENROLLMENT: 'sometimes',
    });
    try {
      const { handler } = await import('../../../member/subscriber/handler');
      const error = await handler(sample()).catch((e: unknown) => e);
      // A fresh module graph: compare by name, not by class identity.
      expect((error as Error).name).toBe('ConfigError');
      expect((error as ConfigError).issues).toStrictEqual([
        { path: 'ENROLLMENT', message: 'must be one of enabled, disabled', received: 'sometimes' },
      ]);
    } finally {
      process.env = saved;
    }
  });

  it('runs end to end from the environment (AWS_ENDPOINT_URL → moto)', async () => {
    vi.resetModules();
    await account.createGroups([SAMPLE_GROUP]);
    const saved = { ...process.env };
    Object.assign(process.env, memberEnv(memberSettings({ destinationArn: destination })), {
      AWS_REGION: SAMPLE_REGION,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    try {
      const { handler } = await import('../../../member/subscriber/handler');
      expect(await handler(sample())).toMatchObject({ outcome: 'subscribed' });
      expect(Object.keys(await account.filters(SAMPLE_GROUP))).toStrictEqual([FILTER_NAME]);
    } finally {
      process.env = saved;
    }
  });
});
