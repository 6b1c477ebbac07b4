/**
 * `log-reflector-coverage`: the coverage aggregator, in the central account's home region, every
 * hour (docs/architecture.md, "Coverage"). Thin: read the enrolled list and every member report
 * from the central state bucket, build the index (shared/coverage.ts), write it where
 * `log-reflector coverage` reads it, and publish the org-wide figures as metrics the dashboard
 * shows and the alarms watch (docs/runbook.md).
 *
 * Why a scheduled function and not a metric per member: a member's metrics stay in its own account
 * and region (PutMetricData writes the caller's account), so an org-wide percentage needs one
 * place that sees every report; reading 17,000 small objects an hour costs about 5 USD a month
 * in GET requests (docs/capacity.md prices), a CloudWatch alarm per member stack 0.10 USD each.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { S3Client } from '@aws-sdk/client-s3';
import { buildIndex, type CoverageIndex, coverageMetrics } from '../../shared/coverage';
import { type CoverageConfig, parseCoverageEnv } from './env';
import { listReportKeys, readEnrolledList, readReports, writeIndex } from './store';

export const SERVICE_NAME = 'coverage';
export const METRICS_NAMESPACE = 'LogReflector';
/** GETs in flight: S3 serves thousands per second per prefix; 64 keeps 17,000 reports under ~10 s. */
export const AGGREGATOR_CONCURRENCY = 64;

export interface AggregatorDeps {
  readonly config: CoverageConfig;
  readonly s3: S3Client;
  readonly now: () => number;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** The part of Powertools Metrics used (tests pass a recorder). */
  readonly metrics: {
    addMetric(name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number): unknown;
    publishStoredMetrics(): void;
  };
}

/** One aggregation: read, index, write, publish. Throws when the bucket cannot be read or written. */
export async function aggregate(deps: AggregatorDeps): Promise<CoverageIndex> {
  const { config, s3, logger, metrics } = deps;
  try {
    let enrolled: Awaited<ReturnType<typeof readEnrolledList>>;
    try {
      enrolled = await readEnrolledList(s3, config.bucket);
    } catch (err) {
      // The totals fall back to what the reports say (docs/runbook.md); the reflector alarms on the list.
      logger.warn('enrolled list unreadable; counting reports that say enabled', {
        error: (err as Error).message,
      });
      enrolled = undefined;
    }
    const keys = await listReportKeys(s3, config.bucket);
    const read = await readReports(
      s3,
      config.bucket,
      keys.map((k) => k.key),
      { concurrency: AGGREGATOR_CONCURRENCY },
    );
    for (const u of read.unreadable) logger.warn('coverage report unreadable', u);
    const index = buildIndex({
      reports: read.reports,
      cleanups: read.cleanups,
      unreadable: read.unreadable,
      enrolled: enrolled ? new Set(enrolled.accounts) : undefined,
      enrolledGeneration: enrolled?.generation,
      regions: config.regions,
      centralAccountId: config.centralAccountId,
      homeRegion: config.homeRegion,
      now: deps.now(),
      staleAfterMinutes: config.staleAfterMinutes,
    });
    const bytes = await writeIndex(s3, config.bucket, index);
    for (const [name, value] of Object.entries(coverageMetrics(index))) {
      metrics.addMetric(name, name === 'CoveragePercent' ? MetricUnit.Percent : MetricUnit.Count, value);
    }
    logger.info('coverage aggregated', {
      totals: index.totals,
      cleanups: read.cleanups.length,
      unreadable: index.unreadable.length,
      indexBytes: bytes,
    });
    return index;
  } finally {
    metrics.publishStoredMetrics();
  }
}

let deps: AggregatorDeps | undefined;

function defaultDeps(): AggregatorDeps {
  deps ??= {
    config: parseCoverageEnv(process.env),
    s3: new S3Client({
      requestHandler: {
        requestTimeout: 10_000,
        connectionTimeout: 5_000,
        httpsAgent: { maxSockets: AGGREGATOR_CONCURRENCY },
      },
    }),
    now: Date.now,
    logger: new Logger({ serviceName: SERVICE_NAME }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME }),
  };
  return deps;
}

/** Lambda entry point (`index.handler` in the inline bundle). */
export async function handler(): Promise<{ totals: CoverageIndex['totals'] }> {
  const index = await aggregate(defaultDeps());
  return { totals: index.totals };
}
