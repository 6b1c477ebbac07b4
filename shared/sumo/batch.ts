/**
 * Groups NDJSON lines by header set and cuts them into request bodies for a Sumo Logic HTTP
 * source: each body ≤ `maxBytes` of UTF-8 (Sumo: 100 KB to 1 MB uncompressed per request,
 * https://help.sumologic.com/docs/send-data/hosted-collectors/http-source/logs-metrics/upload-logs/).
 * A group is cut when the next line would not fit, so bodies are close to the limit; at the
 * end of an invocation every group is flushed whatever its size (holding data across
 * invocations would mean acknowledging records before Sumo has them).
 *
 * Pure and synchronous: chunks are handed to `onChunk` as they are cut; the caller applies
 * back-pressure between records, and calls `seal` after each record: the record's lines are
 * then encoded to UTF-8 at once, so what waits in a group is off the JS heap. (Held as one
 * string rope per group, the lines of a whole invocation survived young-generation GCs and
 * were copied and promoted; measured on the benchmark, sealing per record saves that work.) Each chunk lists the records (their indexes) whose lines it
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
  /** Sealed lines, UTF-8, in order; `text` follows them. */
  parts: Buffer[];
  partBytes: number;
  text: string;
  units: number;
  lines: number;
  records: number[];
}

export class RequestBatcher {
  private readonly groups = new Map<string, Group>();
  /** Groups holding unsealed text. */
  private readonly open: Group[] = [];
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
      g = { headers, parts: [], partBytes: 0, text: '', units: 0, lines: 0, records: [] };
      this.groups.set(key, g);
    }
    // UTF-16 units ≤ UTF-8 bytes for most text; the exact byte check happens at cut time.
    if (g.units > 0 && g.units + line.length > this.options.maxBytes) this.cut(g);
    if (g.text.length === 0) this.open.push(g);
    g.text += line;
    g.units += line.length;
    g.lines++;
    this.buffered += line.length;
    const rs = g.records;
    if (rs.length === 0 || rs[rs.length - 1] !== record) rs.push(record);
    if (this.buffered > this.options.maxBufferedUnits) this.cutLargest();
  }

  /** Encodes the text added since the last call (call it between records). */
  seal(): void {
    for (const g of this.open) {
      if (g.text.length === 0) continue;
      const b = Buffer.from(g.text, 'utf8');
      g.parts.push(b);
      g.partBytes += b.length;
      g.text = '';
    }
    this.open.length = 0;
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
    const { parts, partBytes, text, records, lines } = g;
    this.buffered -= g.units;
    g.parts = [];
    g.partBytes = 0;
    g.text = '';
    g.units = 0;
    g.lines = 0;
    g.records = [];
    let body: Buffer;
    if (parts.length === 0) {
      body = Buffer.from(text, 'utf8');
    } else {
      let bytes = partBytes;
      if (text.length > 0) {
        const tail = Buffer.from(text, 'utf8');
        parts.push(tail);
        bytes += tail.length;
      }
      body = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, bytes);
    }
    this.emit(g.headers, body, lines, records);
  }

  private emit(headers: SumoHeaders, body: Buffer, lines: number, records: readonly number[]): void {
    if (body.length <= this.options.maxBytes || lines <= 1) {
      this.onChunk({ headers, body, lines, records });
      return;
    }
    // Multi-byte text made the body larger than its unit count: halve at a line boundary.
    // Both halves keep the full record list (conservative: acknowledgement needs both).
    // Lines end in `\n` (0x0a, never inside a multi-byte sequence), so the halves are whole lines.
    let mid = body.indexOf(10, body.length >> 1);
    if (mid < 0 || mid === body.length - 1) mid = body.lastIndexOf(10, (body.length >> 1) - 1);
    const left = body.subarray(0, mid + 1);
    const right = body.subarray(mid + 1);
    const leftLines = countLines(left);
    this.emit(headers, left, leftLines, records);
    this.emit(headers, right, lines - leftLines, records);
  }
}

function countLines(body: Buffer): number {
  let n = 0;
  for (let i = body.indexOf(10); i >= 0; i = body.indexOf(10, i + 1)) n++;
  return n;
}
