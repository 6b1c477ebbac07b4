/**
 * Output helpers every CLI command shares: aligned tables, JSON, and a progress bar on
 * stderr (so stdout stays clean for `--json` and pipes; the bar is hidden when stderr is
 * not a terminal, e.g. in CI).
 */
import { SingleBar } from 'cli-progress';

export type Row = Readonly<Record<string, string | number | boolean | undefined>>;

/** Renders rows as an aligned plain-text table with the given columns, in order. */
export function formatTable(rows: readonly Row[], columns: readonly string[]): string {
  const cells = rows.map((r) => columns.map((c) => (r[c] === undefined ? '' : String(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export interface Progress {
  tick(delta?: number): void;
  stop(): void;
}

/** A progress bar on stderr, or a no-op when stderr is not a TTY or `quiet` is set. */
export function progressBar(total: number, label: string, quiet = false): Progress {
  if (quiet || !process.stderr.isTTY) {
    return { tick: () => undefined, stop: () => undefined };
  }
  const bar = new SingleBar({
    format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta}s`,
    stream: process.stderr,
    hideCursor: true,
  });
  bar.start(total, 0);
  return {
    tick: (delta = 1) => bar.increment(delta),
    stop: () => bar.stop(),
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
