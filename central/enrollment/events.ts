/**
 * What invokes the reconciler, parsed once at the boundary. Every accepted trigger leads to a
 * full reconcile (the event only says *that* something may have changed, and which account to
 * read first); everything else is logged and ignored without a single AWS call.
 *
 * Accepted:
 * - Organizations events through EventBridge (delivered only in us-east-1 and forwarded to the
 *   home region's bus, https://docs.aws.amazon.com/organizations/latest/userguide/orgs_security_incident-response.html):
 *   `AWS API Call via CloudTrail` for TagResource, UntagResource, MoveAccount, AcceptHandshake;
 *   `AWS Service Event via CloudTrail` for CreateAccountResult (state SUCCEEDED).
 *   Sample (trimmed): `{"source":"aws.organizations","detail-type":"AWS API Call via CloudTrail",
 *   "detail":{"eventName":"MoveAccount","requestParameters":{"accountId":"549271133721",…}}}`
 * - the schedule: `{"source":"aws.events","detail-type":"Scheduled Event",…}`
 * - the post-deploy invoke: `{"trigger":"deploy"}`
 */
import { z } from 'zod';

/** The Organizations API calls that can change which accounts exist, where, or their tags. */
export const RECONCILING_API_CALLS = [
  'TagResource',
  'UntagResource',
  'MoveAccount',
  'AcceptHandshake',
] as const;

const AccountIdSchema = z.string().regex(/^\d{12}$/);

const TagSchema = z.object({ key: z.string().optional(), Key: z.string().optional() }).loose();

/** The CloudTrail record inside an Organizations event (`detail`), as far as we use it. */
export const OrganizationsCloudTrailDetailSchema = z
  .object({
    eventSource: z.string().optional(),
    eventName: z.string(),
    errorCode: z.string().optional(),
    requestParameters: z
      .object({
        accountId: z.string().optional(),
        resourceId: z.string().optional(),
        tags: z.array(TagSchema).optional(),
        tagKeys: z.array(z.string()).optional(),
      })
      .loose()
      .nullish(),
    serviceEventDetails: z
      .object({
        createAccountStatus: z
          .object({ state: z.string().optional(), accountId: z.string().optional() })
          .loose()
          .optional(),
      })
      .loose()
      .nullish(),
  })
  .loose();

export const OrganizationsEventSchema = z
  .object({
    source: z.literal('aws.organizations'),
    'detail-type': z.string(),
    detail: OrganizationsCloudTrailDetailSchema,
  })
  .loose();

export const ScheduledEventSchema = z
  .object({ source: z.literal('aws.events'), 'detail-type': z.literal('Scheduled Event') })
  .loose();

export const DeployTriggerSchema = z.object({ trigger: z.literal('deploy') }).loose();

export type OrganizationsEvent = z.infer<typeof OrganizationsEventSchema>;

export type Trigger =
  | {
      readonly reconcile: true;
      readonly trigger: 'organizations' | 'schedule' | 'deploy';
      /** The API call or service event, for organizations triggers. */
      readonly eventName?: string | undefined;
      /** Accounts the event names (read first). */
      readonly accountIds: readonly string[];
    }
  | { readonly reconcile: false; readonly reason: string };

function accountIdsOf(...candidates: (string | undefined | null)[]): string[] {
  return candidates.filter((c): c is string => AccountIdSchema.safeParse(c).success);
}

function classifyOrganizations(event: OrganizationsEvent, optOutTagKey: string): Trigger {
  const detailType = event['detail-type'];
  const d = event.detail;
  if (d.errorCode !== undefined) {
    return { reconcile: false, reason: `failed ${d.eventName} call (${d.errorCode}) changes nothing` };
  }
  if (detailType === 'AWS Service Event via CloudTrail') {
    if (d.eventName !== 'CreateAccountResult') {
      return { reconcile: false, reason: `service event ${d.eventName} does not affect enrollment` };
    }
    const status = d.serviceEventDetails?.createAccountStatus;
    if (status?.state !== 'SUCCEEDED') {
      return {
        reconcile: false,
        reason: `CreateAccountResult in state ${String(status?.state)}, not SUCCEEDED`,
      };
    }
    return {
      reconcile: true,
      trigger: 'organizations',
      eventName: d.eventName,
      accountIds: accountIdsOf(status.accountId),
    };
  }
  if (detailType !== 'AWS API Call via CloudTrail') {
    return { reconcile: false, reason: `detail-type ${JSON.stringify(detailType)} is not handled` };
  }
  if (!(RECONCILING_API_CALLS as readonly string[]).includes(d.eventName)) {
    return { reconcile: false, reason: `${d.eventName} does not affect enrollment` };
  }
  const params = d.requestParameters ?? {};
  if (d.eventName === 'TagResource' || d.eventName === 'UntagResource') {
    // Tags on OUs, roots and policies are not inherited by accounts.
    if (params.resourceId !== undefined && !AccountIdSchema.safeParse(params.resourceId).success) {
      return { reconcile: false, reason: `${d.eventName} on ${params.resourceId}, not an account` };
    }
    const keys = d.eventName === 'TagResource' ? params.tags?.map((t) => t.Key ?? t.key) : params.tagKeys;
    // Only when the event lists its keys and none is ours; an unknown shape reconciles.
    if (keys !== undefined && keys.length > 0 && !keys.includes(optOutTagKey)) {
      return { reconcile: false, reason: `${d.eventName} does not touch the ${optOutTagKey} tag` };
    }
    return {
      reconcile: true,
      trigger: 'organizations',
      eventName: d.eventName,
      accountIds: accountIdsOf(params.resourceId),
    };
  }
  return {
    reconcile: true,
    trigger: 'organizations',
    eventName: d.eventName,
    accountIds: accountIdsOf(params.accountId),
  };
}

/** Decides what an invocation payload asks for. Never throws: unknown payloads are ignored. */
export function classifyTrigger(event: unknown, optOutTagKey: string): Trigger {
  const deploy = DeployTriggerSchema.safeParse(event);
  if (deploy.success) return { reconcile: true, trigger: 'deploy', accountIds: [] };
  const scheduled = ScheduledEventSchema.safeParse(event);
  if (scheduled.success) return { reconcile: true, trigger: 'schedule', accountIds: [] };
  const org = OrganizationsEventSchema.safeParse(event);
  if (org.success) return classifyOrganizations(org.data, optOutTagKey);
  const source =
    typeof event === 'object' && event !== null && 'source' in event ? String(event.source) : undefined;
  return {
    reconcile: false,
    reason:
      source === undefined
        ? 'not an EventBridge event, schedule or {"trigger":"deploy"}'
        : `event from ${source} is not handled`,
  };
}
