/**
 * The subscriber: EventBridge delivers CloudTrail's CreateLogGroup (asynchronous invoke,
 * with retries and a dead-letter queue on the target and the function), and the new group is
 * planned and subscribed on the spot. Throttling, OperationAborted and "Could not deliver
 * test message" are retried with backoff inside the invocation; a group deleted meanwhile is
 * a skip; LimitExceeded is a reported conflict, not an error. Anything that still fails is
 * thrown, so Lambda retries the event and finally parks it in the dead-letter queue; the
 * sweep picks the group up either way.
 */

import { DecodeError } from '../../shared/errors';
import { createPlanner, type Planner } from '../../shared/plan';
import * as z from '../../shared/zod';
import { emptySummary, type GroupResult, reconcileGroup } from '../runtime/apply';
import { createLogsRuntime, type LogsRuntime } from '../runtime/clients';
import { loadMemberEnv, type MemberSettings, planSettings } from '../runtime/env';
import { createTelemetry, logResult, publishSummary, type Telemetry } from '../runtime/telemetry';

/**
 * The EventBridge event for a CloudTrail-recorded CreateLogGroup call (sample:
 * test/events/eventbridge/cloudtrail-createloggroup.eventbridge.previewme.json). Only the
 * fields we use are checked; CloudTrail adds fields over time.
 * https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html
 */
export const CreateLogGroupEventSchema = z.object({
  source: z.literal('aws.logs'),
  'detail-type': z.literal('AWS API Call via CloudTrail'),
  region: z.optional(z.string()),
  detail: z.object({
    eventSource: z.literal('logs.amazonaws.com'),
    eventName: z.string(),
    awsRegion: z.optional(z.string()),
    errorCode: z.optional(z.string()),
    requestParameters: z.nullish(
      z.object({
        logGroupName: z.optional(z.string().check(z.minLength(1))),
        logGroupClass: z.optional(z.string()),
      }),
    ),
  }),
});

export type CreateLogGroupEvent = z.infer<typeof CreateLogGroupEventSchema>;

export interface SubscriberDeps {
  readonly settings: MemberSettings;
  readonly runtime: LogsRuntime;
  readonly telemetry: Telemetry;
  /** The function's region; events from another region are not ours to act on. */
  readonly region: string | undefined;
}

/** What the invocation did (returned for tests and logs; EventBridge ignores it). */
export type SubscriberResult = GroupResult | { readonly outcome: 'ignored'; readonly detail: string };

export function createSubscriberHandler(deps: SubscriberDeps) {
  const planner: Planner = createPlanner(planSettings(deps.settings));
  const { logger, metrics } = deps.telemetry;

  return async (event: unknown): Promise<SubscriberResult> => {
    const parsed = CreateLogGroupEventSchema.safeParse(event);
    if (!parsed.success) {
      throw new DecodeError(
        'schema',
        `Not a CloudTrail CreateLogGroup event: ${parsed.error.issues
          .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
          .join('; ')}`,
      );
    }
    const detail = parsed.data.detail;
    const ignore = (why: string): SubscriberResult => {
      logger.info('event ignored', { reason: why, eventName: detail.eventName });
      return { outcome: 'ignored', detail: why };
    };
    if (detail.eventName !== 'CreateLogGroup')
      return ignore(`event ${detail.eventName} is not CreateLogGroup`);
    if (detail.errorCode) return ignore(`the CreateLogGroup call failed (${detail.errorCode})`);
    const eventRegion = detail.awsRegion ?? parsed.data.region;
    if (deps.region && eventRegion && eventRegion !== deps.region) {
      return ignore(`event from region ${eventRegion}, this function serves ${deps.region}`);
    }
    const logGroupName = detail.requestParameters?.logGroupName;
    if (!logGroupName) {
      throw new DecodeError('schema', 'CreateLogGroup event without detail.requestParameters.logGroupName');
    }
    if (deps.settings.enrollment !== 'enabled') return ignore('account not enrolled (ENROLLMENT=disabled)');

    const result = await reconcileGroup(deps.runtime.api, planner, {
      logGroupName,
      logGroupClass: detail.requestParameters?.logGroupClass,
    });
    logResult(logger, result);
    const summary = emptySummary();
    summary[result.outcome] += 1;
    publishSummary(metrics, summary, deps.runtime.limiter.throttledTotal);
    // Throw so Lambda retries the event, then parks it in the dead-letter queue.
    if (result.outcome === 'failed') throw result.error ?? new Error(result.detail);
    return result;
  };
}

let defaultHandler: ReturnType<typeof createSubscriberHandler> | undefined;

/**
 * Lambda entry point. Settings are read on the first event of an execution environment, so
 * a bad variable fails that invocation with a ConfigError naming it.
 */
export async function handler(event: unknown): Promise<SubscriberResult> {
  if (!defaultHandler) {
    const settings = loadMemberEnv(process.env);
    defaultHandler = createSubscriberHandler({
      settings,
      runtime: createLogsRuntime({ requestsPerSecond: settings.rateLimitRps }),
      telemetry: createTelemetry('subscriber'),
      region: process.env.AWS_REGION,
    });
  }
  return defaultHandler(event);
}
