/**
 * The local Sumo source itself: what one test leaves in flight must never count in the next
 * (issue 10.7: a forwarder test once saw 1,246 lines where it expected 1,200).
 */
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SumoServer, startSumoServer } from './sumo-server';

let server: SumoServer;
beforeAll(async () => {
  server = await startSumoServer();
});
afterAll(async () => {
  await server.stop();
});

/** Waits, turn by turn of the event loop (no timer), until `ready()` holds. */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((resolve) => setImmediate(resolve));
}

describe('the local Sumo source', () => {
  it('never records in the new generation a request that arrived before reset()', async () => {
    const body = gzipSync(Buffer.from(`${JSON.stringify({ key: 'k-1', message: 'late' })}\n`));
    const answer = new Promise<number>((resolve, reject) => {
      const req = http.request(
        server.url(),
        {
          method: 'POST',
          agent: false,
          headers: { 'Content-Encoding': 'gzip', 'Content-Length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      // The head and half the body now; the rest once the test has reset the server.
      req.write(body.subarray(0, 5));
      void until(() => server.inFlight() === 1).then(() => {
        server.reset();
        req.end(body.subarray(5));
      });
    });
    // Sent before the reset: refused (a client would retry), and not this generation's.
    expect(await answer).toBe(503);
    expect(server.requests).toStrictEqual([]);
    expect(server.accepted()).toStrictEqual([]);
  });

  it('records a request that arrives after reset() as request 1 of the new generation', async () => {
    server.reset();
    const body = gzipSync(Buffer.from(`${JSON.stringify({ key: 'k-2', message: 'on time' })}\n`));
    const status = await fetch(server.url(), {
      method: 'POST',
      headers: { 'Content-Encoding': 'gzip' },
      body,
    }).then((r) => r.status);
    expect(status).toBe(200);
    expect(server.requests.map((r) => [r.n, r.outcome])).toStrictEqual([[1, 200]]);
    expect(server.accepted()).toStrictEqual([{ key: 'k-2', message: 'on time' }]);
  });
});
