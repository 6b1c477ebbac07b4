/**
 * Plays CloudFormation's presigned S3 ResponseURL on 127.0.0.1: records every PUT (path,
 * headers, parsed body) and can answer the first N with a 5xx to exercise retries.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedResponse {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

export interface CfnResponseServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** A ResponseURL for one request (path distinguishes requests). */
  responseUrl(name: string): string;
  readonly received: RecordedResponse[];
  /** Answer the next `count` requests with `status` (e.g. 503). */
  failNext(count: number, status?: number): void;
  /** Resolves when `count` responses have been recorded. */
  waitFor(count: number, timeoutMs?: number): Promise<RecordedResponse[]>;
  close(): Promise<void>;
}

export async function startCfnResponseServer(): Promise<CfnResponseServer> {
  const received: RecordedResponse[] = [];
  let failures = 0;
  let failureStatus = 503;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failures > 0) {
        failures -= 1;
        res.statusCode = failureStatus;
        res.end();
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(text) as Record<string, unknown>,
      });
      res.statusCode = 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    responseUrl: (name) => `${url}/cfn-response/${encodeURIComponent(name)}?X-Amz-Signature=test`,
    received,
    failNext(count, status = 503) {
      failures = count;
      failureStatus = status;
    },
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline)
          throw new Error(`expected ${count} CloudFormation responses, got ${received.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return received;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
