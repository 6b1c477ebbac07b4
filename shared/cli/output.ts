/**
 * Output helpers every CLI command shares: aligned tables, JSON, and progress on stderr (a bar
 * when the total is known, a status line while reading or waiting), so stdout stays clean for
 * `--json` and pipes. Progress is off with `--json` and when stderr is not a terminal (CI).
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
export function progressBar(
  total: number,
  label: string,
  quiet = false,
  stream: ProgressStream = process.stderr,
): Progress {
  if (!progressEnabled(quiet, stream)) {
    return { tick: () => undefined, stop: () => undefined };
  }
  const bar = new SingleBar({
    format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta}s`,
    // cli-progress writes with write() and reads isTTY and columns only.
    stream: stream as NodeJS.WriteStream,
    hideCursor: true,
  });
  bar.start(total, 0);
  return {
    tick: (delta = 1) => bar.increment(delta),
    stop: () => bar.stop(),
  };
}

/** Where progress goes: stderr, or a stand-in in tests. */
export type ProgressStream = Pick<NodeJS.WriteStream, 'write' | 'isTTY'>;

/** True when progress should be drawn: not `quiet` (`--json`) and a terminal. */
export function progressEnabled(quiet: boolean, stream: ProgressStream = process.stderr): boolean {
  return !quiet && stream.isTTY === true;
}

export interface StatusLine {
  /** Replaces the line with `text`. */
  update(text: string): void;
  /** Erases the line (call when done, also on error). */
  clear(): void;
}

/** One line of progress on stderr, redrawn in place; a no-op unless `progressEnabled`. */
export function statusLine(quiet = false, stream: ProgressStream = process.stderr): StatusLine {
  if (!progressEnabled(quiet, stream)) return { update: () => undefined, clear: () => undefined };
  let drawn = false;
  return {
    update: (text) => {
      // \r back to column 0, ESC[K erases the rest of the previous text.
      stream.write(`\r${text}\x1b[K`);
      drawn = true;
    },
    clear: () => {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
function csvField(value: string | number | boolean | undefined): string {
  if (value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Renders rows as CSV (fields quoted as RFC 4180 says; one line per row) with the given columns, in order. */
export function formatCsv(rows: readonly Row[], columns: readonly string[]): string {
  return [columns, ...rows.map((r) => columns.map((c) => r[c]))]
    .map((line) => line.map((v) => csvField(v)).join(','))
    .join('\n');
}
