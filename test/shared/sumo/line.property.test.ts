import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventKey, streamKey } from '../../../shared/sumo/key';
import {
  formatLine,
  idDigest,
  isoMillis,
  MIN_SPLIT_BYTES,
  recordFormat,
  splitLine,
} from '../../../shared/sumo/line';

const RID = fc.uuid();
const ISO = fc
  .integer({ min: 0, max: 4_102_444_799_999 })
  .map((ms) => new Date(ms).toISOString())
  .filter((s) => s.length === 24);
/** `@TS@` stands for the event's own timestamp in ISO-8601 (the usual case in Lambda). */
const TIME = fc.oneof(ISO, fc.constant('@TS@'));
const body = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.jsonValue().map((v) => JSON.stringify({ v }, null, 1)),
);
const message = fc.oneof(
  body,
  fc.tuple(TIME, RID, fc.constantFrom('INFO', 'WARN', 'ERROR'), body).map((p) => `${p.join('\t')}\n`),
  fc
    .tuple(fc.constantFrom('INFO', 'ERROR'), TIME, RID, body)
    .map(([l, t, r, b]) => `[${l}]\t${t}\t${r}\t${b}`),
  fc
    .tuple(fc.constantFrom('START RequestId: ', 'END RequestId: ', 'REPORT RequestId: '), RID, body)
    .map((p) => p.join('')),
);
const ctx = fc.record({
  account: fc.string(),
  region: fc.string(),
  logGroup: fc.string({ unit: 'binary' }),
  logStream: fc.string({ unit: 'binary' }),
});

function stripNewline(m: string): string {
  return m.replace(/\r?\n$/, '');
}

/** The message text of a line, rebuilt from its fields (the inverse of formatLine). */
function rebuilt(line: Record<string, unknown>, original: string): string {
  const m = typeof line.message === 'string' ? line.message : undefined;
  if (typeof line.level !== 'string' || typeof line.requestId !== 'string') return m ?? '';
  const time = typeof line.time === 'string' ? line.time : new Date(Number(line.timestamp)).toISOString();
  const prefix = original.startsWith('[')
    ? `[${line.level}]\t${time}\t${line.requestId}\t`
    : `${time}\t${line.requestId}\t${line.level}\t`;
  return prefix + (m ?? original.slice(prefix.length));
}

describe('formatLine (properties)', () => {
  it('always yields one valid JSON line that carries the context and the whole message', () => {
    fc.assert(
      fc.property(
        ctx,
        // AWS ids are digits (written as is); anything else must still come out escaped.
        fc.oneof(fc.stringMatching(/^\d{1,56}$/), fc.string({ unit: 'binary', maxLength: 20 })),
        fc.integer({ min: 0, max: 4_102_444_799_999 }),
        message,
        (c, id, ts, template) => {
          const m = template.replace('@TS@', new Date(ts).toISOString());
          const text = formatLine(recordFormat(c), { id, timestamp: ts, message: m });
          expect(text.indexOf('\n')).toBe(text.length - 1);
          const line = JSON.parse(text) as Record<string, unknown>;
          expect([line.timestamp, line.account, line.region, line.logGroup, line.logStream]).toStrictEqual([
            ts,
            c.account,
            c.region,
            c.logGroup,
            c.logStream,
          ]);
          expect(line.key).toBe(eventKey(streamKey(c.account, c.region, c.logGroup, c.logStream), id));
          const original = stripNewline(m);
          // Text is carried verbatim; a JSON body is carried as the same JSON value.
          if (typeof line.message === 'string') {
            expect(rebuilt(line, original)).toBe(original);
          } else {
            const prefixLength =
              typeof line.level === 'string' ? rebuilt({ ...line, message: '' }, original).length : 0;
            expect(line.message).toStrictEqual(JSON.parse(original.slice(prefixLength)));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('splitLine parts stay within the limit and concatenate back to the message', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 5000 }),
        fc.integer({ min: 1200, max: 4000 }),
        (m, maxBytes) => {
          const f = recordFormat({ account: '1', region: 'r', logGroup: 'g', logStream: 's' });
          const parts = splitLine(f, { id: '9', timestamp: 1, message: m }, maxBytes).map((p) => {
            expect(Buffer.byteLength(p)).toBeLessThanOrEqual(maxBytes);
            return JSON.parse(p) as { message: string; part: number; parts: number };
          });
          expect(parts.map((p) => p.message).join('')).toBe(stripNewline(m));
        },
      ),
    );
  });
});

/** Any UTF-16 text: ASCII, escapes, 2-, 3- and 4-byte characters, and lone surrogates. */
const anyUnits = (maxLength: number) =>
  fc.string({
    unit: fc.oneof(
      fc.constantFrom('a', '"', '\\', '\n', '\u0001', '\u007f', 'é', '€', '😀', '\ud800', '\udfff'),
      fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    ),
    maxLength,
  });

describe('splitLine (properties)', () => {
  it('never throws or loops, stays within the limit and loses nothing, whatever the id and the characters', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: MIN_SPLIT_BYTES, max: 20_000 }),
        fc.nat(3).chain((k) => fc.tuple(fc.constant(k), fc.nat(1))),
        ctx,
        anyUnits(3_000),
        fc.integer({ min: 0, max: 4_102_444_799_999 }),
        (maxBytes, [scale, shape], c, message, ts) => {
          // Ids from none to three times the request size: digits, or anything.
          const length = Math.floor((scale * maxBytes) / 2) + (shape === 0 ? 7 : 0);
          const id =
            shape === 0
              ? '9'.repeat(length)
              : (message.repeat(Math.ceil(length / Math.max(1, message.length))) || 'x').slice(0, length);
          const f = recordFormat(c);
          const ev = { id, timestamp: ts, message: message.repeat(1 + (scale % 3)) };
          const parts = splitLine(f, ev, maxBytes);
          const parsed = parts.map((p) => {
            expect(Buffer.byteLength(p)).toBeLessThanOrEqual(maxBytes);
            expect(p.indexOf('\n')).toBe(p.length - 1);
            return JSON.parse(p) as Record<string, unknown>;
          });
          expect(parsed.map((p) => [p.part, p.parts])).toStrictEqual(
            parsed.map((_, i) => [i + 1, parts.length]),
          );
          if ('message' in (parsed[0] as object)) {
            expect(parsed.map((p) => p.message).join('')).toBe(stripNewline(ev.message));
            for (const p of parsed) expect(p.key).toBe(eventKey(f.stream, id));
          } else {
            // Id too long to repeat: the parts carry the whole line, keyed by a digest of the id.
            expect(parsed.map((p) => p.line).join('')).toBe(formatLine(f, ev).slice(0, -1));
            for (const p of parsed) expect(p.key).toBe(`${f.stream}-idhash:${idDigest(id)}`);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('names long ids by 32 hex digits that differ for ids that differ', () => {
    fc.assert(
      fc.property(anyUnits(200), anyUnits(200), (x, y) => {
        expect(idDigest(x)).toMatch(/^[0-9a-f]{32}$/);
        if (x !== y) expect(idDigest(x)).not.toBe(idDigest(y));
      }),
      { numRuns: 2000 },
    );
    const near = new Set(Array.from({ length: 10_000 }, (_, i) => idDigest(`${'9'.repeat(600)}${i}`)));
    expect(near.size).toBe(10_000);
  });

  it('handles the cases that threw or looped before: an id longer than the request, and one that left room for a single character', () => {
    const f = recordFormat({ account: '1', region: 'r', logGroup: 'g', logStream: 's' });
    const huge = { id: '7'.repeat(1_500_000), timestamp: 1, message: 'm' };
    expect(splitLine(f, huge, 1_000_000).length).toBeGreaterThan(1);
    // The old part room was (maxBytes − head − 64) / 6 units: exactly 1 here, and a surrogate
    // pair at each cut made the slice empty, forever.
    // formatLine of an empty message is the head and `,"message":""}\n` (15 bytes).
    const emptyHead = Buffer.byteLength(formatLine(f, { id: '', timestamp: 1, message: '' })) - 15;
    const id = '1'.repeat(10_000 - 64 - 8 - emptyHead); // room 8 bytes: one unit per part
    const parts = splitLine(f, { id, timestamp: 1, message: '😀'.repeat(50) }, 10_000);
    expect(parts.map((p) => JSON.parse(p).line ?? JSON.parse(p).message).join('')).toContain('😀'.repeat(50));
  });
});

describe('isoMillis (properties)', () => {
  // Years 0000–9999: the range toISOString prints with four digits.
  const MS = fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 });

  it('reads back exactly what toISOString printed, wherever it sits in the text', () => {
    fc.assert(
      fc.property(MS, fc.string({ maxLength: 5 }), (t, before) => {
        expect(isoMillis(`${before}${new Date(t).toISOString()}\t`, before.length)).toBe(t);
      }),
      { numRuns: 2000 },
    );
  });

  it('is NaN or the exact instant for any 24 characters (never a different instant)', () => {
    const digit = fc.constantFrom(...'0123456789');
    const noisy = fc
      .tuple(
        MS.map((t) => new Date(t).toISOString()),
        fc.array(fc.tuple(fc.nat(23), fc.oneof(digit, fc.constantFrom('-', 'T', ':', '.', 'Z', 'x'))), {
          maxLength: 3,
        }),
      )
      .map(([iso, edits]) => {
        const cs = iso.split('');
        for (const [at, c] of edits) cs[at] = c;
        return cs.join('');
      });
    fc.assert(
      fc.property(noisy, (text) => {
        const t = isoMillis(text, 0);
        if (!Number.isNaN(t)) expect(new Date(t).toISOString()).toBe(text);
      }),
      { numRuns: 5000 },
    );
  });
});
