import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatLine, recordFormat, splitLine } from '../../../shared/sumo/line';

const RID = fc.uuid();
const ISO = fc
  .integer({ min: 0, max: 4_102_444_799_999 })
  .map((ms) => new Date(ms).toISOString())
  .filter((s) => s.length === 24);
const body = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.jsonValue().map((v) => JSON.stringify({ v }, null, 1)),
);
const message = fc.oneof(
  body,
  fc.tuple(ISO, RID, fc.constantFrom('INFO', 'WARN', 'ERROR'), body).map((p) => `${p.join('\t')}\n`),
  fc
    .tuple(fc.constantFrom('INFO', 'ERROR'), ISO, RID, body)
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

/** The message text of a line whose message is a string, rebuilt with its Node.js prefix. */
function rebuilt(line: Record<string, unknown>): string {
  const m = String(line.message);
  return typeof line.time === 'string' ? `${line.time}\t${line.requestId}\t${line.level}\t${m}` : m;
}

function stripNewline(m: string): string {
  return m.replace(/\r?\n$/, '');
}

describe('formatLine (properties)', () => {
  it('always yields one valid JSON line that carries the context and the whole message', () => {
    fc.assert(
      fc.property(ctx, fc.string(), fc.integer({ min: 0 }), message, (c, id, ts, m) => {
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
        expect(String(line.key).endsWith(`-${id}`)).toBe(true);
        const original = stripNewline(m);
        if (typeof line.time === 'string' && original.startsWith('[')) {
          // Python prefix: [LEVEL]\t<time>\t<id>\t<message>
          const msg = typeof line.message === 'string' ? line.message : JSON.stringify(line.message);
          expect(`[${line.level}]\t${line.time}\t${line.requestId}\t`).toBe(
            original.slice(0, original.length - msg.length),
          );
          expect(JSON.parse(JSON.stringify(line.message))).toStrictEqual(
            typeof line.message === 'string'
              ? original.slice(original.length - msg.length)
              : JSON.parse(original.slice(original.length - msg.length)),
          );
        } else if (typeof line.message === 'string') {
          expect(rebuilt(line)).toBe(original);
        } else {
          // An embedded object: same JSON value as the text it came from.
          const bodyText =
            typeof line.time === 'string' ? original.split('\t').slice(3).join('\t') : original;
          expect(line.message).toStrictEqual(JSON.parse(bodyText));
        }
      }),
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
