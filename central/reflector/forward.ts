/**
 * The forwarder core: Kinesis records in, per-record outcome out. Decodes each record,
 * formats one line per event, groups lines by Sumo header set into ≤ 1 MB bodies, and hands
 * them to `deliver` with bounded concurrency. A record is reported failed (→ batchItemFailures,
 * so the event source mapping retries it) unless every body holding its lines was accepted.
 * Malformed records go to `storeMalformed` and are acknowledged once stored.
 *
 * Streaming on purpose: a record is decoded, turned into lines and dropped before the next
 * one, and the producer waits whenever a cut body cannot start at once, inside a record too
 * (one record may hold tens of MB of events), so memory stays bounded whatever a batch or a
 * record holds. The same core serves the Lambda handler and `log-reflector replay`.
 */
import { type DecodeResult, decodeRecordData, eventsOf } from '../../shared/decode';
import { AuthError, DeadlineError, type DecodeError, type LogReflectorError } from '../../shared/errors';
import { regionFromFilterNames } from '../../shared/naming';
import { type Chunk, RequestBatcher } from '../../shared/sumo/batch';
import {
  buildHeaders,
  type HeaderTemplates,
  headersKey,
  type SumoHeaders,
  usesLogStream,
} from '../../shared/sumo/headers';
import {
  formatLine,
  type LineContext,
  recordFormat,
  type StreamContext,
  splitLine,
} from '../../shared/sumo/line';
import { SendWindow } from '../../shared/sumo/window';
import { type DeliveryResult, newSendStats, type SendStats } from './sender';

/** One Kinesis record, as the forwarder needs it. */
export interface ForwardRecord {
  readonly sequenceNumber: string;
  readonly shardId: string;
  /** base64 of the gzip payload, as in the Lambda event. */
  readonly data: string;
  /** approximateArrivalTimestamp in epoch ms, when known. */
  readonly arrivalMs?: number;
  readonly eventSourceARN?: string;
}

export interface ForwardConfig {
  readonly templates: HeaderTemplates;
  readonly maxBytes: number;
  /** Most requests in flight at once (without `deps.window`). */
  readonly concurrency: number;
  /** Most uncompressed body bytes in flight at once (without `deps.window`); default unbounded. */
  readonly maxBytesInFlight?: number;
  /** What each line repeats about its stream (default `full`). */
  readonly lineContext?: LineContext;
  /** Bound on bytes buffered across groups; default 8 × maxBytes. */
  readonly maxBufferedBytes?: number;
}

export interface ForwardLog {
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export interface ForwardDeps {
  deliver(chunk: Chunk, deadline: number, stats: SendStats): Promise<DeliveryResult>;
  /** Parks a record that can never be forwarded; rejects when it could not be stored. */
  storeMalformed(record: ForwardRecord, error: DecodeError): Promise<void>;
  readonly log?: ForwardLog;
  /** Decoder (injectable for tests); default `decodeRecordData`. */
  readonly decode?: (data: string) => DecodeResult;
  /**
   * Accounts whose events may be forwarded (central/reflector/enrolled.ts). A record from any
   * other account is acknowledged without being sent and counted in `notEnrolled`.
   */
  readonly enrolled?: ReadonlySet<string>;
  /** Clock of `deadline` (tests: a fake clock); default Date.now. */
  readonly now?: () => number;
  /**
   * Decides how many requests run at once (shared/sumo/window.ts); the sender's, so that
   * Sumo's 429s narrow it. Default: a window of `config.concurrency` and `config.maxBytesInFlight`.
   */
  readonly window?: SendWindow;
}

export interface ForwardStats extends SendStats {
  records: number;
  eventsIn: number;
  malformed: number;
  control: number;
  failedRecords: number;
  chunks: number;
  splitEvents: number;
  /** Records not even started because the deadline came first. */
  skippedForDeadline: number;
  /** Largest now − approximateArrivalTimestamp over the batch, ms (how far behind we are). */
  lagMs: number;
  /** Events not forwarded because their account is not enrolled, by account. */
  notEnrolled: Record<string, number>;
}

export interface ForwardResult {
  /** Indexes (into the input) of the records to report as batchItemFailures, ascending. */
  readonly failed: readonly number[];
  readonly stats: ForwardStats;
}

interface Group {
  readonly key: string;
  readonly headers: SumoHeaders;
}

const noLog: ForwardLog = { warn: () => undefined, error: () => undefined };

/**
 * Header sets by stream identity, kept across invocations of a warm container (per template
 * set): an organisation sends the same log groups batch after batch, and rendering the four
 * headers per group per invocation showed in the profile. Bounded: dropped when it grows past
 * the limit (per-stream templates make one entry per log stream).
 */
const groupCache = new WeakMap<HeaderTemplates, Map<string, Group>>();
const GROUP_CACHE_LIMIT = 10_000;

function cachedGroups(templates: HeaderTemplates): Map<string, Group> {
  let groups = groupCache.get(templates);
  if (groups === undefined || groups.size > GROUP_CACHE_LIMIT) {
    groups = new Map<string, Group>();
    groupCache.set(templates, groups);
  }
  return groups;
}

/** Forwards `records`; `deadline` is epoch ms by which everything must be settled. */
export async function forwardRecords(
  records: readonly ForwardRecord[],
  deadline: number,
  config: ForwardConfig,
  deps: ForwardDeps,
): Promise<ForwardResult> {
  const log = deps.log ?? noLog;
  const decode = deps.decode ?? decodeRecordData;
  const clock = deps.now ?? Date.now;
  const stats: ForwardStats = {
    ...newSendStats(),
    records: records.length,
    eventsIn: 0,
    malformed: 0,
    control: 0,
    failedRecords: 0,
    chunks: 0,
    splitEvents: 0,
    skippedForDeadline: 0,
    lagMs: 0,
    notEnrolled: {},
  };
  const failed = new Uint8Array(records.length);
  const window =
    deps.window ??
    new SendWindow({
      maxRequests: config.concurrency,
      maxBytes: config.maxBytesInFlight ?? Number.POSITIVE_INFINITY,
    });
  const queue: Chunk[] = [];
  const inflight = new Set<Promise<void>>();
  const parked: Promise<void>[] = [];
  let authFailure: AuthError | undefined;
  let firstFailure: LogReflectorError | undefined;

  const failChunk = (chunk: Chunk, error: LogReflectorError) => {
    for (const r of chunk.records) failed[r] = 1;
    if (error instanceof AuthError) authFailure ??= error;
    if (firstFailure === undefined) {
      firstFailure = error;
      log.error('Sumo delivery failed; records go back to Kinesis', {
        error: error.name,
        reason: error.message,
        lines: chunk.lines,
        records: chunk.records.length,
      });
    }
  };
  const start = (chunk: Chunk) => {
    const bytes = chunk.body.length;
    window.started(bytes);
    const p: Promise<void> = (
      authFailure
        ? Promise.resolve<DeliveryResult>({ ok: false, error: authFailure })
        : deps.deliver(chunk, deadline, stats)
    )
      .then((r) => {
        if (!r.ok) failChunk(chunk, r.error);
      })
      .finally(() => {
        window.finished(bytes);
        inflight.delete(p);
        pump();
      });
    inflight.add(p);
  };
  // Starts queued bodies while the window admits them (by count and by bytes in flight); one
  // always may when none of this call's is in flight (a window shared with another caller).
  const pump = () => {
    for (
      let next = queue[0];
      next !== undefined && (window.canStart(next.body.length) || inflight.size === 0);
      next = queue[0]
    ) {
      queue.shift();
      start(next);
    }
  };
  const batcher = new RequestBatcher(
    { maxBytes: config.maxBytes, maxBufferedBytes: config.maxBufferedBytes ?? 8 * config.maxBytes },
    (chunk) => {
      stats.chunks++;
      queue.push(chunk);
    },
  );

  const perStream = usesLogStream(config.templates);
  const groups = cachedGroups(config.templates);
  const groupOf = (ctx: StreamContext): Group => {
    const id = `${ctx.account}\u0000${ctx.region}\u0000${ctx.logGroup}${perStream ? `\u0000${ctx.logStream}` : ''}`;
    let g = groups.get(id);
    if (g === undefined) {
      const headers = buildHeaders(config.templates, ctx);
      g = { key: headersKey(headers), headers };
      groups.set(id, g);
    }
    return g;
  };
  // Lines shorter than this many units cannot exceed maxBytes in UTF-8 (≤ 3 bytes per unit).
  const safeUnits = Math.floor(config.maxBytes / 3);
  const now = clock();

  for (let i = 0; i < records.length; i++) {
    const record = records[i] as ForwardRecord;
    if (record.arrivalMs !== undefined && now - record.arrivalMs > stats.lagMs)
      stats.lagMs = now - record.arrivalMs;
    if (clock() >= deadline) {
      for (let k = i; k < records.length; k++) failed[k] = 1;
      stats.skippedForDeadline = records.length - i;
      log.warn('deadline reached before the batch was read; the rest goes back to Kinesis', {
        skippedRecords: records.length - i,
        firstSkipped: record.sequenceNumber,
      });
      break;
    }
    const decoded = decode(record.data);
    if (decoded.kind === 'control') {
      stats.control++;
      continue;
    }
    if (decoded.kind === 'malformed') {
      stats.malformed++;
      log.warn('malformed record parked in the failure bucket', {
        reason: decoded.error.reason,
        detail: decoded.error.message,
        shardId: record.shardId,
        sequenceNumber: record.sequenceNumber,
      });
      parked.push(
        deps.storeMalformed(record, decoded.error).catch((err: unknown) => {
          failed[i] = 1;
          log.error('could not park a malformed record; it goes back to Kinesis', {
            sequenceNumber: record.sequenceNumber,
            error: (err as Error).message,
          });
        }),
      );
      continue;
    }
    const p = decoded.kind === 'data' ? decoded.payload : decoded.head;
    const eventCount = decoded.kind === 'data' ? decoded.payload.logEvents.length : decoded.eventCount;
    if (deps.enrolled !== undefined && !deps.enrolled.has(p.owner)) {
      // Opted out, undecided, outside the target OUs or gone: never forwarded, always counted.
      stats.notEnrolled[p.owner] = (stats.notEnrolled[p.owner] ?? 0) + eventCount;
      continue;
    }
    const ctx: StreamContext = {
      account: p.owner,
      region: regionFromFilterNames(p.subscriptionFilters) ?? 'unknown',
      logGroup: p.logGroup,
      logStream: p.logStream,
    };
    const group = groupOf(ctx);
    const fmt = recordFormat(ctx, config.lineContext);
    stats.eventsIn += eventCount;
    for (const ev of eventsOf(decoded)) {
      const line = formatLine(fmt, ev);
      if (line.length > safeUnits && Buffer.byteLength(line) > config.maxBytes) {
        stats.splitEvents++;
        for (const part of splitLine(fmt, ev, config.maxBytes))
          batcher.add(group.key, group.headers, i, part);
      } else {
        batcher.add(group.key, group.headers, i, line);
      }
      // Back-pressure inside the record: a body that cannot start waits here, not in memory.
      if (queue.length > 0) {
        pump();
        while (queue.length > 0) await Promise.race(inflight);
        // A record with an undelivered body goes back to Kinesis whole: stop formatting it.
        if (failed[i] === 1) break;
      }
    }
  }
  batcher.flushAll();
  pump();
  while (inflight.size > 0) await Promise.race(inflight);
  await Promise.all(parked);

  const out: number[] = [];
  for (let i = 0; i < failed.length; i++) if (failed[i] === 1) out.push(i);
  stats.failedRecords = out.length;
  if (out.length > 0 && firstFailure instanceof DeadlineError) {
    log.warn('invocation deadline cut deliveries short', { failedRecords: out.length });
  }
  return { failed: out, stats };
}
