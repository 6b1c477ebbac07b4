/**
 * The deployed handler end to end, without AWS: moto plays S3 (failure bucket), Secrets
 * Manager (the Sumo URL), CloudWatch Logs and Kinesis (the subscription writes real gzip
 * records into a stream, read back the way the event source mapping does); a local server
 * plays the Sumo source.
 */
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  PutSubscriptionFilterCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler, resetRuntime } from '../../../central/reflector/handler';
import { bundleHandler } from '../../../shared/constructs/bundle';
import { ConfigError } from '../../../shared/errors';
import { loadEvent } from '../../support/events';
import { type MotoServer, startMoto, useLocalAwsEnv } from '../../support/moto';
import { type SumoServer, startSumoServer } from '../../support/sumo-server';
import { cwlPayload, encode, forwardRecord, kinesisEvent } from './records';

const REGION = 'eu-west-1';
const BUCKET = 'log-reflector-failures';

let moto: MotoServer;
let sumo: SumoServer;
let restoreEnv: () => void;
const savedEnv = { ...process.env };

function context(remainingMs = 60_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'log-reflector-reflector',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:log-reflector-reflector',
    memoryLimitInMB: '1024',
    awsRequestId: 'req-1',
    logGroupName: '/aws/lambda/log-reflector-reflector',
    logStreamName: 's',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

const s3 = () => new S3Client({ forcePathStyle: true });

async function objectsUnder(prefix: string): Promise<Record<string, unknown>[]> {
  const list = await s3().send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  const out: Record<string, unknown>[] = [];
  for (const o of list.Contents ?? []) {
    const got = await s3().send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key }));
    out.push({ key: o.Key, ...(JSON.parse((await got.Body?.transformToString()) ?? '{}') as object) });
  }
  return out;
}

beforeAll(async () => {
  [moto, sumo] = await Promise.all([startMoto(), startSumoServer()]);
  restoreEnv = useLocalAwsEnv(moto.endpoint, REGION);
  await s3().send(
    new CreateBucketCommand({ Bucket: BUCKET, CreateBucketConfiguration: { LocationConstraint: REGION } }),
  );
});
afterAll(async () => {
  restoreEnv();
  process.env = savedEnv;
  await Promise.all([moto.stop(), sumo.stop()]);
});
beforeEach(() => {
  sumo.reset();
  sumo.setToken('TESTTOKEN');
  process.env.SUMO_ENDPOINT = sumo.url();
  delete process.env.SUMO_ENDPOINT_SECRET_ARN;
  process.env.FAILURE_BUCKET = BUCKET;
  process.env.SUMO_BACKOFF_BASE_MS = '5';
  process.env.SUMO_BACKOFF_CAP_MS = '20';
  resetRuntime();
});

describe('reflector handler', () => {
  it('forwards the real sample event, parks a malformed record in S3 and drops a control message', async () => {
    const sample = loadEvent<KinesisStreamEvent>(
      'kinesis/cwl-kinesis-lambda-start-end-report.powertools-ts.json',
    );
    const notCwl = loadEvent<KinesisStreamEvent>('kinesis/kinesis-event-non-cwl-data.aws-lambda-go.json');
    const control = kinesisEvent([
      forwardRecord(
        9,
        encode({ ...cwlPayload(9, 0), messageType: 'CONTROL_MESSAGE', owner: 'CloudwatchLogs' }),
      ),
    ]);
    const event: KinesisStreamEvent = {
      Records: [...sample.Records, ...notCwl.Records, ...control.Records],
    };
    const result = await handler(event, context());
    expect(result).toStrictEqual({ batchItemFailures: [] });

    const lines = sumo.accepted();
    expect(lines).toHaveLength(6);
    expect(new Set(lines.map((l) => l.account))).toStrictEqual(new Set(['231436140809']));
    // The sample's filter name carries no region suffix.
    expect(new Set(lines.map((l) => l.region))).toStrictEqual(new Set(['unknown']));
    expect(lines.map((l) => l.lambda).sort()).toStrictEqual([
      'END',
      'END',
      'REPORT',
      'REPORT',
      'START',
      'START',
    ]);

    const bad = notCwl.Records[0];
    const parked = await objectsUnder('malformed/');
    // The sample holds two non-CWL records; each is parked under its own sequence number.
    expect(parked).toHaveLength(notCwl.Records.length);
    expect(parked[0]).toMatchObject({
      kind: 'log-reflector/malformed',
      version: 1,
      reason: 'not-gzip',
      shardId: bad?.eventID.split(':')[0],
      sequenceNumber: bad?.kinesis.sequenceNumber,
      data: bad?.kinesis.data,
    });
    expect(String(parked[0]?.key)).toMatch(
      new RegExp(
        `^malformed/\\d{4}/\\d{2}/\\d{2}/${bad?.eventID.split(':')[0]}/${bad?.kinesis.sequenceNumber}\\.json$`,
      ),
    );
  });

  it('hands a malformed record back to Kinesis when the failure bucket refuses it', async () => {
    process.env.FAILURE_BUCKET = 'no-such-bucket';
    const event = kinesisEvent([
      forwardRecord(0, encode(cwlPayload(0, 3))),
      forwardRecord(1, 'bm90IGd6aXA='),
    ]);
    const result = await handler(event, context());
    expect(result).toStrictEqual({
      batchItemFailures: [{ itemIdentifier: event.Records[1]?.kinesis.sequenceNumber }],
    });
    expect(sumo.accepted()).toHaveLength(3);
  });

  it('reports undelivered records as batchItemFailures when the source keeps failing', async () => {
    sumo.setPlan(() => ({ status: 503 }));
    const event = kinesisEvent([
      forwardRecord(0, encode(cwlPayload(0, 3))),
      forwardRecord(1, encode(cwlPayload(1, 3))),
    ]);
    process.env.DEADLINE_GRACE_MS = '500';
    const result = await handler(event, context(1_500));
    delete process.env.DEADLINE_GRACE_MS;
    expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toStrictEqual(
      event.Records.map((r) => r.kinesis.sequenceNumber),
    );
  });

  it('refuses a bad environment at the first invocation, naming every bad key, never echoing the URL', async () => {
    process.env.SUMO_ENDPOINT = 'ftp://secret-token-in-here';
    process.env.SUMO_CONCURRENCY = '0';
    const event = kinesisEvent([forwardRecord(0, encode(cwlPayload(0, 1)))]);
    const error = await handler(event, context()).catch((e: unknown) => e);
    delete process.env.SUMO_CONCURRENCY;
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path).sort()).toStrictEqual([
      'SUMO_CONCURRENCY',
      'SUMO_ENDPOINT',
    ]);
    // Each issue says what was expected (zod/mini's English locale, shared/zod.ts) and what came.
    expect((error as Error).message).toContain(
      'SUMO_CONCURRENCY: Too small: expected number to be >=1 (received "0")',
    );
    expect((error as Error).message).toContain('SUMO_ENDPOINT: Invalid URL (received "(redacted)")');
    expect((error as Error).message).not.toContain('secret-token-in-here');
  });

  it('reads the URL from Secrets Manager, refreshes it after a 401, and never logs it', async () => {
    const secrets = new SecretsManagerClient({});
    const created = await secrets.send(
      new CreateSecretCommand({ Name: 'log-reflector/sumo-url', SecretString: sumo.url('TOKEN-A') }),
    );
    delete process.env.SUMO_ENDPOINT;
    process.env.SUMO_ENDPOINT_SECRET_ARN = created.ARN;
    sumo.setToken('TOKEN-A');
    const out: string[] = [];
    const capture = (chunk: unknown) => {
      out.push(String(chunk));
      return true;
    };
    const spies = [
      vi.spyOn(process.stdout, 'write').mockImplementation(capture),
      vi.spyOn(process.stderr, 'write').mockImplementation(capture),
    ];
    try {
      const first = kinesisEvent([forwardRecord(0, encode(cwlPayload(0, 2)))]);
      expect(await handler(first, context())).toStrictEqual({ batchItemFailures: [] });

      // Rotation: the source now only takes TOKEN-B, and the secret holds it.
      sumo.setToken('TOKEN-B');
      await secrets.send(
        new PutSecretValueCommand({ SecretId: created.ARN, SecretString: sumo.url('TOKEN-B') }),
      );
      const second = kinesisEvent([forwardRecord(1, encode(cwlPayload(1, 2)))]);
      expect(await handler(second, context())).toStrictEqual({ batchItemFailures: [] });
      expect(sumo.requests.map((r) => [r.token, r.outcome])).toStrictEqual([
        ['TOKEN-A', 200],
        ['TOKEN-A', 401],
        ['TOKEN-B', 200],
      ]);

      // Revoked for good: the records fail back, loudly, without the URL in any log line.
      sumo.setToken('TOKEN-C');
      const third = kinesisEvent([forwardRecord(2, encode(cwlPayload(2, 2)))]);
      expect(await handler(third, context())).toStrictEqual({
        batchItemFailures: [{ itemIdentifier: third.Records[0]?.kinesis.sequenceNumber }],
      });
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const logged = out.join('');
    expect(logged).toContain('Sumo HTTP source refused the credential (HTTP 401)');
    expect(logged).not.toContain('TOKEN-');
    expect(logged).not.toContain('/receiver/v1/http');
  });

  it('forwards what CloudWatch Logs wrote into Kinesis (moto), read like the event source mapping', async () => {
    const kinesis = new KinesisClient({ requestHandler: new NodeHttpHandler() });
    const logs = new CloudWatchLogsClient({});
    await kinesis.send(new CreateStreamCommand({ StreamName: 'log-reflector', ShardCount: 1 }));
    const desc = await kinesis.send(new DescribeStreamCommand({ StreamName: 'log-reflector' }));
    const streamArn = desc.StreamDescription?.StreamARN as string;
    await logs.send(new CreateLogGroupCommand({ logGroupName: '/aws/lambda/orders' }));
    await logs.send(new CreateLogStreamCommand({ logGroupName: '/aws/lambda/orders', logStreamName: 's1' }));
    await logs.send(
      new PutSubscriptionFilterCommand({
        logGroupName: '/aws/lambda/orders',
        filterName: 'log-reflector-eu-west-1',
        filterPattern: '',
        destinationArn: streamArn,
        roleArn: 'arn:aws:iam::123456789012:role/cwl-to-kinesis',
      }),
    );
    const now = Date.now();
    const messages = [
      '{"level":"info","msg":"order placed"}',
      'plain text line',
      `START RequestId: ${'a'.repeat(8)}-0000-0000-0000-000000000000 Version: $LATEST`,
    ];
    await logs.send(
      new PutLogEventsCommand({
        logGroupName: '/aws/lambda/orders',
        logStreamName: 's1',
        logEvents: messages.map((message, i) => ({ timestamp: now + i, message })),
      }),
    );
    const shardId = desc.StreamDescription?.Shards?.[0]?.ShardId as string;
    const it0 = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: 'log-reflector',
        ShardId: shardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const got = await kinesis.send(new GetRecordsCommand({ ShardIterator: it0.ShardIterator }));
    const records = got.Records ?? [];
    expect(records.length).toBeGreaterThan(0);
    const event: KinesisStreamEvent = {
      Records: records.map((r) => ({
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: r.PartitionKey ?? '',
          sequenceNumber: r.SequenceNumber ?? '',
          data: Buffer.from(r.Data ?? new Uint8Array()).toString('base64'),
          approximateArrivalTimestamp: (r.ApproximateArrivalTimestamp?.getTime() ?? now) / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${shardId}:${r.SequenceNumber}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: 'arn:aws:iam::123456789012:role/reflector',
        awsRegion: REGION,
        eventSourceARN: streamArn,
      })),
    };
    expect(await handler(event, context())).toStrictEqual({ batchItemFailures: [] });
    const lines = sumo.accepted();
    expect(lines.map((l) => l.message)).toStrictEqual([
      { level: 'info', msg: 'order placed' },
      'plain text line',
      messages[2],
    ]);
    expect(lines.every((l) => l.region === REGION && l.account === '123456789012')).toBe(true);
    expect(lines.every((l) => l.logGroup === '/aws/lambda/orders' && l.logStream === 's1')).toBe(true);
    expect(sumo.requests[0]?.headers['x-sumo-category']).toBe(
      'aws/cloudwatch/123456789012/eu-west-1/aws/lambda/orders',
    );
  });
});

describe('reflector bundle', () => {
  it('stays within 150 KB minified, as deployed inline', () => {
    const bundle = bundleHandler('central/reflector/handler.ts');
    expect(bundle.bytes).toBeLessThanOrEqual(150 * 1024);
    expect(bundle.code).not.toContain('aws-cdk-lib');
  });
});
