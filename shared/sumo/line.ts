/**
 * The line format sent to Sumo Logic: one NDJSON line per CloudWatch Logs event.
 *
 *     {"timestamp":1795651200123,"account":"123456789012","region":"eu-west-1",
 *      "logGroup":"/aws/lambda/orders","logStream":"2026/11/26/[$LATEST]ab…",
 *      "key":"4f0c2a9d81b3-3719971756310788099514190141531393616929147624818743705",
 *      "time":"2026-11-26T00:00:00.123Z","requestId":"c6af9ac6-…",
 *      "level":"INFO","message":{"msg":"order placed","orderId":42}}
 *
 * - `timestamp` first (epoch ms, the event's own time) so Sumo's timestamp detection finds
 *   it at the start of the message; `message` last.
 * - `message` is the JSON object/array itself when the message is JSON (Sumo then extracts
 *   its fields with `| json auto` or field extraction rules), otherwise a JSON string.
 *   One trailing newline is removed.
 * - Lambda lines are recognised: the Node.js/Python runtime prefix
 *   (`<ISO time>\t<request id>\t<LEVEL>\t<message>`, or `[LEVEL]\t<time>\t<id>\t<message>`)
 *   becomes `requestId`, `level` and the rest of the message, plus `time` when it differs
 *   from `timestamp` (nothing is dropped);
 *   START/END/REPORT/INIT_START/INIT_REPORT platform lines get `lambda` and `requestId`.
 * - `key` is the idempotency key, `<stream hash>-<CloudWatch event id>` (see key.ts): the
 *   event id is its part after the dash.
 * - An event whose line would exceed the request limit is split into several lines with
 *   `"part":i,"parts":n` and the same key, the message as text: never dropped.
 *
 * Built by string concatenation with per-record parts computed once (`recordFormat`): this
 * runs for every event on the hot path.
 */
import type { LogEvent } from '../decode';
import { isEmbeddableJson } from './json';
import { eventKey, streamKey } from './key';

/** Where an event comes from: what a Sumo user searches by. */
export interface StreamContext {
  readonly account: string;
  readonly region: string;
  readonly logGroup: string;
  readonly logStream: string;
}

/** Per-record parts of every line, computed once per Kinesis record. */
export interface RecordFormat {
  /** `,"account":…,"logStream":…,"key":` (or `,"logStream":…,"key":`, see LineContext) */
  readonly head: string;
  /** The record's stream key (see key.ts). */
  readonly stream: string;
  /** `head` + `"<stream>-`: everything before the event id when the id needs no escaping. */
  readonly keyHead: string;
}

/**
 * What each line repeats about its stream. `full`: account, region, log group and log stream
 * (self-contained lines). `stream`: the log stream only — account, region and log group travel
 * once per request in X-Sumo-Fields, _sourceCategory, _sourceName and _sourceHost, which
 * saves ~80 bytes per line of Sumo ingest (billed by the byte) and of CPU.
 */
export type LineContext = 'full' | 'stream';

export function recordFormat(ctx: StreamContext, context: LineContext = 'full'): RecordFormat {
  const head =
    context === 'stream'
      ? `,"logStream":${JSON.stringify(ctx.logStream)},"key":`
      : ',"account":' +
        JSON.stringify(ctx.account) +
        ',"region":' +
        JSON.stringify(ctx.region) +
        ',"logGroup":' +
        JSON.stringify(ctx.logGroup) +
        ',"logStream":' +
        JSON.stringify(ctx.logStream) +
        ',"key":';
  const stream = streamKey(ctx.account, ctx.region, ctx.logGroup, ctx.logStream);
  // The stream key is 12 hex digits: never escaped.
  return { head, stream, keyHead: `${head}"${stream}-` };
}

/** 1 for the token characters [A-Za-z0-9._:-] (ASCII only; a table beats a chain of ranges). */
const PLAIN = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  if (
    (c >= 48 && c <= 58) ||
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    c === 45 ||
    c === 46 ||
    c === 95
  )
    PLAIN[c] = 1;
}

/** True when s[from, to) is a non-empty token that needs no JSON escaping ([A-Za-z0-9._:-]). */
function isPlainToken(s: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || PLAIN[c] === 0) return false;
  }
  return true;
}

/** True when JSON.stringify(s) would be `"` + s + `"`: no quote, backslash, control or surrogate. */
function needsNoEscape(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

/**
 * `{"timestamp":…,<context>,"key":"<stream>-<id>"`: ids are digits from AWS, so the key is
 * written as is; only an id that needs escaping goes through JSON.stringify (same text).
 */
function lineHead(f: RecordFormat, ev: LogEvent): string {
  const id = ev.id;
  return needsNoEscape(id)
    ? `{"timestamp":${ev.timestamp}${f.keyHead}${id}"`
    : `{"timestamp":${ev.timestamp}${f.head}${JSON.stringify(eventKey(f.stream, id))}`;
}

/** `YYYY-MM-DDTHH:MM:SS.mmmZ` at `at` (checked loosely: the separators only). */
function isIsoAt(m: string, at: number): boolean {
  return (
    m.charCodeAt(at + 4) === 45 &&
    m.charCodeAt(at + 7) === 45 &&
    m.charCodeAt(at + 10) === 84 &&
    m.charCodeAt(at + 23) === 90 &&
    isPlainToken(m, at, at + 24)
  );
}

function messageValue(body: string): string {
  const c = body.charCodeAt(0);
  if ((c === 123 || c === 91) && isEmbeddableJson(body)) return body;
  return JSON.stringify(body);
}

/** Lambda platform line prefixes and where the request id starts (0: none). */
function platformLine(m: string, c0: number): string {
  let type: string | undefined;
  let at = 0;
  if (c0 === 83 && m.startsWith('START RequestId: ')) {
    type = 'START';
    at = 17;
  } else if (c0 === 69 && m.startsWith('END RequestId: ')) {
    type = 'END';
    at = 15;
  } else if (c0 === 82 && m.startsWith('REPORT RequestId: ')) {
    type = 'REPORT';
    at = 18;
  } else if (c0 === 73 && m.startsWith('INIT_START ')) {
    type = 'INIT_START';
  } else if (c0 === 73 && m.startsWith('INIT_REPORT ')) {
    type = 'INIT_REPORT';
  } else {
    return '';
  }
  if (at === 0) return `,"lambda":"${type}"`;
  // The request id runs to the next space, tab or newline and must be a plain token.
  const n = m.length;
  let end = at;
  for (; end < n; end++) {
    const c = m.charCodeAt(end);
    if (c === 32 || c === 9 || c === 10) break;
    if (c > 127 || PLAIN[c] === 0) return `,"lambda":"${type}"`;
  }
  return end > at ? `,"lambda":"${type}","requestId":"${m.slice(at, end)}"` : `,"lambda":"${type}"`;
}

function stripNewline(message: string): string {
  const n = message.length;
  if (n === 0 || message.charCodeAt(n - 1) !== 10) return message;
  return message.charCodeAt(n - 2) === 13 ? message.slice(0, n - 2) : message.slice(0, n - 1);
}

/** The number written with `n` decimal digits at `at`, or -1 when one is not a digit. */
function digitsAt(m: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = m.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** Days from 1970-01-01 to the proleptic Gregorian date (y, m, d) (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * The epoch ms written at m[at, at+24) when that text is exactly what `toISOString` prints
 * for it (`YYYY-MM-DDTHH:MM:SS.mmmZ`, a real calendar date, years 0000–9999), else NaN.
 * Integer arithmetic only: a Date per event would cost more than the whole line.
 */
export function isoMillis(m: string, at: number): number {
  if (
    m.charCodeAt(at + 4) !== 45 ||
    m.charCodeAt(at + 7) !== 45 ||
    m.charCodeAt(at + 10) !== 84 ||
    m.charCodeAt(at + 13) !== 58 ||
    m.charCodeAt(at + 16) !== 58 ||
    m.charCodeAt(at + 19) !== 46 ||
    m.charCodeAt(at + 23) !== 90
  ) {
    return Number.NaN;
  }
  const year = digitsAt(m, at, 4);
  const month = digitsAt(m, at + 5, 2);
  const day = digitsAt(m, at + 8, 2);
  const hour = digitsAt(m, at + 11, 2);
  const minute = digitsAt(m, at + 14, 2);
  const second = digitsAt(m, at + 17, 2);
  const ms = digitsAt(m, at + 20, 3);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23) return Number.NaN;
  if (minute < 0 || minute > 59 || second < 0 || second > 59 || ms < 0) return Number.NaN;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : (MONTH_DAYS[month - 1] as number))) return Number.NaN;
  return daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000 + ms;
}

/**
 * `,"time":"…"` — or nothing when the runtime's time is the event's own timestamp (usual in
 * current Lambda logs): `timestamp` then says the same thing and the bytes are saved (Sumo
 * bills ingest by the byte). Lossless either way: `time` is then `timestamp` in ISO-8601.
 */
function timeField(m: string, at: number, timestamp: number): string {
  return isoMillis(m, at) === timestamp ? '' : `,"time":"${m.slice(at, at + 24)}"`;
}

/**
 * Node.js runtime line `<ISO>\t<requestId>\t<LEVEL>\t<message>` as the rest of its NDJSON
 * line, or undefined when `m` is not one. m[24] is known to be a tab.
 * (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-logging.html)
 */
function runtimeLine(head: string, m: string, timestamp: number): string | undefined {
  const at = isoMillis(m, 0);
  // A strict ISO time is also a loose one; only other text needs the loose check.
  if (Number.isNaN(at) && !isIsoAt(m, 0)) return undefined;
  const t2 = m.indexOf('\t', 25);
  if (t2 < 0 || t2 - 25 > 64 || !isPlainToken(m, 25, t2)) return undefined;
  const t3 = m.indexOf('\t', t2 + 1);
  if (t3 < 0 || t3 - t2 - 1 > 12 || !isPlainToken(m, t2 + 1, t3)) return undefined;
  const time = at === timestamp ? '' : `,"time":"${m.slice(0, 24)}"`;
  return `${head}${time},"requestId":"${m.slice(25, t2)}","level":"${m.slice(t2 + 1, t3)}","message":${messageValue(m.slice(t3 + 1))}}\n`;
}

/** Formats one event as one NDJSON line (ending in `\n`). */
export function formatLine(f: RecordFormat, ev: LogEvent): string {
  const m = stripNewline(ev.message);
  const head = lineHead(f, ev);
  const c0 = m.charCodeAt(0);
  if (c0 === 123 || c0 === 91) {
    if (isEmbeddableJson(m)) return `${head},"message":${m}}\n`;
    // Python runtime: `[LEVEL]\t<ISO>\t<requestId>\t<message>`
    if (c0 === 91) {
      const close = m.indexOf(']');
      if (close > 1 && close < 12 && m.charCodeAt(close + 1) === 9 && isIsoAt(m, close + 2)) {
        const r = m.charCodeAt(close + 26) === 9 ? runtimeFieldsPython(m, close, ev.timestamp) : undefined;
        if (r) return `${head}${r.fields},"message":${messageValue(m.slice(r.bodyAt))}}\n`;
      }
    }
  } else if (c0 >= 48 && c0 <= 57) {
    if (m.charCodeAt(24) === 9) {
      const line = runtimeLine(head, m, ev.timestamp);
      if (line !== undefined) return line;
    }
  } else if (c0 === 83 || c0 === 69 || c0 === 82 || c0 === 73) {
    return `${head}${platformLine(m, c0)},"message":${JSON.stringify(m)}}\n`;
  }
  return `${head},"message":${JSON.stringify(m)}}\n`;
}

function runtimeFieldsPython(
  m: string,
  close: number,
  timestamp: number,
): { fields: string; bodyAt: number } | undefined {
  const ridAt = close + 27;
  const t = m.indexOf('\t', ridAt);
  if (t < 0 || t - ridAt > 64 || !isPlainToken(m, ridAt, t) || !isPlainToken(m, 1, close)) return undefined;
  return {
    fields: `${timeField(m, close + 2, timestamp)},"requestId":"${m.slice(ridAt, t)}","level":"${m.slice(1, close)}"`,
    bodyAt: t + 1,
  };
}

/** Bytes of JSON escaping per UTF-16 unit, worst case (`\u001f` is 6 bytes for 1 unit). */
const WORST_BYTES_PER_UNIT = 6;
/** Room for `,"part":i,"parts":n,"message":` and `}\n` in a part, beyond its head. */
const PART_OVERHEAD_BYTES = 64;
/** The smallest request size `splitLine` works with (the reflector's floor is 10,000). */
export const MIN_SPLIT_BYTES = 1024;

/**
 * 32 hex digits naming an id too long to repeat in every part: four 32-bit multiply-xor
 * lanes over its UTF-16 units, then an avalanche (not cryptographic: a key, not a secret;
 * node:crypto would cost ~15 ms at every cold start for a path no CloudWatch event takes).
 */
export function idDigest(id: string): string {
  let a = 0x811c9dc5;
  let b = 0x6a09e667;
  let c = 0xbb67ae85;
  let d = 0x3c6ef372;
  for (let i = 0; i < id.length; i++) {
    const u = id.charCodeAt(i);
    a = Math.imul(a ^ u, 0x9e3779b1);
    b = Math.imul(b ^ u, 0x85ebca77);
    c = Math.imul(c ^ u, 0xc2b2ae3d);
    d = Math.imul(d ^ u, 0x27d4eb2f);
  }
  const mix = (x: number, y: number) => {
    let h = Math.imul(x ^ (y >>> 15) ^ id.length, 0x2c1b3c6d);
    h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
    return ((h ^ (h >>> 15)) >>> 0).toString(16).padStart(8, '0');
  };
  return mix(a, d) + mix(b, a) + mix(c, b) + mix(d, c);
}

/** `text` in slices of at most `units` UTF-16 units, never cutting a surrogate pair. */
function slices(text: string, units: number): string[] {
  const out: string[] = [];
  for (let at = 0; at < text.length; ) {
    let end = Math.min(text.length, at + units);
    const last = text.charCodeAt(end - 1);
    // units ≥ 2, so stepping back one unit still leaves a non-empty slice: no endless loop.
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    out.push(text.slice(at, end));
    at = end;
  }
  return out.length > 0 ? out : [''];
}

/**
 * An event too big for one request, as several lines of at most `maxBytes` UTF-8 bytes each,
 * each carrying the same key plus `"part":i,"parts":n` (1-based) and a slice of the message
 * as text. Concatenating the parts' messages in order gives the message back.
 *
 * When the line's head (timestamp, context and key) takes more than half of `maxBytes` (an
 * id or context no CloudWatch Logs event has: ids are 56 digits), repeating it in every
 * part would leave too little room or none: then each part carries
 * `{"timestamp":…,"key":"<stream>-idhash:<32 hex digest of the id>","part":i,"parts":n,"line":…}`,
 * and concatenating the parts' `line` slices gives the whole line `formatLine` would have
 * written, id and context included. Never throws (for maxBytes ≥ MIN_SPLIT_BYTES), never
 * loops, whatever the id and the mix of multi-byte characters.
 */
export function splitLine(f: RecordFormat, ev: LogEvent, maxBytes: number): string[] {
  if (!(maxBytes >= MIN_SPLIT_BYTES)) {
    throw new RangeError(`maxBytes must be at least ${MIN_SPLIT_BYTES} (received ${maxBytes})`);
  }
  const head = lineHead(f, ev);
  const headBytes = Buffer.byteLength(head);
  let partHead: string;
  let field: string;
  let text: string;
  if (headBytes <= maxBytes / 2) {
    partHead = head;
    field = 'message';
    text = stripNewline(ev.message);
  } else {
    partHead = `{"timestamp":${ev.timestamp},"key":"${f.stream}-idhash:${idDigest(ev.id)}"`;
    field = 'line';
    const whole = formatLine(f, ev);
    text = whole.slice(0, -1); // without its newline
  }
  const room = maxBytes - Buffer.byteLength(partHead) - PART_OVERHEAD_BYTES;
  // ≥ (MIN_SPLIT_BYTES / 2 − 64) / 6 = 74 units: the slicing always moves on.
  const parts = slices(text, Math.floor(room / WORST_BYTES_PER_UNIT));
  return parts.map(
    (p, i) => `${partHead},"part":${i + 1},"parts":${parts.length},"${field}":${JSON.stringify(p)}}\n`,
  );
}
