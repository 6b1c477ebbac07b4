/**
 * How many requests to the Sumo HTTP source may be in flight at once: sized by bytes, not by a
 * fixed count, with a ceiling that backs off when Sumo throttles.
 *
 * Why bytes: each header set (log group) needs its own request, so an organisation-wide batch
 * makes one small request per log group (tens of KB each), while a batch from a few busy log
 * groups makes a few 1 MB ones. A fixed count of 4 leaves the first waiting on the source's
 * latency request after request (100 requests × 50 ms ÷ 4 = 1.25 s of idle per invocation,
 * billed by Lambda like CPU); bytes in flight bound what the window holds in memory and what
 * it offers Sumo at once, whatever the request sizes.
 *
 * Why a ceiling that moves: Sumo documents no limit on concurrent requests to an HTTP source;
 * it answers 429 when the account's ingestion is throttled, and 503 when the source cannot take
 * the request (https://help.sumologic.com/docs/send-data/hosted-collectors/http-source/troubleshooting/,
 * https://help.sumologic.com/docs/manage/ingestion-volume/log-ingestion/). On either answer
 * the ceiling halves (down to one request), and each accepted request raises it by one again up
 * to `maxRequests` (additive increase, multiplicative decrease), so a throttled source sees
 * fewer requests at once while the retries of sender.ts wait out its Retry-After. One window
 * serves a warm container's invocations one after the other, so what it learnt carries over.
 *
 * Pure: no clock, no I/O.
 */

export interface SendWindowOptions {
  /** Most requests in flight at once (the ceiling when Sumo does not throttle). */
  readonly maxRequests: number;
  /** Most uncompressed body bytes in flight at once; one request may always start alone. */
  readonly maxBytes: number;
}

export class SendWindow {
  private inFlight = 0;
  private bytes = 0;
  private ceiling: number;

  constructor(readonly options: SendWindowOptions) {
    if (!(options.maxRequests >= 1) || !(options.maxBytes >= 1)) {
      throw new RangeError(
        `send window needs maxRequests ≥ 1 and maxBytes ≥ 1 (received ${options.maxRequests}, ${options.maxBytes})`,
      );
    }
    this.ceiling = options.maxRequests;
  }

  /** Requests in flight now. */
  get requests(): number {
    return this.inFlight;
  }

  /** Uncompressed bytes in flight now. */
  get bytesInFlight(): number {
    return this.bytes;
  }

  /** Requests allowed at once now (≤ maxRequests; lower after throttling). */
  get limit(): number {
    return this.ceiling;
  }

  /** Whether a request of `bytes` may start now. */
  canStart(bytes: number): boolean {
    if (this.inFlight === 0) return true;
    return this.inFlight < this.ceiling && this.bytes + bytes <= this.options.maxBytes;
  }

  started(bytes: number): void {
    this.inFlight++;
    this.bytes += bytes;
  }

  finished(bytes: number): void {
    this.inFlight--;
    this.bytes -= bytes;
  }

  /** Sumo throttled a request (429) or could not take it (503): fewer at once. */
  throttled(): void {
    this.ceiling = Math.max(1, Math.floor(this.ceiling / 2));
  }

  /** Sumo accepted a request: one more at once, up to maxRequests. */
  accepted(): void {
    if (this.ceiling < this.options.maxRequests) this.ceiling++;
  }
}
