/**
 * The sender's compression placement: inline or on the libuv thread pool, chosen from the
 * CPU share of the process (Lambda: memory ÷ 1,769 MB). Both placements must send the same
 * bytes; only where the CPU is spent differs.
 */
import net from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { staticEndpoint } from '../../../central/reflector/endpoint';
import {
  cpuShare,
  inlineGzipThreshold,
  newSendStats,
  SumoSender,
  SYNC_GZIP_BELOW_BYTES,
} from '../../../central/reflector/sender';
import type { Chunk } from '../../../shared/sumo/batch';
import { type SumoServer, startSumoServer } from '../../support/sumo-server';
import { testSenderOptions } from './records';

describe('cpuShare', () => {
  it('is memory ÷ 1,769 MB in Lambda, capped by the processors shown', () => {
    expect(cpuShare(1024, 2)).toBeCloseTo(0.579, 3);
    expect(cpuShare(1769, 2)).toBe(1);
    expect(cpuShare(3538, 2)).toBe(2);
    expect(cpuShare(10_240, 6)).toBeCloseTo(5.789, 3);
    expect(cpuShare(10_240, 2)).toBe(2);
  });

  it('is the processors this process may run on outside Lambda (or with a nonsense memory value)', () => {
    expect(cpuShare(undefined, 1)).toBe(1);
    expect(cpuShare(undefined, 8)).toBe(8);
    expect(cpuShare(Number.NaN, 4)).toBe(4);
    expect(cpuShare(0, 4)).toBe(4);
  });
});

describe('inlineGzipThreshold', () => {
  it('compresses everything inline below two vCPUs, and only small bodies inline from two', () => {
    expect(inlineGzipThreshold(0.58)).toBe(Number.POSITIVE_INFINITY);
    expect(inlineGzipThreshold(1.99)).toBe(Number.POSITIVE_INFINITY);
    expect(inlineGzipThreshold(2)).toBe(SYNC_GZIP_BELOW_BYTES);
    expect(inlineGzipThreshold(6)).toBe(SYNC_GZIP_BELOW_BYTES);
  });
});

describe('gzip placement', () => {
  let server: SumoServer;
  const senders: SumoSender[] = [];
  beforeAll(async () => {
    server = await startSumoServer();
  });
  afterAll(async () => {
    for (const s of senders) s.close();
    await server.stop();
  });
  beforeEach(() => server.reset());

  const lines = Array.from(
    { length: 3000 },
    (_, i) => `${JSON.stringify({ key: `k-${i}`, message: `event ${i} ${'y'.repeat(i % 300)}` })}\n`,
  );
  const chunk: Chunk = {
    headers: {
      'X-Sumo-Category': 'aws/cloudwatch/111122223333/eu-west-1/app',
      'X-Sumo-Name': 'app',
      'X-Sumo-Host': '111122223333',
      'X-Sumo-Fields': 'account=111122223333,region=eu-west-1,logGroup=app',
    },
    body: Buffer.from(lines.join('')),
    lines: lines.length,
    records: [0],
  };

  it.each([
    ['inline', Number.POSITIVE_INFINITY],
    ['thread pool', 0],
  ])('sends the same body when gzip runs %s', async (_, threadPoolGzipFromBytes) => {
    const s = new SumoSender(
      staticEndpoint(server.url()),
      testSenderOptions({ maxAttempts: 2, threadPoolGzipFromBytes }),
    );
    senders.push(s);
    const stats = newSendStats();
    const result = await s.deliver(chunk, Date.now() + 10_000, stats);
    expect(result).toEqual({ ok: true });
    expect(chunk.body.length).toBeGreaterThan(400_000);
    expect(server.accepted().map((l) => l.key)).toEqual(lines.map((_l, i) => `k-${i}`));
    expect(stats).toMatchObject({
      requests: 1,
      retries: 0,
      bytesRaw: chunk.body.length,
      linesAccepted: 3000,
    });
    expect(stats.bytesGzip).toBe(server.requests[0]?.gzipBytes);
  });
});

describe('send window (issue 11)', () => {
  let server: SumoServer;
  const senders: SumoSender[] = [];
  beforeAll(async () => {
    server = await startSumoServer();
  });
  afterAll(async () => {
    for (const s of senders) s.close();
    await server.stop();
  });
  beforeEach(() => server.reset());

  const chunk: Chunk = {
    headers: {
      'X-Sumo-Category': 'c',
      'X-Sumo-Name': 'n',
      'X-Sumo-Host': 'h',
      'X-Sumo-Fields': 'f=1',
    },
    body: Buffer.from('{"key":"k-1","message":"m"}\n'),
    lines: 1,
    records: [0],
  };

  it('narrows its ceiling when Sumo answers 429 or 503 and widens it again as requests are accepted', async () => {
    server.setPlan((n) => (n === 1 ? { status: 429 } : n === 2 ? { status: 503 } : undefined));
    const s = new SumoSender(
      staticEndpoint(server.url()),
      testSenderOptions({ maxSockets: 16, maxBytesInFlight: 1_000_000, random: () => 0 }),
    );
    senders.push(s);
    expect(s.window.limit).toBe(16);
    expect(s.window.options.maxBytes).toBe(1_000_000);
    const stats = newSendStats();
    const first = await s.deliver(chunk, Date.now() + 60_000, stats);
    expect(first.ok).toBe(true);
    // 16 → 8 (429) → 4 (503) → 5 (accepted).
    expect(s.window.limit).toBe(5);
    for (let i = 0; i < 20; i++) await s.deliver(chunk, Date.now() + 60_000, stats);
    expect(s.window.limit).toBe(16);
  });
  it("writes a body to its socket in the caller's turn, right after its gzip (no wait for the batch's other bodies)", async () => {
    const s = new SumoSender(staticEndpoint(server.url()), testSenderOptions({ maxSockets: 4 }));
    senders.push(s);
    const stats = newSendStats();
    const write = vi.spyOn(net.Socket.prototype, 'write');
    try {
      // Bodies written so far (gzip buffers handed to a socket), read back as text.
      const written = () =>
        write.mock.calls
          .map(([data]) => data)
          .filter((d): d is Buffer => Buffer.isBuffer(d) && d[0] === 0x1f && d[1] === 0x8b)
          .map((d) => gunzipSync(d).toString('utf8'));
      // A new connection (first request), then an idle kept-alive one and a second new one.
      const first = s.deliver(chunk, Date.now() + 60_000, stats);
      expect(written()).toEqual([chunk.body.toString('utf8')]);
      expect(await first).toEqual({ ok: true });
      const again = [
        s.deliver(chunk, Date.now() + 60_000, stats),
        s.deliver(chunk, Date.now() + 60_000, stats),
      ];
      expect(written()).toHaveLength(3);
      expect(await Promise.all(again)).toEqual([{ ok: true }, { ok: true }]);
      expect(server.accepted()).toHaveLength(3);
    } finally {
      write.mockRestore();
    }
  });
});
