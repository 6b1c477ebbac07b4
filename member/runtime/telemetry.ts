/**
 * Logs and metrics of the member functions. One structured log line per group that was
 * changed, conflicted or failed (skips at debug level: a sweep of 100k already-correct groups
 * must not write 100k lines), and one EMF metric set per run in namespace `LogReflector`,
 * service = subscriber | backfill | sweep | cleanup.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { GroupResult, Summary } from './apply';

export const METRICS_NAMESPACE = 'LogReflector';

export type MemberService = 'subscriber' | 'backfill' | 'sweep' | 'cleanup';

/** Metric names, one per outcome plus throttles. */
export const METRIC_NAMES = {
  subscribed: 'Subscribed',
  updated: 'Updated',
  removed: 'Removed',
  conflict: 'Conflicts',
  skipped: 'Skipped',
  failed: 'Failed',
  throttled: 'Throttled',
} as const;

/** The part of Powertools Metrics we use (so tests can pass a recorder). */
export interface MetricsSink {
  addMetric(name: string, unit: typeof MetricUnit.Count, value: number): unknown;
  publishStoredMetrics(): void;
}

/** The part of the Powertools Logger we use. */
export type LogSink = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface Telemetry {
  readonly logger: LogSink;
  readonly metrics: MetricsSink;
}

export function createTelemetry(service: MemberService): Telemetry {
  return {
    logger: new Logger({ serviceName: service }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: service }),
  };
}

/** Logs what was done to one group. */
export function logResult(logger: LogSink, result: GroupResult): void {
  const fields = {
    logGroupName: result.logGroupName,
    outcome: result.outcome,
    ...(result.action ? { action: result.action.kind } : {}),
    ...(result.detail ? { detail: result.detail } : {}),
  };
  if (result.outcome === 'failed') logger.error('log group failed', fields);
  else if (result.outcome === 'conflict') logger.warn('log group conflict: not subscribed', fields);
  else if (result.outcome === 'skipped') logger.debug('log group skipped', fields);
  else logger.info(`log group ${result.outcome}`, fields);
}

/** Records one run's counts (zeros included, so dashboards see a steady series) and publishes them. */
export function publishSummary(metrics: MetricsSink, summary: Summary, throttled: number): void {
  for (const [outcome, name] of Object.entries(METRIC_NAMES)) {
    const value = outcome === 'throttled' ? throttled : summary[outcome as keyof Summary];
    metrics.addMetric(name, MetricUnit.Count, value);
  }
  metrics.publishStoredMetrics();
}
