/**
 * The reflector: Kinesis (CloudWatch Logs subscription payloads) → Sumo Logic HTTP source.
 * Thin: validate the event, call the forwarder core, map its result to batchItemFailures
 * (the event source mapping has ReportBatchItemFailures on:
 * https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html).
 *
 * Clients, the keep-alive agent and the Sumo URL are created on the first invocation and
 * kept for the container's life.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { withDeadline } from '../../shared/deadline';
import { DecodeError, describeValue } from '../../shared/errors';
import * as z from '../../shared/zod';
import { defaultSecretsClient, secretEndpoint, staticEndpoint } from './endpoint';
import { EnrolledAccounts, s3EnrolledSource } from './enrolled';
import { forwardConfigFrom, loadReflectorEnv, senderOptionsFrom } from './env';
import { storeMalformed } from './failure-store';
import { type ForwardConfig, type ForwardRecord, type ForwardStats, forwardRecords } from './forward';
import { SumoSender } from './sender';

/** The part of the Kinesis event we rely on. */
export const KinesisEventSchema = z.object({
  Records: z.array(
    z.object({
      kinesis: z.object({
        data: z.string(),
        sequenceNumber: z.string(),
        approximateArrivalTimestamp: z.optional(z.number()),
      }),
      eventID: z.optional(z.string()),
      eventSourceARN: z.optional(z.string()),
    }),
  ),
});

export const logger = new Logger({ serviceName: 'reflector' });
const metrics = new Metrics({ namespace: 'LogReflector', serviceName: 'reflector' });

interface Runtime {
  readonly config: ForwardConfig;
  readonly sender: SumoSender;
  readonly putFailure: (key: string, body: string, signal?: AbortSignal) => Promise<void>;
  readonly graceMs: number;
  /** Undefined only where no list is configured (local runs): deployed stacks always set it. */
  readonly enrolled: EnrolledAccounts | undefined;
}

let runtime: Runtime | undefined;

function init(): Runtime {
  const env = loadReflectorEnv();
  const endpoint = env.SUMO_ENDPOINT
    ? staticEndpoint(env.SUMO_ENDPOINT)
    : secretEndpoint(env.SUMO_ENDPOINT_SECRET_ARN as string, defaultSecretsClient());
  return {
    config: forwardConfigFrom(env),
    sender: new SumoSender(endpoint, senderOptionsFrom(env)),
    putFailure: failureBucketWriter(env.FAILURE_BUCKET),
    graceMs: env.DEADLINE_GRACE_MS,
    enrolled: env.ENROLLED_LIST_BUCKET
      ? new EnrolledAccounts(
          s3EnrolledSource(
            async () =>
              new (await loadS3()).S3Client({ forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL) }),
            env.ENROLLED_LIST_BUCKET,
          ),
        )
      : undefined,
  };
}

/** Drops the cached runtime (tests change the environment between cases). */
export function resetRuntime(): void {
  runtime = undefined;
}

/**
 * Loads the S3 SDK module. `require` in the deployed CommonJS bundle: the Lambda runtime
 * resolves its bundled SDK for CommonJS through NODE_PATH, which ESM `import()` ignores;
 * `import()` when running as ESM source (tests, tsx).
 */
async function loadS3(): Promise<typeof import('@aws-sdk/client-s3')> {
  return typeof require === 'function' ? require('@aws-sdk/client-s3') : import('@aws-sdk/client-s3');
}

/**
 * PutObject into the failure bucket. The S3 SDK module (≈ 140 ms to load) is imported on the
 * first malformed record, not at cold start: most containers never need it. `signal` aborts
 * the request (the invocation's deadline).
 */
function failureBucketWriter(
  bucket: string,
): (key: string, body: string, signal?: AbortSignal) => Promise<void> {
  let client:
    | Promise<{ s3: S3Client; put: typeof import('@aws-sdk/client-s3').PutObjectCommand }>
    | undefined;
  return async (key, body, signal) => {
    client ??= loadS3().then((m) => ({
      // Path-style only for local endpoints (tests: moto); deployed functions never set it.
      s3: new m.S3Client({ forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL) }),
      put: m.PutObjectCommand,
    }));
    const { s3, put } = await client;
    await s3.send(
      new put({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }),
      signal === undefined ? {} : { abortSignal: signal },
    );
  };
}

function toRecords(event: z.infer<typeof KinesisEventSchema>): ForwardRecord[] {
  return event.Records.map((r) => {
    const eventId = r.eventID ?? '';
    const colon = eventId.indexOf(':');
    const arrival = r.kinesis.approximateArrivalTimestamp;
    return {
      data: r.kinesis.data,
      sequenceNumber: r.kinesis.sequenceNumber,
      shardId: colon > 0 ? eventId.slice(0, colon) : 'unknown',
      ...(arrival === undefined ? {} : { arrivalMs: Math.round(arrival * 1000) }),
      ...(r.eventSourceARN === undefined ? {} : { eventSourceARN: r.eventSourceARN }),
    };
  });
}

function publish(stats: ForwardStats): void {
  metrics.addMetric('Records', MetricUnit.Count, stats.records);
  metrics.addMetric('EventsIn', MetricUnit.Count, stats.eventsIn);
  metrics.addMetric('EventsSent', MetricUnit.Count, stats.linesAccepted);
  metrics.addMetric('BytesSent', MetricUnit.Bytes, stats.bytesRaw);
  metrics.addMetric('BytesSentCompressed', MetricUnit.Bytes, stats.bytesGzip);
  metrics.addMetric('Requests', MetricUnit.Count, stats.requests);
  metrics.addMetric('Retries', MetricUnit.Count, stats.retries);
  metrics.addMetric('FailedRecords', MetricUnit.Count, stats.failedRecords);
  metrics.addMetric('MalformedRecords', MetricUnit.Count, stats.malformed);
  metrics.addMetric('ControlMessages', MetricUnit.Count, stats.control);
  metrics.addMetric('SplitEvents', MetricUnit.Count, stats.splitEvents);
  metrics.addMetric('LagMs', MetricUnit.Milliseconds, stats.lagMs);
  const notEnrolled = Object.values(stats.notEnrolled).reduce((a, b) => a + b, 0);
  metrics.addMetric('EventsNotEnrolled', MetricUnit.Count, notEnrolled);
  if (notEnrolled > 0) {
    logger.warn('events from accounts that are not enrolled were not forwarded', {
      accounts: stats.notEnrolled,
    });
  }
  metrics.publishStoredMetrics();
}

export async function handler(
  event: KinesisStreamEvent,
  context: Context,
): Promise<KinesisStreamBatchResponse> {
  const parsed = KinesisEventSchema.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // Not a Kinesis event at all: fail the invocation loudly rather than acknowledge it.
    throw new DecodeError(
      'event',
      `reflector event is not a Kinesis event at ${issue?.path.join('.') || '(root)'}: ${issue?.message} (received ${describeValue(event)})`,
    );
  }
  runtime ??= init();
  const rt = runtime;
  const records = toRecords(parsed.data);
  const deadline = Date.now() + context.getRemainingTimeInMillis() - rt.graceMs;
  let enrolled: ReadonlySet<string> | undefined;
  if (rt.enrolled) {
    const view = await rt.enrolled.view();
    if (!view.ok) {
      // Fail closed without losing anything: the whole batch goes back to Kinesis.
      logger.error('enrolled list unavailable: the batch goes back to Kinesis', { reason: view.reason });
      metrics.addMetric('EnrollmentListUnavailable', MetricUnit.Count, 1);
      metrics.addMetric('Records', MetricUnit.Count, records.length);
      metrics.publishStoredMetrics();
      return { batchItemFailures: records.map((r) => ({ itemIdentifier: r.sequenceNumber })) };
    }
    metrics.addMetric('EnrollmentListAgeSeconds', MetricUnit.Seconds, Math.round(view.ageMs / 1000));
    if (view.stale) metrics.addMetric('EnrollmentListStale', MetricUnit.Count, 1);
    enrolled = view.accounts;
  }
  const result = await forwardRecords(records, deadline, rt.config, {
    ...(enrolled ? { enrolled } : {}),
    window: rt.sender.window,
    deliver: (chunk, until, stats) => rt.sender.deliver(chunk, until, stats),
    // Bounded by the deadline: a failure bucket that never answers fails the record back to
    // Kinesis (the forwarder reports a record it could not park) instead of hanging the batch.
    storeMalformed: async (record, error) => {
      await withDeadline('PutObject into the failure bucket', deadline, (signal) =>
        storeMalformed((key, body) => rt.putFailure(key, body, signal), record, error),
      );
    },
    log: {
      warn: (message, extra = {}) => logger.warn(message, extra),
      error: (message, extra = {}) => logger.error(message, extra),
    },
  });
  publish(result.stats);
  return {
    batchItemFailures: result.failed.map((i) => ({
      itemIdentifier: (records[i] as ForwardRecord).sequenceNumber,
    })),
  };
}
