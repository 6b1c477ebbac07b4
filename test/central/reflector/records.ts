/** Factories for Kinesis records holding CloudWatch Logs payloads (tests of the reflector). */
import { gzipSync } from 'node:zlib';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { ForwardRecord } from '../../../central/reflector/forward';
import type { SenderOptions } from '../../../central/reflector/sender';
import type { Clock } from '../../../shared/rate-limiter';

export interface PayloadOptions {
  readonly owner?: string;
  readonly logGroup?: string;
  readonly logStream?: string;
  readonly filter?: string;
  readonly messageType?: 'DATA_MESSAGE' | 'CONTROL_MESSAGE';
}

/** A CWL payload whose events have ids `<record>0000<j>` (digits, like AWS). */
export function cwlPayload(
  record: number,
  events: number,
  o: PayloadOptions = {},
  message?: (j: number) => string,
) {
  return {
    messageType: o.messageType ?? 'DATA_MESSAGE',
    owner: o.owner ?? '111122223333',
    logGroup: o.logGroup ?? `/aws/lambda/app-${record % 3}`,
    logStream: o.logStream ?? `2026/11/26/[$LATEST]${String(record).padStart(32, '0')}`,
    subscriptionFilters: [o.filter ?? 'log-reflector-eu-west-1'],
    logEvents: Array.from({ length: events }, (_, j) => ({
      id: eventId(record, j),
      timestamp: 1795651200000 + j,
      message: message ? message(j) : `record ${record} event ${j} ${'x'.repeat(200)}\n`,
    })),
  };
}

export function eventId(record: number, j: number): string {
  return `${record + 1}0000${j}`;
}

export function encode(payload: unknown): string {
  return gzipSync(Buffer.from(JSON.stringify(payload))).toString('base64');
}

export function forwardRecord(i: number, data: string): ForwardRecord {
  return { sequenceNumber: `4959${String(i).padStart(10, '0')}`, shardId: 'shardId-000000000000', data };
}

/** `count` records of `events` events each. */
export function makeRecords(count: number, events: number, o: PayloadOptions = {}): ForwardRecord[] {
  return Array.from({ length: count }, (_, i) => forwardRecord(i, encode(cwlPayload(i, events, o))));
}

export function kinesisEvent(records: readonly ForwardRecord[]): KinesisStreamEvent {
  return {
    Records: records.map(
      (r, i): KinesisStreamRecord => ({
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: String(i),
          sequenceNumber: r.sequenceNumber,
          data: r.data,
          approximateArrivalTimestamp: 1795651200 + i / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${r.shardId}:${r.sequenceNumber}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: 'arn:aws:iam::123456789012:role/reflector',
        awsRegion: 'eu-west-1',
        eventSourceARN: 'arn:aws:kinesis:eu-west-1:123456789012:stream/log-reflector',
      }),
    ),
  };
}

/** The CloudWatch event id inside a line's key (`<stream hash>-<id>`). */
export function idOfLine(line: Record<string, unknown>): string {
  const key = String(line.key);
  return key.slice(key.indexOf('-') + 1);
}

/**
 * Sender settings for tests against the local source: short backoff, and a request timeout
 * long enough that it never fires on a healthy answer however loaded the machine (tests of
 * timeouts set their own).
 */
export function testSenderOptions(o: Partial<SenderOptions> = {}): SenderOptions {
  return {
    gzipLevel: 6,
    requestTimeoutMs: 60_000,
    maxAttempts: 5,
    backoff: { baseMs: 5, capMs: 50 },
    maxSockets: 2,
    ...o,
  };
}

/**
 * A clock that moves only when slept on: the sender's backoff sleeps advance it at once
 * (resolving on the next turn of the event loop) and are recorded, so deadlines and
 * Retry-After are tested without waiting and without depending on the machine's speed.
 */
export function virtualClock(start = Date.now()): Clock & { t: number; sleeps: number[] } {
  const clock = {
    t: start,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: (ms: number) => {
      clock.sleeps.push(ms);
      clock.t += Math.max(0, ms);
      return new Promise<void>((resolve) => setImmediate(resolve));
    },
  };
  return clock;
}
