import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { decodeRecordData, type LogEvent } from '../../../shared/decode';
import { eventKey, streamKey } from '../../../shared/sumo/key';
import { formatLine, recordFormat, type StreamContext, splitLine } from '../../../shared/sumo/line';
import { loadEvent } from '../../support/events';

const ctx: StreamContext = {
  account: '123456789012',
  region: 'eu-west-1',
  logGroup: '/aws/lambda/orders',
  logStream: '2026/11/26/[$LATEST]abc',
};
const f = recordFormat(ctx);
const KEY = streamKey(ctx.account, ctx.region, ctx.logGroup, ctx.logStream);
const RID = 'c6af9ac6-7b61-11e6-9a41-93e812345678';

function line(message: string, id = '42'): Record<string, unknown> {
  const text = formatLine(f, { id, timestamp: 1795651200123, message });
  expect(text.endsWith('\n')).toBe(true);
  expect(text.indexOf('\n')).toBe(text.length - 1);
  return JSON.parse(text) as Record<string, unknown>;
}

const base = {
  timestamp: 1795651200123,
  account: '123456789012',
  region: 'eu-west-1',
  logGroup: '/aws/lambda/orders',
  logStream: '2026/11/26/[$LATEST]abc',
  key: `${KEY}-42`,
};

describe('formatLine', () => {
  it('keeps plain text as a string, minus one trailing newline', () => {
    expect(line('hello "world"\n')).toStrictEqual({ ...base, message: 'hello "world"' });
    expect(line('two\nlines\r\n')).toStrictEqual({ ...base, message: 'two\nlines' });
  });

  it('embeds a JSON message as an object', () => {
    expect(line('{"level":"info","n":1,"nested":{"a":[1,2]}}\n')).toStrictEqual({
      ...base,
      message: { level: 'info', n: 1, nested: { a: [1, 2] } },
    });
  });

  it('keeps JSON-looking but invalid text as text', () => {
    expect(line('{{ "Source": "dlq" }')).toStrictEqual({ ...base, message: '{{ "Source": "dlq" }' });
  });

  it('splits the Node.js runtime prefix into time, requestId and level', () => {
    // The runtime's time equals the event timestamp: `time` would repeat it, so it is left out.
    expect(line(`2026-11-26T00:00:00.123Z\t${RID}\tINFO\t{"msg":"order placed"}\n`)).toStrictEqual({
      ...base,
      requestId: RID,
      level: 'INFO',
      message: { msg: 'order placed' },
    });
    expect(line(`2026-11-26T00:00:00.124Z\t${RID}\tERROR\tInvoke Error\n    at x\n`)).toStrictEqual({
      ...base,
      time: '2026-11-26T00:00:00.124Z',
      requestId: RID,
      level: 'ERROR',
      message: 'Invoke Error\n    at x',
    });
    expect(line('2026-11-26T00:00:00.123Z\tundefined\tINFO\tcold start')).toStrictEqual({
      ...base,
      requestId: 'undefined',
      level: 'INFO',
      message: 'cold start',
    });
  });

  it('keeps a runtime time that only looks like the timestamp (calendar roll-over, 2-digit years)', () => {
    const march3 = Date.UTC(2026, 2, 3);
    const text = (iso: string, ts: number) =>
      JSON.parse(formatLine(f, { id: '1', timestamp: ts, message: `${iso}\t${RID}\tINFO\tx` })) as {
        time?: string;
      };
    expect(text('2026-02-31T00:00:00.000Z', march3).time).toBe('2026-02-31T00:00:00.000Z');
    expect(text('0050-01-01T00:00:00.000Z', Date.UTC(1950, 0, 1)).time).toBe('0050-01-01T00:00:00.000Z');
    expect(text('2026-03-03T00:00:00.000Z', march3).time).toBeUndefined();
    // A 2-digit year that is the timestamp's own (Date.UTC would read it as 19xx) is omitted.
    const y50 = new Date('0050-01-01T00:00:00.000Z').getTime();
    expect(text('0050-01-01T00:00:00.000Z', y50).time).toBeUndefined();
    expect(text('2024-02-29T12:00:00.000Z', Date.UTC(2024, 1, 29, 12)).time).toBeUndefined();
    expect(text('2023-02-29T12:00:00.000Z', Date.UTC(2023, 2, 1, 12)).time).toBe('2023-02-29T12:00:00.000Z');
  });

  it('splits the Python runtime prefix', () => {
    expect(line(`[WARNING]\t2026-11-26T00:00:00.000Z\t${RID}\tslow call\n`)).toStrictEqual({
      ...base,
      time: '2026-11-26T00:00:00.000Z',
      requestId: RID,
      level: 'WARNING',
      message: 'slow call',
    });
  });

  it('recognises Lambda platform lines and their request ids', () => {
    expect(line(`START RequestId: ${RID} Version: $LATEST\n`)).toStrictEqual({
      ...base,
      lambda: 'START',
      requestId: RID,
      message: `START RequestId: ${RID} Version: $LATEST`,
    });
    expect(line(`END RequestId: ${RID}\n`)).toMatchObject({ lambda: 'END', requestId: RID });
    expect(line(`REPORT RequestId: ${RID}\tDuration: 1.00 ms\n`)).toMatchObject({
      lambda: 'REPORT',
      requestId: RID,
    });
    expect(line('INIT_START Runtime Version: nodejs:22.v1')).toStrictEqual({
      ...base,
      lambda: 'INIT_START',
      message: 'INIT_START Runtime Version: nodejs:22.v1',
    });
    expect(line('STARTED something')).toStrictEqual({ ...base, message: 'STARTED something' });
  });

  it('leaves account, region and log group to the headers with the stream line context', () => {
    const text = formatLine(recordFormat(ctx, 'stream'), {
      id: '42',
      timestamp: 1795651200123,
      message: 'm',
    });
    expect(JSON.parse(text)).toStrictEqual({
      timestamp: 1795651200123,
      logStream: '2026/11/26/[$LATEST]abc',
      key: `${KEY}-42`,
      message: 'm',
    });
  });

  it('escapes unusual event ids inside the key', () => {
    expect(line('x', 'id "1"').key).toBe(`${KEY}-id "1"`);
  });

  it('formats every event of the real START/END/REPORT sample as valid JSON with a request id', () => {
    const event = loadEvent<KinesisStreamEvent>(
      'kinesis/cwl-kinesis-lambda-start-end-report.powertools-ts.json',
    );
    for (const r of event.Records) {
      const d = decodeRecordData(r.kinesis.data);
      if (d.kind !== 'data') throw new Error('fixture must decode');
      const rf = recordFormat({ ...ctx, account: d.payload.owner, logGroup: d.payload.logGroup });
      for (const ev of d.payload.logEvents) {
        const parsed = JSON.parse(formatLine(rf, ev)) as Record<string, unknown>;
        expect(parsed.lambda).toMatch(/^(START|END|REPORT)$/);
        expect(parsed.requestId).toMatch(/^[0-9a-f-]{36}$/);
      }
    }
  });
});

/** Computed once by this implementation; a change here changes every key in Sumo. */
const PINNED = '25a715834910';

describe('keys', () => {
  it('are stable: pinned values (changing them breaks de-duplication downstream)', () => {
    expect(streamKey('123456789012', 'eu-west-1', '/aws/lambda/orders', 'stream')).toMatch(/^[0-9a-f]{12}$/);
    expect(streamKey('1', '2', '3', '4')).toBe(PINNED);
    expect(eventKey('abc', '123')).toBe('abc-123');
  });

  it('differ by every part', () => {
    const all = new Set([
      streamKey('a', 'b', 'c', 'd'),
      streamKey('x', 'b', 'c', 'd'),
      streamKey('a', 'x', 'c', 'd'),
      streamKey('a', 'b', 'x', 'd'),
      streamKey('a', 'b', 'c', 'x'),
      streamKey('ab', '', 'c', 'd'),
    ]);
    expect(all.size).toBe(6);
  });
});

describe('splitLine', () => {
  it('cuts an oversized event into marked parts within the byte limit', () => {
    const message = `${'a'.repeat(5_000)}\u0001${'é'.repeat(5_000)}😀${'"'.repeat(3_000)}`;
    const ev: LogEvent = { id: '7', timestamp: 1, message };
    const parts = splitLine(f, ev, 10_000);
    expect(parts.length).toBeGreaterThan(2);
    const parsed = parts.map((p) => {
      expect(Buffer.byteLength(p)).toBeLessThanOrEqual(10_000);
      return JSON.parse(p) as Record<string, unknown>;
    });
    expect(parsed.map((p) => p.part)).toStrictEqual(parsed.map((_, i) => i + 1));
    expect(parsed.every((p) => p.parts === parts.length && p.key === `${KEY}-7`)).toBe(true);
    expect(parsed.map((p) => p.message).join('')).toBe(message);
  });
});
