/**
 * Groups NDJSON lines by header set and cuts them into request bodies for a Sumo Logic HTTP
 * source: each body ≤ `maxBytes` of UTF-8 (Sumo: 100 KB to 1 MB uncompressed per request,
 * https://help.sumologic.com/docs/send-data/hosted-collectors/http-source/logs-metrics/upload-logs/).
 * A group is cut when the next line would not fit, so bodies are close to the limit; at the
 * end of an invocation every group is flushed whatever its size (holding data across
 * invocations would mean acknowledging records before Sumo has them).
 *
 * Pure and synchronous: chunks are handed to `onChunk` as they are cut; the caller applies
 * back-pressure between records. Each chunk lists the records (their indexes) whose lines it
 * holds, so a record is acknowledged only when all chunks holding its lines were accepted.
 */
import type { SumoHeaders } from './headers';

export interface Chunk {
  readonly headers: SumoHeaders;
  /** UTF-8 body, ≤ maxBytes. */
  readonly body: Buffer;
  /** Number of lines (events) in the body. */
  readonly lines: number;
  /** Indexes of the records with lines in this body, ascending, no repeats. */
  readonly records: readonly number[];
}

export interface BatcherOptions {
  /** Maximum UTF-8 size of one request body. */
  readonly maxBytes: number;
  /**
   * Flush the largest group when all groups together hold more than this many UTF-16 units,
   * which bounds memory with many log groups in one batch.
   */
  readonly maxBufferedUnits: number;
}

interface Group {
  readonly headers: SumoHeaders;
  text: string;
  units: number;
  lines: number;
  records: number[];
}

export class RequestBatcher {
  private readonly groups = new Map<string, Group>();
  private buffered = 0;

  constructor(
    private readonly options: BatcherOptions,
    private readonly onChunk: (chunk: Chunk) => void,
  ) {}

  /**
   * Adds one line (ending in `\n`, ≤ maxBytes UTF-8: split larger events with `splitLine`
   * first) of record `record` to the group `key`.
   */
  add(key: string, headers: SumoHeaders, record: number, line: string): void {
    let g = this.groups.get(key);
    if (g === undefined) {
      g = { headers, text: '', units: 0, lines: 0, records: [] };
      this.groups.set(key, g);
    }
    // UTF-16 units ≤ UTF-8 bytes for most text; the exact byte check happens at cut time.
    if (g.units > 0 && g.units + line.length > this.options.maxBytes) this.cut(g);
    g.text += line;
    g.units += line.length;
    g.lines++;
    this.buffered += line.length;
    const rs = g.records;
    if (rs.length === 0 || rs[rs.length - 1] !== record) rs.push(record);
    if (this.buffered > this.options.maxBufferedUnits) this.cutLargest();
  }

  /** Emits every non-empty group. */
  flushAll(): void {
    for (const g of this.groups.values()) if (g.lines > 0) this.cut(g);
    this.groups.clear();
  }

  private cutLargest(): void {
    let largest: Group | undefined;
    for (const g of this.groups.values()) if (largest === undefined || g.units > largest.units) largest = g;
    if (largest) this.cut(largest);
  }

  private cut(g: Group): void {
    const text = g.text;
    const records = g.records;
    const lines = g.lines;
    this.buffered -= g.units;
    g.text = '';
    g.units = 0;
    g.lines = 0;
    g.records = [];
    this.emit(g.headers, text, lines, records);
  }

  private emit(headers: SumoHeaders, text: string, lines: number, records: readonly number[]): void {
    const body = Buffer.from(text, 'utf8');
    if (body.length <= this.options.maxBytes || lines <= 1) {
      this.onChunk({ headers, body, lines, records });
      return;
    }
    // Multi-byte text made the body larger than its unit count: halve at a line boundary.
    // Both halves keep the full record list (conservative: acknowledgement needs both).
    let mid = text.indexOf('\n', text.length >> 1);
    if (mid < 0 || mid === text.length - 1) mid = text.lastIndexOf('\n', (text.length >> 1) - 1);
    const left = text.slice(0, mid + 1);
    const right = text.slice(mid + 1);
    const leftLines = countLines(left);
    this.emit(headers, left, leftLines, records);
    this.emit(headers, right, lines - leftLines, records);
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
