/**
 * The failure bucket (`FAILURE_BUCKET`) holds two kinds of objects, and `replay` reads both:
 *
 * 1. Ours, for records that can never be forwarded as they are (malformed):
 *    `malformed/YYYY/MM/DD/<shardId>/<sequenceNumber>.json` =
 *    `{"kind":"log-reflector/malformed","version":1,"reason":"not-gzip","message":"…",
 *      "shardId":"shardId-000000000000","sequenceNumber":"4959…","eventSourceARN":"arn:…",
 *      "approximateArrivalTimestamp":1795651200.123,"storedAt":"2026-11-26T…Z","data":"<base64 as received>"}`
 * 2. The event source mapping's on-failure destination, written by Lambda when a batch
 *    exhausted its retries or aged out: JSON with `requestContext`, `responseContext`,
 *    `version`, `timestamp`, `KinesisBatchInfo` and, for S3 destinations, `payload`: the
 *    invocation event with the full records
 *    (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html).
 *    `payload` is accepted as an object or as a JSON string of the event.
 *
 * Replayed objects move under `replayed/` (same key after the prefix), so a second replay
 * finds nothing new to send.
 */
import type { DecodeError } from '../../shared/errors';
import type { ForwardRecord } from './forward';

export const MALFORMED_PREFIX = 'malformed/';
export const REPLAYED_PREFIX = 'replayed/';
export const MALFORMED_KIND = 'log-reflector/malformed';

export interface MalformedObject {
  readonly kind: typeof MALFORMED_KIND;
  readonly version: 1;
  readonly reason: string;
  readonly message: string;
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly eventSourceARN?: string;
  readonly approximateArrivalTimestamp?: number;
  readonly storedAt: string;
  readonly data: string;
}

function safeSegment(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '_') || '_';
}

/** Object key of a malformed record: by day, shard and sequence number (idempotent rewrite). */
export function malformedKey(record: ForwardRecord, at: Date): string {
  const day = at.toISOString().slice(0, 10).replace(/-/g, '/');
  return `${MALFORMED_PREFIX}${day}/${safeSegment(record.shardId)}/${safeSegment(record.sequenceNumber)}.json`;
}

export function malformedObject(record: ForwardRecord, error: DecodeError, at: Date): MalformedObject {
  return {
    kind: MALFORMED_KIND,
    version: 1,
    reason: error.reason,
    message: error.message,
    shardId: record.shardId,
    sequenceNumber: record.sequenceNumber,
    ...(record.eventSourceARN === undefined ? {} : { eventSourceARN: record.eventSourceARN }),
    ...(record.arrivalMs === undefined ? {} : { approximateArrivalTimestamp: record.arrivalMs / 1000 }),
    storedAt: at.toISOString(),
    data: record.data,
  };
}

/** Writes one JSON object to the failure bucket (an S3 PutObject in the handler). */
export type PutJson = (key: string, body: string) => Promise<void>;

/** Writes a malformed record to the bucket. Rejects on failure (the record then fails back). */
export async function storeMalformed(
  put: PutJson,
  record: ForwardRecord,
  error: DecodeError,
  at = new Date(),
): Promise<string> {
  const key = malformedKey(record, at);
  await put(key, JSON.stringify(malformedObject(record, error, at)));
  return key;
}

export type FailureObject =
  | { readonly kind: 'malformed'; readonly records: readonly ForwardRecord[] }
  | { readonly kind: 'on-failure'; readonly records: readonly ForwardRecord[] }
  /** An on-failure record without `payload` (SQS/SNS style): the data is only in the stream. */
  | { readonly kind: 'metadata-only'; readonly shardId: string; readonly startSequenceNumber: string }
  | { readonly kind: 'unknown'; readonly reason: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function recordsFromEvent(event: unknown): ForwardRecord[] | undefined {
  if (!isObject(event) || !Array.isArray(event.Records)) return undefined;
  const out: ForwardRecord[] = [];
  for (const r of event.Records) {
    if (!isObject(r) || !isObject(r.kinesis)) return undefined;
    const k = r.kinesis;
    if (typeof k.data !== 'string' || typeof k.sequenceNumber !== 'string') return undefined;
    const eventId = typeof r.eventID === 'string' ? r.eventID : '';
    out.push({
      data: k.data,
      sequenceNumber: k.sequenceNumber,
      shardId: eventId.includes(':') ? eventId.slice(0, eventId.indexOf(':')) : 'unknown',
      ...(typeof k.approximateArrivalTimestamp === 'number'
        ? { arrivalMs: Math.round(k.approximateArrivalTimestamp * 1000) }
        : {}),
      ...(typeof r.eventSourceARN === 'string' ? { eventSourceARN: r.eventSourceARN } : {}),
    });
  }
  return out;
}

/** Recognises the text of an object in the failure bucket. Never throws. */
export function parseFailureObject(text: string): FailureObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'unknown', reason: 'not JSON' };
  }
  if (!isObject(value)) return { kind: 'unknown', reason: 'not a JSON object' };
  if (value.kind === MALFORMED_KIND) {
    if (typeof value.data !== 'string' || typeof value.sequenceNumber !== 'string') {
      return { kind: 'unknown', reason: 'malformed-record object without data or sequenceNumber' };
    }
    return {
      kind: 'malformed',
      records: [
        {
          data: value.data,
          sequenceNumber: value.sequenceNumber,
          shardId: typeof value.shardId === 'string' ? value.shardId : 'unknown',
          ...(typeof value.eventSourceARN === 'string' ? { eventSourceARN: value.eventSourceARN } : {}),
        },
      ],
    };
  }
  if (isObject(value.KinesisBatchInfo)) {
    let payload: unknown = value.payload;
    if (typeof payload === 'string') {
      try {
        payload = JSON.parse(payload);
      } catch {
        return { kind: 'unknown', reason: 'on-failure payload is a string but not JSON' };
      }
    }
    const records = recordsFromEvent(payload);
    if (records) return { kind: 'on-failure', records };
    const info = value.KinesisBatchInfo;
    return {
      kind: 'metadata-only',
      shardId: String(info.shardId ?? 'unknown'),
      startSequenceNumber: String(info.startSequenceNumber ?? 'unknown'),
    };
  }
  return { kind: 'unknown', reason: 'neither a malformed-record object nor an on-failure record' };
}
