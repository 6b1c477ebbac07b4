// Paired comparison for a noisy host: loads several handler bundles into ONE process and
// invokes them batch by batch in alternation (the order reversed every other batch), so each
// pair of invocations runs under the same host conditions within ~0.3 s, instead of whole
// runs minutes apart (`npm run bench` pairs runs; on a host shared with other work its
// per-round ratios swing by ±30 %). Prints per bundle: CPU and wall time summed, their ratio to
// the first bundle, the median of per-batch CPU ratios, invocation p50/p99 and idle time.
// Bias to know: the bundles share one heap, so a collection may be charged to the bundle that
// triggered it rather than the one whose garbage it collects (no explicit gc between them).
// Figures are reported, never asserted.
// Usage: node test/bench/reflector/interleave.mjs <payloads.json> <sink URL> <repetitions>
//          <bundle>[:ENV=value…] <bundle>[:ENV=value…] …
// with a sink from `node test/bench/reflector/sink.mjs --delay-ms N` (its URL is printed first),
// payloads as written by `npm run bench` (node_modules/.cache/log-reflector-bench/payloads-N.json),
// and bundles as written there too (reflector.cjs, floor.cjs) or of an earlier commit. Pin it
// like the bench: `taskset -c 0 node …`, the sink on core 1.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const [payloadsFile, sink, reps, ...variants] = process.argv.slice(2);
if (!payloadsFile || !sink || !(Number(reps) >= 1) || variants.length === 0) {
  throw new Error(
    `usage: interleave.mjs <payloads.json> <sink URL> <repetitions ≥ 1> <bundle>[:ENV=value…]… (received ${process.argv.slice(2).join(' ')})`,
  );
}
const ingest = `${sink}/receiver/v1/http/BENCH`;
Object.assign(process.env, {
  SUMO_ENDPOINT: ingest,
  FLOOR_URL: ingest,
  FAILURE_BUCKET: 'bench-unused',
  AWS_REGION: 'us-east-1',
});
const require = createRequire(import.meta.url);
const payloads = JSON.parse(readFileSync(payloadsFile, 'utf8'));
// Handler output (EMF metrics, logs) is part of its cost, but not of our result lines.
const out = process.stdout.write.bind(process.stdout);
process.stdout.write = () => true;
console.log = () => undefined;

/** Each bundle with the environment it runs under (set around each of its invocations). */
const handlers = variants.map((v) => {
  const [bundle, ...envs] = v.split(':');
  const env = Object.fromEntries(envs.map((e) => e.split('=')));
  return { name: v, env, handler: require(bundle).handler };
});
const record = (data, i) => {
  const seq = String(49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898n + BigInt(i));
  return {
    kinesis: {
      partitionKey: String(i),
      sequenceNumber: seq,
      data,
      approximateArrivalTimestamp: Date.now() / 1000,
    },
    eventSource: 'aws:kinesis',
    eventID: `shardId-000000000000:${seq}`,
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/bench',
  };
};
const context = { getRemainingTimeInMillis: () => 900_000, awsRequestId: 'bench', functionName: 'bench' };
const batches = [];
for (let i = 0; i < payloads.length; i += 100)
  batches.push(payloads.slice(i, i + 100).map((d, j) => record(d, i + j)));

const stats = handlers.map(() => ({ cpuMs: 0, wallMs: 0, took: [], cpuRatios: [], failures: 0 }));
async function invoke(k, batch) {
  const h = handlers[k];
  const saved = Object.fromEntries(Object.keys(h.env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, h.env);
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  try {
    const r = await h.handler({ Records: batch }, context);
    stats[k].failures += r?.batchItemFailures?.length ?? 0;
  } catch {
    stats[k].failures += batch.length;
  }
  const wallMs = performance.now() - w0;
  const c = process.cpuUsage(c0);
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  return { wallMs, cpuMs: (c.user + c.system) / 1000 };
}

// Warm-up (JIT, sockets, lazy init): one invocation each, untimed.
for (let k = 0; k < handlers.length; k++) await invoke(k, batches[0]);
for (let rep = 0; rep < Number(reps); rep++) {
  for (let i = 0; i < batches.length; i++) {
    const order = handlers.map((_, k) => k);
    if ((i + rep) % 2 === 1) order.reverse();
    const r = [];
    for (const k of order) r[k] = await invoke(k, batches[i]);
    for (let k = 0; k < handlers.length; k++) {
      stats[k].cpuMs += r[k].cpuMs;
      stats[k].wallMs += r[k].wallMs;
      stats[k].took.push(r[k].wallMs);
      stats[k].cpuRatios.push(r[k].cpuMs / r[0].cpuMs);
    }
  }
}
const rank = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};
for (let k = 0; k < handlers.length; k++) {
  const s = stats[k];
  out(
    `${handlers[k].name}\n  CPU ${s.cpuMs.toFixed(0)} ms, ×${(s.cpuMs / stats[0].cpuMs).toFixed(3)} of the first ` +
      `(median per batch ×${rank(s.cpuRatios, 0.5).toFixed(3)}); wall ${s.wallMs.toFixed(0)} ms, events/s ` +
      `×${(stats[0].wallMs / s.wallMs).toFixed(3)}; p50 / p99 ${rank(s.took, 0.5).toFixed(0)} / ` +
      `${rank(s.took, 0.99).toFixed(0)} ms; idle ${(s.wallMs - s.cpuMs).toFixed(0)} ms; failed records ${s.failures}\n`,
  );
}
process.exit(0);
