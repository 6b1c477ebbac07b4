/**
 * Deterministic benchmark workload: CloudWatch Logs subscription payloads (base64 of gzip of
 * JSON), shaped like what a large organisation sends. Written for this project's benchmark;
 * seeded, so every run measures the same bytes.
 *
 * Mix: 70 % Lambda log streams (START, app lines in the Node.js runtime format — half JSON
 * documents of a few hundred bytes, half short text, ~1 % multi-KB stack traces — then END
 * and REPORT), 30 % container streams (raw JSON lines and access-log lines). Event ids
 * follow AWS's shape: 56 digits, a long prefix shared by a payload and an increasing tail.
 */
import { gzipSync } from 'node:zlib';

export interface Workload {
  readonly payloads: string[];
  readonly events: number;
  readonly rawBytes: number;
  readonly base64Bytes: number;
}

/** xorshift32: tiny, fast and deterministic. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

export interface WorkloadShape {
  /** Distinct owner accounts (default 3). */
  readonly accounts?: number;
  /** Distinct source regions (default 3). */
  readonly regions?: number;
  /**
   * Log groups per account and region. When set, payload i is assigned round-robin to header
   * set i mod (accounts × regions × groups) (owner, filter name `<base>-<region>`, log group
   * `/aws/lambda/service-NNN`), the shape of an organisation-wide stream where consecutive
   * records rarely share a log group. Unset: the service picks the log group (16 per account
   * and region) and the account and region are drawn at random.
   */
  readonly groups?: number;
  readonly seed?: number;
}

/** Account ids of the workload: 111122223333, … (as many as asked). */
function accountIds(n: number): string[] {
  const base = ['111122223333', '444455556666', '777788889999', '123412341234'];
  for (let i = base.length; i < n; i++) base.push(String(210_000_000_000 + i * 1_010_101));
  return base.slice(0, n);
}

export function generateWorkload(
  payloadCount: number,
  eventsPerPayload: number,
  shape: WorkloadShape = {},
): Workload {
  const seed = shape.seed ?? 7;
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const hex = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(r() * 16)];
    return s;
  };
  const digits = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += String(Math.floor(r() * 10));
    return s;
  };
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
  const words = [
    'order',
    'invoice',
    'cart',
    'user',
    'session',
    'payment',
    'shipment',
    'token',
    'queue',
    'batch',
  ];
  const services = ['checkout', 'catalog', 'billing', 'identity', 'search', 'media', 'notify', 'reports'];
  const accounts = accountIds(shape.accounts ?? 3);
  const regions = [
    'eu-west-1',
    'us-east-1',
    'ap-southeast-2',
    'eu-central-1',
    'us-west-2',
    'sa-east-1',
  ].slice(0, shape.regions ?? 3);

  const jsonDoc = (svc: string, rid: string) => {
    const doc: Record<string, unknown> = {
      level: pick(['info', 'info', 'info', 'warn', 'debug', 'error']),
      service: svc,
      msg: `${pick(words)} ${pick(['created', 'updated', 'fetched', 'rejected', 'retried'])}`,
      requestId: rid,
      durationMs: int(1, 5000) / 10,
      status: pick([200, 200, 201, 204, 400, 404, 409, 500, 503]),
      path: `/v1/${pick(words)}s/${int(1, 999999)}`,
      user: { id: `u-${int(1, 99999)}`, plan: pick(['free', 'team', 'enterprise']) },
    };
    for (let k = int(0, 8); k > 0; k--) doc[`${pick(words)}${k}`] = pick([hex(16), int(0, 1e6), pick(words)]);
    return JSON.stringify(doc);
  };
  const text = () =>
    pick([
      `Processed ${int(1, 500)} ${pick(words)}s in ${int(1, 900)} ms`,
      `cache ${pick(['hit', 'miss'])} for ${pick(words)}:${int(1, 99999)} (ttl ${int(10, 3600)} s)`,
      `upstream ${pick(services)} answered ${pick([200, 429, 503])} after ${int(1, 3000)} ms, attempt ${int(1, 3)}`,
    ]);
  const stack = () => {
    let s = `Error: ${pick(['ETIMEDOUT', 'ECONNRESET', 'validation failed'])}`;
    for (let i = int(20, 60); i > 0; i--)
      s += `\n    at ${pick(words)}${pick(['Handler', 'Client', ''])} (/var/task/src/${pick(words)}.js:${int(1, 900)}:${int(1, 80)})`;
    return s;
  };

  const payloads: string[] = [];
  let events = 0;
  let rawBytes = 0;
  let base64Bytes = 0;
  let ts = 1_795_651_200_000;
  for (let p = 0; p < payloadCount; p++) {
    const lambda = r() < 0.7;
    const svc = pick(services);
    const messages: string[] = [];
    const stamps: number[] = [];
    let rid = '';
    let left = 0;
    while (messages.length < eventsPerPayload) {
      const iso = new Date(ts).toISOString();
      if (!lambda) {
        messages.push(
          r() < 0.6
            ? jsonDoc(svc, uuid())
            : `10.0.${int(0, 255)}.${int(0, 255)} - - [${iso}] "GET /v1/${pick(words)} HTTP/1.1" ${pick([200, 404, 500])} ${int(0, 90000)}`,
        );
      } else if (left === 0 && rid === '') {
        rid = uuid();
        left = int(1, 12);
        messages.push(`START RequestId: ${rid} Version: $LATEST\n`);
      } else if (left > 0) {
        left--;
        const x = r();
        const body = x < 0.01 ? stack() : x < 0.55 ? jsonDoc(svc, rid) : text();
        messages.push(`${iso}\t${rid}\t${pick(['INFO', 'INFO', 'WARN', 'ERROR'])}\t${body}\n`);
      } else {
        messages.push(`END RequestId: ${rid}\n`);
        if (messages.length < eventsPerPayload) {
          messages.push(
            `REPORT RequestId: ${rid}\tDuration: ${int(1, 9000) / 100} ms\tBilled Duration: ${int(1, 90)} ms\tMemory Size: 512 MB\tMax Memory Used: ${int(60, 200)} MB\t\n`,
          );
        }
        rid = '';
      }
      while (stamps.length < messages.length) stamps.push(ts);
      ts += int(0, 30);
    }
    const prefix = digits(36);
    let tail = int(0, 1e9);
    let account = pick(accounts);
    let region = pick(regions);
    let logGroup = lambda ? `/aws/lambda/${svc}` : `/ecs/${svc}`;
    if (shape.groups !== undefined) {
      const h = p % (accounts.length * regions.length * shape.groups);
      account = accounts[h % accounts.length] as string;
      region = regions[Math.floor(h / accounts.length) % regions.length] as string;
      logGroup = `/aws/lambda/service-${String(Math.floor(h / (accounts.length * regions.length))).padStart(3, '0')}`;
    }
    const payload = {
      messageType: 'DATA_MESSAGE',
      owner: account,
      logGroup,
      logStream: lambda ? `2026/11/26/[$LATEST]${hex(32)}` : `ecs/${svc}/${hex(32)}`,
      subscriptionFilters: [`log-reflector-${region}`],
      logEvents: messages.map((message, i) => {
        tail += int(1, 1000);
        return {
          id: `${prefix}${String(tail).padStart(20, '0')}`,
          // The time the runtime printed (as in current Lambda logs: see the 2024 samples).
          timestamp: stamps[i] as number,
          message,
        };
      }),
    };
    const raw = Buffer.from(JSON.stringify(payload));
    const data = gzipSync(raw).toString('base64');
    payloads.push(data);
    events += messages.length;
    rawBytes += raw.length;
    base64Bytes += data.length;
  }
  return { payloads, events, rawBytes, base64Bytes };
}

/** One record for the single-record memory runs. */
export interface RecordShape {
  readonly name: string;
  /** base64 of the gzip payload. */
  readonly payload: string;
  readonly events: number;
  readonly rawBytes: number;
  readonly gzipBytes: number;
}

/**
 * Records the decoder accepts that cost the most memory: as many tiny events as fit in
 * `inflatedBytes` (one JSON.parse costs ~5× the text; each event a line of ~250 bytes out),
 * messages that escape to six bytes per character, numeric ids. Ids increase, as AWS's do.
 */
export function recordShapes(): RecordShape[] {
  const MiB = 1024 * 1024;
  const build = (name: string, inflatedBytes: number, event: (i: number) => string): RecordShape => {
    const head =
      '{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"/aws/lambda/custom-writer",' +
      '"logStream":"2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef","subscriptionFilters":["log-reflector-eu-west-1"],"logEvents":[';
    const parts: string[] = [head];
    let size = head.length + 2;
    let events = 0;
    for (;;) {
      const e = event(events);
      if (size + e.length + 1 > inflatedBytes) break;
      parts.push(events === 0 ? e : `,${e}`);
      size += e.length + (events === 0 ? 0 : 1);
      events++;
    }
    parts.push(']}');
    const raw = Buffer.from(parts.join(''));
    const gz = gzipSync(raw);
    return { name, payload: gz.toString('base64'), events, rawBytes: raw.length, gzipBytes: gz.length };
  };
  const ts = 1_795_651_200_000;
  const id = (i: number) => `3719971756310788099514190141531393616929${String(i).padStart(16, '0')}`;
  const control = '\\u0001'.repeat(40_000);
  return [
    build(
      'tiny events, 8 MiB (one JSON.parse)',
      8 * MiB,
      (i) => `{"id":"${i}","timestamp":${ts + i},"message":""}`,
    ),
    build(
      'tiny events, 64 MiB (event by event)',
      64 * MiB - 1024,
      (i) => `{"id":"${i}","timestamp":${ts + i},"message":""}`,
    ),
    build(
      'AWS-like ids, short messages, 64 MiB',
      64 * MiB - 1024,
      (i) => `{"id":"${id(i)}","timestamp":${ts + i},"message":"GET /health 200 ${i % 97} ms"}`,
    ),
    build(
      'numeric ids, 64 MiB',
      64 * MiB - 1024,
      (i) => `{"id":${id(i)},"timestamp":${ts + i},"message":"x"}`,
    ),
    build(
      '40,000 control characters per message, 64 MiB',
      64 * MiB - 1024,
      (i) => `{"id":"${id(i)}","timestamp":${ts + i},"message":"${control}"}`,
    ),
  ];
}
