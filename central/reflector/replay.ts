/**
 * Re-drives records from the failure bucket through the forwarder core: our malformed-record
 * objects and the event source mapping's on-failure objects (see failure-store.ts). An object
 * whose records were all accepted by Sumo moves under `replayed/`, so replaying twice sends
 * nothing new the second time; an object with any failure stays where it is (its accepted
 * lines carry idempotency keys, so a later replay's duplicates can be removed downstream).
 * Records still malformed are reported and left in place: never rewritten, never dropped.
 */
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { decodeRecordData } from '../../shared/decode';
import { type FailureObject, parseFailureObject, REPLAYED_PREFIX } from './failure-store';
import { type ForwardConfig, type ForwardRecord, forwardRecords } from './forward';
import type { SumoSender } from './sender';

export type ReplayStatus = 'replayed' | 'would-replay' | 'failed' | 'still-malformed' | 'skipped';

export interface ReplayObjectOutcome {
  readonly key: string;
  readonly kind: FailureObject['kind'];
  readonly status: ReplayStatus;
  readonly records: number;
  readonly events: number;
  readonly detail?: string;
}

export interface ReplaySummary {
  readonly bucket: string;
  readonly prefix: string;
  readonly dryRun: boolean;
  readonly objects: number;
  readonly records: number;
  readonly events: number;
  readonly counts: Readonly<Record<ReplayStatus, number>>;
  readonly outcomes: readonly ReplayObjectOutcome[];
}

export interface ReplayOptions {
  readonly bucket: string;
  readonly prefix?: string;
  readonly dryRun: boolean;
  /** Time allowed per object (ms). */
  readonly objectTimeoutMs?: number;
}

export interface ReplayDeps {
  readonly s3: S3Client;
  /** Needed unless dryRun. */
  readonly sender?: SumoSender;
  readonly config: ForwardConfig;
  /** Called once with the number of objects found, before the first one is replayed. */
  readonly onStart?: (objects: number) => void;
  readonly onObject?: (outcome: ReplayObjectOutcome) => void;
}

/** Keys under `prefix`, except those already replayed. */
export async function listFailureObjects(s3: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) {
      if (o.Key && !o.Key.startsWith(REPLAYED_PREFIX) && !o.Key.endsWith('/')) keys.push(o.Key);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

function countEvents(records: readonly ForwardRecord[]): number {
  let n = 0;
  for (const r of records) {
    const d = decodeRecordData(r.data);
    if (d.kind === 'data') n += d.payload.logEvents.length;
    else if (d.kind === 'large') n += d.eventCount;
  }
  return n;
}

async function moveToReplayed(s3: S3Client, bucket: string, key: string): Promise<void> {
  await s3.send(
    new CopyObjectCommand({
      Bucket: bucket,
      Key: `${REPLAYED_PREFIX}${key}`,
      CopySource: `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
    }),
  );
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

async function replayOne(
  key: string,
  options: ReplayOptions,
  deps: ReplayDeps,
): Promise<ReplayObjectOutcome> {
  const got = await deps.s3.send(new GetObjectCommand({ Bucket: options.bucket, Key: key }));
  const text = (await got.Body?.transformToString('utf8')) ?? '';
  const parsed = parseFailureObject(text);
  if (parsed.kind === 'unknown')
    return { key, kind: parsed.kind, status: 'skipped', records: 0, events: 0, detail: parsed.reason };
  if (parsed.kind === 'metadata-only') {
    return {
      key,
      kind: parsed.kind,
      status: 'skipped',
      records: 0,
      events: 0,
      detail: `no payload: read shard ${parsed.shardId} from ${parsed.startSequenceNumber} while the stream retains it`,
    };
  }
  const records = parsed.records;
  const events = countEvents(records);
  if (options.dryRun)
    return { key, kind: parsed.kind, status: 'would-replay', records: records.length, events };
  const sender = deps.sender;
  if (!sender) throw new Error('replay needs a Sumo sender unless --dry-run');
  const stillMalformed: string[] = [];
  const result = await forwardRecords(
    records,
    Date.now() + (options.objectTimeoutMs ?? 300_000),
    deps.config,
    {
      window: sender.window,
      deliver: (chunk, deadline, stats) => sender.deliver(chunk, deadline, stats),
      storeMalformed: async (_record, error) => {
        stillMalformed.push(error.reason);
        throw error; // leave the object where it is
      },
    },
  );
  if (stillMalformed.length > 0) {
    return {
      key,
      kind: parsed.kind,
      status: 'still-malformed',
      records: records.length,
      events,
      detail: `still malformed: ${[...new Set(stillMalformed)].join(', ')}`,
    };
  }
  if (result.failed.length > 0) {
    return {
      key,
      kind: parsed.kind,
      status: 'failed',
      records: records.length,
      events,
      detail: `${result.failed.length} record(s) not accepted by Sumo`,
    };
  }
  await moveToReplayed(deps.s3, options.bucket, key);
  return { key, kind: parsed.kind, status: 'replayed', records: records.length, events };
}

/** Replays every object under the prefix, one at a time; reports each through `onObject`. */
export async function replayBucket(options: ReplayOptions, deps: ReplayDeps): Promise<ReplaySummary> {
  const prefix = options.prefix ?? '';
  const keys = await listFailureObjects(deps.s3, options.bucket, prefix);
  deps.onStart?.(keys.length);
  const outcomes: ReplayObjectOutcome[] = [];
  const counts: Record<ReplayStatus, number> = {
    replayed: 0,
    'would-replay': 0,
    failed: 0,
    'still-malformed': 0,
    skipped: 0,
  };
  for (const key of keys) {
    const outcome = await replayOne(key, options, deps);
    counts[outcome.status]++;
    outcomes.push(outcome);
    deps.onObject?.(outcome);
  }
  return {
    bucket: options.bucket,
    prefix,
    dryRun: options.dryRun,
    objects: keys.length,
    records: outcomes.reduce((n, o) => n + o.records, 0),
    events: outcomes.reduce((n, o) => n + o.events, 0),
    counts,
    outcomes,
  };
}
