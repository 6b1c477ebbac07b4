/**
 * What invokes the reconciler, parsed once at the boundary. Every accepted trigger leads to a
 * full reconcile (the event only says *that* something may have changed, and which account to
 * read first); everything else is logged and ignored without a single AWS call.
 *
 * Accepted:
 * - Organizations events through EventBridge (delivered only in us-east-1 and forwarded to the
 *   home region's bus, https://docs.aws.amazon.com/organizations/latest/userguide/orgs_security_incident-response.html):
 *   `AWS API Call via CloudTrail` for TagResource, UntagResource, MoveAccount,
 *   RemoveAccountFromOrganization; `AWS Service Event via CloudTrail` for CreateAccountResult
 *   (state SUCCEEDED), AccountJoinedOrganization and AccountDepartedOrganization.
 *   An invited account's AcceptHandshake is called by (and logged in) the member account, so
 *   the management account never sees it; what it sees is AccountJoinedOrganization, "logged in
 *   CloudTrail and available only in the management account's event history" with
 *   `joinedMethod` Invited or Created (AcceptHandshake and CreateAccount API references,
 *   https://docs.aws.amazon.com/organizations/latest/APIReference/API_AcceptHandshake.html,
 *   https://docs.aws.amazon.com/organizations/latest/APIReference/API_CreateAccount.html).
 *   Sample (trimmed): `{"source":"aws.organizations","detail-type":"AWS API Call via CloudTrail",
 *   "detail":{"eventName":"MoveAccount","requestParameters":{"accountId":"549271133721",…}}}`
 * - the schedule: `{"source":"aws.events","detail-type":"Scheduled Event",…}`
 * - the post-deploy invoke: `{"trigger":"deploy"}`
 */
import * as z from '../../shared/zod';

/** The Organizations API calls that can change which accounts exist, where, or their tags. */
export const RECONCILING_API_CALLS = [
  'TagResource',
  'UntagResource',
  'MoveAccount',
  'RemoveAccountFromOrganization',
] as const;

/** Organizations service events (no API call of ours) that change which accounts exist. */
export const RECONCILING_SERVICE_EVENTS = [
  'CreateAccountResult',
  'AccountJoinedOrganization',
  'AccountDepartedOrganization',
] as const;

/** Events after which the named account must no longer forward (it left the organization). */
const DEPARTURES: ReadonlySet<string> = new Set([
  'RemoveAccountFromOrganization',
  'AccountDepartedOrganization',
]);

const ACCOUNT_ID = /^\d{12}$/;

/** CloudTrail spells tag keys `key` in Organizations requests; `Key` is accepted too. */
const TagSchema = z.looseObject({ key: z.optional(z.string()), Key: z.optional(z.string()) });

/** The CloudTrail record inside an Organizations event (`detail`), as far as we use it. */
export const OrganizationsCloudTrailDetailSchema = z.looseObject({
  eventSource: z.optional(z.string()),
  eventName: z.string(),
  errorCode: z.optional(z.string()),
  requestParameters: z.nullish(
    z.looseObject({
      accountId: z.optional(z.string()),
      resourceId: z.optional(z.string()),
      tags: z.optional(z.array(TagSchema)),
      tagKeys: z.optional(z.array(z.string())),
    }),
  ),
  serviceEventDetails: z.nullish(
    z.looseObject({
      createAccountStatus: z.optional(
        z.looseObject({ state: z.optional(z.string()), accountId: z.optional(z.string()) }),
      ),
      // AccountJoinedOrganization / AccountDepartedOrganization: where the account id sits is
      // not documented; these are the places a CloudTrail record names an account.
      accountId: z.optional(z.string()),
      account: z.optional(z.looseObject({ id: z.optional(z.string()), accountId: z.optional(z.string()) })),
    }),
  ),
  recipientAccountId: z.optional(z.string()),
  resources: z.nullish(
    z.array(z.looseObject({ accountId: z.optional(z.string()), ARN: z.optional(z.string()) })),
  ),
});

export const OrganizationsEventSchema = z.looseObject({
  source: z.literal('aws.organizations'),
  'detail-type': z.string(),
  detail: OrganizationsCloudTrailDetailSchema,
});

export const ScheduledEventSchema = z.looseObject({
  source: z.literal('aws.events'),
  'detail-type': z.literal('Scheduled Event'),
});

export const DeployTriggerSchema = z.looseObject({ trigger: z.literal('deploy') });

export type OrganizationsEvent = z.infer<typeof OrganizationsEventSchema>;

export type Trigger =
  | {
      readonly reconcile: true;
      readonly trigger: 'organizations' | 'schedule' | 'deploy';
      /** The API call or service event, for organizations triggers. */
      readonly eventName?: string | undefined;
      /** Accounts the event names (read first). */
      readonly accountIds: readonly string[];
      /** Accounts the event says left the organization: unpublished before anything else. */
      readonly departedAccountIds?: readonly string[];
    }
  | { readonly reconcile: false; readonly reason: string };

function isAccountId(value: string | undefined | null): value is string {
  return typeof value === 'string' && ACCOUNT_ID.test(value);
}

function accountIdsOf(...candidates: (string | undefined | null)[]): string[] {
  return candidates.filter(isAccountId);
}

function classifyOrganizations(event: OrganizationsEvent, optOutTagKey: string): Trigger {
  const detailType = event['detail-type'];
  const d = event.detail;
  if (d.errorCode !== undefined) {
    return { reconcile: false, reason: `failed ${d.eventName} call (${d.errorCode}) changes nothing` };
  }
  if (detailType === 'AWS Service Event via CloudTrail') {
    if (!(RECONCILING_SERVICE_EVENTS as readonly string[]).includes(d.eventName)) {
      return { reconcile: false, reason: `service event ${d.eventName} does not affect enrollment` };
    }
    if (d.eventName !== 'CreateAccountResult') {
      const details = d.serviceEventDetails;
      const named = [
        ...new Set(
          accountIdsOf(
            details?.accountId,
            details?.account?.accountId,
            details?.account?.id,
            d.requestParameters?.accountId,
            ...(d.resources ?? []).flatMap((r) => [r.accountId, r.ARN?.split('/').pop()]),
          ),
        ),
      ].filter((id) => id !== d.recipientAccountId);
      return {
        reconcile: true,
        trigger: 'organizations',
        eventName: d.eventName,
        accountIds: named,
        ...(DEPARTURES.has(d.eventName) ? { departedAccountIds: named } : {}),
      };
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
    if (params.resourceId !== undefined && !isAccountId(params.resourceId)) {
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
  const named = accountIdsOf(params.accountId);
  return {
    reconcile: true,
    trigger: 'organizations',
    eventName: d.eventName,
    accountIds: named,
    ...(DEPARTURES.has(d.eventName) ? { departedAccountIds: named } : {}),
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
