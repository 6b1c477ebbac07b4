/**
 * The lean HTTP/1.1 client (central/reflector/http1.ts): its response parser on its own, and
 * its connection pool against a loopback server that sends whatever bytes a test chooses.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { staticEndpoint } from '../../../central/reflector/endpoint';
import { forwardRecords } from '../../../central/reflector/forward';
import { Http1Pool, IDLE_MS, MAX_HEAD_BYTES, ResponseParser } from '../../../central/reflector/http1';
import { SumoSender } from '../../../central/reflector/sender';
import { TransientError } from '../../../shared/errors';
import {
  blackHole,
  type RawServer,
  respond,
  respondAndEnd,
  startRawServer,
} from '../../support/raw-http-server';
import { anyResponse } from './http-responses';
import { makeRecords, testSenderOptions } from './records';

type Verdict = { status: number } | { error: string } | 'incomplete';

/** Feeds `raw` to a parser in the given pieces, then closes the connection. */
function parse(raw: string | Buffer, cuts: readonly number[] = []): Verdict {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw;
  const parser = new ResponseParser();
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  try {
    for (const to of [...points, bytes.length]) {
      if (to <= from) continue;
      const done = parser.push(bytes.subarray(from, to));
      from = to;
      // Anything after the end in a later piece is also an error: keep feeding.
      if (done && from === bytes.length) return { status: done.status };
    }
    return { status: parser.end().status };
  } catch (err) {
    expect(err).toBeInstanceOf(TransientError);
    return { error: (err as Error).message };
  }
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

describe('ResponseParser', () => {
  it.each([
    [OK, 200],
    ['HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n', 200],
    ['HTTP/1.0 503 Service Unavailable\r\nRetry-After: 3\r\n\r\nbusy', 503],
    ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n', 204],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a="b c"\r\nok\r\n00\r\nX-T: 1\r\n\r\n', 200],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nuntil close', 200],
    ['HTTP/1.1 429 Too Many Requests\r\nContent-Length:  0 \r\nX-Obs: caf\u00e9\r\n\r\n', 429],
  ])('accepts %j as %i', (raw, status) => {
    expect(parse(raw)).toStrictEqual({ status });
  });

  // What each refusal must name; the received text follows it in the message.
  it.each([
    ['HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n', 'status line', '"HTTP/1.1 2000 OK"'],
    ['HTTP/1.1 200x OK\r\nContent-Length: 0\r\n\r\n', 'status line', '"HTTP/1.1 200x OK"'],
    ['HTTP/1.1 099 OK\r\n\r\n', 'status code outside 100-599', '099'],
    ['HTTP/2.0 200 OK\r\n\r\n', 'status line', 'HTTP/2.0'],
    ['HTTP/1.1 101 Switching Protocols\r\n\r\n', 'protocol switch', '101'],
    [
      'HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nabc',
      'Content-Length is not one non-negative integer',
      '"2, 3"',
    ],
    [
      'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nab',
      'Content-Length is not one non-negative integer',
      '"2, 2"',
    ],
    [
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab',
      'more than one Content-Length',
      '2 | 2',
    ],
    ['HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab', 'Content-Length', '"+2"'],
    [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n0\r\n\r\n',
      'both Transfer-Encoding and Content-Length',
      'chunked',
    ],
    ['HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n', 'header field name is not a token', '" b"'],
    ['HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n', 'header field name is not a token', '"X-A : a"'],
    ['HTTP/1.1 200 OK\r\nX-A: a\u0001\r\n\r\n', 'control character in header field X-A', 'X-A'],
    ['HTTP/1.1 200 OK\nContent-Length: 0\n\n', 'bare LF in the head', 'HTTP/1.1 200 OK\\n'],
    ['HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n', 'bare CR or LF in the head', 'X-A: a\\rb'],
    [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nok\r\n0\r\n\r\n',
      'chunk-size line',
      '"2 \\r\\n"',
    ],
    [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokk\r\n0\r\n\r\n',
      'chunk data longer than its size',
      'k',
    ],
    [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFF\r\n',
      'chunk size beyond 2^52',
      'FFFFFFFFFFFFFF',
    ],
    ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA', 'bytes after the end of the response', 'EXTRA'],
    [
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok',
      'closed the connection in the middle of its answer',
      '(length',
    ],
    [
      `HTTP/1.1 200 OK\r\nX-Big: <${MAX_HEAD_BYTES} bytes>\r\n\r\n`,
      `head larger than ${MAX_HEAD_BYTES} bytes`,
      'HTTP/1.1 200 OK',
    ],
  ])('refuses %j: %s', (text, what, received) => {
    const raw = text.replace(`<${MAX_HEAD_BYTES} bytes>`, 'b'.repeat(MAX_HEAD_BYTES));
    const v = parse(raw);
    expect(v).toHaveProperty('error');
    const message = (v as { error: string }).error;
    expect(message).toContain(what);
    expect(message).toContain(received);
  });

  it('says nothing was received when the connection closes before any byte', () => {
    expect(parse('')).toStrictEqual({ error: 'Sumo HTTP source closed the connection before answering' });
  });

  it('gives the same verdict whatever pieces the bytes arrive in', () => {
    fc.assert(
      fc.property(anyResponse, fc.array(fc.nat(), { maxLength: 6 }), (raw, cuts) => {
        const whole = parse(raw);
        const pieces = parse(raw, cuts);
        // Bytes after the end are an error either way; only the message may differ.
        expect('error' in (pieces as object)).toBe('error' in (whole as object));
        if (!('error' in (whole as object))) expect(pieces).toStrictEqual(whole);
      }),
      { numRuns: 3000 },
    );
  });

  it('skips a body without keeping it: 256 MB in 4 KiB pieces, Content-Length and chunked', () => {
    // Buffering (the client this replaced joined every piece onto the last) takes minutes here.
    const piece = Buffer.alloc(4096, 0x61);
    const total = 256 * 1024 * 1024;
    const byLength = new ResponseParser();
    expect(byLength.push(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`))).toBeUndefined();
    let done: { status: number } | undefined;
    for (let sent = 0; sent < total; sent += piece.length) done = byLength.push(piece);
    expect(done?.status).toBe(200);

    const chunked = new ResponseParser();
    chunked.push(
      Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${total.toString(16)}\r\n`),
    );
    for (let sent = 0; sent < total; sent += piece.length) expect(chunked.push(piece)).toBeUndefined();
    expect(chunked.push(Buffer.from('\r\n0\r\n\r\n'))?.status).toBe(200);
  });
});

describe('Http1Pool against a raw server', () => {
  let raw: RawServer;
  const pools: Http1Pool[] = [];
  beforeAll(async () => {
    raw = await startRawServer();
  });
  afterAll(async () => {
    for (const p of pools) p.close();
    await raw.stop();
  });
  beforeEach(() => {
    raw.requests.length = 0;
  });
  const pool = (maxSockets = 1, now?: () => number) => {
    const p = new Http1Pool(new URL(raw.url), maxSockets, undefined, now);
    pools.push(p);
    return p;
  };
  const post = (p: Http1Pool) => p.post('/receiver/v1/http/T', '', Buffer.from('{}\n'), 30_000);

  it('never acknowledges records on a status code followed by more digits (data loss before)', async () => {
    raw.setAnswer(respond('HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n'));
    const sender = new SumoSender(
      staticEndpoint(`${raw.url}/receiver/v1/http/T`),
      testSenderOptions({ maxAttempts: 2, client: 'lean' }),
    );
    const result = await forwardRecords(
      makeRecords(3, 5),
      Date.now() + 60_000,
      {
        templates: { category: 'c', name: 'n', host: 'h', staticFields: [] },
        maxBytes: 100_000,
        concurrency: 2,
      },
      {
        deliver: (chunk, deadline, stats) => sender.deliver(chunk, deadline, stats),
        storeMalformed: async () => undefined,
      },
    );
    sender.close();
    expect(result.failed).toStrictEqual([0, 1, 2]);
    expect(result.stats.linesAccepted).toBe(0);
  });

  it('sends once more, at once, on a new connection when a kept-alive one closes before answering', async () => {
    // The first connection answers its first request, then closes when the second arrives
    // (as a server does that timed the idle connection out while we were writing).
    raw.setAnswer((request, socket) => {
      if (request.connection === raw.connections() && request.onConnection === 2) socket.destroy();
      else socket.write(OK);
    });
    const before = raw.connections();
    const p = pool();
    expect(await post(p)).toStrictEqual({ status: 200, retryAfter: undefined });
    expect(await post(p)).toStrictEqual({ status: 200, retryAfter: undefined, resent: true });
    expect(raw.connections() - before).toBe(2);
    expect(raw.requests.map((r) => [r.connection - before, r.onConnection])).toStrictEqual([
      [1, 1],
      [1, 2],
      [2, 1],
    ]);
  });

  it('does not send again on its own once an answer had started, or on a new connection', async () => {
    const p = pool();
    raw.setAnswer(respondAndEnd('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'));
    await expect(post(p)).rejects.toThrow('closed the connection in the middle of its answer');
    raw.setAnswer((_request, socket) => socket.destroy());
    await expect(post(p)).rejects.toThrow(TransientError);
    expect(raw.requests).toHaveLength(2);
  });

  it(`closes a connection idle for ${IDLE_MS} ms or more instead of reusing it`, async () => {
    raw.setAnswer(respond(OK));
    let t = 1_000_000;
    const p = pool(1, () => t);
    const before = raw.connections();
    await post(p);
    t += IDLE_MS - 1;
    await post(p);
    expect(raw.connections() - before).toBe(1);
    t += IDLE_MS;
    await post(p);
    expect(raw.connections() - before).toBe(2);
  });

  it('reuses no connection the server keeps for a second or less (Keep-Alive: timeout=1)', async () => {
    raw.setAnswer(respond('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 0\r\n\r\n'));
    const p = pool();
    const before = raw.connections();
    await post(p);
    await post(p);
    expect(raw.connections() - before).toBe(2);
  });

  it('drops a connection that receives bytes nobody asked for', async () => {
    raw.setAnswer((request, socket) => {
      socket.write(OK);
      if (request.onConnection === 1) socket.write('HTTP/1.1 200 OK\r\n\r\n'); // unsolicited
    });
    const p = pool();
    const before = raw.connections();
    // The extra bytes may arrive with the answer (refused) or after it (connection dropped).
    await post(p).catch((e: unknown) => expect(e).toBeInstanceOf(TransientError));
    raw.setAnswer(respond(OK));
    expect((await post(p)).status).toBe(200);
    expect(raw.connections() - before).toBe(2);
  });

  it('gives up at the timeout on a server that accepts and never answers', async () => {
    raw.setAnswer(blackHole);
    const p = pool();
    await expect(p.post('/x', '', Buffer.from('x'), 300)).rejects.toThrow('did not answer within 300 ms');
  });
});
