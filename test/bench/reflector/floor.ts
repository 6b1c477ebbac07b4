/**
 * The "floor": the least a forwarder must do, as a yardstick for the reflector's CPU cost.
 * Decode (base64 → gunzip → JSON.parse), one NDJSON line per event with timestamp, log group,
 * log stream and message, ~1 MB chunks, gzip level 6 (once per chunk, inline on the event
 * loop: with one core that is the cheapest; `FLOOR_GZIP=async` uses the thread pool), keep-alive
 * POST with 4 in flight, a few retries. No header grouping, no idempotency keys, no Lambda
 * parsing, no per-record accounting: everything beyond this is the reflector's overhead.
 * Env: FLOOR_URL; FLOOR_CONTENT=full adds what the reflector's lines must carry and the
 * floor's do not (account, region and the idempotency key with the event id), still as a
 * floor: one JSON.stringify per message, no grouping. The gap between the two floors is the
 * cost of that content; the gap from `full` to the reflector, the cost of the implementation.
 */
import http from 'node:http';
import { promisify } from 'node:util';
import { gunzipSync, gzip, gzipSync } from 'node:zlib';
import { regionFromFilterNames } from '../../../shared/naming';
import { streamKey } from '../../../shared/sumo/key';

const gz = promisify(gzip);
const CHUNK = 1_000_000;
const IN_FLIGHT = 4;
let agent: http.Agent | undefined;

function post(url: URL, body: Buffer): Promise<number> {
  agent ??= new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        hostname: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: { 'content-encoding': 'gzip', 'content-length': body.length, 'x-sumo-category': 'floor' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const INLINE_GZIP = process.env.FLOOR_GZIP !== 'async';

async function send(url: URL, text: string): Promise<void> {
  const raw = Buffer.from(text);
  const body = INLINE_GZIP ? gzipSync(raw, { level: 6 }) : await gz(raw, { level: 6 });
  for (let attempt = 0; ; attempt++) {
    const status = await post(url, body).catch(() => 0);
    if (status >= 200 && status < 300) return;
    if (attempt >= 3) throw new Error(`floor: HTTP ${status}`);
    await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
  }
}

export async function handler(event: { Records: { kinesis: { data: string } }[] }): Promise<void> {
  const url = new URL(process.env.FLOOR_URL ?? 'http://127.0.0.1:1/');
  const full = process.env.FLOOR_CONTENT === 'full';
  const pending = new Set<Promise<void>>();
  let text = '';
  let failure: unknown;
  const flush = async () => {
    const p = send(url, text)
      .catch((e: unknown) => {
        failure ??= e;
      })
      .finally(() => pending.delete(p));
    pending.add(p);
    text = '';
    while (pending.size >= IN_FLIGHT) await Promise.race(pending);
  };
  for (const r of event.Records) {
    const payload = JSON.parse(gunzipSync(Buffer.from(r.kinesis.data, 'base64')).toString('utf8'));
    if (payload.messageType !== 'DATA_MESSAGE') continue;
    const mid = `,"logGroup":${JSON.stringify(payload.logGroup)},"logStream":${JSON.stringify(payload.logStream)}`;
    let head = `${mid},"message":`;
    if (full) {
      const region = regionFromFilterNames(payload.subscriptionFilters) ?? 'unknown';
      const stream = streamKey(payload.owner, region, payload.logGroup, payload.logStream);
      head = `,"account":${JSON.stringify(payload.owner)},"region":"${region}"${mid},"key":"${stream}-`;
    }
    for (const e of payload.logEvents) {
      const m: string = e.message.endsWith('\n') ? e.message.slice(0, -1) : e.message;
      text += full
        ? `{"timestamp":${e.timestamp}${head}${e.id}","message":${JSON.stringify(m)}}\n`
        : `{"timestamp":${e.timestamp}${head}${JSON.stringify(m)}}\n`;
      if (text.length >= CHUNK) await flush();
    }
  }
  if (text.length > 0) await flush();
  await Promise.all(pending);
  if (failure) throw failure;
}
