/**
 * Differential fuzzing of the lean client against Node's own HTTP client (llhttp): the same
 * raw response bytes go to both through a loopback server that writes them and closes the
 * connection. Whatever Node refuses, the lean client must refuse; where both accept, they
 * must read the same status. (The lean client refuses more than Node: see http1.ts.)
 */
import http from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Http1Pool } from '../../../central/reflector/http1';
import { type RawServer, respondAndEnd, startRawServer } from '../../support/raw-http-server';
import { anyResponse } from './http-responses';

type Verdict = { readonly status: number } | { readonly refused: string };

let server: RawServer;
beforeAll(async () => {
  server = await startRawServer();
});
afterAll(async () => {
  await server.stop();
});

/** Node's verdict: the response ended cleanly (its status), or an error came first. */
function nodeVerdict(): Promise<Verdict> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (v: Verdict) => {
      if (!settled) {
        settled = true;
        resolve(v);
      }
    };
    const req = http.request(
      `${server.url}/receiver/v1/http/T`,
      { method: 'POST', agent: false, headers: { 'Content-Length': 2 } },
      (res) => {
        res.on('data', () => undefined);
        res.on('error', (e: NodeJS.ErrnoException) => settle({ refused: e.code ?? e.message }));
        res.on('aborted', () => settle({ refused: 'aborted' }));
        // An error parsing bytes after the end is reported on the request, after 'end':
        // wait for the socket to close before calling it accepted.
        res.on('end', () => req.socket?.once('close', () => settle({ status: res.statusCode ?? 0 })));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => settle({ refused: e.code ?? e.message }));
    req.end('{}');
  });
}

async function leanVerdict(): Promise<Verdict> {
  const pool = new Http1Pool(new URL(server.url), 1);
  try {
    const answer = await pool.post('/receiver/v1/http/T', '', Buffer.from('{}'), 30_000);
    return { status: answer.status };
  } catch (err) {
    return { refused: (err as Error).message };
  } finally {
    pool.close();
  }
}

async function both(raw: string): Promise<{ node: Verdict; lean: Verdict }> {
  server.setAnswer(respondAndEnd(raw));
  return { node: await nodeVerdict(), lean: await leanVerdict() };
}

describe('lean HTTP client against Node’s parser, on the same bytes', () => {
  it('refuses whatever Node refuses, and reads the same status when both accept', async () => {
    const seen = { nodeRefused: 0, bothAccepted: 0, onlyLeanRefused: 0 };
    await fc.assert(
      fc.asyncProperty(anyResponse, async (raw) => {
        const { node, lean } = await both(raw);
        if ('refused' in node) {
          seen.nodeRefused++;
          expect(lean, `Node refused (${node.refused}); the lean client must too`).toHaveProperty('refused');
        } else if ('status' in lean) {
          seen.bothAccepted++;
          expect(lean.status).toBe(node.status);
        } else {
          seen.onlyLeanRefused++;
        }
      }),
      { numRuns: 600 },
    );
    // Not vacuous: the generator makes plenty of each.
    expect(seen.nodeRefused).toBeGreaterThan(100);
    expect(seen.bothAccepted).toBeGreaterThan(50);
  });

  it('agrees on the issue’s cases and on the well-formed responses', async () => {
    for (const raw of [
      'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n',
      'HTTP/1.1 200x OK\r\nContent-Length: 0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nabc',
      // Found by the property above (seed -836534997): HTTP/1.0 has no interim responses.
      'HTTP/1.0 100 \r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
      // And seed -881269113: an interim response's framing fields are checked like a final one's.
      'HTTP/1.1 100\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    ]) {
      const { node, lean } = await both(raw);
      expect(node).toHaveProperty('refused');
      expect(lean).toHaveProperty('refused');
    }
    for (const raw of [
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbusy\r\n0\r\n\r\n',
      'HTTP/1.0 429 Too Many Requests\r\n\r\nslow down',
    ]) {
      const { node, lean } = await both(raw);
      expect(lean).toStrictEqual(node);
    }
  });
});
