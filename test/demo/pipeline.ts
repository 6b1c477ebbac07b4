/**
 * The data path after the subscription filter, as far as moto cannot play it:
 *
 * 1. Destinations. moto delivers a subscription filter's events only to a Kinesis stream (or
 *    Firehose, or Lambda) in the log group's own account and region
 *    (moto/logs/models.py, LogStream._send_log_events, moto 5.2); it cannot deliver to a
 *    CloudWatch Logs Destination ARN nor across accounts or regions. So each member account ×
 *    region gets a stand-in stream, our filters there point at it, and `DestinationRelay`
 *    copies its records, in order, into the central stream — what the regional
 *    `AWS::Logs::Destination` does in AWS (PutRecord into the home-region stream with its role).
 *    The payload is the one moto wrote: owner account, log group, stream, our filter's name.
 * 2. The event source mapping. `EventSourceMapping` reads each shard of the central stream in
 *    order and invokes the reflector with the Kinesis event Lambda builds, honouring partial
 *    batch responses: the lowest failed sequence number becomes the checkpoint and the batch is
 *    read again from there (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html).
 *    A function error retries the batch, split in half when BisectBatchOnFunctionError is on.
 *    After MaximumRetryAttempts retries (or when a record is older than MaximumRecordAgeInSeconds)
 *    the batch is written to the on-failure destination (the failure bucket) and skipped,
 *    as AWS does (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html).
 *    Not emulated: the batching window (batches are read as soon as records exist) and the
 *    parallelization factor (one batch per shard at a time, which keeps the per-shard order
 *    the factor keeps per partition key).
 */
import {
  CreateStreamCommand,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  KinesisClient,
  type _Record as KinesisRecord,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import type { EmulatedAccount } from './aws';

/** Name of the stand-in stream each member account × region gets. */
export const STAND_IN_STREAM = 'log-reflector-destination-stand-in';

export interface StreamRef {
  readonly client: KinesisClient;
  readonly name: string;
  readonly arn: string;
}

export async function createStream(
  account: EmulatedAccount,
  region: string,
  name: string,
  mode: { readonly onDemand: boolean } = { onDemand: false },
): Promise<StreamRef> {
  const client = account.client(KinesisClient, region);
  await client.send(
    new CreateStreamCommand(
      mode.onDemand
        ? { StreamName: name, StreamModeDetails: { StreamMode: 'ON_DEMAND' } }
        : { StreamName: name, ShardCount: 1 },
    ),
  );
  return { client, name, arn: `arn:aws:kinesis:${region}:${account.id}:stream/${name}` };
}

async function shardIds(stream: StreamRef): Promise<string[]> {
  const out = await stream.client.send(new ListShardsCommand({ StreamName: stream.name }));
  return (out.Shards ?? []).flatMap((s) => (s.ShardId ? [s.ShardId] : []));
}

async function iterator(
  stream: StreamRef,
  shardId: string,
  type: 'TRIM_HORIZON' | 'AT_SEQUENCE_NUMBER' | 'AFTER_SEQUENCE_NUMBER',
  sequenceNumber?: string,
): Promise<string> {
  const out = await stream.client.send(
    new GetShardIteratorCommand({
      StreamName: stream.name,
      ShardId: shardId,
      ShardIteratorType: type,
      ...(sequenceNumber ? { StartingSequenceNumber: sequenceNumber } : {}),
    }),
  );
  if (!out.ShardIterator) throw new Error(`no shard iterator for ${stream.name}/${shardId}`);
  return out.ShardIterator;
}

/** Copies every stand-in stream into the central stream, in order. */
export class DestinationRelay {
  private readonly sources: { stream: StreamRef; shardId: string; iterator?: string }[] = [];
  records = 0;

  constructor(private readonly central: StreamRef) {}

  async add(stream: StreamRef): Promise<void> {
    for (const shardId of await shardIds(stream)) this.sources.push({ stream, shardId });
  }

  /** Moves everything currently in the stand-ins; returns how many records moved. */
  async pump(): Promise<number> {
    let moved = 0;
    for (const source of this.sources) {
      source.iterator ??= await iterator(source.stream, source.shardId, 'TRIM_HORIZON');
      for (;;) {
        const out: GetRecordsCommandOutput = await source.stream.client.send(
          new GetRecordsCommand({ ShardIterator: source.iterator, Limit: 500 }),
        );
        if (out.NextShardIterator) source.iterator = out.NextShardIterator;
        const records = out.Records ?? [];
        if (records.length === 0) break;
        await this.put(records);
        moved += records.length;
      }
    }
    this.records += moved;
    return moved;
  }

  private async put(records: readonly KinesisRecord[]): Promise<void> {
    let todo = records.map((r) => ({
      Data: r.Data ?? new Uint8Array(),
      PartitionKey: r.PartitionKey ?? 'x',
    }));
    for (let attempt = 0; todo.length > 0; attempt += 1) {
      if (attempt > 10) throw new Error(`relay: ${todo.length} record(s) refused by the central stream`);
      const out = await this.central.client.send(
        new PutRecordsCommand({ StreamName: this.central.name, Records: todo }),
      );
      todo = todo.filter((_, i) => out.Records?.[i]?.ErrorCode !== undefined);
    }
  }
}

export interface EsmSettings {
  readonly batchSize: number;
  readonly maxRetryAttempts: number;
  readonly maxRecordAgeSeconds: number;
  readonly bisectOnError: boolean;
  readonly reportBatchItemFailures: boolean;
}

export type ReflectorInvoke = (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse | undefined>;

export interface EsmStats {
  invocations: number;
  recordsDelivered: number;
  redeliveredRecords: number;
  partialFailures: number;
  functionErrors: number;
  /** Batches given up on and written to the on-failure destination. */
  parkedBatches: number;
  parkedRecords: number;
}

interface ShardState {
  readonly shardId: string;
  /** Next record to deliver, undefined = from the trim horizon. */
  checkpoint?: string;
  /** Exclusive: the last record delivered successfully. */
  after?: string;
  retries: number;
  /** Records per invocation right now (halved by bisecting). */
  limit: number;
}

export class EventSourceMapping {
  private shards: ShardState[] = [];
  readonly stats: EsmStats = {
    invocations: 0,
    recordsDelivered: 0,
    redeliveredRecords: 0,
    partialFailures: 0,
    functionErrors: 0,
    parkedBatches: 0,
    parkedRecords: 0,
  };

  constructor(
    private readonly stream: StreamRef,
    private readonly region: string,
    private readonly settings: EsmSettings,
    private readonly invoke: ReflectorInvoke,
    private readonly onFailure: { readonly s3: S3Client; readonly bucket: string },
    private readonly functionRoleArn: string,
  ) {}

  async init(): Promise<void> {
    this.shards = (await shardIds(this.stream)).map((shardId) => ({
      shardId,
      retries: 0,
      limit: this.settings.batchSize,
    }));
  }

  /** Delivers until every shard is read to its end; returns how many invocations ran. */
  async pump(): Promise<number> {
    const before = this.stats.invocations;
    await Promise.all(this.shards.map((s) => this.pumpShard(s)));
    return this.stats.invocations - before;
  }

  private async read(shard: ShardState): Promise<KinesisRecord[]> {
    const it = shard.checkpoint
      ? await iterator(this.stream, shard.shardId, 'AT_SEQUENCE_NUMBER', shard.checkpoint)
      : shard.after
        ? await iterator(this.stream, shard.shardId, 'AFTER_SEQUENCE_NUMBER', shard.after)
        : await iterator(this.stream, shard.shardId, 'TRIM_HORIZON');
    const out = await this.stream.client.send(
      new GetRecordsCommand({ ShardIterator: it, Limit: shard.limit }),
    );
    return out.Records ?? [];
  }

  private event(shardId: string, records: readonly KinesisRecord[]): KinesisStreamEvent {
    return {
      Records: records.map((r) => ({
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: r.PartitionKey ?? '',
          sequenceNumber: r.SequenceNumber ?? '',
          data: Buffer.from(r.Data ?? new Uint8Array()).toString('base64'),
          approximateArrivalTimestamp: (r.ApproximateArrivalTimestamp?.getTime() ?? Date.now()) / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${shardId}:${r.SequenceNumber ?? ''}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: this.functionRoleArn,
        awsRegion: this.region,
        eventSourceARN: this.stream.arn,
      })),
    };
  }

  private async pumpShard(shard: ShardState): Promise<void> {
    for (;;) {
      const records = await this.read(shard);
      if (records.length === 0) return;
      const first = records[0]?.SequenceNumber;
      if (shard.checkpoint !== undefined && first === shard.checkpoint && shard.retries > 0)
        this.stats.redeliveredRecords += records.length;
      const oldest = Math.min(...records.map((r) => r.ApproximateArrivalTimestamp?.getTime() ?? Date.now()));
      const tooOld =
        this.settings.maxRecordAgeSeconds >= 0 &&
        Date.now() - oldest > this.settings.maxRecordAgeSeconds * 1000;
      const retriesLeft =
        this.settings.maxRetryAttempts < 0 || shard.retries <= this.settings.maxRetryAttempts;
      if (tooOld || !retriesLeft) {
        await this.park(shard, records, tooOld ? 'RecordAgeExceeded' : 'RetryAttemptsExhausted');
        continue;
      }
      this.stats.invocations += 1;
      this.stats.recordsDelivered += records.length;
      let response: KinesisStreamBatchResponse | undefined;
      try {
        response = await this.invoke(this.event(shard.shardId, records));
      } catch {
        this.stats.functionErrors += 1;
        if (this.settings.bisectOnError && records.length > 1) {
          shard.limit = Math.ceil(records.length / 2);
        } else shard.retries += 1;
        shard.checkpoint = first;
        continue;
      }
      const failed = this.settings.reportBatchItemFailures
        ? (response?.batchItemFailures ?? []).map((f) => f.itemIdentifier)
        : [];
      if (failed.length > 0) {
        this.stats.partialFailures += 1;
        // The lowest failed sequence number is the checkpoint; the batch is read again from it.
        const lowest = failed.reduce((a, b) => (BigInt(a) < BigInt(b) ? a : b));
        shard.retries = shard.checkpoint === lowest ? shard.retries + 1 : 1;
        shard.checkpoint = lowest;
        continue;
      }
      shard.after = records[records.length - 1]?.SequenceNumber;
      shard.checkpoint = undefined;
      shard.retries = 0;
      shard.limit = this.settings.batchSize;
    }
  }

  private async park(shard: ShardState, records: readonly KinesisRecord[], condition: string): Promise<void> {
    this.stats.parkedBatches += 1;
    this.stats.parkedRecords += records.length;
    const first = records[0]?.SequenceNumber ?? '';
    const last = records[records.length - 1]?.SequenceNumber ?? '';
    // The invocation record shape of an S3 on-failure destination (metadata + the batch).
    const body = JSON.stringify({
      requestContext: { condition, approximateInvokeCount: shard.retries + 1 },
      KinesisBatchInfo: {
        shardId: shard.shardId,
        startSequenceNumber: first,
        endSequenceNumber: last,
        batchSize: records.length,
        streamArn: this.stream.arn,
      },
      payload: this.event(shard.shardId, records),
    });
    await this.onFailure.s3.send(
      new PutObjectCommand({
        Bucket: this.onFailure.bucket,
        Key: `aws/lambda/esm/${shard.shardId}/${first}-${last}.json`,
        Body: body,
      }),
    );
    shard.after = last;
    shard.checkpoint = undefined;
    shard.retries = 0;
    shard.limit = this.settings.batchSize;
  }
}
