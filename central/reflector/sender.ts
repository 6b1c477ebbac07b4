/**
 * Delivers one request body to the Sumo Logic HTTP source: gzip once, POST with keep-alive,
 * retry with exponential backoff and full jitter on 429, 408, 5xx, timeouts and connection
 * errors, honouring Retry-After, always inside the caller's deadline. 401/403 refreshes the
 * URL from its secret once, then fails (the records go back to Kinesis: never dropped).
 *
 * Sumo behaviour relied on (https://help.sumologic.com/docs/send-data/hosted-collectors/http-source/logs-metrics/upload-logs/
 * and https://help.sumologic.com/docs/send-data/hosted-collectors/http-source/troubleshooting/):
 * 429 means the request was throttled and its data dropped (send it again); 408/503/504
 * happen under load; 401 is a bad or revoked token.
 */
import http from 'node:http';
import https from 'node:https';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { constants, gzip, gzipSync } from 'node:zlib';
import { type BackoffOptions, backoffDelayMs } from '../../shared/backoff';
import { AuthError, DeadlineError, LogReflectorError, TransientError } from '../../shared/errors';
import { type Clock, systemClock } from '../../shared/rate-limiter';
import type { Chunk } from '../../shared/sumo/batch';
import { SendWindow } from '../../shared/sumo/window';
import type { EndpointSource } from './endpoint';
import { Http1Pool } from './http1';

const gzipAsync = promisify(gzip);

export interface SenderOptions {
  readonly gzipLevel: number;
  readonly requestTimeoutMs: number;
  readonly maxAttempts: number;
  readonly backoff: BackoffOptions;
  /** Sockets kept per host: the most requests in flight at once (the window's ceiling). */
  readonly maxSockets: number;
  /** Most uncompressed body bytes in flight at once (the window's byte budget); default unbounded. */
  readonly maxBytesInFlight?: number;
  /** `lean` (default): the small keep-alive client in http1.ts; `node`: Node's http/https. */
  readonly client?: 'lean' | 'node';
  /**
   * Bodies at least this large are gzipped on the libuv thread pool, smaller ones inline
   * (default: `inlineGzipThreshold()` of this process's CPU share).
   */
  readonly threadPoolGzipFromBytes?: number;
  /** Extra trusted CA for https (tests with a local certificate); default: Node's CAs. */
  readonly ca?: string | Buffer;
  readonly random?: () => number;
  /** Time source of deadlines and backoff (tests: a fake clock); default the system's. */
  readonly clock?: Clock;
}

/** Counters one delivery adds to (shared by all deliveries of an invocation). */
export interface SendStats {
  requests: number;
  retries: number;
  bytesRaw: number;
  bytesGzip: number;
  linesAccepted: number;
}

export function newSendStats(): SendStats {
  return { requests: 0, retries: 0, bytesRaw: 0, bytesGzip: 0, linesAccepted: 0 };
}

export type DeliveryResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: LogReflectorError };

/**
 * With two or more cores, bodies smaller than this are still gzipped on the main thread: the
 * thread-pool round trip costs more than it saves (measured: 40 KB bodies 2.2× the CPU async).
 */
export const SYNC_GZIP_BELOW_BYTES = 256 * 1024;

/**
 * Lambda allocates CPU in proportion to memory: 1,769 MB is the equivalent of one vCPU
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), whatever number of
 * processors the OS shows (2 from 128 MB up to 3,008 MB).
 */
export const LAMBDA_MB_PER_VCPU = 1769;

/**
 * vCPUs this process can keep busy at once: in Lambda (`memoryMb` from
 * AWS_LAMBDA_FUNCTION_MEMORY_SIZE) memory ÷ 1,769, else the processors it may run on.
 */
export function cpuShare(memoryMb: number | undefined, processors = availableParallelism()): number {
  return memoryMb === undefined || !(memoryMb > 0)
    ? processors
    : Math.min(processors, memoryMb / LAMBDA_MB_PER_VCPU);
}

/**
 * Body size from which gzip runs on the thread pool. With less than two vCPUs the pool runs
 * on the same CPU as the event loop: handing it the work adds thread switches and a callback
 * per 16 KB of output and parallelises nothing (measured on one core: 13 % more CPU for the
 * whole reflector, `npm run bench`), so every body is compressed inline.
 */
export function inlineGzipThreshold(share: number): number {
  return share < 2 ? Number.POSITIVE_INFINITY : SYNC_GZIP_BELOW_BYTES;
}

/**
 * zlib settings beside the level. Measured on NDJSON bodies of the benchmark workloads
 * (test/bench/reflector, and the design kit's generator; best of 11 interleaved rounds):
 * memLevel 9 (a 64 Ki-entry hash instead of 32 Ki, +128 KB per call) and Z_FILTERED (matches
 * shorter than 6 bytes are coded as literals: the 56-digit event ids and UUIDs of every line
 * otherwise feed the lazy matcher long chains of 3–4 byte matches) cost 4–6 % less CPU than
 * zlib's defaults at the same level and give 0.7–2.5 % smaller bodies.
 */
export const GZIP_TUNING = { memLevel: 9, strategy: constants.Z_FILTERED } as const;

/** Below this much time left an attempt is not started: it could not finish. */
export const MIN_ATTEMPT_MS = 250;

interface Answer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  /** Sent a second time on a new connection (http1.ts): counts as a retry. */
  readonly resent?: boolean;
}

/** Parses Retry-After (delta-seconds or an HTTP-date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export class SumoSender {
  /**
   * How many requests may run at once (shared/sumo/window.ts): the forwarder starts bodies
   * through it, and Sumo's answers move its ceiling. One per sender, so per warm container.
   */
  readonly window: SendWindow;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly pools = new Map<string, Http1Pool>();
  private readonly threadPoolGzipFromBytes: number;
  private readonly clock: Clock;

  constructor(
    private readonly endpoint: EndpointSource,
    private readonly options: SenderOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.window = new SendWindow({
      maxRequests: options.maxSockets,
      maxBytes: options.maxBytesInFlight ?? Number.POSITIVE_INFINITY,
    });
    this.threadPoolGzipFromBytes =
      options.threadPoolGzipFromBytes ?? inlineGzipThreshold(cpuShare(lambdaMemoryMb()));
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, keepAliveMsecs: 30_000 };
    this.httpAgent = new http.Agent(agentOptions);
    this.httpsAgent = new https.Agent({
      ...agentOptions,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
  }

  /** Sends `chunk` until accepted, refused for good, or out of time. Never throws. */
  async deliver(chunk: Chunk, deadline: number, stats: SendStats): Promise<DeliveryResult> {
    let body: Buffer;
    try {
      // One gzip per request, reused by every retry. Inline unless the body is large and
      // there is a second vCPU to compress it on (see inlineGzipThreshold); then the event
      // loop keeps serving sockets meanwhile.
      // Output buffer for the whole body at once (NDJSON compresses 4–8×), not 16 KiB steps.
      const options = {
        level: this.options.gzipLevel,
        ...GZIP_TUNING,
        chunkSize: Math.max(16 * 1024, chunk.body.length >>> 2),
      };
      body =
        chunk.body.length < this.threadPoolGzipFromBytes
          ? gzipSync(chunk.body, options)
          : await gzipAsync(chunk.body, options);
    } catch (err) {
      return { ok: false, error: new LogReflectorError(`gzip of a request body failed`, { cause: err }) };
    }
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      const left = deadline - this.clock.now();
      if (left < MIN_ATTEMPT_MS) {
        return {
          ok: false,
          error: new DeadlineError(
            `no time left for attempt ${attempt + 1} (${left} ms before the deadline)`,
          ),
        };
      }
      let error: LogReflectorError;
      try {
        // Without a wait when the URL is known: with the lean client the request is then
        // written in this turn, right after its gzip, so the forwarder's pump sends each body
        // as it is compressed instead of all of them after the last gzip (docs/reflector.md).
        const url = this.endpoint.peek?.() ?? (await this.endpoint.get(deadline));
        stats.requests++;
        const timeoutMs = Math.min(this.options.requestTimeoutMs, left);
        const answer =
          this.options.client === 'node'
            ? await this.post(url, chunk, body, timeoutMs)
            : await this.postLean(url, chunk, body, timeoutMs);
        if (answer.resent) {
          stats.requests++;
          stats.retries++;
        }
        if (answer.status >= 200 && answer.status < 300) {
          this.window.accepted();
          stats.bytesRaw += chunk.body.length;
          stats.bytesGzip += body.length;
          stats.linesAccepted += chunk.lines;
          return { ok: true };
        }
        // Throttled (429) or overloaded (503): fewer requests at once until it accepts again.
        if (answer.status === 429 || answer.status === 503) this.window.throttled();
        error = classify(answer, this.clock.now());
      } catch (err) {
        error =
          err instanceof LogReflectorError
            ? err
            : new TransientError(`Sumo HTTP source request failed: ${(err as Error).message}`, {
                cause: err,
              });
      }
      if (error instanceof AuthError) {
        if (refreshed) return { ok: false, error };
        refreshed = true;
        let changed: URL | undefined;
        try {
          changed = await this.endpoint.refresh(deadline);
        } catch (err) {
          return {
            ok: false,
            error: new AuthError(`${error.message}; refreshing the URL failed`, { cause: err }),
          };
        }
        if (changed === undefined) return { ok: false, error };
        continue;
      }
      if (!error.retryable) return { ok: false, error };
      if (attempt + 1 >= this.options.maxAttempts) {
        return {
          ok: false,
          error: new TransientError(`gave up after ${attempt + 1} attempts: ${error.message}`, {
            cause: error,
          }),
        };
      }
      const backoff = backoffDelayMs(attempt, this.options.backoff, this.options.random);
      const delay = Math.max(backoff, error instanceof TransientError ? (error.retryAfterMs ?? 0) : 0);
      if (this.clock.now() + delay + MIN_ATTEMPT_MS > deadline) {
        return {
          ok: false,
          error: new DeadlineError(`retry in ${delay} ms would pass the deadline: ${error.message}`, {
            cause: error,
          }),
        };
      }
      stats.retries++;
      await this.clock.sleep(delay);
    }
  }

  /** Closes kept-alive connections (tests; a Lambda container just freezes). */
  close(): void {
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private postLean(url: URL, chunk: Chunk, body: Buffer, timeoutMs: number): Promise<Answer> {
    let pool = this.pools.get(url.origin);
    if (pool === undefined) {
      // A refreshed URL on another origin gets its own connections; old ones idle out.
      pool = new Http1Pool(url, this.options.maxSockets, this.options.ca);
      this.pools.set(url.origin, pool);
    }
    const h = chunk.headers;
    const headers =
      `X-Sumo-Category: ${h['X-Sumo-Category']}\r\nX-Sumo-Name: ${h['X-Sumo-Name']}\r\n` +
      `X-Sumo-Host: ${h['X-Sumo-Host']}\r\nX-Sumo-Fields: ${h['X-Sumo-Fields']}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\nContent-Encoding: gzip\r\nX-Sumo-Client: log-reflector\r\n';
    return pool.post(url.pathname + url.search, headers, body, timeoutMs);
  }

  private post(url: URL, chunk: Chunk, body: Buffer, timeoutMs: number): Promise<Answer> {
    const secure = url.protocol === 'https:';
    const mod = secure ? https : http;
    return new Promise<Answer>((resolve, reject) => {
      const req = mod.request(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port || (secure ? 443 : 80),
          path: url.pathname + url.search,
          method: 'POST',
          agent: secure ? this.httpsAgent : this.httpAgent,
          headers: {
            ...chunk.headers,
            'Content-Type': 'text/plain; charset=utf-8',
            'Content-Encoding': 'gzip',
            'Content-Length': body.length,
            'X-Sumo-Client': 'log-reflector',
          },
        },
        (res) => {
          const retryAfter = res.headers['retry-after'];
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter }));
          res.resume();
        },
      );
      // The whole exchange, not just socket inactivity (a server may trickle bytes forever).
      const timer = setTimeout(() => {
        req.destroy(new TransientError(`Sumo HTTP source did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function lambdaMemoryMb(): number | undefined {
  const v = process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
  return v === undefined ? undefined : Number(v);
}

function classify(answer: Answer, now: number): LogReflectorError {
  const { status } = answer;
  if (status === 401 || status === 403) {
    return new AuthError(`Sumo HTTP source refused the credential (HTTP ${status})`);
  }
  if (status === 429 || status === 408 || status >= 500) {
    return new TransientError(`Sumo HTTP source answered HTTP ${status}`, {
      retryAfterMs: parseRetryAfter(answer.retryAfter, now),
    });
  }
  return new LogReflectorError(`Sumo HTTP source rejected the request (HTTP ${status})`);
}
