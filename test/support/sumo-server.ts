/**
 * A local HTTP server playing a Sumo Logic HTTP source, for integration tests: accepts
 * `POST /receiver/v1/http/<token>`, gunzips the body, parses each NDJSON line and records
 * what it accepted. Fault modes are a function of the request number (1-based): answer a
 * status (with or without Retry-After), answer late, or reset the connection. A wrong
 * token is answered 401, as Sumo does for a revoked source.
 */
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type FaultAction =
  | {
      readonly status: number;
      readonly retryAfter?: string;
      readonly delayMs?: number;
      /** Answer with a chunked body, `Connection: close`, or a 100 Continue first. */
      readonly chunked?: boolean;
      readonly close?: boolean;
      readonly interim?: boolean;
    }
  | { readonly reset: true }
  /** Read the body, then never answer (the client's timeout must fire). */
  | { readonly hang: true };

/**
 * Decides the answer to request number `n` (1-based), given its parsed lines; undefined = 200
 * after reading.
 */
export type FaultPlan = (n: number, lines: readonly Record<string, unknown>[]) => FaultAction | undefined;

export interface ReceivedRequest {
  readonly n: number;
  readonly headers: IncomingHttpHeaders;
  readonly token: string;
  readonly gzipBytes: number;
  readonly rawBytes: number;
  readonly lines: readonly Record<string, unknown>[];
  /** The status answered, or 'reset' / 'hang'. */
  readonly outcome: number | 'reset' | 'hang';
}

export interface SumoServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly base: string;
  /** The ingest URL with the currently valid token. */
  url(token?: string): string;
  /** Every request seen, in arrival order. */
  readonly requests: ReceivedRequest[];
  /** Lines of the requests answered 2xx, in order. */
  accepted(): Record<string, unknown>[];
  setPlan(plan: FaultPlan): void;
  /** Changes the token the server accepts (simulates rotating the source URL). */
  setToken(token: string): void;
  reset(): void;
  stop(): Promise<void>;
}

/** Every `every`-th request answers `status` (with Retry-After when given). */
export function everyNth(every: number, status: number, retryAfter?: string): FaultPlan {
  return (n) =>
    n % every === 0 ? { status, ...(retryAfter === undefined ? {} : { retryAfter }) } : undefined;
}

/** A key and certificate to serve https instead of http. */
export interface ServerTls {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
}

export async function startSumoServer(initialToken = 'TESTTOKEN', tls?: ServerTls): Promise<SumoServer> {
  let token = initialToken;
  let plan: FaultPlan = () => undefined;
  let count = 0;
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();

  const onRequest: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      count += 1;
      const n = count;
      const gz = Buffer.concat(chunks);
      const path = req.url ?? '';
      const got = path.startsWith('/receiver/v1/http/') ? path.slice('/receiver/v1/http/'.length) : '';
      let raw = Buffer.alloc(0);
      let lines: Record<string, unknown>[] = [];
      try {
        raw = req.headers['content-encoding'] === 'gzip' ? gunzipSync(gz) : gz;
        lines = raw
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      } catch (err) {
        res.writeHead(400).end(`bad body: ${(err as Error).message}`);
        return;
      }
      const base = { n, headers: req.headers, token: got, gzipBytes: gz.length, rawBytes: raw.length, lines };
      if (got !== token) {
        requests.push({ ...base, outcome: 401 });
        res.writeHead(401).end('Unauthorized');
        return;
      }
      const action = plan(n, lines);
      if (action && 'reset' in action) {
        requests.push({ ...base, outcome: 'reset' });
        req.socket.destroy();
        return;
      }
      if (action && 'hang' in action) {
        requests.push({ ...base, outcome: 'hang' });
        return;
      }
      const status = action?.status ?? 200;
      const answer = () => {
        requests.push({ ...base, outcome: status });
        const headers: Record<string, string> = {};
        if (action?.retryAfter !== undefined) headers['Retry-After'] = action.retryAfter;
        if (action?.close) headers.Connection = 'close';
        if (action?.interim) res.writeContinue();
        res.writeHead(status, headers);
        if (action?.chunked) {
          res.write('{"status":');
          res.write('"ok"');
        }
        res.end(status === 200 ? '' : 'injected');
      };
      if (action?.delayMs) setTimeout(answer, action.delayMs);
      else answer();
    });
  };
  const server: Server = tls
    ? createHttpsServer({ key: tls.key, cert: tls.cert }, onRequest)
    : createServer(onRequest);
  server.on(tls ? 'secureConnection' : 'connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    base,
    url: (t = token) => `${base}/receiver/v1/http/${t}`,
    requests,
    accepted: () =>
      requests
        .filter((r) => typeof r.outcome === 'number' && r.outcome >= 200 && r.outcome < 300)
        .flatMap((r) => r.lines),
    setPlan(p) {
      plan = p;
    },
    setToken(t) {
      token = t;
    },
    reset() {
      requests.length = 0;
      count = 0;
      plan = () => undefined;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
