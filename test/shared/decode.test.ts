import { gzipSync } from 'node:zlib';
import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { type CwlPayload, classifyPayload, decodeRecordData, MAX_INFLATED_BYTES } from '../../shared/decode';
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
