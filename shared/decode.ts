/**
 * Decoding of CloudWatch Logs subscription payloads, as they arrive in a Kinesis record:
 * base64 (in the Lambda event) → gzip (possibly several members) → UTF-8 JSON → the payload
 * schema below (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html).
 *
 * `decodeRecordData` never throws: every input is classified as `data`, `control` or
 * `malformed` (with a `DecodeError` naming the reason), so one bad record can never fail a
 * batch or be retried forever.
 *
 * Speed matters here (the reflector decodes ~100k events/s on one core), so a hand-written
 * structural check runs first; the zod schema is the reference and runs only when the fast
 * check refuses a payload, to produce the precise error. A property test keeps the two in step.
 *
 * Memory matters too: a record is up to 1 MiB compressed (10 MiB opt-in) and may inflate to
 * tens of MB of tiny events (a custom writer to the stream can do this). One `JSON.parse`
 * costs about five times the inflated size (331 MB of RSS for 64 MiB of 40-byte events,
 * measured), so payloads above `STREAM_FROM_BYTES` are checked and read event by event
 * (`large`): memory stays about their inflated size.
 *
 * Runtime code: imports `zod/mini` (tree-shakable; full `zod` would add ~400 KB to the
 * inline Lambda bundle).
 */
import { gunzipSync } from 'node:zlib';
import { DecodeError, describeValue } from './errors';
import * as z from './zod';

/**
 * One log event. `id` arrives as a 56-digit string from AWS and as a number from moto; it is
 * always a string after decoding: a number keeps the digits it was written with (a double
 * holds 15–17 significant digits, and the id is half of the idempotency key). Numbers must
 * be finite (`1e400` parses to Infinity, which is not JSON). A sample: `{"id":"3692518522609403454563347873485804321895751987604653670","timestamp":1510109208016,"message":"START RequestId: …\n"}`.
 */
export const LogEventSchema = z.object({
  id: z.pipe(
    z.union([z.string(), z.number()]),
    z.transform((v) => String(v)),
  ),
  timestamp: z.number(),
  message: z.string(),
});
export type LogEvent = z.infer<typeof LogEventSchema>;

/**
 * The decoded subscription payload. A sample DATA_MESSAGE:
 * `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/f","logStream":"2026/11/26/[$LATEST]ab…","subscriptionFilters":["log-reflector-eu-west-1"],"logEvents":[…]}`.
 * CONTROL_MESSAGE payloads (sent when a subscription is created, to check the destination)
 * have owner `CloudwatchLogs`, empty group and stream, and are acknowledged and dropped.
 */
export const CwlPayloadSchema = z.object({
  messageType: z.enum(['DATA_MESSAGE', 'CONTROL_MESSAGE']),
  owner: z.string(),
  logGroup: z.string(),
  logStream: z.string(),
  subscriptionFilters: z.array(z.string()),
  logEvents: z.array(LogEventSchema),
});
export type CwlPayload = z.infer<typeof CwlPayloadSchema>;

/** A payload without its events (a `large` payload's events are read one at a time). */
export type CwlPayloadHead = Omit<CwlPayload, 'logEvents'>;

export type DecodeResult =
  | { readonly kind: 'data'; readonly payload: CwlPayload }
  /** A DATA_MESSAGE above `STREAM_FROM_BYTES`: already checked whole; events parsed on demand. */
  | {
      readonly kind: 'large';
      readonly head: CwlPayloadHead;
      readonly eventCount: number;
      events(): IterableIterator<LogEvent>;
    }
  | { readonly kind: 'control' }
  | { readonly kind: 'malformed'; readonly error: DecodeError };

/** The events of a decoded DATA_MESSAGE, whichever way it was decoded. */
export function eventsOf(d: Extract<DecodeResult, { kind: 'data' | 'large' }>): Iterable<LogEvent> {
  return d.kind === 'data' ? d.payload.logEvents : d.events();
}

/**
 * The largest payload we inflate. A Kinesis record is ≤ 1 MiB (10 MiB opt-in,
 * https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html) and a CWL
 * batch is ≤ 1 MB of events (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html),
 * so anything that inflates beyond this is not a CWL payload (or a gzip bomb).
 */
export const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/**
 * Payloads that inflate beyond this are decoded event by event (see the file comment). Real
 * CloudWatch Logs payloads stay far below it (a PutLogEvents batch is ≤ 1 MB of events), so
 * the usual path is one `JSON.parse`.
 */
export const STREAM_FROM_BYTES = 8 * 1024 * 1024;

function malformed(reason: string, message: string, cause?: unknown): DecodeResult {
  return { kind: 'malformed', error: new DecodeError(reason, message, { cause }) };
}

/** Exact decoded length of canonical base64 text, or -1 when the length cannot be canonical. */
function base64DecodedLength(text: string): number {
  const n = text.length;
  if (n % 4 !== 0) return -1;
  let pad = 0;
  if (n > 0 && text.charCodeAt(n - 1) === 61) pad++;
  if (n > 1 && text.charCodeAt(n - 2) === 61) pad++;
  return (n / 4) * 3 - pad;
}

/** Fast check of the fields besides the events (see `fastCheck`). */
function fastCheckHead(p: Record<string, unknown>): boolean {
  if (p.messageType !== 'DATA_MESSAGE' && p.messageType !== 'CONTROL_MESSAGE') return false;
  if (typeof p.owner !== 'string' || typeof p.logGroup !== 'string' || typeof p.logStream !== 'string') {
    return false;
  }
  const filters = p.subscriptionFilters;
  if (!Array.isArray(filters)) return false;
  for (let i = 0; i < filters.length; i++) if (typeof filters[i] !== 'string') return false;
  return true;
}

/** What `fastCheckEvent` found: not an event, an event with a string id, or a numeric id. */
const NOT_EVENT = 0;
const STRING_ID = 1;
const NUMBER_ID = 2;

/** Fast check of one event, as `LogEventSchema` (finite numbers: zod refuses ±Infinity). */
function fastCheckEvent(e: Record<string, unknown> | null): number {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return NOT_EVENT;
  const t = e.timestamp;
  if (typeof t !== 'number' || !Number.isFinite(t) || typeof e.message !== 'string') return NOT_EVENT;
  const id = e.id;
  if (typeof id === 'string') return STRING_ID;
  return typeof id === 'number' && Number.isFinite(id) ? NUMBER_ID : NOT_EVENT;
}

/**
 * Fast structural check, equivalent to `CwlPayloadSchema`. Returns NOT_EVENT when the zod
 * schema must be consulted for the exact error, NUMBER_ID when some event id is a number
 * (its digits must then be read from the source text), STRING_ID otherwise.
 */
function fastCheck(value: unknown): number {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return NOT_EVENT;
  const p = value as Record<string, unknown>;
  if (!fastCheckHead(p)) return NOT_EVENT;
  const events = p.logEvents;
  if (!Array.isArray(events)) return NOT_EVENT;
  let found = STRING_ID;
  for (let i = 0; i < events.length; i++) {
    const kind = fastCheckEvent(events[i] as Record<string, unknown> | null);
    if (kind === NOT_EVENT) return NOT_EVENT;
    if (kind === NUMBER_ID) found = NUMBER_ID;
  }
  return found;
}

function schemaError(
  value: unknown,
  error: z.core.$ZodError,
  prefix: readonly PropertyKey[] = [],
): DecodeResult {
  const issue = error.issues[0];
  const path = [...prefix, ...(issue?.path ?? [])].join('.') || '(root)';
  const received = issue ? pathValue(value, issue.path) : value;
  return malformed(
    'schema',
    `CloudWatch Logs payload does not match the schema at ${path}: ${issue?.message ?? 'invalid'} (received ${describeValue(received)})`,
  );
}

/**
 * Classifies an already-parsed JSON value (used by `decodeRecordData` and by tests).
 * `source`, the JSON text the value was parsed from, supplies the digits of numeric event
 * ids; without it they are written as JavaScript prints the number.
 */
export function classifyPayload(value: unknown, source?: Buffer): DecodeResult {
  let payload: CwlPayload;
  const checked = fastCheck(value);
  if (checked !== NOT_EVENT) {
    payload = value as CwlPayload;
    if (checked === NUMBER_ID) numericIdsAsWritten(payload.logEvents, source);
  } else {
    const parsed = CwlPayloadSchema.safeParse(value);
    if (!parsed.success) return schemaError(value, parsed.error);
    payload = parsed.data;
  }
  if (payload.messageType === 'CONTROL_MESSAGE') return { kind: 'control' };
  return { kind: 'data', payload };
}

/** Replaces numeric ids by the digits they were written with in `source` (or String(id)). */
function numericIdsAsWritten(events: LogEvent[], source: Buffer | undefined): void {
  let last: ArraySpans | null | undefined;
  try {
    const spans = source === undefined ? undefined : scanPayload(source);
    last = spans?.logEvents[spans.logEvents.length - 1];
  } catch {
    last = undefined; // not reached for text JSON.parse accepted; String(id) then
  }
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as { id: unknown };
    if (typeof e.id !== 'number') continue;
    const raw = last && source && i < last.count ? idText(source, last.from(i), last.to(i)) : undefined;
    e.id = raw ?? String(e.id);
  }
}

function pathValue(value: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * Decodes the `kinesis.data` of one record. Never throws.
 * Reasons: `empty`, `not-base64`, `not-gzip`, `corrupt-gzip`, `too-large`, `not-json`, `schema`.
 */
export function decodeRecordData(data: string): DecodeResult {
  if (data.length === 0) return malformed('empty', 'Kinesis record data is empty (received "")');
  const expected = base64DecodedLength(data);
  const bytes = Buffer.from(data, 'base64');
  // Node's decoder skips characters outside the alphabet; a length mismatch reveals them.
  if (expected < 0 || bytes.length !== expected) {
    return malformed('not-base64', `Kinesis record data is not base64 (received ${describeValue(data, 60)})`);
  }
  return decodeGzipPayload(bytes);
}

/**
 * Output buffer size for inflating `bytes`: the gzip trailer's ISIZE, the last member's
 * inflated length mod 2^32 (RFC 1952 §2.3.1), so a payload inflates into one buffer instead
 * of zlib's default 16 KiB steps joined at the end (measured on the benchmark payloads: 26 %
 * less CPU for gunzip; for a payload near MAX_INFLATED_BYTES, no second copy at the end).
 * Only a size hint: a wrong trailer (multi-member, corrupt, hostile) costs more steps or an
 * allocation whose untouched pages never become resident, never a wrong result.
 */
function inflateChunkSize(bytes: Buffer): number {
  const isize = bytes.length >= 18 ? bytes.readUInt32LE(bytes.length - 4) : 0;
  return Math.min(MAX_INFLATED_BYTES + 64, Math.max(16 * 1024, isize + 64));
}

/** Decodes gzip bytes (one or more members) holding a subscription payload. Never throws. */
export function decodeGzipPayload(bytes: Buffer): DecodeResult {
  if (bytes.length === 0) return malformed('empty', 'Kinesis record data is empty (0 bytes after base64)');
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    return malformed(
      'not-gzip',
      `Kinesis record data is not gzip (first bytes ${bytes.subarray(0, 4).toString('hex')}, ${bytes.length} bytes)`,
    );
  }
  let raw: Buffer;
  try {
    // Node's gunzip inflates every member of a multi-member stream, as CWL may send.
    raw = gunzipSync(bytes, { maxOutputLength: MAX_INFLATED_BYTES, chunkSize: inflateChunkSize(bytes) });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      return malformed('too-large', `gzip payload inflates beyond ${MAX_INFLATED_BYTES} bytes`, err);
    }
    return malformed('corrupt-gzip', `gzip payload is corrupt: ${(err as Error).message}`, err);
  }
  return decodeInflated(raw);
}

/**
 * Decodes inflated payload text: one JSON.parse up to `streamFromBytes`, event by event
 * above (tests lower the threshold to hold the two paths to the same results).
 */
export function decodeInflated(raw: Buffer, streamFromBytes = STREAM_FROM_BYTES): DecodeResult {
  return raw.length > streamFromBytes ? decodeLarge(raw) : decodeJson(raw);
}

function notJson(raw: Buffer, what: string, cause?: unknown): DecodeResult {
  return malformed(
    'not-json',
    `inflated payload is not JSON: ${what} (received ${describeValue(raw.toString('utf8', 0, 60))})`,
    cause,
  );
}

function decodeJson(raw: Buffer): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    return notJson(raw, (err as Error).message, err);
  }
  return classifyPayload(value, raw);
}

// --- Reading JSON text without building it (large payloads, digits of numeric ids) --------
//
// A structural scanner over UTF-8 bytes: it finds where values start and end, and validates
// nothing itself. Validation is JSON.parse's, on the pieces: the text with each `logEvents`
// array emptied, and each element on its own. If every piece parses and the separators
// between elements are exactly whitespace and commas, the whole text is valid JSON whatever
// the scanner made of it, and JSON.parse of the whole would give the same value. (UTF-8 never
// uses bytes below 0x80 inside a multi-byte character, so the ASCII structure is unambiguous.)

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Element spans of one `logEvents` array: element i is [offsets[2i], offsets[2i+1]) in the
 * text. Offsets fit 32 bits (the text is at most MAX_INFLATED_BYTES): 8 bytes per event.
 */
class ArraySpans {
  count = 0;
  offsets = new Uint32Array(1024);
  /** The array itself, `[` to `]` inclusive (`end` set once scanned). */
  end = 0;
  constructor(readonly start: number) {}

  add(from: number, to: number): void {
    if (2 * this.count + 2 > this.offsets.length) {
      const next = new Uint32Array(this.offsets.length * 2);
      next.set(this.offsets);
      this.offsets = next;
    }
    this.offsets[2 * this.count] = from;
    this.offsets[2 * this.count + 1] = to;
    this.count++;
  }

  from(i: number): number {
    return this.offsets[2 * i] as number;
  }

  to(i: number): number {
    return this.offsets[2 * i + 1] as number;
  }
}

/**
 * Each `logEvents` member of the top-level object, in order: its spans when it is an array,
 * null otherwise (JSON.parse keeps the last of repeated keys).
 */
interface PayloadSpans {
  readonly logEvents: (ArraySpans | null)[];
}

class ScanError extends Error {}

function skipWs(b: Buffer, i: number): number {
  for (;;) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** b[i] is `"`; returns the index after the closing quote. */
function skipString(b: Buffer, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, from);
    if (q < 0) throw new ScanError('unterminated string');
    let backslashes = 0;
    for (let k = q - 1; k > i && b[k] === BACKSLASH; k--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** Returns the index after the value starting at b[i] (no whitespace before it). */
function skipValue(b: Buffer, i: number): number {
  const c = b[i];
  if (c === QUOTE) return skipString(b, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let k = i; k < b.length; ) {
      const d = b[k];
      if (d === QUOTE) {
        k = skipString(b, k);
        continue;
      }
      if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return k + 1;
      }
      k++;
    }
    throw new ScanError('unterminated object or array');
  }
  // A literal or number: up to the next structural character or whitespace.
  let k = i;
  for (; k < b.length; k++) {
    const d = b[k];
    if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
  }
  if (k === i)
    throw new ScanError(
      `unexpected ${b[i] === undefined ? 'end' : `character ${JSON.stringify(String.fromCharCode(b[i] as number))}`}`,
    );
  return k;
}

/**
 * Calls `member(key, valueStart)` for each member of the object at b[i] (`member` returns
 * where the value ends); returns the index after the object.
 */
function scanObject(b: Buffer, i: number, member: (key: string, at: number) => number): number {
  if (b[i] !== 0x7b) throw new ScanError('not an object');
  i = skipWs(b, i + 1);
  if (b[i] === 0x7d) return i + 1;
  for (;;) {
    if (b[i] !== QUOTE) throw new ScanError('member name is not a string');
    const keyEnd = skipString(b, i);
    let key: string;
    try {
      key = JSON.parse(b.toString('utf8', i, keyEnd)) as string;
    } catch (err) {
      throw new ScanError(`member name: ${(err as Error).message}`);
    }
    i = skipWs(b, keyEnd);
    if (b[i] !== 0x3a) throw new ScanError('expected `:` after a member name');
    i = skipWs(b, member(key, skipWs(b, i + 1)));
    if (b[i] === 0x7d) return i + 1;
    if (b[i] !== 0x2c) throw new ScanError('expected `,` or `}` after a member');
    i = skipWs(b, i + 1);
  }
}

/** Spans of the top-level object's `logEvents` arrays. */
function scanPayload(b: Buffer): PayloadSpans {
  const logEvents: (ArraySpans | null)[] = [];
  const end = scanObject(b, skipWs(b, 0), (key, at) => {
    if (key !== 'logEvents') return skipValue(b, at);
    if (b[at] !== 0x5b) {
      logEvents.push(null);
      return skipValue(b, at);
    }
    const spans = new ArraySpans(at);
    let i = skipWs(b, at + 1);
    if (b[i] !== 0x5d) {
      for (;;) {
        const e = skipValue(b, i);
        spans.add(i, e);
        i = skipWs(b, e);
        if (b[i] === 0x5d) break;
        if (b[i] !== 0x2c) throw new ScanError('expected `,` or `]` between events');
        i = skipWs(b, i + 1);
      }
    }
    spans.end = i + 1;
    logEvents.push(spans);
    return i + 1;
  });
  if (skipWs(b, end) !== b.length) throw new ScanError('text after the payload object');
  return { logEvents };
}

/** The text of the last `id` member of the event object b[start, end), when it is a number. */
function idText(b: Buffer, start: number, end: number): string | undefined {
  let raw: string | undefined;
  try {
    scanObject(b.subarray(0, end), start, (key, at) => {
      const after = skipValue(b, at);
      if (key === 'id') raw = b[at] === QUOTE ? undefined : b.toString('latin1', at, after);
      return after;
    });
  } catch {
    return undefined;
  }
  return raw;
}

/** One event of a large payload, checked like the fast path; undefined when not an event. */
function largeEvent(b: Buffer, start: number, end: number): LogEvent | undefined {
  const e = JSON.parse(b.toString('utf8', start, end)) as Record<string, unknown>;
  const kind = fastCheckEvent(e);
  if (kind === NOT_EVENT) return undefined;
  if (kind === NUMBER_ID) e.id = idText(b, start, end) ?? String(e.id);
  return e as LogEvent;
}

/**
 * A payload above STREAM_FROM_BYTES. First pass: every piece parsed and checked (then
 * dropped), so the record is classified before any of its events is forwarded. The
 * events are parsed again, one at a time, when read.
 */
function decodeLarge(raw: Buffer): DecodeResult {
  let spans: PayloadSpans;
  try {
    spans = scanPayload(raw);
  } catch (err) {
    return notJson(raw, (err as Error).message, err);
  }
  // The text with each logEvents array emptied: the other fields, parsed as JSON.parse would.
  const pieces: Buffer[] = [];
  let at = 0;
  for (const a of spans.logEvents) {
    if (a === null) continue;
    pieces.push(raw.subarray(at, a.start), Buffer.from('[]'));
    at = a.end;
  }
  pieces.push(raw.subarray(at));
  let head: Record<string, unknown>;
  try {
    head = JSON.parse(Buffer.concat(pieces).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    return notJson(raw, (err as Error).message, err);
  }
  const events = spans.logEvents[spans.logEvents.length - 1];
  // Every element of every array must be JSON; those of the last array must be events. The
  // first failure in text order is reported, as JSON.parse and then the schema would.
  let firstBadEvent = -1;
  for (const a of spans.logEvents) {
    if (a === null) continue;
    for (let i = 0; i < a.count; i++) {
      let value: unknown;
      try {
        value = JSON.parse(raw.toString('utf8', a.from(i), a.to(i)));
      } catch (err) {
        return notJson(raw, `logEvents.${i}: ${(err as Error).message}`, err);
      }
      if (
        a === events &&
        firstBadEvent < 0 &&
        fastCheckEvent(value as Record<string, unknown>) === NOT_EVENT
      ) {
        firstBadEvent = i;
      }
    }
  }
  if (!events || !fastCheckHead(head)) {
    // Not an array of events, or a bad field besides them: the schema says which (the
    // events are checked apart, below).
    const parsed = CwlPayloadSchema.safeParse(head);
    if (!parsed.success) return schemaError(head, parsed.error);
  }
  if (!events) return malformed('schema', 'CloudWatch Logs payload has no logEvents array');
  if (firstBadEvent >= 0) {
    const value: unknown = JSON.parse(
      raw.toString('utf8', events.from(firstBadEvent), events.to(firstBadEvent)),
    );
    const parsed = LogEventSchema.safeParse(value);
    return parsed.success
      ? malformed('schema', `CloudWatch Logs payload does not match the schema at logEvents.${firstBadEvent}`)
      : schemaError(value, parsed.error, ['logEvents', firstBadEvent]);
  }
  const { logEvents: _, ...rest } = head;
  const payloadHead = rest as CwlPayloadHead;
  if (payloadHead.messageType === 'CONTROL_MESSAGE') return { kind: 'control' };
  return {
    kind: 'large',
    head: payloadHead,
    eventCount: events.count,
    *events() {
      for (let i = 0; i < events.count; i++) {
        yield largeEvent(raw, events.from(i), events.to(i)) as LogEvent;
      }
    },
  };
}
