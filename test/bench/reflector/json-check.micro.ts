/**
 * Micro-benchmark of the per-event line work (not run by `npm run bench`):
 * `isEmbeddableJson` over the JSON messages of the benchmark workload, `JSON.stringify` of the
 * same messages (what the floor pays), and `formatLine` over every event.
 *
 *     taskset -c 0 npx tsx test/bench/reflector/json-check.micro.ts
 *
 * BASELINE_JSON / BASELINE_LINE: paths of other versions of json.ts / line.ts (e.g. from
 * `git show`) measured in the same process, interleaved, for a before/after comparison.
 * Figures: minimum ns per message over ROUNDS (default 25) rounds.
 */
import { gunzipSync } from 'node:zlib';
import type { LogEvent } from '../../../shared/decode';
import { isEmbeddableJson } from '../../../shared/sumo/json';
import { formatLine, type RecordFormat, recordFormat } from '../../../shared/sumo/line';
import { generateWorkload } from './workload';

const ROUNDS = Number(process.env.ROUNDS ?? 25);

interface Payload {
  owner: string;
  logGroup: string;
  logStream: string;
  subscriptionFilters: string[];
  logEvents: LogEvent[];
}

const workload = generateWorkload(2000, 100);
const records: { f: RecordFormat; events: LogEvent[] }[] = [];
const jsonMessages: string[] = [];
for (const data of workload.payloads) {
  const p = JSON.parse(gunzipSync(Buffer.from(data, 'base64')).toString()) as Payload;
  const f = recordFormat({
    account: p.owner,
    region: 'eu-west-1',
    logGroup: p.logGroup,
    logStream: p.logStream,
  });
  records.push({ f, events: p.logEvents });
  for (const ev of p.logEvents) {
    const m = ev.message.replace(/\r?\n$/, '');
    const parts = m.split('\t');
    const body = parts.length >= 4 && /^\d{4}-/.test(m) ? parts.slice(3).join('\t') : m;
    if (body.startsWith('{') || body.startsWith('[')) jsonMessages.push(body);
  }
}
const events = records.reduce((n, r) => n + r.events.length, 0);

type Check = (s: string) => boolean;
type Format = (f: RecordFormat, ev: LogEvent) => string;

let sink = 0;
function timeCheck(check: Check): number {
  const t = process.hrtime.bigint();
  let ok = 0;
  for (const m of jsonMessages) if (check(m)) ok++;
  sink += ok;
  return Number(process.hrtime.bigint() - t) / jsonMessages.length;
}
function timeStringify(): number {
  const t = process.hrtime.bigint();
  let n = 0;
  for (const m of jsonMessages) n += JSON.stringify(m).length;
  sink += n;
  return Number(process.hrtime.bigint() - t) / jsonMessages.length;
}
function timeFormat(format: Format): number {
  const t = process.hrtime.bigint();
  let n = 0;
  for (const r of records) {
    for (const ev of r.events) n += format(r.f, ev).length;
  }
  sink += n;
  return Number(process.hrtime.bigint() - t) / events;
}

const candidates: { name: string; run: () => number }[] = [
  { name: 'isEmbeddableJson (current)', run: () => timeCheck(isEmbeddableJson) },
  { name: 'JSON.stringify (floor)', run: timeStringify },
  { name: 'formatLine (current)', run: () => timeFormat(formatLine) },
];
if (process.env.BASELINE_JSON) {
  const base = (await import(process.env.BASELINE_JSON)) as { isEmbeddableJson: Check };
  // Same answers, or the comparison means nothing.
  for (const m of jsonMessages)
    if (base.isEmbeddableJson(m) !== isEmbeddableJson(m)) throw new Error(`baseline disagrees on ${m}`);
  candidates.push({ name: 'isEmbeddableJson (baseline)', run: () => timeCheck(base.isEmbeddableJson) });
}
if (process.env.BASELINE_LINE) {
  const base = (await import(process.env.BASELINE_LINE)) as { formatLine: Format };
  for (const r of records)
    for (const ev of r.events)
      if (base.formatLine(r.f, ev) !== formatLine(r.f, ev))
        throw new Error(`baseline line differs for ${ev.message}`);
  candidates.push({ name: 'formatLine (baseline)', run: () => timeFormat(base.formatLine) });
}

const best = new Map<string, number>(candidates.map((c) => [c.name, Number.POSITIVE_INFINITY]));
for (let round = 0; round < ROUNDS; round++) {
  for (const c of candidates) best.set(c.name, Math.min(best.get(c.name) as number, c.run()));
}
console.log(
  `${jsonMessages.length} JSON messages (mean ${Math.round(jsonMessages.reduce((n, m) => n + m.length, 0) / jsonMessages.length)} chars), ${events} events, ${ROUNDS} rounds, min ns per item:`,
);
for (const [name, ns] of best) console.log(`  ${name.padEnd(30)} ${ns.toFixed(0)}`);
if (sink === 0) console.log('(no work)');
