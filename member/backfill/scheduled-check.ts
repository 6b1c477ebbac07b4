/**
 * The periodic check of account scope (docs/member.md, "Two scopes", "The periodic check"): an
 * EventBridge schedule rule of the account-scope member stack invokes the backfill with a
 * scheduled event, and the backfill reconciles our account-level subscription filter policy with
 * the plan its stack operations use, then rewrites the coverage report. What the event looks like
 * and how to tell it apart from the backfill's other inputs (a CloudFormation request, a hand-off,
 * an invocation record) lives here; the run itself is `runScheduledCheck` in handler.ts.
 */
import { RESOURCE_PREFIX } from '../../shared/naming';
import * as z from '../../shared/zod';

/** Name of the schedule rule (one per account × region: EventBridge rules are regional). */
export const ACCOUNT_CHECK_RULE_NAME = `${RESOURCE_PREFIX}account-check`;

/**
 * The event a schedule rule sends its target when it has no input of its own (sample:
 * test/events/eventbridge/scheduled-event.awsdocs.json, from "Tutorial: Schedule AWS Lambda
 * functions using EventBridge",
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html; fields:
 * https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html). `resources`
 * holds the rule's ARN: only ours is accepted (only ours may invoke the function anyway, the
 * permission names its ARN).
 */
export const ScheduledEventSchema = z.object({
  id: z.string().check(z.minLength(1), z.maxLength(256)),
  'detail-type': z.literal('Scheduled Event'),
  source: z.literal('aws.events'),
  time: z.iso.datetime(),
  resources: z.array(z.string()).check(
    z.refine((arns) => arns.some((arn) => arn.endsWith(`:rule/${ACCOUNT_CHECK_RULE_NAME}`)), {
      message: `must name the rule ${ACCOUNT_CHECK_RULE_NAME}`,
    }),
  ),
});
export type ScheduledEvent = z.infer<typeof ScheduledEventSchema>;

/** True for anything that claims to be a scheduled event (then validated with the schema). */
export function isScheduledEvent(event: unknown): boolean {
  return (
    typeof event === 'object' &&
    event !== null &&
    (event as Record<string, unknown>)['detail-type'] === 'Scheduled Event' &&
    !('RequestType' in event)
  );
}

/** A claim key for one event (EventBridge delivers at least once; the id names the event). */
export function checkClaimKey(event: ScheduledEvent): string {
  return `check/${event.id.replace(/[^\w.-]/g, '-').slice(0, 200)}`;
}
