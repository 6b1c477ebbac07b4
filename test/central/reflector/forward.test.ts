/**
 * The forwarder core against a real local HTTP server playing the Sumo source, with fault
 * modes. For every case: count events in and events received; nothing is lost (every event
 * is either accepted by the server or its record is reported failed); a record is reported
 * failed exactly when not all its events were accepted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type EndpointSource, staticEndpoint } from '../../../central/reflector/endpoint';
import { forwardConfigFrom, loadReflectorEnv } from '../../../central/reflector/env';
import {
  type ForwardConfig,
  type ForwardRecord,
  type ForwardResult,
  forwardRecords,
} from '../../../central/reflector/forward';
import { MIN_ATTEMPT_MS, SumoSender } from '../../../central/reflector/sender';
import { decodeInflated } from '../../../shared/decode';
import { type DecodeError, TransientError } from '../../../shared/errors';
import type { Clock } from '../../../shared/rate-limiter';
import type { Chunk } from '../../../shared/sumo/batch';
import { everyNth, type SumoServer, startSumoServer } from '../../support/sumo-server';
import {
  cwlPayload,
  encode,
  eventId,
  forwardRecord,
  idOfLine,
  makeRecords,
  testSenderOptions,
  virtualClock,
} from './records';

let server: SumoServer;
beforeAll(async () => {
  server = await startSumoServer();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(() => {
  server.reset();
  server.setToken('TESTTOKEN');
});

const config: ForwardConfig = {
  templates: {
    category: 'aws/cloudwatch/{account}/{region}/{logGroup}',
    name: '{logGroup}',
    host: '{account}',
    staticFields: [['env', 'test']],
  },
  // Small bodies so a batch makes many requests and faults hit mid-record.
  maxBytes: 20_000,
  concurrency: 4,
};

let client: 'lean' | 'node' = 'lean';
const senders: SumoSender[] = [];
afterAll(() => {
  for (const s of senders) s.close();
});

/**
 * A sender for these tests. The request timeout is long unless a test is about timeouts: on
 * a loaded machine a healthy local request can take seconds, and a timeout that fires after
 * the server answered makes a (legitimate) duplicate that exact counts would trip on.
 */
function sender(
  endpoint: EndpointSource = staticEndpoint(server.url()),
  timeoutMs = 60_000,
  maxAttempts = 8,
  clock?: Clock,
) {
  const s = new SumoSender(
    endpoint,
    testSenderOptions({
      requestTimeoutMs: timeoutMs,
      maxAttempts,
      maxSockets: 4,
      client,
      ...(clock === undefined ? {} : { clock, random: () => 0.5 }),
    }),
  );
  senders.push(s);
  return s;
}

async function run(
  records: readonly ForwardRecord[],
  s = sender(),
  deadlineMs = 120_000,
  clock?: Clock,
): Promise<{ result: ForwardResult; parked: string[] }> {
  const parked: string[] = [];
  const now = clock ? () => clock.now() : Date.now;
  const result = await forwardRecords(records, now() + deadlineMs, config, {
    deliver: (chunk, deadline, stats) => s.deliver(chunk, deadline, stats),
    storeMalformed: async (r: ForwardRecord, e: DecodeError) => {
      parked.push(`${r.sequenceNumber}:${e.reason}`);
    },
    now,
  });
  return { result, parked };
}

/**
 * The invariant: events accepted by the server, and records reported failed, together cover
 * every event in; a record is failed exactly when some of its events were not accepted.
 */
function checkAccounting(recordCount: number, eventsPerRecord: number, result: ForwardResult) {
  const accepted = new Map<string, number>();
  for (const line of server.accepted()) {
    const id = idOfLine(line);
    accepted.set(id, (accepted.get(id) ?? 0) + 1);
  }
  const expectedFailed: number[] = [];
  let lost = 0;
  for (let r = 0; r < recordCount; r++) {
    let complete = true;
    for (let j = 0; j < eventsPerRecord; j++) if (!accepted.has(eventId(r, j))) complete = false;
    if (!complete) expectedFailed.push(r);
    if (!complete && !result.failed.includes(r)) lost++;
  }
  expect(lost).toBe(0);
  expect(result.failed).toStrictEqual(expectedFailed);
  return { acceptedDistinct: accepted.size };
}

describe.each(['lean', 'node'] as const)(
  'forwardRecords against a local Sumo source (%s HTTP client)',
  (c) => {
    beforeEach(() => {
      client = c;
    });

    it('reads chunked answers, Connection: close and 100 Continue', async () => {
      server.setPlan((n) =>
        n % 3 === 0
          ? { status: 200, chunked: true }
          : n % 3 === 1
            ? { status: 200, close: true }
            : { status: 200, interim: true },
      );
      const records = makeRecords(12, 30);
      const { result } = await run(records);
      expect(result.failed).toStrictEqual([]);
      checkAccounting(12, 30, result);
      expect(result.stats.retries).toBe(0);
    });

    it('delivers every event once, with the headers and the line format, when the source is healthy', async () => {
      const records = makeRecords(30, 40);
      const { result } = await run(records);
      expect(result.failed).toStrictEqual([]);
      const lines = server.accepted();
      expect(lines).toHaveLength(30 * 40);
      expect(new Set(lines.map(idOfLine)).size).toBe(1200);
      expect(result.stats.eventsIn).toBe(1200);
      expect(result.stats.linesAccepted).toBe(1200);
      expect(result.stats.retries).toBe(0);
      const first = server.requests[0];
      expect(first?.headers['content-encoding']).toBe('gzip');
      expect(first?.headers['x-sumo-category']).toMatch(
        /^aws\/cloudwatch\/111122223333\/eu-west-1\/aws\/lambda\/app-\d$/,
      );
      expect(first?.headers['x-sumo-fields']).toMatch(
        /^account=111122223333,region=eu-west-1,logGroup=\/aws\/lambda\/app-\d,env=test$/,
      );
      // Requests are grouped by header set: one log group per request.
      for (const req of server.requests) {
        expect(new Set(req.lines.map((l) => l.logGroup))).toStrictEqual(
          new Set([req.headers['x-sumo-name']]),
        );
        expect(req.rawBytes).toBeLessThanOrEqual(20_000);
      }
      const line = lines.find((l) => idOfLine(l) === eventId(0, 1));
      expect(line).toStrictEqual({
        timestamp: 1795651200001,
        account: '111122223333',
        region: 'eu-west-1',
        logGroup: '/aws/lambda/app-0',
        logStream: `2026/11/26/[$LATEST]${'0'.repeat(32)}`,
        key: expect.stringMatching(new RegExp(`^[0-9a-f]{12}-${eventId(0, 1)}$`)),
        message: `record 0 event 1 ${'x'.repeat(200)}`,
      });
    });

    it('loses nothing when every 3rd request is answered 503: retries until accepted', async () => {
      server.setPlan(everyNth(3, 503));
      const records = makeRecords(20, 50);
      const { result } = await run(records);
      checkAccounting(20, 50, result);
      expect(result.failed).toStrictEqual([]);
      expect(result.stats.retries).toBeGreaterThan(0);
      expect(server.requests.filter((r) => r.outcome === 503).length).toBeGreaterThan(0);
    });

    it('honours Retry-After on 429 and retries 429 without it', async () => {
      server.setPlan((n) =>
        n === 1 ? { status: 429, retryAfter: '7' } : n === 3 ? { status: 429 } : undefined,
      );
      const clock = virtualClock();
      const records = makeRecords(4, 20);
      const { result } = await run(records, sender(undefined, undefined, undefined, clock), 60_000, clock);
      checkAccounting(4, 20, result);
      expect(result.failed).toStrictEqual([]);
      expect(server.requests.filter((r) => r.outcome === 429)).toHaveLength(2);
      // One wait of the 7 s asked for; the other 429 waits its backoff (≤ 25 ms here).
      const sleeps = [...clock.sleeps].sort((a, b) => a - b);
      expect(sleeps).toHaveLength(2);
      expect(sleeps[1]).toBe(7_000);
      expect(sleeps[0]).toBeLessThanOrEqual(25);
    });

    it('retries 408, timeouts (a request never answered), connection resets and hangs', async () => {
      server.setPlan((n) => {
        if (n === 1) return { status: 408 };
        if (n === 2) return { hang: true }; // the client's timeout must fire
        if (n === 4) return { reset: true };
        if (n === 6) return { hang: true };
        return undefined;
      });
      const records = makeRecords(10, 30);
      const { result } = await run(records, sender(staticEndpoint(server.url()), 1_000));
      checkAccounting(10, 30, result);
      expect(result.failed).toStrictEqual([]);
      expect(result.stats.retries).toBeGreaterThanOrEqual(4);
    });

    it('fails (never drops) every record on 401, and stops sending after the first refusal', async () => {
      const s = sender(staticEndpoint(server.url('TESTTOKEN')));
      server.setToken('ROTATED');
      const records = makeRecords(10, 30);
      const { result } = await run(records, s);
      expect(result.failed).toStrictEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(server.accepted()).toStrictEqual([]);
      // 4 concurrent first attempts at most; no retry storm against a refused credential.
      expect(server.requests.length).toBeLessThanOrEqual(4);
      checkAccounting(10, 30, result);
    });

    it('refreshes the URL after a 401 and succeeds with the new one', async () => {
      server.setToken('NEW');
      let refreshes = 0;
      const endpoint: EndpointSource = {
        get: async () => new URL(server.url(refreshes === 0 ? 'OLD' : 'NEW')),
        refresh: async () => {
          refreshes++;
          return new URL(server.url('NEW'));
        },
      };
      const records = makeRecords(3, 10);
      const { result } = await run(records, sender(endpoint));
      expect(result.failed).toStrictEqual([]);
      // One refresh per request that met the old URL (3 log groups → up to 3 requests in flight).
      expect(refreshes).toBeGreaterThanOrEqual(1);
      expect(refreshes).toBeLessThanOrEqual(3);
      expect(server.requests.filter((r) => r.outcome === 200).map((r) => r.token)).toStrictEqual(
        server.requests.filter((r) => r.outcome === 200).map(() => 'NEW'),
      );
      checkAccounting(3, 10, result);
    });

    it('reports exactly the undelivered records when the remaining time runs out mid-batch', async () => {
      // Healthy for the first requests, then the source only answers 503: the deadline comes
      // while retries are pending. Time passes only in the backoff sleeps (virtual clock).
      server.setPlan((n) => (n > 6 ? { status: 503 } : undefined));
      const clock = virtualClock();
      const start = clock.t;
      const records = makeRecords(40, 30);
      const { result } = await run(records, sender(undefined, undefined, 20, clock), 1_500, clock);
      // The deadline, not the attempts (20 allowed), ended the retries: no attempt starts
      // with less than MIN_ATTEMPT_MS left.
      expect(clock.t - start).toBeGreaterThanOrEqual(1_500 - MIN_ATTEMPT_MS - 50);
      const { acceptedDistinct } = checkAccounting(40, 30, result);
      expect(acceptedDistinct).toBeGreaterThan(0);
      expect(result.failed.length).toBeGreaterThan(0);
      expect(result.failed.length).toBeLessThan(40);
    });

    it('fails the rest of the batch without reading it when the deadline has already passed', async () => {
      const records = makeRecords(5, 5);
      const { result } = await run(records, sender(), -1);
      expect(result.failed).toStrictEqual([0, 1, 2, 3, 4]);
      expect(result.stats.skippedForDeadline).toBe(5);
      expect(server.requests).toStrictEqual([]);
    });

    it('parks malformed records, drops control messages, and acknowledges both', async () => {
      const records = [
        forwardRecord(0, encode(cwlPayload(0, 5))),
        forwardRecord(1, Buffer.from('Hello World').toString('base64')),
        forwardRecord(
          2,
          encode({ ...cwlPayload(2, 0), messageType: 'CONTROL_MESSAGE', owner: 'CloudwatchLogs' }),
        ),
        forwardRecord(3, encode({ nope: true })),
      ];
      const { result, parked } = await run(records);
      expect(result.failed).toStrictEqual([]);
      expect(parked).toStrictEqual(['49590000000001:not-gzip', '49590000000003:schema']);
      expect(result.stats.malformed).toBe(2);
      expect(result.stats.control).toBe(1);
      expect(server.accepted()).toHaveLength(5);
    });

    it('fails a malformed record back to Kinesis when it cannot be parked', async () => {
      const records = [forwardRecord(0, encode(cwlPayload(0, 2))), forwardRecord(1, 'bm90IGd6aXA=')];
      const result = await forwardRecords(records, Date.now() + 10_000, config, {
        deliver: (chunk, deadline, stats) => sender().deliver(chunk, deadline, stats),
        storeMalformed: async () => {
          throw new Error('AccessDenied');
        },
      });
      expect(result.failed).toStrictEqual([1]);
    });

    it('splits an event larger than a request into marked parts, never dropping it', async () => {
      const big = 'é'.repeat(30_000); // 60 KB of UTF-8 for a 20 KB request limit
      const records = [forwardRecord(0, encode(cwlPayload(0, 2, {}, (j) => (j === 0 ? big : 'small'))))];
      const { result } = await run(records);
      expect(result.failed).toStrictEqual([]);
      expect(result.stats.splitEvents).toBe(1);
      const parts = server.accepted().filter((l) => idOfLine(l) === eventId(0, 0));
      expect(parts.length).toBeGreaterThan(3);
      parts.sort((a, b) => Number(a.part) - Number(b.part));
      expect(parts.map((p) => p.parts)).toStrictEqual(parts.map(() => parts.length));
      expect(parts.map((p) => p.message).join('')).toBe(big);
      for (const req of server.requests) expect(req.rawBytes).toBeLessThanOrEqual(20_000);
    });
  },
);

describe.each(['lean', 'node'] as const)('delivery over TLS (%s HTTP client)', (c) => {
  let tlsServer: SumoServer;
  let cert: string;
  beforeAll(async () => {
    // A throwaway self-signed certificate for 127.0.0.1, trusted only by these senders.
    const dir = mkdtempSync(join(tmpdir(), 'reflector-tls-'));
    const made = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    expect(made.status).toBe(0);
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    tlsServer = await startSumoServer('TLS', { key: readFileSync(join(dir, 'key.pem')), cert });
  });
  afterAll(async () => {
    await tlsServer.stop();
  });

  it('delivers every event, retrying a 503, over https with keep-alive', async () => {
    tlsServer.setPlan(everyNth(4, 503));
    const s = new SumoSender(
      staticEndpoint(tlsServer.url()),
      testSenderOptions({ backoff: { baseMs: 5, capMs: 20 }, client: c, ca: cert }),
    );
    senders.push(s);
    const records = makeRecords(12, 20);
    const result = await forwardRecords(records, Date.now() + 20_000, config, {
      deliver: (chunk, deadline, stats) => s.deliver(chunk, deadline, stats),
      storeMalformed: async () => undefined,
    });
    expect(result.failed).toStrictEqual([]);
    const ids = new Set(tlsServer.accepted().map(idOfLine));
    expect(ids.size).toBe(12 * 20);
    expect(result.stats.retries).toBeGreaterThan(0);
  });
});

describe('header sets across invocations', () => {
  it('reuses a header set only for the same account, region and log group (and stream when templated)', async () => {
    const perStream: ForwardConfig = {
      ...config,
      templates: { ...config.templates, name: '{logGroup}/{logStream}' },
    };
    for (const cfg of [config, perStream]) {
      for (const [owner, stream] of [
        ['111122223333', 's1'],
        ['444455556666', 's1'],
        ['111122223333', 's2'],
        ['111122223333', 's1'],
      ] as const) {
        const chunks: Chunk[] = [];
        const record = forwardRecord(
          0,
          encode(cwlPayload(0, 3, { owner, logGroup: '/g', logStream: stream })),
        );
        const result = await forwardRecords([record], Date.now() + 10_000, cfg, {
          deliver: async (chunk) => {
            chunks.push(chunk);
            return { ok: true };
          },
          storeMalformed: async () => undefined,
        });
        expect(result.failed).toStrictEqual([]);
        expect(
          chunks.map((c) => [c.headers['X-Sumo-Host'], c.headers['X-Sumo-Name'], c.lines]),
        ).toStrictEqual([[owner, cfg === perStream ? `/g/${stream}` : '/g', 3]]);
      }
    }
  });
});

describe('one record holding many bodies (issue 10.3)', () => {
  const small: ForwardConfig = { ...config, maxBytes: 10_000, concurrency: 2 };

  it('sends bodies while the record is still being read: never more than one waits', async () => {
    // Before, back-pressure only acted between records: all ~60 bodies of this record were
    // cut and queued (in memory) before the first was sent.
    const record = forwardRecord(0, encode(cwlPayload(0, 2_500)));
    let started = 0;
    let mostWaiting = 0;
    const result = await forwardRecords([record], Date.now() + 60_000, small, {
      deliver: async (chunk, _deadline, stats) => {
        started++;
        mostWaiting = Math.max(mostWaiting, (stats as ForwardResult['stats']).chunks - started);
        await new Promise((resolve) => setImmediate(resolve));
        stats.linesAccepted += chunk.lines;
        return { ok: true };
      },
      storeMalformed: async () => undefined,
    });
    expect(result.failed).toStrictEqual([]);
    expect(result.stats.linesAccepted).toBe(2_500);
    expect(result.stats.chunks).toBeGreaterThan(40);
    expect(mostWaiting).toBeLessThanOrEqual(1);
  });

  it('forwards a payload read event by event (large) like any other', async () => {
    const records = makeRecords(3, 40);
    const lines: Record<string, unknown>[] = [];
    const result = await forwardRecords(records, Date.now() + 60_000, small, {
      deliver: async (chunk, _deadline, stats) => {
        for (const l of chunk.body.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l));
        stats.linesAccepted += chunk.lines;
        return { ok: true };
      },
      storeMalformed: async () => undefined,
      // Every payload takes the path of payloads above STREAM_FROM_BYTES.
      decode: (data) => decodeInflated(gunzipSync(Buffer.from(data, 'base64')), 0),
    });
    expect(result.failed).toStrictEqual([]);
    expect(result.stats.eventsIn).toBe(120);
    expect(new Set(lines.map(idOfLine)).size).toBe(120);
    expect(lines.find((l) => idOfLine(l) === eventId(2, 39))?.message).toBe(
      `record 2 event 39 ${'x'.repeat(200)}`,
    );
  });

  it('stops reading a record once one of its bodies failed (it goes back to Kinesis whole)', async () => {
    const record = forwardRecord(0, encode(cwlPayload(0, 2_500)));
    let calls = 0;
    const result = await forwardRecords([record], Date.now() + 60_000, small, {
      deliver: async () => {
        calls++;
        await new Promise((resolve) => setImmediate(resolve));
        return { ok: false, error: new TransientError('refused') };
      },
      storeMalformed: async () => undefined,
    });
    expect(result.failed).toStrictEqual([0]);
    expect(calls).toBeLessThan(result.stats.eventsIn / 50);
  });
});

describe('requests in flight (issue 11)', () => {
  /** Records of one event each, every one from its own log group: one small body per record. */
  const manyGroups = (n: number) =>
    Array.from({ length: n }, (_, i) =>
      forwardRecord(i, encode(cwlPayload(i, 3, { logGroup: `/aws/lambda/service-${i}` }))),
    );

  /** Holds every delivery until `release` is called, recording what was in flight at its start. */
  function heldDeliveries() {
    let inFlight = 0;
    let bytes = 0;
    const seen: { requests: number; bytes: number }[] = [];
    const held: (() => void)[] = [];
    const deliver = async (chunk: Chunk, _deadline: number, stats: { linesAccepted: number }) => {
      inFlight++;
      bytes += chunk.body.length;
      seen.push({ requests: inFlight, bytes });
      await new Promise<void>((resolve) => held.push(resolve));
      inFlight--;
      bytes -= chunk.body.length;
      stats.linesAccepted += chunk.lines;
      return { ok: true } as const;
    };
    // Releases what is held, turn after turn, until nothing more arrives.
    const drain = async (done: Promise<unknown>) => {
      let finished = false;
      void done.then(() => {
        finished = true;
      });
      while (!finished) {
        await new Promise((resolve) => setImmediate(resolve));
        for (const r of held.splice(0)) r();
      }
    };
    return { deliver, drain, seen };
  }

  it('sends one small body per log group all at once by default, not four at a time', async () => {
    // Before, a fixed 4 in flight: 100 log groups waited on the source's latency 25 times over.
    const { deliver, drain, seen } = heldDeliveries();
    const defaults = forwardConfigFrom(
      loadReflectorEnv({ SUMO_ENDPOINT: 'https://sumo.invalid/receiver', FAILURE_BUCKET: 'failures' }),
    );
    const run = forwardRecords(manyGroups(100), Date.now() + 60_000, defaults, {
      deliver,
      storeMalformed: async () => undefined,
    });
    await drain(run);
    const result = await run;
    expect(result.failed).toStrictEqual([]);
    expect(result.stats.chunks).toBe(100);
    expect(Math.max(...seen.map((s) => s.requests))).toBe(100);
  });

  it('keeps the uncompressed bytes in flight within maxBytesInFlight', async () => {
    const { deliver, drain, seen } = heldDeliveries();
    const budget = 5_000;
    const run = forwardRecords(
      manyGroups(60),
      Date.now() + 60_000,
      { ...config, concurrency: 64, maxBytesInFlight: budget },
      { deliver, storeMalformed: async () => undefined },
    );
    await drain(run);
    const result = await run;
    expect(result.failed).toStrictEqual([]);
    expect(result.stats.linesAccepted).toBe(180);
    const most = Math.max(...seen.map((s) => s.bytes));
    expect(most).toBeLessThanOrEqual(budget);
    // Several at once all the same (each body is ~1 KB): the budget, not a count, limits them.
    expect(Math.max(...seen.map((s) => s.requests))).toBeGreaterThan(2);
  });
});
