/**
 * `npm run bench`: runs every `test/bench/*.bench.ts` in its own Node process, one after
 * the other (so one benchmark's heap never counts against another's), and prints their
 * figures. A benchmark prints its own figures and exits non-zero only when it could not run.
 * Figures are reported, not asserted: timing targets live here, never in unit tests.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benches = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n=== ${file} ===\n`);
  const res = spawnSync(process.execPath, ['--import', 'tsx', join(dir, file)], { stdio: 'inherit' });
  if (res.status !== 0) {
    failed += 1;
    process.stdout.write(`${file} failed to run (exit ${res.status ?? res.signal})\n`);
  }
}
if (benches.length === 0) process.stdout.write('no benchmarks found\n');
process.exitCode = failed > 0 ? 1 : 0;
