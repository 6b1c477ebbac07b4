import { gzipSync } from 'node:zlib';
import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  type CwlPayload,
  classifyPayload,
  decodeRecordData,
  eventsOf,
  MAX_INFLATED_BYTES,
  STREAM_FROM_BYTES,
} from '../../shared/decode';
import { DecodeError } from '../../shared/errors';
import { loadEvent } from '../support/events';

const encode = (value: unknown) => gzipSync(Buffer.from(JSON.stringify(value))).toString('base64');

function dataOf(data: string): CwlPayload {
  const r = decodeRecordData(data);
  if (r.kind !== 'data')
    throw new Error(`expected data, got ${r.kind}: ${r.kind === 'malformed' ? r.error.message : ''}`);
  return r.payload;
}

function malformedOf(data: string): DecodeError {
  const r = decodeRecordData(data);
  if (r.kind !== 'malformed') throw new Error(`expected malformed, got ${r.kind}`);
  return r.error;
}

const DECODED_FIXTURES = [
  'cwl-decoded-cloudtrail-via-cwl.datadog.json',
  'cwl-decoded-lambda-long-messages.datadog.json',
  'cwl-decoded-lambda-oom-multiline.newrelic.json',
  'cwl-decoded-vpc-flow-nodata.newrelic.json',
  'cwl-kinesis-decoded-cloudtrail.awsdocs.json',
];

describe('decodeRecordData on real sample payloads', () => {
  it('decodes the Kinesis event of a Lambda log group (START/END/REPORT), ids as strings', () => {
    const event = loadEvent<KinesisStreamEvent>(
      'kinesis/cwl-kinesis-lambda-start-end-report.powertools-ts.json',
    );
    const payloads = event.Records.map((r) => dataOf(r.kinesis.data));
    expect(payloads).toHaveLength(2);
    for (const p of payloads) {
      expect(p.messageType).toBe('DATA_MESSAGE');
      expect(p.owner).toBe('231436140809');
      expect(p.logGroup.startsWith('/aws/lambda/')).toBe(true);
      expect(p.logEvents.every((e) => typeof e.id === 'string' && /^\d{56}$/.test(e.id))).toBe(true);
    }
    expect(payloads[0]?.logEvents.map((e) => e.message.split(' ')[0])).toStrictEqual([
      'START',
      'END',
      'REPORT',
    ]);
  });

  it.each([
    'cwl-awslogs-event.aws-lambda-go.json',
    'cwl-awslogs-json-structured-lines.powertools-ts.json',
    'cwl-awslogs-rds-mysql-slowquery-multiline.honeycomb.json',
  ])('decodes the awslogs blob of %s (same gzip payload format)', (file) => {
    const event = loadEvent<{ awslogs: { data: string } }>(`cloudwatch-logs/${file}`);
    const p = dataOf(event.awslogs.data);
    expect(p.messageType).toBe('DATA_MESSAGE');
    expect(p.logEvents.length).toBeGreaterThan(0);
  });

  it('decodes all 50 Sumo Logic fixture envelopes: 4,954 events', () => {
    const envelopes = loadEvent<{ awslogs: { data: string } }[]>(
      'cloudwatch-logs/cwl-awslogs-batch-50-envelopes.sumologic.json',
    );
    const total = envelopes.reduce((n, e) => n + dataOf(e.awslogs.data).logEvents.length, 0);
    expect(total).toBe(4954);
  });

  it('classifies the Firehose sample: a CONTROL_MESSAGE first, then DATA_MESSAGEs', () => {
    const event = loadEvent<{ records: { data: string }[] }>(
      'firehose/cwl-firehose-control-message-plus-data.sam.json',
    );
    expect(event.records.map((r) => decodeRecordData(r.data).kind)).toStrictEqual([
      'control',
      'data',
      'data',
      'data',
    ]);
  });

  it('classifies a Kinesis record that is not a CWL payload as not-gzip', () => {
    const event = loadEvent<KinesisStreamEvent>('kinesis/kinesis-event-non-cwl-data.aws-lambda-go.json');
    const error = malformedOf(event.Records[0]?.kinesis.data ?? '');
    expect(error).toBeInstanceOf(DecodeError);
    expect(error.name).toBe('DecodeError');
    expect(error.reason).toBe('not-gzip');
    expect(error.retryable).toBe(false);
  });

  it.each(DECODED_FIXTURES)('round-trips the decoded payload %s', (file) => {
    const payload = loadEvent<CwlPayload>(`cloudwatch-logs/${file}`);
    expect(dataOf(encode(payload))).toStrictEqual(payload);
  });
});

describe('decodeRecordData on generated payloads', () => {
  const payload = {
    messageType: 'DATA_MESSAGE',
    owner: '123456789012',
    logGroup: '/aws/lambda/f',
    logStream: 's',
    subscriptionFilters: ['log-reflector-eu-west-1'],
    logEvents: [
      { id: 0, timestamp: 1, message: 'a' },
      { id: '36925185226094034545633478734858043218957519876046536704', timestamp: 2, message: 'b' },
    ],
  };

  it('turns numeric ids (moto) into strings', () => {
    expect(dataOf(encode(payload)).logEvents.map((e) => e.id)).toStrictEqual([
      '0',
      '36925185226094034545633478734858043218957519876046536704',
    ]);
  });

  it('inflates a multi-member gzip stream', () => {
    const text = JSON.stringify(payload);
    const cut = Math.floor(text.length / 2);
    const data = Buffer.concat([
      gzipSync(Buffer.from(text.slice(0, cut))),
      gzipSync(Buffer.from(text.slice(cut))),
    ]).toString('base64');
    expect(dataOf(data).logEvents).toHaveLength(2);
  });

  it('inflates correctly whatever the gzip trailer hints about the size (the output buffer is sized from it)', () => {
    const big = {
      ...payload,
      logEvents: Array.from({ length: 400 }, (_, i) => ({
        id: String(i),
        timestamp: i,
        message: `m${i} ${'z'.repeat(i)}`,
      })),
    };
    const text = JSON.stringify(big);
    // Last member tiny: the hint is far below the whole output, which then takes several steps.
    const tinyLast = Buffer.concat([
      gzipSync(Buffer.from(text.slice(0, -2))),
      gzipSync(Buffer.from(text.slice(-2))),
    ]);
    expect(tinyLast.readUInt32LE(tinyLast.length - 4)).toBe(2);
    expect(dataOf(tinyLast.toString('base64')).logEvents).toHaveLength(400);
    // A trailer claiming 4 GiB is only a hint for the buffer (capped); zlib's length check still refuses it.
    const lying = Buffer.from(gzipSync(Buffer.from(text)));
    lying.writeUInt32LE(0xffffffff, lying.length - 4);
    expect(malformedOf(lying.toString('base64'))).toMatchObject({ reason: 'corrupt-gzip' });
    expect(malformedOf(lying.toString('base64')).message).toContain('incorrect length check');
  });

  it.each([
    ['', 'empty'],
    ['abc', 'not-base64'],
    ['@@@@', 'not-base64'],
    ['SGVsbG8gV29ybGQ=', 'not-gzip'],
    [gzipSync(Buffer.from('{"a":')).subarray(0, 12).toString('base64'), 'corrupt-gzip'],
    [gzipSync(Buffer.from('not json at all')).toString('base64'), 'not-json'],
    [encode({ hello: 'world' }), 'schema'],
    [encode([1, 2]), 'schema'],
    [encode({ ...payload, messageType: 'OTHER' }), 'schema'],
  ])('classifies %j as malformed (%s)', (data, reason) => {
    expect(malformedOf(data).reason).toBe(reason);
  });

  it('names the field and the value received in a schema error', () => {
    const bad = { ...payload, logEvents: [{ id: 'x', timestamp: 'yesterday', message: 'm' }] };
    const error = malformedOf(encode(bad));
    expect(error.reason).toBe('schema');
    expect(error.message).toContain('logEvents.0.timestamp');
    expect(error.message).toContain('"yesterday"');
  });

  it('refuses a payload that inflates beyond the limit', () => {
    const bomb = gzipSync(Buffer.alloc(MAX_INFLATED_BYTES + 1024, 0x20)).toString('base64');
    expect(malformedOf(bomb).reason).toBe('too-large');
  });

  it('classifies an already-parsed control message', () => {
    expect(
      classifyPayload({
        ...payload,
        messageType: 'CONTROL_MESSAGE',
        logEvents: [{ id: '', timestamp: 1, message: 'x' }],
      }),
    ).toStrictEqual({ kind: 'control' });
  });
});

describe('numbers the fast path must treat as the schema does (issue 10.5)', () => {
  const raw = (events: string) =>
    gzipSync(
      Buffer.from(
        `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/g","logStream":"s","subscriptionFilters":[],"logEvents":[${events}]}`,
      ),
    ).toString('base64');

  it('refuses a timestamp or a numeric id that parses to Infinity, naming the field', () => {
    const ts = malformedOf(raw('{"id":"1","timestamp":1e400,"message":"m"}'));
    expect(ts.reason).toBe('schema');
    expect(ts.message).toContain('logEvents.0.timestamp');
    const id = malformedOf(raw('{"id":-1e400,"timestamp":1,"message":"m"}'));
    expect(id.reason).toBe('schema');
    expect(id.message).toContain('logEvents.0.id');
  });

  it('keeps the digits of numeric ids too large for a double, so their keys stay distinct', () => {
    const p = dataOf(
      raw(
        '{"id":37199717563107880995141901415313936169291476248187437057,"timestamp":1,"message":"a"},' +
          '{"id":37199717563107880995141901415313936169291476248187437058,"timestamp":2,"message":"b"},' +
          '{"id":42,"timestamp":3,"message":"c"},{"id":1,"id":12345678901234567890,"timestamp":4,"message":"d"}',
      ),
    );
    expect(p.logEvents.map((e) => e.id)).toStrictEqual([
      '37199717563107880995141901415313936169291476248187437057',
      '37199717563107880995141901415313936169291476248187437058',
      '42',
      '12345678901234567890',
    ]);
  });
});

describe('payloads above STREAM_FROM_BYTES, read event by event (issue 10.3)', () => {
  /** A payload of `n` small events, with `extra` spliced into its text. */
  function bigText(n: number, edit: (t: string) => string = (t) => t): string {
    const events = Array.from(
      { length: n },
      (_, i) => `{"id":"${i}","timestamp":${i},"message":"event ${i} é"}`,
    );
    return edit(
      `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/g","logStream":"s","subscriptionFilters":["log-reflector-eu-west-1"],"logEvents":[${events.join(',')}]}`,
    );
  }
  const n = Math.ceil(STREAM_FROM_BYTES / 40);

  it('decodes a payload above the threshold lazily, with the same events as JSON.parse', () => {
    const text = bigText(n);
    expect(text.length).toBeGreaterThan(STREAM_FROM_BYTES);
    const r = decodeRecordData(gzipSync(Buffer.from(text)).toString('base64'));
    if (r.kind !== 'large') throw new Error(`expected large, got ${r.kind}`);
    expect(r.head).toStrictEqual({
      messageType: 'DATA_MESSAGE',
      owner: '123456789012',
      logGroup: '/g',
      logStream: 's',
      subscriptionFilters: ['log-reflector-eu-west-1'],
    });
    expect(r.eventCount).toBe(n);
    let i = 0;
    for (const e of eventsOf(r)) {
      if (i === 0 || i === n - 1)
        expect(e).toStrictEqual({ id: String(i), timestamp: i, message: `event ${i} é` });
      i++;
    }
    expect(i).toBe(n);
  });

  it.each([
    ['text after the object', (t: string) => `${t} x`, 'not-json'],
    ['a broken event in the middle', (t: string) => t.replace('{"id":"77"', '{"id":"77",,'), 'not-json'],
    [
      'an event with a timestamp as text',
      (t: string) => t.replace('"timestamp":77,', '"timestamp":"77",'),
      'schema',
    ],
    [
      'an owner that is not a string',
      (t: string) => t.replace('"owner":"123456789012"', '"owner":12'),
      'schema',
    ],
    [
      'logEvents given twice, the last not an array',
      (t: string) => t.replace(/\}$/, ',"logEvents":7}'),
      'schema',
    ],
  ])('classifies a large payload with %s as %s… as JSON.parse would', (_, edit, reason) => {
    const data = gzipSync(Buffer.from(bigText(n, edit))).toString('base64');
    const error = malformedOf(data);
    expect(error.reason).toBe(reason);
    if (reason === 'schema' && _.includes('timestamp'))
      expect(error.message).toContain('logEvents.77.timestamp');
  });
});
