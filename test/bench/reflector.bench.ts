/**
 * Reflector benchmark (`npm run bench`): the deployed bundle of the reflector against the
 * "floor" (test/bench/reflector/floor.ts), in the same run, the same way: each in its own
 * process pinned to core 0 (`taskset -c 0`), the loopback sink on core 1, K = 100 records per
 * invocation, 200k events per run, 3 alternating rounds, medians. Prints events/s, CPU-s per
 * million events (and the ratio to the floor), peak RSS growth for a 6 MB batch, bundle size,
 * module init, lost and duplicated events. Figures are reported, never asserted.
 * Options: BENCH_PAYLOADS (default 2000), BENCH_ROUNDS (default 3).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { bundleHandler, PROJECT_ROOT } from '../../shared/bundle';
import { generateWorkload } from './reflector/workload';

const HERE = join(dirname(fileURLToPath(import.meta.url)), 'reflector');
// Inside node_modules so the bundles resolve @aws-sdk/* as the Lambda runtime would provide it.
const WORK = join(PROJECT_ROOT, 'node_modules', '.cache', 'log-reflector-bench');
const PAYLOADS = Number(process.env.BENCH_PAYLOADS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const K = 100;
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
  rssGrowthMb?: number;
  batchBytes?: number;
  failures: number;
  errors: number;
}

function runner(options: Record<string, unknown>): RunResult {
  const [cmd, args] = pinned(0, [
    process.execPath,
    '--expose-gc',
    join(HERE, 'runner.mjs'),
    JSON.stringify(options),
  ]);
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const line = res.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`runner failed (exit ${res.status}): ${res.stderr.slice(-2000)}`);
  return JSON.parse(line.slice(7)) as RunResult;
}

async function startSink(): Promise<{ url: string; child: ChildProcess }> {
  const [cmd, args] = pinned(1, [process.execPath, join(HERE, 'sink.mjs')]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve);
  });
  return { url: (JSON.parse(first) as { url: string }).url, child };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main() {
  mkdirSync(WORK, { recursive: true });
  const w = generateWorkload(PAYLOADS, 100);
  const payloadsFile = join(WORK, 'payloads.json');
  writeFileSync(payloadsFile, JSON.stringify(w.payloads));
  const reflector = bundleHandler('central/reflector/handler.ts');
  const floor = bundleHandler('test/bench/reflector/floor.ts');
  const files = { reflector: join(WORK, 'reflector.cjs'), floor: join(WORK, 'floor.cjs') };
  writeFileSync(files.reflector, reflector.code);
  writeFileSync(files.floor, floor.code);

  const sink = await startSink();
  const ingest = `${sink.url}/receiver/v1/http/BENCH`;
  const env = {
    floor: { FLOOR_URL: ingest },
    reflector: { SUMO_ENDPOINT: ingest, FAILURE_BUCKET: 'bench-unused', AWS_REGION: 'us-east-1' },
  };
  process.stdout.write(
    `workload: ${w.payloads.length} payloads, ${w.events} events, ${(w.rawBytes / 1e6).toFixed(1)} MB raw JSON, ` +
      `K=${K}, ${ROUNDS} rounds, node ${process.version}, ${hasTaskset ? 'taskset: handler core 0, sink core 1' : 'no taskset (unpinned)'}\n`,
  );
  const rows: Record<
    'floor' | 'reflector',
    { eps: number[]; cpu: number[]; lost: number[]; dup: number[]; init: number[]; failures: number }
  > = {
    floor: { eps: [], cpu: [], lost: [], dup: [], init: [], failures: 0 },
    reflector: { eps: [], cpu: [], lost: [], dup: [], init: [], failures: 0 },
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of ['floor', 'reflector'] as const) {
        const r = runner({
          bundle: files[name],
          payloads: payloadsFile,
          batch: K,
          env: env[name],
          mode: 'throughput',
          sink: sink.url,
        });
        const stats = (await (await fetch(`${sink.url}/stats`)).json()) as {
          lines: number;
          distinctKeys: number;
        };
        const row = rows[name];
        row.eps.push(w.events / (r.wallS ?? 1));
        row.cpu.push(((r.cpuS ?? 0) / w.events) * 1e6);
        row.init.push(r.initMs);
        row.failures += r.failures + r.errors;
        // The reflector's keys tell duplicates apart from split parts; the floor has only lines.
        const delivered = name === 'reflector' ? stats.distinctKeys : stats.lines;
        row.lost.push(Math.max(0, w.events - delivered));
        row.dup.push(Math.max(0, stats.lines - w.events));
      }
    }
    const rss = {
      floor: runner({
        bundle: files.floor,
        payloads: payloadsFile,
        env: env.floor,
        mode: 'rss',
        rssTargetBytes: RSS_BATCH_BYTES,
      }),
      reflector: runner({
        bundle: files.reflector,
        payloads: payloadsFile,
        env: env.reflector,
        mode: 'rss',
        rssTargetBytes: RSS_BATCH_BYTES,
      }),
    };
    const f = rows.floor;
    const r = rows.reflector;
    const line = (label: string, a: string, b: string) =>
      `${label.padEnd(36)}${a.padStart(14)}${b.padStart(14)}\n`;
    process.stdout.write(line('', 'floor', 'reflector'));
    process.stdout.write(line('events/s (median)', median(f.eps).toFixed(0), median(r.eps).toFixed(0)));
    process.stdout.write(
      line('CPU-s per million events (median)', median(f.cpu).toFixed(2), median(r.cpu).toFixed(2)),
    );
    process.stdout.write(line('CPU ratio to the floor', '1.00', (median(r.cpu) / median(f.cpu)).toFixed(2)));
    process.stdout.write(
      line(
        'peak RSS growth, 6 MB batch (MB)',
        String(rss.floor.rssGrowthMb),
        String(rss.reflector.rssGrowthMb),
      ),
    );
    process.stdout.write(line('bundle (bytes, minified)', String(floor.bytes), String(reflector.bytes)));
    process.stdout.write(
      line('module init (ms, median)', median(f.init).toFixed(1), median(r.init).toFixed(1)),
    );
    process.stdout.write(
      line('lost events (max over rounds)', String(Math.max(...f.lost)), String(Math.max(...r.lost))),
    );
    process.stdout.write(
      line('duplicated events (max over rounds)', String(Math.max(...f.dup)), String(Math.max(...r.dup))),
    );
    process.stdout.write(line('failed records / invocation errors', String(f.failures), String(r.failures)));
    process.stdout.write(
      `per round: floor ${f.eps.map((x) => x.toFixed(0)).join(' / ')} ev/s, ${f.cpu.map((x) => x.toFixed(2)).join(' / ')} CPU-s/M; ` +
        `reflector ${r.eps.map((x) => x.toFixed(0)).join(' / ')} ev/s, ${r.cpu.map((x) => x.toFixed(2)).join(' / ')} CPU-s/M\n`,
    );
  } finally {
    sink.child.kill('SIGTERM');
  }
}

await main();
