/**
 * A local HTTP server playing a Sumo Logic HTTP source, for integration tests: accepts
 * `POST /receiver/v1/http/<token>`, gunzips the body, parses each NDJSON line and records
 * what it accepted. Fault modes are a function of the request number (1-based): answer a
 * status (with or without Retry-After), reset the connection, or never answer. A wrong
 * token is answered 401, as Sumo does for a revoked source.
 *
 * Nothing here depends on timing. `reset()` starts a new generation: a request that arrived
 * before it (a client still retrying, an answer still being written) is never recorded in
 * the new one, so one test's stragglers cannot show up in the next test's counts. A request
 * counts as accepted only when its 2xx answer was written to a connection that was still
 * open; an answer the client can no longer read is recorded as `gone`.
 */
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type FaultAction =
  | {
      readonly status: number;
      readonly retryAfter?: string;
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
  /**
   * The status answered, 'reset' / 'hang' for those faults, or 'gone' when the client had
   * closed the connection before the answer could be written.
   */
  readonly outcome: number | 'reset' | 'hang' | 'gone';
}

export interface SumoServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly base: string;
  /** The ingest URL with the currently valid token. */
  url(token?: string): string;
  /** Every request seen since the last reset, in arrival order. */
  readonly requests: readonly ReceivedRequest[];
  /** Lines of the requests answered 2xx, in order. */
  accepted(): Record<string, unknown>[];
  setPlan(plan: FaultPlan): void;
  /** Changes the token the server accepts (simulates rotating the source URL). */
  setToken(token: string): void;
  /** Forgets every request and the plan; requests still in flight are never recorded. */
  reset(): void;
  /** Requests whose head has arrived and whose body has not ended yet. */
  inFlight(): number;
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
  /** The current generation: its request count and what it recorded. */
  let generation = { count: 0, requests: [] as ReceivedRequest[] };
  const sockets = new Set<import('node:net').Socket>();
  let inFlight = 0;

  const onRequest: RequestListener = (req, res) => {
    // Bound at arrival: a reset while this request is in flight leaves it in the old generation.
    const gen = generation;
    const chunks: Buffer[] = [];
    inFlight++;
    req.on('close', () => {
      if (!req.complete) inFlight--;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      inFlight--;
      if (gen !== generation) {
        // Sent before the reset, read after it: not this test's request.
        res.writeHead(503).end('reset');
        return;
      }
      gen.count += 1;
      const n = gen.count;
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
      const record = (outcome: ReceivedRequest['outcome']) => gen.requests.push({ ...base, outcome });
      if (got !== token) {
        record(401);
        res.writeHead(401).end('Unauthorized');
        return;
      }
      const action = plan(n, lines);
      if (action && 'reset' in action) {
        record('reset');
        req.socket.destroy();
        return;
      }
      if (action && 'hang' in action) {
        record('hang');
        return;
      }
      const status = action?.status ?? 200;
      if (req.socket.destroyed) {
        record('gone');
        return;
      }
      record(status);
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
    get requests() {
      return generation.requests;
    },
    accepted: () =>
      generation.requests
        .filter((r) => typeof r.outcome === 'number' && r.outcome >= 200 && r.outcome < 300)
        .flatMap((r) => r.lines),
    setPlan(p) {
      plan = p;
    },
    setToken(t) {
      token = t;
    },
    reset() {
      generation = { count: 0, requests: [] };
      plan = () => undefined;
    },
    inFlight: () => inFlight,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
