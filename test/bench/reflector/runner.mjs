// One benchmark process: loads a handler bundle (CommonJS, as deployed), invokes it with
// Kinesis events of K records, sequentially like one warm Lambda container, and prints one
// line `RESULT {json}`. Plain JavaScript on purpose: no TypeScript loader in the measured
// process. Usage: node --expose-gc runner.mjs '<json options>'
//   {bundle, payloads (file), batch, env, mode: "throughput" | "rss" | "record", rssTargetBytes}
// mode "record": one invocation of one record, the first payload of the file (peak RSS growth
// for a single record, after a warm-up invocation of a small one: the second payload).
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const o = JSON.parse(process.argv[2]);
Object.assign(process.env, o.env);
const require = createRequire(import.meta.url);
const payloads = JSON.parse(readFileSync(o.payloads, 'utf8'));

function record(data, i) {
  const seq = String(49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898n + BigInt(i));
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: String(i),
      sequenceNumber: seq,
      data,
      approximateArrivalTimestamp: Date.now() / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `shardId-000000000000:${seq}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/bench',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/bench',
  };
}
const context = () => ({
  getRemainingTimeInMillis: () => 900_000,
  awsRequestId: 'bench',
  functionName: 'log-reflector-reflector',
});
function hwmBytes() {
  const m = readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}
function resetHwm() {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
// Handler output (EMF metrics, logs) is part of its cost, but not of our result line.
const out = process.stdout.write.bind(process.stdout);
process.stdout.write = () => true;
console.log = () => undefined;

const t0 = performance.now();
const mod = require(o.bundle);
const initMs = performance.now() - t0;
const handler = mod.handler;

let failures = 0;
let errors = 0;
let firstError;
async function invoke(records) {
  try {
    const r = await handler({ Records: records }, context());
    failures += r?.batchItemFailures?.length ?? 0;
  } catch (err) {
    errors++;
    firstError ??= String(err?.stack ?? err).slice(0, 500);
  }
}

const result = { initMs: +initMs.toFixed(1) };
if (o.mode === 'throughput') {
  const batches = [];
  for (let i = 0; i < payloads.length; i += o.batch)
    batches.push(payloads.slice(i, i + o.batch).map((d, j) => record(d, i + j)));
  // Warm-up (JIT, sockets, lazy init): the first batch, untimed; the caller resets the sink after it.
  const t1 = performance.now();
  await invoke(batches[0]);
  result.firstInvocationMs = +(performance.now() - t1).toFixed(1);
  await fetch(`${o.sink}/reset`, { method: 'POST' });
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss;
  resetHwm();
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const took = [];
  for (const b of batches) {
    const i0 = performance.now();
    await invoke(b);
    took.push(performance.now() - i0);
  }
  const wall = (performance.now() - w0) / 1000;
  const c = process.cpuUsage(c0);
  result.wallS = wall;
  result.cpuS = (c.user + c.system) / 1e6;
  // Invocation duration percentiles (nearest rank), and idle: wall time the process did not
  // spend on the CPU (waiting for answers), which Lambda bills like any other.
  took.sort((a, b) => a - b);
  const rank = (q) => took[Math.min(took.length - 1, Math.ceil(q * took.length) - 1)];
  result.p50Ms = +rank(0.5).toFixed(1);
  result.p99Ms = +rank(0.99).toFixed(1);
  result.idleS = +Math.max(0, wall - result.cpuS).toFixed(3);
  result.batches = batches.length;
  result.peakRssMb = +(hwmBytes() / 1048576).toFixed(1);
  result.rssStartMb = +(rss0 / 1048576).toFixed(1);
} else if (o.mode === 'record') {
  await invoke([record(payloads[1], 0)]);
  await invoke([record(payloads[1], 1)]);
  globalThis.gc?.();
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss;
  const exact = resetHwm();
  const t1 = performance.now();
  await invoke([record(payloads[0], 2)]);
  result.recordMs = +(performance.now() - t1).toFixed(0);
  result.rssGrowthMb = +((hwmBytes() - rss0) / 1048576).toFixed(1);
  result.hwmReset = exact;
} else {
  // One batch as large as an invocation payload allows (6 MB, https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
  const big = [];
  let size = 0;
  for (let i = 0; size < o.rssTargetBytes; i++) {
    const d = payloads[i % payloads.length];
    big.push(record(d, i));
    size += d.length + 420; // the record envelope around the data
  }
  await invoke(payloads.slice(0, 10).map((d, i) => record(d, i)));
  await invoke(big.slice(0, 50)); // warm-up of the same shape
  globalThis.gc?.();
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss;
  const exact = resetHwm();
  await invoke(big);
  result.batchBytes = size;
  result.batchRecords = big.length;
  result.rssGrowthMb = +((hwmBytes() - rss0) / 1048576).toFixed(1);
  result.hwmReset = exact;
}
result.failures = failures;
result.errors = errors;
if (firstError) result.firstError = firstError;
out(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
