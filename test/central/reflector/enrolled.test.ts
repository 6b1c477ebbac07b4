/**
 * Defence in depth (issue 15.4): the reflector forwards only the enrolled accounts' events,
 * counts and logs the rest, and fails closed without losing anything when the list is missing.
 * The cache on an injected clock; the handler end to end with moto (S3) and the local Sumo source.
 */
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  EnrolledAccounts,
  LIST_TTL_MS,
  parseEnrolledList,
  STALE_GRACE_MS,
} from '../../../central/reflector/enrolled';
import { handler, logger, resetRuntime } from '../../../central/reflector/handler';
import { ENROLLED_LIST_KEY, type EnrolledList } from '../../../shared/enrollment';
import { type MotoServer, startMoto, useLocalAwsEnv } from '../../support/moto';
import { type SumoServer, startSumoServer } from '../../support/sumo-server';
import { cwlPayload, encode, forwardRecord, kinesisEvent } from './records';

const ENROLLED = '111122223333';
const OPTED_OUT = '444455556666';

function list(generation: number, accounts: string[], updatedAt = '2026-06-02T09:00:00.000Z'): EnrolledList {
  return { version: 1, generation, updatedAt, accounts };
}

describe('EnrolledAccounts (the cached list)', () => {
  it('reads once per TTL, and never steps back to an older generation', async () => {
    let now = Date.parse('2026-06-02T09:00:30.000Z');
    const served = [list(2, [ENROLLED]), list(1, [ENROLLED, OPTED_OUT]), list(3, [])];
    const source = vi.fn(async () => served.shift() as EnrolledList);
    const cache = new EnrolledAccounts(source, () => now);
    const first = await cache.view();
    expect(first).toStrictEqual({
      ok: true,
      accounts: new Set([ENROLLED]),
      generation: 2,
      ageMs: 30_000,
      stale: false,
    });
    now += LIST_TTL_MS - 1;
    await cache.view();
    expect(source).toHaveBeenCalledTimes(1);
    now += 1;
    expect(await cache.view()).toMatchObject({ generation: 2, accounts: new Set([ENROLLED]) });
    now += LIST_TTL_MS;
    expect(await cache.view()).toMatchObject({ generation: 3, accounts: new Set() });
  });

  it('fails closed when the list was never read, and after the stale grace', async () => {
    let now = 0;
    let fail = true;
    const cache = new EnrolledAccounts(
      async () => {
        if (fail) throw Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
        return list(1, [ENROLLED], new Date(0).toISOString());
      },
      () => now,
    );
    expect(await cache.view()).toStrictEqual({
      ok: false,
      reason: 'enrolled list unavailable (NoSuchKey: The specified key does not exist.)',
    });
    fail = false;
    now += LIST_TTL_MS;
    expect(await cache.view()).toMatchObject({ ok: true, stale: false });
    fail = true;
    now += LIST_TTL_MS;
    expect(await cache.view()).toMatchObject({ ok: true, stale: true });
    now += STALE_GRACE_MS;
    expect(await cache.view()).toMatchObject({ ok: false });
  });

  it('rejects a document that is not an enrolled list, naming the field', () => {
    expect(() =>
      parseEnrolledList('{"version":1,"generation":1,"updatedAt":"x","accounts":["12"]}', 's3://b/k'),
    ).toThrow('s3://b/k is not an enrolled list at accounts.0: must be a 12-digit account id');
    expect(() => parseEnrolledList('nope', 's3://b/k')).toThrow('s3://b/k is not JSON (received "nope")');
  });
});

const REGION = 'eu-west-1';
const FAILURES = 'log-reflector-failures';
const STATE = 'log-reflector-state-test';
let moto: MotoServer;
let sumo: SumoServer;
let restoreEnv: () => void;
const savedEnv = { ...process.env };
const s3 = () => new S3Client({ forcePathStyle: true });

function context(): Context {
  return { getRemainingTimeInMillis: () => 60_000 } as Context;
}

const batch = kinesisEvent([
  forwardRecord(0, encode(cwlPayload(0, 3, { owner: ENROLLED }))),
  forwardRecord(1, encode(cwlPayload(1, 2, { owner: OPTED_OUT }))),
]);

describe('reflector handler with the enrolled list', () => {
  beforeAll(async () => {
    [moto, sumo] = await Promise.all([startMoto(), startSumoServer()]);
    restoreEnv = useLocalAwsEnv(moto.endpoint, REGION);
    for (const Bucket of [FAILURES, STATE]) {
      await s3().send(
        new CreateBucketCommand({ Bucket, CreateBucketConfiguration: { LocationConstraint: REGION } }),
      );
    }
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
    process.env.FAILURE_BUCKET = FAILURES;
    process.env.ENROLLED_LIST_BUCKET = STATE;
    resetRuntime();
  });

  it('with no list, forwards nothing and hands every record back to Kinesis', async () => {
    const errors = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
    const result = await handler(batch, context());
    expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toStrictEqual(
      batch.Records.map((r) => r.kinesis.sequenceNumber),
    );
    expect(sumo.accepted()).toStrictEqual([]);
    expect(errors).toHaveBeenCalledWith('enrolled list unavailable: the batch goes back to Kinesis', {
      reason: expect.stringMatching(/^enrolled list unavailable \(NoSuchKey/),
    });
    errors.mockRestore();
  });

  it('forwards the enrolled account, counts and logs the other, and acknowledges both', async () => {
    await s3().send(
      new PutObjectCommand({
        Bucket: STATE,
        Key: ENROLLED_LIST_KEY,
        Body: JSON.stringify(list(7, [ENROLLED], new Date().toISOString())),
      }),
    );
    const warnings = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const result = await handler(batch, context());
    expect(result).toStrictEqual({ batchItemFailures: [] });
    expect(new Set(sumo.accepted().map((l) => l.account))).toStrictEqual(new Set([ENROLLED]));
    expect(sumo.accepted()).toHaveLength(3);
    expect(warnings).toHaveBeenCalledWith('events from accounts that are not enrolled were not forwarded', {
      accounts: { [OPTED_OUT]: 2 },
    });
    warnings.mockRestore();
  });
});
