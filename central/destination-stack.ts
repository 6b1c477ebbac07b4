/**
 * The destination stack: deployed by the destinations StackSet into the central account in
 * every configured region. Infrastructure code.
 *
 * A log group can only subscribe to a destination in its own region, while the destination's
 * stream may be in another; so one `AWS::Logs::Destination` per region, all targeting the
 * home-region stream (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CreateDestination.html).
 * Its access policy admits the organization and nobody else. It is created after the stream
 * and the role exist: the destinations StackSet depends on the central one (org stack), since
 * creating a destination sends a test message through them.
 */
import { Aws, CfnParameter } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { StackSetStack } from 'cdk-stacksets';
import type { Construct } from 'constructs';
import { DESTINATION_NAME } from '../member/member-stack';
import type { SubscriptionScope } from '../shared/account-policy';
import type { DeploymentConfig } from '../shared/config';
import { LOGS_TO_KINESIS_ROLE_NAME, STREAM_NAME } from './central-stack';

/** Destination access policies are ≤ 5,120 bytes (PutDestinationPolicy accessPolicy). */
export const DESTINATION_POLICY_LIMIT_BYTES = 5120;

/**
 * What the organization may do with the destination, by subscription scope
 * (`filter.scope`, shared/account-policy.ts). A filter per log group needs
 * `logs:PutSubscriptionFilter` and nothing else ("Step 1: Create a destination",
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CreateDestination.html); an
 * account-level subscription filter policy also needs `logs:PutAccountPolicy` ("Step 1: Create
 * a destination" for account-level policies,
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CreateDestination-Account.html).
 * Account scope keeps PutSubscriptionFilter: member stacks switching from log-group scope keep
 * their filters until their policy is in place (docs/member.md, "Switching scope").
 */
export const DESTINATION_ACTIONS: Readonly<Record<SubscriptionScope, readonly string[]>> = {
  'log-group': ['logs:PutSubscriptionFilter'],
  account: ['logs:PutSubscriptionFilter', 'logs:PutAccountPolicy'],
};

export interface DestinationStackProps {
  readonly config: DeploymentConfig;
}

export class DestinationStack extends StackSetStack {
  readonly destination: logs.CfnDestination;

  constructor(scope: Construct, id: string, props: DestinationStackProps) {
    super(scope, id);
    const c = props.config;
    this.templateOptions.description =
      'log-reflector destination: the regional CloudWatch Logs destination, open to the organization only (StackSet instance, central account)';

    const organizationId = new CfnParameter(this, 'OrganizationId', {
      type: 'String',
      allowedPattern: '^o-[a-z0-9]{10,32}$',
      default: c.organizationId,
      description: 'Only principals of this organization may subscribe',
    });
    const homeRegion = new CfnParameter(this, 'HomeRegion', {
      type: 'String',
      default: c.homeRegion,
      description: 'Region of the log-reflector stream',
    });

    const streamArn = `arn:${Aws.PARTITION}:kinesis:${homeRegion.valueAsString}:${Aws.ACCOUNT_ID}:stream/${STREAM_NAME}`;
    const roleArn = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/${LOGS_TO_KINESIS_ROLE_NAME}`;
    const destinationArn = `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:destination:${DESTINATION_NAME}`;

    // Org-wide grant: any principal of the organization may subscribe to this destination; the
    // aws:PrincipalOrgID condition keeps everyone else out. Only what the subscription mode needs.
    const actions = DESTINATION_ACTIONS[c.filter.scope];
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'OrganizationMaySubscribe',
          Effect: 'Allow',
          Principal: '*',
          Action: actions.length === 1 ? actions[0] : [...actions],
          Resource: destinationArn,
          Condition: { StringEquals: { 'aws:PrincipalOrgID': [organizationId.valueAsString] } },
        },
      ],
    };

    this.destination = new logs.CfnDestination(this, 'Destination', {
      destinationName: DESTINATION_NAME,
      targetArn: streamArn,
      roleArn,
      destinationPolicy: this.toJsonString(policy),
    });
  }
}
