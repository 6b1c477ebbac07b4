/** A Telemetry that records log lines and metrics instead of printing them. */
import type { LogSink, MetricsSink, Telemetry } from '../../member/runtime/telemetry';

export interface Recorded {
  readonly telemetry: Telemetry;
  readonly lines: { level: string; message: string; extra: unknown[] }[];
  readonly metrics: Record<string, number>;
  published: number;
}

export function recordTelemetry(): Recorded {
  const lines: Recorded['lines'] = [];
  const metrics: Record<string, number> = {};
  const rec =
    (level: string) =>
    (message: unknown, ...extra: unknown[]) => {
      lines.push({ level, message: String(message), extra });
    };
  const logger = {
    debug: rec('debug'),
    info: rec('info'),
    warn: rec('warn'),
    error: rec('error'),
  } as LogSink;
  const recorded: Recorded = {
    lines,
    metrics,
    published: 0,
    telemetry: {
      logger,
      metrics: {
        addMetric: (name: string, _unit: unknown, value: number) => {
          metrics[name] = (metrics[name] ?? 0) + value;
        },
        publishStoredMetrics: () => {
          recorded.published += 1;
        },
      } as MetricsSink,
    },
  };
  return recorded;
}
