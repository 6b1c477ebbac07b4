/**
 * Reflector benchmark (`npm run bench`): the deployed bundle of the reflector against the
 * "floor" (test/bench/reflector/floor.ts, gzip inline), in the same run, the same way: each in
 * its own process pinned to core 0 (`taskset -c 0`), the loopback sink on core 1, K = 100
 * records per invocation, 200k events per run. Shapes: 144 and 1,000 header sets (payloads
 * spread round-robin over accounts × regions × log groups, as an organisation-wide stream
 * arrives) with the sink answering 50 ms late (a remote Sumo source; BENCH_LATENCY_MS), and
 * 1 and 9 header sets with no latency (CPU against the floor). Rounds alternate the variants
 * (the order reversed every other round), so each round pairs them under the same host
 * conditions: ratios to the floor are taken per round, and their median reported (this host's
 * speed drifts by 10–30 % between rounds; the pairing cancels most of it). Prints events/s,
 * CPU-s per million events, invocation p50/p99, idle time (wall − CPU), peak RSS growth for a
 * 6 MB batch, bundle size, module init, lost and duplicated events. Figures are reported,
 * never asserted.
 * Options: BENCH_PAYLOADS (default 2000), BENCH_ROUNDS (default 5), BENCH_K (default 100), BENCH_SHAPES (e.g.
 * `144,1000`), BENCH_LATENCY_MS (default 50), BENCH_VARIANTS (e.g. `floor,reflector`),
 * BENCH_PAYLOADS_FILE (a JSON array of base64 payloads, e.g. from another generator, benched
 * as one more shape), BENCH_BASELINE (a handler bundle, e.g. of an earlier commit, run as one
 * more variant in the same rounds: the reflector's CPU ratio to it per round measures a change
 * on a noisy host), BENCH_RECORDS=0 (skips the single-record memory runs), BENCH_ROUNDS=0
 * (runs only them).
 *
 * Memory of a single record: one invocation holding one record the decoder accepts, of the
 * worst shapes for memory (up to MAX_INFLATED_BYTES of tiny events, escaped messages,
 * numeric ids), run like the default 1,024 MB function: AWS_LAMBDA_FUNCTION_MEMORY_SIZE and
 * the heap limits the Lambda Node.js runtime's bootstrap derives from it (new space a tenth
 * of the memory, semi-space half of that, old space the rest). Target: < 256 MB of peak RSS
 * growth for any of them.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { bundleHandler, PROJECT_ROOT } from '../../shared/constructs/bundle';
import { MAX_INFLATED_BYTES, STREAM_FROM_BYTES } from '../../shared/decode';
import { generateWorkload, recordShapes } from './reflector/workload';

const HERE = join(dirname(fileURLToPath(import.meta.url)), 'reflector');
// Inside node_modules so the bundles resolve @aws-sdk/* as the Lambda runtime would provide it.
const WORK = join(PROJECT_ROOT, 'node_modules', '.cache', 'log-reflector-bench');
const PAYLOADS = Number(process.env.BENCH_PAYLOADS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BASELINE = process.env.BENCH_BASELINE;
const RECORDS = process.env.BENCH_RECORDS !== '0';
/** Source latency of the organisation-wide shapes (the sink answers this many ms late). */
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 50);
/**
 * Shapes: header sets (accounts × regions × log groups, payloads assigned round-robin as
 * records of an organisation-wide stream arrive) and the source latency each runs at.
 * BENCH_SHAPES=144,1000 picks by header-set count.
 */
const ALL_SHAPES = [
  {
    sets: 144,
    name: '144 header sets (3 accounts x 3 regions x 16 log groups)',
    latencyMs: LATENCY_MS,
    workload: { accounts: 3, regions: 3, groups: 16 },
  },
  {
    sets: 1000,
    name: '1,000 header sets (5 accounts x 4 regions x 50 log groups)',
    latencyMs: LATENCY_MS,
    workload: { accounts: 5, regions: 4, groups: 50 },
  },
  { sets: 1, name: '1 header set', latencyMs: 0, workload: { accounts: 1, regions: 1, groups: 1 } },
  {
    sets: 9,
    name: '9 header sets (1 account, 1 region, 9 log groups)',
    latencyMs: 0,
    workload: { accounts: 1, regions: 1, groups: 9 },
  },
] as const;
const SHAPES = process.env.BENCH_SHAPES
  ? ALL_SHAPES.filter((s) => process.env.BENCH_SHAPES?.split(',').includes(String(s.sets)))
  : ALL_SHAPES;
/** The default function memory, and the heap flags Lambda's Node.js bootstrap derives from it. */
const LAMBDA_MEMORY_MB = 1024;
const LAMBDA_HEAP_FLAGS = [
  `--max-semi-space-size=${Math.floor(LAMBDA_MEMORY_MB / 10 / 2)}`,
  `--max-old-space-size=${LAMBDA_MEMORY_MB - Math.floor(LAMBDA_MEMORY_MB / 10)}`,
];
/** Records per invocation (the event source mapping's batch size). */
const K = Number(process.env.BENCH_K ?? 100);
const RSS_BATCH_BYTES = 6_000_000 - 200_000; // the 6 MB invoke payload, minus the event's own JSON

const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pinned = (core: number, args: string[]) =>
  hasTaskset
    ? (['taskset', ['-c', String(core), ...args]] as const)
    : ([args[0] as string, args.slice(1)] as const);

interface RunResult {
  initMs: number;
  firstInvocationMs?: number;
  wallS?: number;
  cpuS?: number;
  peakRssMb?: number;
  p50Ms?: number;
  p99Ms?: number;
  idleS?: number;
  rssGrowthMb?: number;
  batchBytes?: number;
  failures: number;
  errors: number;
}

function runner(options: Record<string, unknown>, nodeFlags: readonly string[] = []): RunResult {
  const [cmd, args] = pinned(0, [
    process.execPath,
    '--expose-gc',
    ...nodeFlags,
    join(HERE, 'runner.mjs'),
    JSON.stringify(options),
  ]);
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const line = res.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`runner failed (exit ${res.status}): ${res.stderr.slice(-2000)}`);
  return JSON.parse(line.slice(7)) as RunResult;
}

async function startSink(latencyMs: number): Promise<{ url: string; child: ChildProcess }> {
  const [cmd, args] = pinned(1, [process.execPath, join(HERE, 'sink.mjs'), '--delay-ms', String(latencyMs)]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve);
  });
  return { url: (JSON.parse(first) as { url: string }).url, child };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

type Variant = 'floor' | 'floor-full' | 'reflector' | 'reflector-stream' | 'baseline';
const ALL_VARIANTS: readonly Variant[] = [
  'floor',
  'floor-full',
  'reflector',
  'reflector-stream',
  ...(BASELINE ? (['baseline'] as const) : []),
];
/** BENCH_VARIANTS=reflector,baseline runs only those (more pairs per minute; no floor ratios). */
const VARIANTS: readonly Variant[] = process.env.BENCH_VARIANTS
  ? ALL_VARIANTS.filter((v) => process.env.BENCH_VARIANTS?.split(',').includes(v))
  : ALL_VARIANTS;
const HAS_FLOOR = VARIANTS.includes('floor');

interface Row {
  eps: number[];
  cpu: number[];
  p50: number[];
  p99: number[];
  idle: number[];
  lost: number[];
  dup: number[];
  init: number[];
  first: number[];
  requests: number;
  failures: number;
}

interface Shape {
  readonly name: string;
  /** How long the sink waits before it answers each request (a remote source's latency). */
  readonly latencyMs: number;
  readonly payloads: string[];
  readonly events: number;
  readonly rawBytes: number;
}

function fileShape(file: string): Shape {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as string[] | { payloads: string[] };
  const payloads = Array.isArray(parsed) ? parsed : parsed.payloads;
  let events = 0;
  let rawBytes = 0;
  for (const p of payloads) {
    const raw = gunzipSync(Buffer.from(p, 'base64'));
    rawBytes += raw.length;
    events += (JSON.parse(raw.toString('utf8')) as { logEvents?: unknown[] }).logEvents?.length ?? 0;
  }
  return { name: `payloads from ${file}`, latencyMs: LATENCY_MS, payloads, events, rawBytes };
}

async function main() {
  mkdirSync(WORK, { recursive: true });
  const reflector = bundleHandler('central/reflector/handler.ts');
  const floor = bundleHandler('test/bench/reflector/floor.ts');
  const files = { reflector: join(WORK, 'reflector.cjs'), floor: join(WORK, 'floor.cjs') };
  writeFileSync(files.reflector, reflector.code);
  writeFileSync(files.floor, floor.code);
  const sinks = new Map<number, { url: string; child: ChildProcess }>();
  const sinkFor = async (latencyMs: number) => {
    let sink = sinks.get(latencyMs);
    if (sink === undefined) {
      sink = await startSink(latencyMs);
      sinks.set(latencyMs, sink);
    }
    return sink;
  };
  const envFor = (ingest: string) => ({
    SUMO_ENDPOINT: ingest,
    FAILURE_BUCKET: 'bench-unused',
    AWS_REGION: 'us-east-1',
  });
  const setupFor = (ingest: string): Record<Variant, { bundle: string; env: Record<string, string> }> => ({
    floor: { bundle: files.floor, env: { FLOOR_URL: ingest } },
    'floor-full': { bundle: files.floor, env: { FLOOR_URL: ingest, FLOOR_CONTENT: 'full' } },
    reflector: { bundle: files.reflector, env: envFor(ingest) },
    'reflector-stream': { bundle: files.reflector, env: { ...envFor(ingest), SUMO_LINE_CONTEXT: 'stream' } },
    baseline: { bundle: BASELINE ?? '', env: envFor(ingest) },
  });
  process.stdout.write(
    `node ${process.version}; ${hasTaskset ? 'taskset: handler on core 0, sink on core 1' : 'no taskset (unpinned)'}; ` +
      `K=${K}; ${ROUNDS} rounds, each running every variant once; medians, and ratios to the floor of the same round\n` +
      'floor-full = the floor with the content reflector lines must carry (account, region, key with event id)\n' +
      'floor = the floor with gzip inline (one core: the cheapest way to gzip)\n' +
      'reflector = defaults (SUMO_LINE_CONTEXT=full); reflector-stream = SUMO_LINE_CONTEXT=stream\n' +
      (BASELINE ? `baseline = ${BASELINE}, with the reflector's settings\n` : ''),
  );
  const shapes: Shape[] = SHAPES.map((s) => ({
    name: s.name,
    latencyMs: s.latencyMs,
    ...generateWorkload(PAYLOADS, 100, s.workload),
  }));
  if (process.env.BENCH_PAYLOADS_FILE) shapes.push(fileShape(process.env.BENCH_PAYLOADS_FILE));
  try {
    for (const [n, w] of ROUNDS > 0 ? shapes.entries() : []) {
      const sink = await sinkFor(w.latencyMs);
      const ingest = `${sink.url}/receiver/v1/http/BENCH`;
      const setup = setupFor(ingest);
      const payloadsFile = join(WORK, `payloads-${n}.json`);
      writeFileSync(payloadsFile, JSON.stringify(w.payloads));
      const rows = Object.fromEntries(
        VARIANTS.map((v) => [
          v,
          {
            eps: [],
            cpu: [],
            p50: [],
            p99: [],
            idle: [],
            lost: [],
            dup: [],
            init: [],
            first: [],
            requests: 0,
            failures: 0,
          },
        ]),
      ) as unknown as Record<Variant, Row>;
      for (let round = 0; round < ROUNDS; round++) {
        // The baseline runs right before the reflector in even rounds and right after it in
        // odd ones (ABBA), so neither gains from its place in the round; likewise the floor
        // runs first in even rounds and last in odd ones.
        const others = VARIANTS.filter((v) => v !== 'reflector' && v !== 'baseline');
        const pair = BASELINE
          ? round % 2 === 0
            ? (['baseline', 'reflector'] as const)
            : (['reflector', 'baseline'] as const)
          : (['reflector'] as const);
        const ordered = [...others, ...pair.filter((v) => VARIANTS.includes(v))];
        const order = round % 2 === 0 ? ordered : [...ordered].reverse();
        for (const v of order) {
          const r = runner({
            ...setup[v],
            payloads: payloadsFile,
            batch: K,
            mode: 'throughput',
            sink: sink.url,
          });
          const stats = (await (await fetch(`${sink.url}/stats`)).json()) as {
            lines: number;
            distinctKeys: number;
            requests: number;
          };
          const row = rows[v];
          row.eps.push(w.events / (r.wallS ?? 1));
          row.cpu.push(((r.cpuS ?? 0) / w.events) * 1e6);
          row.p50.push(r.p50Ms ?? 0);
          row.p99.push(r.p99Ms ?? 0);
          row.idle.push(r.idleS ?? 0);
          row.init.push(r.initMs);
          row.first.push(r.firstInvocationMs ?? 0);
          row.requests = stats.requests;
          row.failures += r.failures + r.errors;
          // The reflector's keys tell duplicates apart from split parts; the plain floor has only lines.
          const delivered = v === 'floor' ? stats.lines : stats.distinctKeys;
          row.lost.push(Math.max(0, w.events - delivered));
          row.dup.push(Math.max(0, stats.lines - w.events));
        }
      }
      const ratios = (row: Row) => row.cpu.map((c, i) => c / (rows.floor.cpu[i] as number));
      const epsRatios = (row: Row) => row.eps.map((e, i) => e / (rows.floor.eps[i] as number));
      const line = (label: string, f: (row: Row) => string) =>
        process.stdout.write(`${label.padEnd(34)}${VARIANTS.map((v) => f(rows[v]).padStart(18)).join('')}\n`);
      process.stdout.write(
        `\n${w.name}, source latency ${w.latencyMs} ms: ${w.events} events, ${(w.rawBytes / 1e6).toFixed(1)} MB raw JSON\n${''.padEnd(34)}${VARIANTS.map((v) => v.padStart(18)).join('')}\n`,
      );
      line('events/s (median)', (r) => median(r.eps).toFixed(0));
      line('events/s (best round)', (r) => Math.max(...r.eps).toFixed(0));
      if (HAS_FLOOR) line('events/s ratio to floor (median)', (r) => median(epsRatios(r)).toFixed(2));
      line('CPU-s per million (median)', (r) => median(r.cpu).toFixed(2));
      line('CPU-s per million (best round)', (r) => Math.min(...r.cpu).toFixed(2));
      if (HAS_FLOOR) {
        line('CPU ratio to floor (median)', (r) => median(ratios(r)).toFixed(2));
        line('CPU ratio, best to best', (r) => (Math.min(...r.cpu) / Math.min(...rows.floor.cpu)).toFixed(2));
        for (const v of VARIANTS.slice(1)) {
          const label = `CPU ratio per round, ${v}`;
          process.stdout.write(
            `${label.padEnd(52)}${ratios(rows[v])
              .map((x) => x.toFixed(2))
              .join(' ')}\n`,
          );
        }
      }
      line(
        'invocation p50 / p99 ms (median)',
        (r) => `${median(r.p50).toFixed(0)} / ${median(r.p99).toFixed(0)}`,
      );
      line('idle s per run (median)', (r) => median(r.idle).toFixed(2));
      if (BASELINE) {
        const paired = rows.reflector.cpu.map((c, i) => c / (rows.baseline.cpu[i] as number));
        const sorted = [...paired].sort((a, b) => a - b);
        process.stdout.write(
          `${'CPU reflector / baseline per round'.padEnd(52)}${paired.map((x) => x.toFixed(3)).join(' ')}\n` +
            `${'CPU reflector / baseline (median, min–max)'.padEnd(52)}${median(paired).toFixed(3)} (${(sorted[0] as number).toFixed(3)}–${(sorted[sorted.length - 1] as number).toFixed(3)})\n`,
        );
      }
      line('HTTP requests per run', (r) => String(r.requests));
      line('lost events (max over rounds)', (r) => String(Math.max(...r.lost)));
      line('duplicates (max over rounds)', (r) => String(Math.max(...r.dup)));
      line('failed records / errors', (r) => String(r.failures));
      if (n === 0) {
        line('module init ms (median)', (r) => median(r.init).toFixed(1));
        line('first invocation ms (median)', (r) => median(r.first).toFixed(1));
        const rss = VARIANTS.map((v) =>
          runner({ ...setup[v], payloads: payloadsFile, mode: 'rss', rssTargetBytes: RSS_BATCH_BYTES }),
        );
        process.stdout.write(
          `${'peak RSS growth, 6 MB batch (MB)'.padEnd(34)}${rss.map((r) => String(r.rssGrowthMb).padStart(18)).join('')}\n`,
        );
        process.stdout.write(
          `${'bundle bytes (minified)'.padEnd(34)}${VARIANTS.map((v) => String(v.startsWith('floor') ? floor.bytes : v === 'baseline' ? '' : reflector.bytes).padStart(18)).join('')}\n`,
        );
      }
    }
    if (RECORDS) {
      process.stdout.write(
        `\nOne record per invocation, ${LAMBDA_MEMORY_MB} MB function (${LAMBDA_HEAP_FLAGS.join(' ')}); ` +
          `JSON.parse up to ${STREAM_FROM_BYTES / 1048576} MiB inflated, event by event above, at most ${MAX_INFLATED_BYTES / 1048576} MiB; target < 256 MB\n`,
      );
      const warm = shapes[0]?.payloads[0] as string;
      const sink = await sinkFor(0);
      const reflectorEnv = envFor(`${sink.url}/receiver/v1/http/BENCH`);
      const recordRun = (bundle: string, file: string): string => {
        try {
          const r = runner(
            {
              bundle,
              env: { ...reflectorEnv, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(LAMBDA_MEMORY_MB) },
              payloads: file,
              mode: 'record',
            },
            LAMBDA_HEAP_FLAGS,
          );
          const failed = r.failures + r.errors > 0 ? ` (${r.failures + r.errors} failed)` : '';
          return `${r.rssGrowthMb} MB, ${(r as { recordMs?: number }).recordMs} ms${failed}`;
        } catch (err) {
          return `crashed: ${/heap out of memory|Allocation failed|RangeError[^\n]*/.exec((err as Error).message)?.[0] ?? 'see stderr'}`;
        }
      };
      for (const shape of recordShapes()) {
        const file = join(WORK, 'record.json');
        writeFileSync(file, JSON.stringify([shape.payload, warm]));
        await fetch(`${sink.url}/reset`, { method: 'POST' });
        const now = recordRun(files.reflector, file);
        const stats = (await (await fetch(`${sink.url}/stats`)).json()) as { lines: number };
        const before = BASELINE ? `; baseline: ${recordRun(BASELINE, file)}` : '';
        process.stdout.write(
          `${shape.name}: ${(shape.gzipBytes / 1e6).toFixed(2)} MB gzip, ${(shape.rawBytes / 1048576).toFixed(1)} MiB inflated, ` +
            `${shape.events} events → peak RSS growth ${now}, ${stats.lines - 200} lines delivered${before}\n`,
        );
      }
    }
  } finally {
    for (const sink of sinks.values()) sink.child.kill('SIGTERM');
  }
}

await main();
