/**
 * The deployed handler end to end, without AWS: moto plays S3 (failure bucket), Secrets
 * Manager (the Sumo URL), CloudWatch Logs and Kinesis (the subscription writes real gzip
 * records into a stream, read back the way the event source mapping does); a local server
 * plays the Sumo source, and a server that accepts connections and never answers plays a
 * stalled AWS endpoint.
 *
 * The handler logs (Powertools) and publishes metrics (EMF) on stdout: every test captures
 * that output and asserts on what it expects there, and prints it when the test fails.
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
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler, resetRuntime } from '../../../central/reflector/handler';
import { bundleHandler } from '../../../shared/constructs/bundle';
import { ConfigError } from '../../../shared/errors';
import { loadEvent } from '../../support/events';
import { type MotoServer, startMoto, useLocalAwsEnv } from '../../support/moto';
import { type RawServer, startRawServer } from '../../support/raw-http-server';
import { type SumoServer, startSumoServer } from '../../support/sumo-server';
import { cwlPayload, encode, forwardRecord, kinesisEvent } from './records';

const REGION = 'eu-west-1';
const BUCKET = 'log-reflector-failures';

let moto: MotoServer;
let sumo: SumoServer;
/** Accepts connections, reads requests, never answers. */
let stalled: RawServer;
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
  [moto, sumo, stalled] = await Promise.all([startMoto(), startSumoServer(), startRawServer()]);
  restoreEnv = useLocalAwsEnv(moto.endpoint, REGION);
  await s3().send(
    new CreateBucketCommand({ Bucket: BUCKET, CreateBucketConfiguration: { LocationConstraint: REGION } }),
  );
});
afterAll(async () => {
  restoreEnv();
  process.env = savedEnv;
  await Promise.all([moto.stop(), sumo.stop(), stalled.stop()]);
});

/** What the handler wrote on stdout and stderr during the current test. */
let output: string[] = [];
let restoreOutput: () => void = () => undefined;
beforeEach((ctx) => {
  output = [];
  const capture = (chunk: unknown) => {
    output.push(String(chunk));
    return true;
  };
  const realStderr = process.stderr.write.bind(process.stderr);
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation(capture),
    vi.spyOn(process.stderr, 'write').mockImplementation(capture),
  ];
  restoreOutput = () => {
    for (const spy of spies) spy.mockRestore();
  };
  // Hidden while it is expected; shown when the test fails.
  ctx.onTestFailed(() => {
    realStderr(`--- handler output of the failed test ---\n${output.join('')}\n`);
  });
});
afterEach(() => restoreOutput());

/** The JSON lines the handler wrote: log lines (`level`) and EMF metric sets (`_aws`). */
function written(): Record<string, unknown>[] {
  return output
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
const logged = (level: string) =>
  written()
    .filter((l) => l.level === level)
    .map((l) => l.message);
const metrics = () => written().filter((l) => '_aws' in l);

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
    expect(logged('WARN')).toStrictEqual([
      'malformed record parked in the failure bucket',
      'malformed record parked in the failure bucket',
    ]);
    expect(logged('ERROR')).toStrictEqual([]);
    expect(metrics()).toMatchObject([{ Records: 5, EventsSent: 6, MalformedRecords: 2, ControlMessages: 1 }]);
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
    expect(logged('ERROR')).toStrictEqual(['could not park a malformed record; it goes back to Kinesis']);
    expect(metrics()).toMatchObject([{ FailedRecords: 1, MalformedRecords: 1 }]);
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
    expect(logged('ERROR')).toStrictEqual(['Sumo delivery failed; records go back to Kinesis']);
    expect(metrics()).toMatchObject([{ FailedRecords: 2, EventsSent: 0 }]);
  });

  it('fails a malformed record back to Kinesis, in time, when the failure bucket never answers', async () => {
    // S3 accepts the connection and never answers: before, PutObject waited until Lambda
    // killed the invocation and the whole batch came back; now the wait ends at the deadline.
    process.env.AWS_ENDPOINT_URL = stalled.url;
    process.env.DEADLINE_GRACE_MS = '500';
    const before = stalled.requests.length;
    try {
      const event = kinesisEvent([
        forwardRecord(0, encode(cwlPayload(0, 3))),
        forwardRecord(1, 'bm90IGd6aXA='),
      ]);
      // Time enough for the healthy record and for the SDK to reach the bucket on a loaded
      // machine; the stalled PutObject then waits until the deadline, 5.5 s in.
      const result = await handler(event, context(6_000));
      expect(result).toStrictEqual({
        batchItemFailures: [{ itemIdentifier: event.Records[1]?.kinesis.sequenceNumber }],
      });
      expect(sumo.accepted()).toHaveLength(3);
      expect(stalled.requests.length - before).toBeGreaterThanOrEqual(1);
      expect(stalled.requests.at(-1)?.head).toMatch(/^PUT \/log-reflector-failures\/malformed\//);
      expect(written().find((l) => l.level === 'ERROR')?.error).toMatch(
        /^PutObject into the failure bucket did not finish in the \d+ ms left before the deadline$/,
      );
    } finally {
      process.env.AWS_ENDPOINT_URL = moto.endpoint;
      delete process.env.DEADLINE_GRACE_MS;
    }
  });

  it('fails every record back to Kinesis, in time, when Secrets Manager never answers', async () => {
    process.env.AWS_ENDPOINT_URL = stalled.url;
    process.env.DEADLINE_GRACE_MS = '500';
    delete process.env.SUMO_ENDPOINT;
    process.env.SUMO_ENDPOINT_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sumo-AbCdEf';
    const before = stalled.requests.length;
    try {
      const event = kinesisEvent([
        forwardRecord(0, encode(cwlPayload(0, 3))),
        forwardRecord(1, encode(cwlPayload(1, 3))),
      ]);
      const result = await handler(event, context(6_000));
      expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toStrictEqual(
        event.Records.map((r) => r.kinesis.sequenceNumber),
      );
      expect(sumo.requests).toStrictEqual([]);
      expect(
        stalled.requests
          .slice(before)
          .some((r) => /x-amz-target: secretsmanager.GetSecretValue/i.test(r.head)),
      ).toBe(true);
      expect(written().find((l) => l.level === 'ERROR')?.reason).toMatch(
        /GetSecretValue of arn:aws:secretsmanager:.* did not finish/,
      );
    } finally {
      process.env.AWS_ENDPOINT_URL = moto.endpoint;
      delete process.env.DEADLINE_GRACE_MS;
      delete process.env.SUMO_ENDPOINT_SECRET_ARN;
    }
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
    const text = output.join('');
    expect(text).toContain('Sumo HTTP source refused the credential (HTTP 401)');
    expect(text).not.toContain('TOKEN-');
    expect(text).not.toContain('/receiver/v1/http');
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
