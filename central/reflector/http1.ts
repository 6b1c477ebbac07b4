/**
 * A lean HTTP/1.1 client for one job: POST a body, read the status (and Retry-After), keep
 * the connection alive. Node's `http.request` costs ~0.45 ms of CPU per request on the
 * benchmark machine against ~0.08 ms for this (measured), and an organisation-wide batch
 * makes one request per log group, so requests are many and small: this is where the
 * reflector's CPU goes once decoding and formatting are tight. `SUMO_HTTP_CLIENT=node`
 * switches back to Node's client.
 *
 * Whatever answers is not trusted: a proxy or load balancer in front of Sumo may be broken or
 * hostile, and a response misread as a success acknowledges records Sumo never took. The
 * response parser (`ResponseParser`) accepts only what RFC 9112 allows
 * (https://www.rfc-editor.org/rfc/rfc9112), and refuses everything Node's own parser (llhttp)
 * refuses (a differential fuzz test holds it to that). Where the two differ, it is stricter:
 *
 * - status line `HTTP/1.<digit> <3 digits>[ <reason>]` only (§4); codes 100–599 (RFC 9110
 *   §15); HTTP/0.9, HTTP/2.0 and 101 Switching Protocols (never asked for) are refused;
 * - field names are tokens, field values visible ASCII, obs-text, SP and HTAB only (§5,
 *   RFC 9110 §5.5); no obs-fold, no whitespace before the colon, lines end in CRLF (§2.2);
 * - Content-Length is one run of digits (RFC 9110 §8.6); a list, even of equal values, or a
 *   second field is refused (llhttp refuses both); Transfer-Encoding with Content-Length,
 *   Transfer-Encoding in an HTTP/1.0 response, and `chunked` applied twice are refused
 *   (§6.1, §6.3); chunked if `chunked` is the final coding, else read until close (§6.3);
 * - chunk sizes are hex digits with optional `;name[=value]` extensions, no whitespace (§7.1);
 * - the response head (and the trailer section) is at most `MAX_HEAD_BYTES`;
 * - any byte after the end of the response, or on an idle connection, means the framing
 *   is out of step: the response is refused and the connection closed.
 *
 * Bodies are skipped as they arrive, never buffered. A request on a reused keep-alive
 * connection that fails before any byte of the response arrived (the server closed the
 * idle connection while we wrote) is sent once more at once on a new connection (§9.3.1
 * allows retrying a request known to be idempotent: ours carry idempotency keys and
 * duplicates are already possible). Idle connections expire after `IDLE_MS` (or the
 * server's `Keep-Alive: timeout`, less a second), also across a frozen Lambda container.
 *
 * Requests carry Content-Length; TLS with SNI for https. Header values must already be
 * printable ASCII (the header builder guarantees it), so no CR/LF can be injected.
 */
import net from 'node:net';
import tls from 'node:tls';
import { describeValue, TransientError } from '../../shared/errors';

export interface Http1Answer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  /** True when the request had to be sent again on a new connection (see the file comment). */
  readonly resent?: boolean;
}

/**
 * Largest response head (status line and fields) or trailer section accepted, in bytes:
 * half of Node's default (`--max-http-header-size`, 16 KiB), so anything Node refuses as too
 * large we refuse too; Sumo's heads are a few hundred bytes.
 */
export const MAX_HEAD_BYTES = 8 * 1024;
/** Longest chunk-size line (size and extensions). */
const MAX_CHUNK_LINE_BYTES = 1024;
/**
 * How long a connection may stay idle before it is closed instead of reused. Servers close
 * idle connections on their own schedule (Node's default is 5 s); reusing one they already
 * closed costs a failed write, so ours go first.
 */
export const IDLE_MS = 4_000;

/** The parse of one response: its status and whether the connection may carry another. */
export interface ParsedResponse {
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly reusable: boolean;
  /** Idle time the server allows (`Keep-Alive: timeout=`), ms, when it said. */
  readonly keepAliveMs: number | undefined;
}

const CR = 13;
const LF = 10;
/** RFC 9110 §5.6.2 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 §5.5 field-value: visible ASCII, obs-text, SP, HTAB (DEL and other controls refused). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/**
 * RFC 9112 §4 status-line, HTTP/1.0 and 1.1 only (llhttp refuses 1.2–1.9). The reason phrase
 * is optional (as llhttp allows) and not read: a client ignores it (§4), so any text but CR
 * and LF passes, as in llhttp.
 */
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;
/** RFC 9112 §7.1 chunk-size [chunk-ext], without the whitespace llhttp refuses. */
const CHUNK_LINE =
  /^([0-9A-Fa-f]+)(?:;[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"))?)*$/;

function invalid(what: string, text: string): TransientError {
  return new TransientError(
    `Sumo HTTP source sent an invalid response: ${what} (received ${describeValue(text, 80)})`,
  );
}

/** Splits `text` at CRLF; a bare CR or LF anywhere is refused (RFC 9112 §2.2). */
function crlfLines(text: string, what: string): string[] {
  const lines = text.split('\r\n');
  for (const line of lines) {
    if (line.includes('\r') || line.includes('\n')) throw invalid(`bare CR or LF in the ${what}`, line);
  }
  return lines;
}

/** Field lines (header or trailer section) → lower-cased name → values in order. */
function fieldLines(lines: readonly string[], what: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon);
    if (!TOKEN.test(name)) throw invalid(`${what} field name is not a token`, line);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!FIELD_VALUE.test(value)) throw invalid(`control character in ${what} field ${name}`, line);
    const key = name.toLowerCase();
    const list = fields.get(key);
    if (list) list.push(value);
    else fields.set(key, [value]);
  }
  return fields;
}

/** The elements of a comma-separated field (RFC 9110 §5.6.1), lower-cased and trimmed. */
function listElements(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(',').map((e) => e.trim().toLowerCase()));
}

type State =
  | 'head'
  | 'length'
  | 'chunk-size'
  | 'chunk-data'
  | 'chunk-crlf'
  | 'trailers'
  | 'until-close'
  | 'done';

/**
 * Reads one HTTP/1.1 response (after any 1xx interim ones) from the bytes of a connection,
 * in whatever pieces they arrive. `push` returns the response once it is complete and
 * throws TransientError on anything RFC 9112 or llhttp refuses; `end` is called when the
 * connection closed. Memory is bounded by `MAX_HEAD_BYTES`: bodies are counted, not kept.
 */
export class ResponseParser {
  private state: State = 'head';
  /** Head or trailer bytes seen so far (the trailer section starts with a CRLF of ours). */
  private acc = Buffer.allocUnsafe(MAX_HEAD_BYTES + 4);
  private accLength = 0;
  /** Body bytes still to skip (Content-Length or the current chunk). */
  private remaining = 0;
  private response: ParsedResponse | undefined;
  /** Bytes received for this response so far. */
  received = 0;

  /** Ready for the next response on the same connection. */
  reset(): void {
    this.state = 'head';
    this.accLength = 0;
    this.remaining = 0;
    this.response = undefined;
    this.received = 0;
  }

  /** Feeds bytes; returns the response when complete. Throws TransientError when invalid. */
  push(data: Buffer): ParsedResponse | undefined {
    this.received += data.length;
    let at = 0;
    while (at < data.length) {
      switch (this.state) {
        case 'head':
        case 'trailers':
          at = this.readHead(data, at);
          break;
        case 'length': {
          const n = Math.min(this.remaining, data.length - at);
          this.remaining -= n;
          at += n;
          if (this.remaining === 0) this.state = 'done';
          break;
        }
        case 'chunk-size':
          at = this.readChunkSize(data, at);
          break;
        case 'chunk-data': {
          const n = Math.min(this.remaining, data.length - at);
          this.remaining -= n;
          at += n;
          if (this.remaining === 0) {
            this.state = 'chunk-crlf';
            this.remaining = 2;
          }
          break;
        }
        case 'chunk-crlf': {
          const expected = this.remaining === 2 ? CR : LF;
          if (data[at] !== expected) {
            throw invalid('chunk data longer than its size', data.toString('latin1', at, at + 20));
          }
          at++;
          this.remaining--;
          if (this.remaining === 0) this.state = 'chunk-size';
          break;
        }
        case 'until-close':
          at = data.length;
          break;
        case 'done':
          throw invalid('bytes after the end of the response', data.toString('latin1', at, at + 40));
      }
    }
    if (this.state === 'done') return this.response;
    // With the head read and a body of zero bytes, the response is complete already.
    if (this.state === 'length' && this.remaining === 0) {
      this.state = 'done';
      return this.response;
    }
    return undefined;
  }

  /** The connection closed: the response if it was delimited by the close, else throws. */
  end(): ParsedResponse {
    if (this.state === 'until-close' && this.response) {
      this.state = 'done';
      return this.response;
    }
    throw new TransientError(
      this.received === 0
        ? 'Sumo HTTP source closed the connection before answering'
        : `Sumo HTTP source closed the connection in the middle of its answer (${this.state}, ${this.received} bytes received)`,
    );
  }

  /** Accumulates head (or trailer) bytes up to the blank line; returns where it stopped. */
  private readHead(data: Buffer, at: number): number {
    const room = this.acc.length - this.accLength;
    const take = Math.min(room, data.length - at);
    // Search from 3 bytes back: the terminator may straddle two pieces.
    const from = Math.max(0, this.accLength - 3);
    data.copy(this.acc, this.accLength, at, at + take);
    this.accLength += take;
    const end = this.acc.subarray(0, this.accLength).indexOf('\r\n\r\n', from, 'latin1');
    // A bare LF ends nothing (RFC 9112 §2.2, and llhttp refuses it): refuse it as soon as it
    // arrives (bytes after the blank line are the body's, not the head's).
    const scanned = end < 0 ? this.accLength : end + 4;
    for (
      let lf = this.acc.indexOf(LF, Math.max(0, from));
      lf >= 0 && lf < scanned;
      lf = this.acc.indexOf(LF, lf + 1)
    ) {
      if (lf === 0 || this.acc[lf - 1] !== CR) {
        throw invalid(
          `bare LF in the ${this.state === 'head' ? 'head' : 'trailer section'}`,
          this.acc.toString('latin1', 0, Math.min(lf + 1, 60)),
        );
      }
    }
    if (end < 0) {
      if (this.accLength >= this.acc.length) {
        throw invalid(
          `${this.state === 'head' ? 'head' : 'trailer section'} larger than ${MAX_HEAD_BYTES} bytes`,
          this.acc.toString('latin1', 0, 40),
        );
      }
      return at + take;
    }
    const used = end + 4 - (this.accLength - take); // bytes of `data` up to the blank line
    const text = this.acc.toString('latin1', 0, end);
    this.accLength = 0;
    if (this.state === 'trailers') {
      // `text` starts with the CRLF that ended the last-chunk line.
      fieldLines(crlfLines(text, 'trailer section').slice(1), 'trailer');
      this.state = 'done';
    } else {
      this.parseHead(text);
    }
    return at + used;
  }

  private parseHead(text: string): void {
    const lines = crlfLines(text, 'head');
    const statusLine = lines[0] as string;
    const m = STATUS_LINE.exec(statusLine);
    if (!m) throw invalid('status line is not `HTTP/1.x <3-digit code> [reason]`', statusLine);
    const minor = Number(m[1]);
    const status = Number(m[2]);
    if (status < 100 || status > 599) throw invalid('status code outside 100-599', statusLine);
    if (status === 101) throw invalid('protocol switch that was never asked for', statusLine);
    const fields = fieldLines(lines.slice(1), 'header');
    // HTTP/1.0 defines no 1xx codes ("a server MUST NOT send a 1xx response to an HTTP/1.0
    // client", RFC 9110 §15.2): an interim response labelled 1.0 is refused, as llhttp does.
    if (status < 200 && minor === 0)
      throw invalid('1xx interim response from an HTTP/1.0 server', statusLine);
    const lengths = fields.get('content-length');
    let length = -1;
    if (lengths !== undefined) {
      if (lengths.length > 1) throw invalid('more than one Content-Length field', lengths.join(' | '));
      const value = lengths[0] as string;
      // One run of digits; 15 digits stays an exact double. A list is refused (llhttp does).
      if (!/^\d{1,15}$/.test(value)) throw invalid('Content-Length is not one non-negative integer', value);
      length = Number(value);
    }
    const codings = fields.has('transfer-encoding')
      ? listElements(fields.get('transfer-encoding') ?? [])
      : [];
    let chunked = false;
    if (codings.length > 0) {
      if (lengths !== undefined) {
        throw invalid(
          'both Transfer-Encoding and Content-Length',
          `${codings.join(', ')} / ${lengths.join(', ')}`,
        );
      }
      if (minor === 0) throw invalid('Transfer-Encoding in an HTTP/1.0 response', codings.join(', '));
      for (const coding of codings) {
        const name = (coding.split(';')[0] as string).trim();
        if (!TOKEN.test(name))
          throw invalid('Transfer-Encoding is not a list of codings', codings.join(', '));
      }
      const names = codings.map((c) => (c.split(';')[0] as string).trim());
      const uses = names.filter((n) => n === 'chunked').length;
      if (uses > 1) throw invalid('chunked applied more than once', codings.join(', '));
      chunked = names[names.length - 1] === 'chunked';
      if (uses === 1 && !chunked)
        throw invalid('chunked is not the final transfer coding', codings.join(', '));
    }
    // Interim response (e.g. 100 Continue): no body; the final one follows (RFC 9110 §15.2). Its
    // framing fields were checked above like a final response's: llhttp refuses them too.
    if (status < 200) return;
    const connection = listElements(fields.get('connection') ?? []);
    let keepAliveMs: number | undefined;
    const keepAlive = /(?:^|,)\s*timeout\s*=\s*(\d{1,6})\s*(?:,|$)/i.exec(
      (fields.get('keep-alive') ?? []).join(','),
    );
    if (keepAlive) keepAliveMs = Number(keepAlive[1]) * 1000;
    const bodyless = status === 204 || status === 304;
    const untilClose = !bodyless && !chunked && (codings.length > 0 || length < 0);
    this.response = {
      status,
      retryAfter: fields.get('retry-after')?.[0],
      reusable: minor >= 1 && !connection.includes('close') && !untilClose,
      keepAliveMs,
    };
    if (bodyless) {
      this.state = 'done';
    } else if (chunked) {
      this.state = 'chunk-size';
    } else if (length >= 0) {
      this.state = 'length';
      this.remaining = length;
    } else {
      this.state = 'until-close';
    }
  }

  /** Reads a chunk-size line (accumulated in `acc`: it is short). */
  private readChunkSize(data: Buffer, at: number): number {
    const eol = data.indexOf(LF, at);
    const stop = eol < 0 ? data.length : eol + 1;
    if (this.accLength + (stop - at) > MAX_CHUNK_LINE_BYTES) {
      throw invalid('chunk-size line too long', data.toString('latin1', at, at + 40));
    }
    data.copy(this.acc, this.accLength, at, stop);
    this.accLength += stop - at;
    if (eol < 0) return stop;
    const line = this.acc.toString('latin1', 0, this.accLength);
    this.accLength = 0;
    if (!line.endsWith('\r\n')) throw invalid('chunk-size line does not end in CRLF', line);
    const m = CHUNK_LINE.exec(line.slice(0, -2));
    if (!m) throw invalid('chunk-size line', line);
    const digits = (m[1] as string).replace(/^0+(?=.)/, '');
    if (digits.length > 13) throw invalid('chunk size beyond 2^52', line); // 13 hex digits: exact in a double
    const size = Number.parseInt(digits, 16);
    if (size === 0) {
      // The trailer section; the CRLF just read makes an empty section end in CRLFCRLF.
      this.state = 'trailers';
      this.acc.write('\r\n', 0, 'latin1');
      this.accLength = 2;
    } else {
      this.state = 'chunk-data';
      this.remaining = size;
    }
    return stop;
  }
}

interface Pending {
  readonly resolve: (a: ParsedResponse) => void;
  readonly reject: (e: Error) => void;
}

/** One keep-alive connection and the response it is reading. */
class Connection {
  readonly socket: net.Socket;
  private readonly parser = new ResponseParser();
  private pending: Pending | undefined;
  /** Responses completed on this connection. */
  served = 0;
  /** When it last became idle (epoch ms), and for how long it may stay so. */
  idleSince = 0;
  idleLimitMs = IDLE_MS;
  closed = false;

  constructor(
    url: URL,
    private readonly onIdle: (c: Connection) => void,
    private readonly onGone: (c: Connection) => void,
    ca?: string | Buffer,
  ) {
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    this.socket =
      url.protocol === 'https:'
        ? tls.connect({
            host: url.hostname,
            port,
            // SNI takes a host name, never an IP address (RFC 6066 §3).
            ...(net.isIP(url.hostname) === 0 ? { servername: url.hostname } : {}),
            ...(ca === undefined ? {} : { ca }),
          })
        : net.connect({ host: url.hostname, port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('error', (e) =>
      this.fail(new TransientError(`Sumo HTTP source connection failed: ${e.message}`, { cause: e })),
    );
    this.socket.on('close', () => this.onClose());
    this.socket.on('timeout', () => this.socket.destroy()); // idle too long (see release)
  }

  get busy(): boolean {
    return this.pending !== undefined;
  }

  /** Bytes of the current response received so far. */
  get received(): number {
    return this.parser.received;
  }

  send(head: string, body: Buffer, pending: Pending): void {
    this.pending = pending;
    this.parser.reset();
    this.socket.setTimeout(0);
    this.socket.ref();
    this.socket.cork();
    this.socket.write(head, 'latin1');
    this.socket.write(body);
    this.socket.uncork();
  }

  destroy(error: Error): void {
    this.fail(error);
    this.socket.destroy();
  }

  private onClose(): void {
    this.closed = true;
    if (this.pending) {
      let response: ParsedResponse;
      try {
        response = this.parser.end();
      } catch (err) {
        this.fail(err as Error);
        this.onGone(this);
        return;
      }
      this.finish(response);
    }
    this.onGone(this);
  }

  private fail(error: Error): void {
    const p = this.pending;
    this.pending = undefined;
    p?.reject(error);
  }

  private onData(d: Buffer): void {
    if (!this.pending) {
      // Bytes nobody asked for: the connection is out of step with its responses.
      this.socket.destroy();
      return;
    }
    let response: ParsedResponse | undefined;
    try {
      response = this.parser.push(d);
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    if (response) this.finish(response);
  }

  private finish(response: ParsedResponse): void {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    this.served++;
    const limit = Math.min(IDLE_MS, (response.keepAliveMs ?? Number.POSITIVE_INFINITY) - 1000);
    if (!response.reusable || this.closed || limit <= 0) {
      this.socket.destroy();
    } else {
      this.idleLimitMs = limit;
      // Closed when idle too long; an idle connection must not keep a process (the CLI) alive.
      this.socket.setTimeout(limit);
      this.socket.unref();
      this.onIdle(this);
    }
    p.resolve(response);
  }
}

type Attempt =
  | { readonly ok: true; readonly response: ParsedResponse }
  | { readonly ok: false; readonly error: Error; readonly lostBeforeAnswer: boolean };

/** Keep-alive connections to one origin, at most `maxSockets` at once. */
export class Http1Pool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly url: URL,
    private readonly maxSockets: number,
    /** Extra trusted CA for https (tests with a local certificate); default: Node's CAs. */
    private readonly ca?: string | Buffer,
    /** Clock of idle expiry (tests: a fake clock). */
    private readonly now: () => number = Date.now,
  ) {}

  /** POSTs `body` to `path`; `headers` are `Name: value\r\n` lines (printable ASCII). */
  async post(path: string, headers: string, body: Buffer, timeoutMs: number): Promise<Http1Answer> {
    const until = Date.now() + timeoutMs;
    const head = `POST ${path} HTTP/1.1\r\nHost: ${this.url.host}\r\nContent-Length: ${body.length}\r\n${headers}\r\n`;
    // An idle (or new) connection is taken at once, so the request is written in the caller's
    // turn (sender.ts: a body leaves right after its gzip, not after the batch's last one).
    const conn = this.tryAcquire(false) ?? (await this.acquire(false));
    const reused = conn.served > 0;
    const first = await this.attempt(conn, head, body, until, timeoutMs);
    if (first.ok) return { status: first.response.status, retryAfter: first.response.retryAfter };
    if (!(reused && first.lostBeforeAnswer)) throw first.error;
    // A kept-alive connection the server had closed: once more, at once, on a new one.
    const second = await this.attempt(await this.acquire(true), head, body, until, timeoutMs);
    if (!second.ok) throw second.error;
    return { status: second.response.status, retryAfter: second.response.retryAfter, resent: true };
  }

  /** Closes every connection (tests, and when the URL changes). */
  close(): void {
    for (const c of this.all) c.socket.destroy();
  }

  private attempt(
    conn: Connection,
    head: string,
    body: Buffer,
    until: number,
    timeoutMs: number,
  ): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      let timedOut = false;
      const timer = setTimeout(
        () => {
          timedOut = true;
          conn.destroy(new TransientError(`Sumo HTTP source did not answer within ${timeoutMs} ms`));
        },
        Math.max(0, until - Date.now()),
      );
      conn.send(head, body, {
        resolve: (response) => {
          clearTimeout(timer);
          resolve({ ok: true, response });
        },
        reject: (error) => {
          clearTimeout(timer);
          const lostBeforeAnswer = !timedOut && conn.received === 0;
          conn.socket.destroy();
          resolve({ ok: false, error, lostBeforeAnswer });
        },
      });
    });
  }

  private acquire(fresh: boolean): Promise<Connection> {
    const c = this.tryAcquire(fresh);
    if (c !== undefined) return Promise.resolve(c);
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => this.acquire(fresh));
  }

  /** A connection available now (idle and fresh enough, or a new one within maxSockets). */
  private tryAcquire(fresh: boolean): Connection | undefined {
    const now = this.now();
    while (!fresh) {
      const c = this.idle.pop();
      if (c === undefined) break;
      if (c.closed || c.busy) continue;
      // Checked here too: a frozen Lambda container runs no timers while frozen.
      if (now - c.idleSince >= c.idleLimitMs) {
        c.socket.destroy();
        continue;
      }
      return c;
    }
    if (fresh && this.all.size >= this.maxSockets) {
      // Make room for the new connection by closing an idle one rather than wait for it.
      const spare = this.idle.pop();
      if (spare) {
        spare.socket.destroy();
        this.all.delete(spare);
      }
    }
    if (this.all.size < this.maxSockets) {
      const c = new Connection(
        this.url,
        (idle) => {
          idle.idleSince = this.now();
          this.release(idle);
        },
        (gone) => this.forget(gone),
        this.ca,
      );
      this.all.add(c);
      return c;
    }
    return undefined;
  }

  private release(c: Connection): void {
    this.idle.push(c);
    this.waiting.shift()?.();
  }

  private forget(c: Connection): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    this.waiting.shift()?.();
  }
}
