/**
 * `log-reflector replay` against moto S3 (the failure bucket) and a local Sumo source: both
 * kinds of objects (ours for malformed records, the event source mapping's on-failure
 * records with their payload), dry run, moving to replayed/, and replaying twice.
 */
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../central/cli/main';
import { MALFORMED_KIND, parseFailureObject } from '../../../central/reflector/failure-store';
import { type MotoServer, startMoto, useLocalAwsEnv } from '../../support/moto';
import { type SumoServer, startSumoServer } from '../../support/sumo-server';
import { cwlPayload, encode, eventId, forwardRecord, idOfLine, kinesisEvent } from './records';

const BUCKET = 'log-reflector-failures';
let moto: MotoServer;
let sumo: SumoServer;
let restoreEnv: () => void;
const s3 = () => new S3Client({ forcePathStyle: true });

/** An on-failure record as Lambda writes it to an S3 destination (payload = the invocation event). */
function onFailureObject(payloadAsString: boolean, records: number[]): string {
  const event = kinesisEvent(records.map((r) => forwardRecord(r, encode(cwlPayload(r, 4)))));
  return JSON.stringify({
    requestContext: {
      requestId: 'c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5',
      functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:log-reflector-reflector',
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 3,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    timestamp: '2026-11-26T00:38:06.021Z',
    KinesisBatchInfo: {
      shardId: 'shardId-000000000000',
      startSequenceNumber: event.Records[0]?.kinesis.sequenceNumber,
      endSequenceNumber: event.Records.at(-1)?.kinesis.sequenceNumber,
      approximateArrivalOfFirstRecord: '2026-11-26T00:38:04.835Z',
      approximateArrivalOfLastRecord: '2026-11-26T00:38:05.580Z',
      batchSize: records.length,
      streamArn: 'arn:aws:kinesis:eu-west-1:123456789012:stream/log-reflector',
    },
    payload: payloadAsString ? JSON.stringify(event) : event,
  });
}

function malformedObject(data: string, seq: string): string {
  return JSON.stringify({
    kind: MALFORMED_KIND,
    version: 1,
    reason: 'schema',
    message: 'x',
    shardId: 'shardId-000000000000',
    sequenceNumber: seq,
    storedAt: '2026-11-26T00:00:00.000Z',
    data,
  });
}

async function put(key: string, body: string) {
  await s3().send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
}

async function keys(): Promise<string[]> {
  const out = await s3().send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

async function cli(args: string[]): Promise<{ code: number; stdout: string }> {
  const out: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
  try {
    const code = await main(['node', 'log-reflector', 'replay', ...args]);
    return { code, stdout: out.join('') };
  } finally {
    spy.mockRestore();
  }
}

beforeAll(async () => {
  [moto, sumo] = await Promise.all([startMoto(), startSumoServer()]);
  restoreEnv = useLocalAwsEnv(moto.endpoint, 'eu-west-1');
  process.env.SUMO_ENDPOINT = sumo.url();
});
afterAll(async () => {
  restoreEnv();
  delete process.env.SUMO_ENDPOINT;
  await Promise.all([moto.stop(), sumo.stop()]);
});
beforeEach(async () => {
  await moto.reset();
  sumo.reset();
  await s3().send(
    new CreateBucketCommand({
      Bucket: BUCKET,
      CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' },
    }),
  );
  // Two on-failure files (payload as object and as string), a malformed record that decodes
  // now (a fixed decoder), one that never will, and a metadata-only record.
  await put('aws/lambda/esm-uuid/shardId-000000000000/2026/11/26/a.json', onFailureObject(false, [0, 1]));
  await put('aws/lambda/esm-uuid/shardId-000000000000/2026/11/26/b.json', onFailureObject(true, [2]));
  await put(
    'malformed/2026/11/26/shardId-000000000000/5.json',
    malformedObject(encode(cwlPayload(5, 3)), '5'),
  );
  await put('malformed/2026/11/26/shardId-000000000000/6.json', malformedObject('SGVsbG8gV29ybGQ=', '6'));
  const metaOnly = JSON.parse(onFailureObject(false, [7])) as Record<string, unknown>;
  delete metaOnly.payload;
  await put('sqs-style/meta.json', JSON.stringify(metaOnly));
});

describe('log-reflector replay', () => {
  it('--dry-run counts what it would send and sends and moves nothing', async () => {
    const { code, stdout } = await cli(['--bucket', BUCKET, '--dry-run', '--json']);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as { counts: Record<string, number>; records: number; events: number };
    expect(summary.counts).toStrictEqual({
      replayed: 0,
      'would-replay': 4,
      failed: 0,
      'still-malformed': 0,
      skipped: 1,
    });
    expect(summary.records).toBe(5);
    expect(summary.events).toBe(4 * 3 + 3);
    expect(sumo.requests).toStrictEqual([]);
    expect(await keys()).toHaveLength(5);
  });

  it('re-drives both kinds, moves what was delivered under replayed/, and sends nothing new twice', async () => {
    const first = await cli(['--bucket', BUCKET, '--json']);
    // One object is still malformed: that is a failure the operator must see.
    expect(first.code).toBe(1);
    const summary = JSON.parse(first.stdout) as { counts: Record<string, number> };
    expect(summary.counts).toStrictEqual({
      replayed: 3,
      'would-replay': 0,
      failed: 0,
      'still-malformed': 1,
      skipped: 1,
    });
    const ids = sumo.accepted().map(idOfLine).sort();
    const expected = [
      ...[0, 1, 2].flatMap((r) => [0, 1, 2, 3].map((j) => eventId(r, j))),
      ...[0, 1, 2].map((j) => eventId(5, j)),
    ].sort();
    expect(ids).toStrictEqual(expected);
    expect(await keys()).toStrictEqual([
      'malformed/2026/11/26/shardId-000000000000/6.json',
      'replayed/aws/lambda/esm-uuid/shardId-000000000000/2026/11/26/a.json',
      'replayed/aws/lambda/esm-uuid/shardId-000000000000/2026/11/26/b.json',
      'replayed/malformed/2026/11/26/shardId-000000000000/5.json',
      'sqs-style/meta.json',
    ]);

    sumo.reset();
    const second = await cli(['--bucket', BUCKET]);
    expect(second.stdout).toContain('0 replayed');
    expect(sumo.requests).toStrictEqual([]);
  });

  it('keeps an object whose records Sumo did not accept', async () => {
    sumo.setToken('REVOKED');
    const { code, stdout } = await cli(['--bucket', BUCKET, '--prefix', 'aws/', '--json']);
    expect(code).toBe(1);
    expect((JSON.parse(stdout) as { counts: Record<string, number> }).counts.failed).toBe(2);
    expect((await keys()).filter((k) => k.startsWith('replayed/'))).toStrictEqual([]);
    sumo.setToken('TESTTOKEN');
  });
});

describe('parseFailureObject', () => {
  it('recognises each kind and never throws', () => {
    expect(parseFailureObject('not json')).toStrictEqual({ kind: 'unknown', reason: 'not JSON' });
    expect(parseFailureObject('{"a":1}').kind).toBe('unknown');
    expect(parseFailureObject(onFailureObject(true, [1, 2])).kind).toBe('on-failure');
    expect(parseFailureObject(malformedObject('x', '1'))).toStrictEqual({
      kind: 'malformed',
      records: [{ data: 'x', sequenceNumber: '1', shardId: 'shardId-000000000000' }],
    });
  });
});
