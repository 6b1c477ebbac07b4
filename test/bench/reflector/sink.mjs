// Loopback sink for the reflector benchmark: a Sumo-like HTTP source that gunzips each body,
// counts lines, bytes and distinct idempotency keys (lines with a "key" field), and answers
// 200. GET /stats returns the counters, POST /reset zeroes them. Prints {"url": …} first.
// Run on its own core (taskset -c 1) so its work never counts against the forwarder.
// `--delay-ms N` answers every ingest request N ms after it was read, as a remote source
// would (a real Sumo HTTP source answers in tens of ms, the loopback in microseconds).
import http from 'node:http';
import { gunzip } from 'node:zlib';

const delayArg = process.argv.indexOf('--delay-ms');
const DELAY_MS = delayArg > 0 ? Number(process.argv[delayArg + 1]) : 0;
if (!(DELAY_MS >= 0))
  throw new Error(`sink: --delay-ms must be a number ≥ 0 (received ${process.argv[delayArg + 1]})`);

let stats;
// Keys are kept as 53-bit hashes in a typed array, counted distinct when /stats is asked:
// holding the key strings (slices of each body's text) kept every body alive, and the sink's
// own garbage collections then stalled its answers by 20–50 ms, which the forwarder under
// test saw as idle time. Collision odds for 200k keys: ~2e-6.
let hashes;
let nHashes;
function reset() {
  stats = { requests: 0, lines: 0, bytes: 0, wireBytes: 0, keyed: 0, maxBodyBytes: 0 };
  hashes = new Float64Array(1 << 16);
  nHashes = 0;
}
reset();

function addKey(text, from, to) {
  let a = 0x811c9dc5;
  let b = 0x6a09e667;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  if (nHashes === hashes.length) {
    const next = new Float64Array(hashes.length * 2);
    next.set(hashes);
    hashes = next;
  }
  hashes[nHashes++] = (b >>> 11) * 4294967296 + (a >>> 0);
}

function distinctKeys() {
  const sorted = hashes.subarray(0, nHashes).slice().sort();
  let n = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) n++;
  return n;
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.end(JSON.stringify({ ...stats, distinctKeys: distinctKeys() }));
    return;
  }
  if (req.url === '/reset') {
    req.resume();
    req.on('end', () => {
      reset();
      res.end('ok');
    });
    return;
  }
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    const wire = Buffer.concat(parts);
    gunzip(wire, (err, body) => {
      if (err) {
        res.writeHead(400).end();
        return;
      }
      stats.requests++;
      stats.wireBytes += wire.length;
      stats.bytes += body.length;
      if (body.length > stats.maxBodyBytes) stats.maxBodyBytes = body.length;
      const text = body.toString('utf8');
      let start = 0;
      for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
        stats.lines++;
        // Search within the line only (a sliced string is cheap): lines without a key must
        // not make the search run to the end of the body.
        const line = text.slice(start, end);
        const k = line.indexOf('"key":"');
        if (k >= 0) {
          stats.keyed++;
          addKey(text, start + k + 7, start + line.indexOf('"', k + 7));
        }
        start = end + 1;
      }
      if (DELAY_MS > 0) setTimeout(() => res.end('{"status":"ok"}'), DELAY_MS);
      else res.end('{"status":"ok"}');
    });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(
    `${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}`, delayMs: DELAY_MS })}\n`,
  );
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
