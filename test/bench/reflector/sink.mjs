// Loopback sink for the reflector benchmark: a Sumo-like HTTP source that gunzips each body,
// counts lines, bytes and distinct idempotency keys (lines with a "key" field), and answers
// 200. GET /stats returns the counters, POST /reset zeroes them. Prints {"url": …} first.
// Run on its own core (taskset -c 1) so its work never counts against the forwarder.
import http from 'node:http';
import { gunzip } from 'node:zlib';

let stats;
let keys;
function reset() {
  stats = { requests: 0, lines: 0, bytes: 0, wireBytes: 0, keyed: 0, maxBodyBytes: 0 };
  keys = new Set();
}
reset();

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.end(JSON.stringify({ ...stats, distinctKeys: keys.size }));
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
          keys.add(line.slice(k + 7, line.indexOf('"', k + 7)));
        }
        start = end + 1;
      }
      res.end('{"status":"ok"}');
    });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
