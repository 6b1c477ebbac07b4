/**
 * The EventBridge pattern for the Organizations events that can change an account's
 * enrollment. Infrastructure data shared by the org stack and the us-east-1 forwarder.
 * The reconciler re-checks everything on each run, so a superset here costs one run.
 */
import type * as events from 'aws-cdk-lib/aws-events';

export const ORGANIZATIONS_EVENT_NAMES = [
  'TagResource',
  'UntagResource',
  'CreateAccountResult',
  'MoveAccount',
  // The management account sees an invited account join as this service event, never as the
  // member's AcceptHandshake (API_AcceptHandshake.html, Organizations API reference).
  'AccountJoinedOrganization',
  'RemoveAccountFromOrganization',
  'AccountDepartedOrganization',
] as const;

export const ORGANIZATIONS_EVENT_PATTERN: events.EventPattern = {
  source: ['aws.organizations'],
  detailType: ['AWS API Call via CloudTrail', 'AWS Service Event via CloudTrail'],
  detail: {
    eventSource: ['organizations.amazonaws.com'],
    eventName: [...ORGANIZATIONS_EVENT_NAMES],
  },
};
