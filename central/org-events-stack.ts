/**
 * The org-events forwarder: AWS Organizations emits its CloudTrail events to EventBridge in
 * us-east-1 only (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_security_incident-response.html),
 * so when the home region is another one, this small stack (deployed by a self-managed
 * StackSet into the management account's us-east-1) forwards them to the home region's
 * default event bus, where the enrollment reconciler's rule picks them up. Infrastructure code.
 */
import { Aws, CfnParameter } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { StackSetStack } from 'cdk-stacksets';
import type { Construct } from 'constructs';
import { RESOURCE_PREFIX } from '../shared/naming';
import { ORGANIZATIONS_EVENT_PATTERN } from './org-event-pattern';

export interface OrgEventsStackProps {
  readonly homeRegion: string;
}

export class OrgEventsStack extends StackSetStack {
  constructor(scope: Construct, id: string, props: OrgEventsStackProps) {
    super(scope, id);
    this.templateOptions.description =
      'log-reflector org events: forwards AWS Organizations events from us-east-1 to the home region (StackSet instance, management account)';
    const homeRegion = new CfnParameter(this, 'HomeRegion', {
      type: 'String',
      default: props.homeRegion,
      description: 'Region of the log-reflector org stack',
    });
    const homeBus = events.EventBus.fromEventBusArn(
      this,
      'HomeBus',
      `arn:${Aws.PARTITION}:events:${homeRegion.valueAsString}:${Aws.ACCOUNT_ID}:event-bus/default`,
    );
    const role = new iam.Role(this, 'ForwardRole', {
      roleName: `${RESOURCE_PREFIX}org-events-forwarder`,
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'EventBridge forwards AWS Organizations events to the log-reflector home region',
    });
    new events.Rule(this, 'ForwardRule', {
      ruleName: `${RESOURCE_PREFIX}org-events-forwarder`,
      description: 'AWS Organizations events → log-reflector home region',
      eventPattern: ORGANIZATIONS_EVENT_PATTERN,
      targets: [new targets.EventBus(homeBus, { role })],
    });
  }
}
