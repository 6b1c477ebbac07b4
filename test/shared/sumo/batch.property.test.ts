import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Chunk, RequestBatcher } from '../../../shared/sumo/batch';
import type { SumoHeaders } from '../../../shared/sumo/headers';

const headers = (g: number): SumoHeaders => ({
  'X-Sumo-Category': `c${g}`,
  'X-Sumo-Name': 'n',
  'X-Sumo-Host': 'h',
  'X-Sumo-Fields': '',
});

/** (record, group, line text without newline): lines of a record are contiguous, like the forwarder's. */
const input = fc
  .array(
    fc.tuple(
      fc.integer({ min: 0, max: 3 }),
      fc.array(
        fc.string({ unit: 'binary', maxLength: 400 }).map((s) => s.replace(/\n/g, ' ')),
        {
          maxLength: 12,
        },
      ),
    ),
    { maxLength: 25 },
  )
  .map((records) => records.flatMap(([g, lines], r) => lines.map((l) => ({ r, g, line: `${l}\n` }))));

describe('RequestBatcher (properties)', () => {
  it('never exceeds maxBytes, keeps every line once and in order, and lists the right records', () => {
    fc.assert(
      fc.property(
        input,
        fc.integer({ min: 1_300, max: 5_000 }),
        fc.integer({ min: 1_000, max: 20_000 }),
        (lines, maxBytes, maxBuffered) => {
          const chunks: Chunk[] = [];
          const b = new RequestBatcher({ maxBytes, maxBufferedBytes: maxBuffered }, (c) => chunks.push(c));
          for (let i = 0; i < lines.length; i++) {
            const { r, g, line } = lines[i] as (typeof lines)[number];
            b.add(`g${g}`, headers(g), r, line);
          }
          b.flushAll();
          for (const c of chunks) {
            expect(c.body.length).toBeLessThanOrEqual(maxBytes);
            expect(c.body.length).toBeGreaterThan(0);
            const text = c.body.toString('utf8');
            expect(text.split('\n').length - 1).toBe(c.lines);
            expect([...c.records]).toStrictEqual([...new Set(c.records)].sort((x, y) => x - y));
          }
          for (let g = 0; g <= 3; g++) {
            const mine = chunks.filter((c) => c.headers['X-Sumo-Category'] === `c${g}`);
            const sent = mine.map((c) => c.body.toString('utf8')).join('');
            expect(sent).toBe(
              lines
                .filter((l) => l.g === g)
                .map((l) => l.line)
                .join(''),
            );
            // Every record with lines in this group is listed by some chunk of the group.
            const listed = new Set(mine.flatMap((c) => c.records));
            for (const l of lines.filter((x) => x.g === g)) expect(listed.has(l.r)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
