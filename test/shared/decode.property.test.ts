import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CwlPayloadSchema,
  classifyPayload,
  type DecodeResult,
  decodeInflated,
  decodeRecordData,
} from '../../shared/decode';
import { DecodeError } from '../../shared/errors';

const logEvent = fc.record({
  id: fc.oneof(fc.stringMatching(/^\d{1,56}$/), fc.nat(), fc.string()),
  timestamp: fc.integer({ min: 0, max: 4_102_444_800_000 }),
  message: fc.string({ unit: 'grapheme', maxLength: 300 }),
});

const payload = fc.record({
  messageType: fc.constantFrom('DATA_MESSAGE', 'CONTROL_MESSAGE'),
  owner: fc.stringMatching(/^\d{12}$/),
  logGroup: fc.string(),
  logStream: fc.string(),
  subscriptionFilters: fc.array(fc.string(), { maxLength: 2 }),
  logEvents: fc.array(logEvent, { maxLength: 20 }),
});

describe('decodeRecordData (properties)', () => {
  it('round-trips any payload through gzip + base64, ids as strings', () => {
    fc.assert(
      fc.property(payload, (p) => {
        const data = gzipSync(Buffer.from(JSON.stringify(p))).toString('base64');
        const r = decodeRecordData(data);
        if (p.messageType === 'CONTROL_MESSAGE') {
          expect(r).toStrictEqual({ kind: 'control' });
        } else {
          expect(r).toStrictEqual({
            kind: 'data',
            payload: { ...p, logEvents: p.logEvents.map((e) => ({ ...e, id: String(e.id) })) },
          });
        }
      }),
    );
  });

  it('never throws and always classifies arbitrary bytes and text', () => {
    const inputs = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('base64')),
      fc.uint8Array({ maxLength: 300 }).map((b) => gzipSync(b).toString('base64')),
      fc.string({ maxLength: 300 }),
      fc.jsonValue().map((v) => gzipSync(Buffer.from(JSON.stringify(v) ?? 'null')).toString('base64')),
    );
    fc.assert(
      fc.property(inputs, (data) => {
        const r = decodeRecordData(data);
        expect(['data', 'control', 'malformed']).toContain(r.kind);
        if (r.kind === 'malformed') {
          expect(r.error).toBeInstanceOf(DecodeError);
          expect(r.error.reason).toMatch(
            /^(empty|not-base64|not-gzip|corrupt-gzip|too-large|not-json|schema)$/,
          );
        }
      }),
      { numRuns: 500 },
    );
  });

  it('the fast structural check accepts exactly what the zod schema accepts', () => {
    // Payloads with one field perturbed, so both accepting and refusing cases are frequent.
    const perturbed = fc
      .tuple(
        payload,
        fc.constantFrom(
          'none',
          'messageType',
          'owner',
          'filters',
          'events',
          'eventId',
          'timestamp',
          'message',
        ),
        // JSON values, and the numbers JSON.parse can make that are not JSON (1e400 → Infinity).
        fc.oneof(
          fc.jsonValue(),
          fc.constantFrom(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 2 ** 64, -0),
        ),
      )
      .map(([p, field, junk]) => {
        const copy = structuredClone(p) as Record<string, unknown>;
        const events = copy.logEvents as Record<string, unknown>[];
        if (field === 'messageType') copy.messageType = junk;
        else if (field === 'owner') copy.owner = junk;
        else if (field === 'filters') copy.subscriptionFilters = [junk];
        else if (field === 'events') copy.logEvents = junk;
        else if (events.length > 0 && events[0]) {
          if (field === 'eventId') events[0].id = junk;
          if (field === 'timestamp') events[0].timestamp = junk;
          if (field === 'message') events[0].message = junk;
        }
        return copy;
      });
    fc.assert(
      fc.property(perturbed, (value) => {
        const zodAccepts = CwlPayloadSchema.safeParse(structuredClone(value)).success;
        const r = classifyPayload(structuredClone(value));
        expect(r.kind !== 'malformed').toBe(zodAccepts);
      }),
      { numRuns: 500 },
    );
  });
});

describe('large payloads, read event by event (properties)', () => {
  /** What a result says, with the large path's events read out. */
  function outcome(r: DecodeResult): unknown {
    if (r.kind === 'large') {
      return { kind: 'data', payload: { ...r.head, logEvents: [...r.events()] }, count: r.eventCount };
    }
    if (r.kind === 'data') return { kind: 'data', payload: r.payload, count: r.payload.logEvents.length };
    if (r.kind === 'malformed') return { kind: 'malformed', reason: r.error.reason };
    return r;
  }

  // JSON text of payloads: compact, indented, with repeated or escaped keys, numeric ids
  // of any size, and now and then broken by a few byte edits.
  const text = fc
    .tuple(
      payload,
      fc.constantFrom(0, 1, '\t'),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 127 })), { maxLength: 2 }),
      fc.constantFrom('plain', 'numeric-ids', 'escaped-key', 'twice', 'not-array', 'huge-number'),
    )
    .map(([p, indent, edits, variant]) => {
      let t = JSON.stringify(p, null, indent);
      if (variant === 'numeric-ids') t = t.replace(/"id": ?"(\d{1,40})"/g, '"id":$1');
      if (variant === 'escaped-key') t = t.replace('"logEvents"', '"log\\u0045vents"');
      if (variant === 'twice')
        t = t.replace(/^\{/, '{"logEvents":[{"id":"0","timestamp":0,"message":"first"}],');
      if (variant === 'not-array') t = t.replace(/\}\s*$/, ',"logEvents":{"not":"an array"}}');
      if (variant === 'huge-number') t = t.replace(/"timestamp": ?\d+/, '"timestamp":1e400');
      for (const [at, byte] of edits) {
        const i = t.length === 0 ? 0 : at % t.length;
        t = t.slice(0, i) + String.fromCharCode(byte) + t.slice(i + 1);
      }
      return Buffer.from(t);
    });

  it('gives the same result as one JSON.parse, for every text', () => {
    fc.assert(
      fc.property(text, (raw) => {
        expect(outcome(decodeInflated(raw, 0))).toStrictEqual(
          outcome(decodeInflated(raw, Number.POSITIVE_INFINITY)),
        );
      }),
      { numRuns: 3000 },
    );
  });
});
