/**
 * The org stack: the one stack `cdk deploy` touches, in the management account (or the
 * CloudFormation delegated admin) and the home region. Infrastructure code.
 *
 * Everything outside this account arrives by StackSet (docs/architecture.md, decision 1):
 * - central       → central account, home region (stream, reflector, failure bucket)
 * - destinations  → central account, every region (waits for central: the destination's
 *                   test message needs the stream and role)
 * - members       → every account of the target OUs × every region, service-managed,
 *                   auto-deployed to joiners, removed from leavers (waits for destinations)
 * - management    → (switch) the same member template in the management account, which
 *                   service-managed StackSets never reach: a self-managed StackSet
 * - org-events    → (home ≠ us-east-1, deployed from the management account) forwards
 *                   Organizations events from us-east-1 to the home region
 * plus the enrollment reconciler and its triggers (schedule, Organizations events, deploy).
 */
import {
  Aws,
  CfnParameter,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  type StackProps,
  Token,
  Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import {
  Capability,
  DeploymentType,
  type OperationPreferences,
  RegionConcurrencyType,
  StackSet,
  StackSetTarget,
  StackSetTemplate,
} from 'cdk-stacksets';
import type { Construct } from 'constructs';
import { COVERAGE_BUCKET_PARAMETER, MemberStack } from '../member/member-stack';
import type { DeploymentConfig } from '../shared/config';
import { InlineFunction } from '../shared/constructs/inline-function';
import { acknowledgeFindings } from '../shared/constructs/nag';
import { ENROLLED_LIST_KEY } from '../shared/enrollment';
import { FUNCTION_NAMES, RESOURCE_PREFIX } from '../shared/naming';
import type * as z from '../shared/zod';
import { ALARM_BUS_NAME, CentralStack } from './central-stack';
import { DestinationStack } from './destination-stack';
import type { EnrollmentEnvSchema } from './enrollment/env';
import { STATE_KEY } from './enrollment/state';
import { ORGANIZATIONS_EVENT_PATTERN } from './org-event-pattern';
import { OrgEventsStack } from './org-events-stack';

export const STACK_SET_NAMES = {
  central: `${RESOURCE_PREFIX}central`,
  destinations: `${RESOURCE_PREFIX}destinations`,
  members: `${RESOURCE_PREFIX}members`,
  management: `${RESOURCE_PREFIX}management`,
  orgEvents: `${RESOURCE_PREFIX}org-events`,
} as const;

/** Self-managed StackSet roles (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-prereqs-self-managed.html). */
export const STACKSET_ADMIN_ROLE_NAME = `${RESOURCE_PREFIX}stackset-admin`;
export const STACKSET_EXECUTION_ROLE_NAME = `${RESOURCE_PREFIX}stackset-execution`;

/** Organizations events reach EventBridge in us-east-1 only. */
export const ORGANIZATIONS_EVENTS_REGION = 'us-east-1';

/**
 * The StackSet-level value of the member stack's `Enrollment` parameter: `disabled`, so every
 * instance starts without forwarding (fail-closed, docs/enrollment.md). Auto-deployed
 * instances (accounts created in, invited to or moved into a target OU) take the StackSet's
 * values, never an earlier per-account override ("Accounts added to the target OUs and their
 * child OUs in the future won't use the overridden values",
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackInstances.html;
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-manage-auto-deployment.html),
 * so an opted-out account that joins never forwards a single event: only the reconciler
 * enables an account, after it has read its tags and published it as enrolled.
 */
export const STACK_SET_ENROLLMENT = 'disabled';

/**
 * Every parameter the member template declares, at the StackSet level, with the template's
 * own default (and `Enrollment` = STACK_SET_ENROLLMENT). UpdateStackInstances "can only
 * override the parameter values that are specified in the StackSet"
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackInstances.html):
 * a parameter left out here could never be overridden per account. Derived from the template,
 * so a parameter added to the member stack is declared here without anyone remembering to.
 */
export function memberStackSetParameters(template: Stack): Record<string, string> {
  const parameters: Record<string, string> = {};
  for (const child of template.node.findAll()) {
    if (!(child instanceof CfnParameter)) continue;
    const value = child.default;
    if (value === undefined || (typeof value === 'string' && Token.isUnresolved(value))) {
      throw new Error(
        `member template parameter ${child.logicalId} needs a literal default to be declared at the StackSet level (received ${String(value)})`,
      );
    }
    parameters[template.resolve(child.logicalId) as string] = String(value);
  }
  if (!Object.hasOwn(parameters, 'Enrollment')) {
    throw new Error('member template has no Enrollment parameter: the reconciler has nothing to override');
  }
  parameters.Enrollment = STACK_SET_ENROLLMENT;
  return parameters;
}

export interface OrgStackProps extends StackProps {
  readonly config: DeploymentConfig;
}

export class OrgStack extends Stack {
  readonly centralTemplate: CentralStack;
  readonly destinationTemplate: DestinationStack;
  readonly memberTemplate: MemberStack;
  readonly orgEventsTemplate: OrgEventsStack | undefined;
  readonly stackSets: {
    readonly central: StackSet;
    readonly destinations: StackSet;
    readonly members: StackSet;
    readonly management: StackSet | undefined;
    readonly orgEvents: StackSet | undefined;
  };
  readonly reconciler: InlineFunction;
  /** The central state bucket (central-stack.ts), where the enrolled list is published. */
  readonly centralStateBucketName: string;
  /** The reconciler's memory between runs (central/enrollment/state.ts). */
  readonly reconcilerStateBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: OrgStackProps) {
    super(scope, id, props);
    const c = props.config;
    this.templateOptions.description =
      'log-reflector org stack: StackSets for the central account, destinations and members, and the enrollment reconciler';
    const fromManagement = c.deployFrom === 'management';
    // cdk-stacksets emits CallAs DELEGATED_ADMIN unless told otherwise (docs/architecture.md, decision 1).
    const serviceManaged = (autoDeploy: boolean) =>
      DeploymentType.serviceManaged({
        delegatedAdmin: !fromManagement,
        autoDeployEnabled: autoDeploy,
        // Leavers lose the member stack (and so our filters): nothing of ours is left behind.
        ...(autoDeploy ? { autoDeployRetainStacks: false } : {}),
      });
    // Auto-deployment ignores these; they govern deploys and updates from `cdk deploy`.
    // A few accounts failing (e.g. an SCP) must not roll back the whole organization.
    const operationPreferences: OperationPreferences = {
      regionConcurrencyType: RegionConcurrencyType.PARALLEL,
      maxConcurrentPercentage: 100,
      failureTolerancePercentage: 10,
    };

    // ---- templates (environment-agnostic StackSetStacks) ----
    this.centralTemplate = new CentralStack(this, 'CentralTemplate', { config: c });
    this.destinationTemplate = new DestinationStack(this, 'DestinationTemplate', { config: c });
    this.memberTemplate = new MemberStack(this, 'MemberTemplate', {
      settings: {
        centralAccountId: c.centralAccountId,
        homeRegion: c.homeRegion,
        filterNameBase: c.filter.name,
        filterPattern: c.filter.pattern,
        scope: c.filter.scope,
        include: c.logGroups.include,
        exclude: c.logGroups.exclude,
        rateLimitRps: c.memberRateLimitRps,
        sweepIntervalMinutes: c.sweepIntervalMinutes,
      },
    });

    // ---- StackSets ----
    // Service-managed targets must name OUs; INTERSECTION with the one central account
    // (cdk-stacksets' fromAccounts renders no OUs, so the OU list is added below).
    const centralTarget = (regions: string[]) =>
      StackSetTarget.fromAccounts({ accounts: [c.centralAccountId], regions });
    // The central state bucket's name, from this stack's own id: fixed for the life of the
    // deployment (the reconciler names it), new for a reinstall (the old one is retained).
    this.centralStateBucketName = `${RESOURCE_PREFIX}state-${Fn.select(2, Fn.split('/', Aws.STACK_ID))}`;
    const central = new StackSet(this, 'CentralStackSet', {
      stackSetName: STACK_SET_NAMES.central,
      description: 'log-reflector: stream, reflector and failure bucket in the central account',
      template: StackSetTemplate.fromStackSetStack(this.centralTemplate),
      target: centralTarget([c.homeRegion]),
      deploymentType: serviceManaged(false),
      capabilities: [Capability.NAMED_IAM],
      operationPreferences,
      parameters: {
        StateBucketName: this.centralStateBucketName,
        // The reconciler runs in this stack's account; its role is named after its function.
        ReconcilerAccountId: Aws.ACCOUNT_ID,
        ReconcilerRoleName: `${FUNCTION_NAMES.enrollment}-${Aws.REGION}`,
      },
    });
    const destinations = new StackSet(this, 'DestinationsStackSet', {
      stackSetName: STACK_SET_NAMES.destinations,
      description: 'log-reflector: a CloudWatch Logs destination per region in the central account',
      template: StackSetTemplate.fromStackSetStack(this.destinationTemplate),
      target: centralTarget([...c.regions]),
      deploymentType: serviceManaged(false),
      capabilities: [Capability.NAMED_IAM],
      operationPreferences,
    });
    for (const set of [central, destinations]) {
      const cfn = set.node.defaultChild as import('aws-cdk-lib').aws_cloudformation.CfnStackSet;
      cfn.addPropertyOverride('StackInstancesGroup.0.DeploymentTargets.OrganizationalUnitIds', [
        c.organizationRootId,
      ]);
    }
    destinations.node.addDependency(central);

    const members = new StackSet(this, 'MembersStackSet', {
      stackSetName: STACK_SET_NAMES.members,
      description: 'log-reflector: member automation in every account and region of the target OUs',
      template: StackSetTemplate.fromStackSetStack(this.memberTemplate),
      target: StackSetTarget.fromOrganizationalUnits({
        organizationalUnits: [...c.targetOuIds],
        regions: [...c.regions],
      }),
      deploymentType: serviceManaged(true),
      capabilities: [Capability.NAMED_IAM],
      operationPreferences,
      parameters: this.memberParameters(),
    });
    members.node.addDependency(destinations);
    // Strict failure tolerance (the default) caps concurrency at failure tolerance + 1 accounts
    // per region; soft runs at MaxConcurrentPercentage whatever fails
    // (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperationPreferences.html).
    // cdk-stacksets 0.0.153 has no field for it. Rollout times: docs/deploy.md.
    (members.node.defaultChild as import('aws-cdk-lib').aws_cloudformation.CfnStackSet).addPropertyOverride(
      'OperationPreferences.ConcurrencyMode',
      'SOFT_FAILURE_TOLERANCE',
    );

    // ---- self-managed StackSets into the management account itself ----
    const needOrgEvents = fromManagement && c.homeRegion !== ORGANIZATIONS_EVENTS_REGION;
    let management: StackSet | undefined;
    let orgEvents: StackSet | undefined;
    if (c.coverManagementAccount || needOrgEvents) {
      const { adminRole, executionRole } = this.selfManagedRoles();
      const selfManaged = DeploymentType.selfManaged({
        adminRole,
        executionRoleName: STACKSET_EXECUTION_ROLE_NAME,
      });
      if (c.coverManagementAccount) {
        management = new StackSet(this, 'ManagementStackSet', {
          stackSetName: STACK_SET_NAMES.management,
          description: 'log-reflector: member automation in the management account (self-managed)',
          template: StackSetTemplate.fromStackSetStack(this.memberTemplate),
          target: StackSetTarget.fromAccounts({ accounts: [c.managementAccountId], regions: [...c.regions] }),
          deploymentType: selfManaged,
          capabilities: [Capability.NAMED_IAM],
          operationPreferences,
          parameters: this.memberParameters(),
        });
        management.node.addDependency(destinations);
      }
      if (needOrgEvents) {
        this.orgEventsTemplate = new OrgEventsStack(this, 'OrgEventsTemplate', { homeRegion: c.homeRegion });
        orgEvents = new StackSet(this, 'OrgEventsStackSet', {
          stackSetName: STACK_SET_NAMES.orgEvents,
          description: 'log-reflector: forwards AWS Organizations events from us-east-1 to the home region',
          template: StackSetTemplate.fromStackSetStack(this.orgEventsTemplate),
          target: StackSetTarget.fromAccounts({
            accounts: [c.managementAccountId],
            regions: [ORGANIZATIONS_EVENTS_REGION],
          }),
          deploymentType: selfManaged,
          capabilities: [Capability.NAMED_IAM],
        });
      }
      // The execution role is named by string, so nothing orders it before the StackSets: the
      // first stack instance could start before the role, or the policies of either role, exist
      // and fail on AssumeRole or AccessDenied. Depending on the role constructs covers their
      // policy resources too (the admin role's DefaultPolicy is a child of the role).
      for (const set of [management, orgEvents]) set?.node.addDependency(adminRole, executionRole);
    }
    this.stackSets = { central, destinations, members, management, orgEvents };

    // ---- enrollment reconciler ----
    this.reconcilerStateBucket = this.addReconcilerStateBucket();
    this.reconciler = this.addReconciler(c, members, management);
    this.addReconcilerAlarms(c);
    this.forwardSignalsToCentral(c, central);
  }

  /**
   * The member StackSets' parameters: the template's defaults (Enrollment fail-closed), and the
   * central state bucket that members write their coverage reports to (docs/member.md).
   */
  private memberParameters(): Record<string, string> {
    return {
      ...memberStackSetParameters(this.memberTemplate),
      [COVERAGE_BUCKET_PARAMETER]: this.centralStateBucketName,
    };
  }

  /**
   * The administration role CloudFormation uses for our self-managed StackSets, and the
   * execution role it assumes in this same account, scoped to the resources the member and
   * org-events templates create (all named `log-reflector-*`).
   */
  private selfManagedRoles(): { adminRole: iam.Role; executionRole: iam.Role } {
    const account = Aws.ACCOUNT_ID;
    const p = Aws.PARTITION;
    const executionRoleArn = `arn:${p}:iam::${account}:role/${STACKSET_EXECUTION_ROLE_NAME}`;
    const adminRole = new iam.Role(this, 'StackSetAdminRole', {
      roleName: STACKSET_ADMIN_ROLE_NAME,
      description: 'CloudFormation administers the log-reflector self-managed StackSets',
      assumedBy: new iam.ServicePrincipal('cloudformation.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': account } },
      }),
      inlinePolicies: {
        assumeExecution: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: [executionRoleArn] }),
          ],
        }),
      },
    });
    // Inline: the policy is part of the role resource, so it exists as soon as the role does.
    const { document, wildcardResources } = stackSetExecutionPolicy();
    const executionRole = new iam.Role(this, 'StackSetExecutionRole', {
      roleName: STACKSET_EXECUTION_ROLE_NAME,
      description: 'Creates the log-reflector member and org-events stacks in the management account',
      assumedBy: new iam.ArnPrincipal(adminRole.roleArn),
      inlinePolicies: { deployMemberStacks: document },
    });
    acknowledgeFindings(
      executionRole,
      'AwsSolutions-IAM5',
      ['Action::cloudformation:*', 'Action::s3:*', ...wildcardResources.map((r) => `Resource::${r}`)],
      "The StackSet execution role deploys the member and org-events templates into every configured region of this one account. cloudformation:* and s3:* on * are the minimum AWS documents for StackSets itself (stacksets-prereqs-self-managed). Every other action is one a resource handler of those templates declares (test/central/data/stackset-execution-permissions.json): on log-reflector-* ARNs where we name the resource, on this account's ARNs where the resource has a generated id (keys, file systems, code-signing configs), and on * only for actions that take no ARN.",
    );
    acknowledgeFindings(
      adminRole,
      'AwsSolutions-IAM5',
      [`Resource::arn:aws:iam::*:role/${STACKSET_EXECUTION_ROLE_NAME}`],
      'Added by cdk-stacksets to any self-managed admin role; the execution role it names exists only in this account and trusts only this admin role.',
    );
    return { adminRole, executionRole };
  }

  /** The reconciler's memory: small, private, encrypted, TLS only, old versions kept a week. */
  private addReconcilerStateBucket(): s3.Bucket {
    const bucket = new s3.Bucket(this, 'ReconcilerState', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      // Memory only: losing it costs one slower run (everything is read again).
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(7) }],
    });
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Holds one state object that only the reconciler role reads and writes; access is recorded by the organization CloudTrail trail. A separate access-log bucket would itself need an exception.',
    });
    return bucket;
  }

  /**
   * Instances whose override keeps failing after STUCK_AFTER_ATTEMPTS re-sends, and enrolled
   * lists that could not be published, alarm on an SNS topic in this account.
   */
  private addReconcilerAlarms(c: DeploymentConfig): void {
    const key = new kms.Key(this, 'ReconcilerAlarmKey', {
      description: 'log-reflector: enrollment alarm topic encryption',
      enableKeyRotation: true,
      // It encrypts notifications in flight only, never stored data: it goes with the stack
      // (scheduled for deletion after the 30-day waiting period) instead of costing a key a
      // month after every uninstall.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(30),
    });
    // CloudWatch alarms publish to the encrypted topic.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    const topic = new sns.Topic(this, 'ReconcilerAlarmTopic', {
      topicName: `${RESOURCE_PREFIX}enrollment-alarms`,
      displayName: 'log-reflector enrollment alarms',
      masterKey: key,
      enforceSSL: true,
    });
    if (c.alarmEmail) topic.addSubscription(new subscriptions.EmailSubscription(c.alarmEmail));
    const metric = (name: string) =>
      new cloudwatch.Metric({
        namespace: 'LogReflector',
        metricName: name,
        dimensionsMap: { service: 'enrollment' },
        statistic: 'Maximum',
        period: Duration.minutes(15),
      });
    const alarms = [
      new cloudwatch.Alarm(this, 'InstancesStuckAlarm', {
        alarmName: `${RESOURCE_PREFIX}enrollment-instances-stuck`,
        alarmDescription:
          'Stack instances whose Enrollment override keeps failing after 3 re-sends: the account does not run what its tag asks for (docs/enrollment.md)',
        metric: metric('InstancesStuck'),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'PublishFailuresAlarm', {
        alarmName: `${RESOURCE_PREFIX}enrollment-publish-failures`,
        alarmDescription:
          'The reconciler could not publish the enrolled list to the central state bucket: no account is enabled until it can (docs/enrollment.md)',
        metric: metric('PublishFailures'),
        threshold: 0,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      // Failed invocations (crashes, timeouts, errors) but not a run that found the lease taken:
      // that one fails on purpose so Lambda retries its trigger (docs/enrollment.md).
      new cloudwatch.Alarm(this, 'ReconcilerErrorsAlarm', {
        alarmName: `${RESOURCE_PREFIX}enrollment-errors`,
        alarmDescription:
          'The enrollment reconciler failed (error, timeout) in two 15-minute periods in a row: new accounts are not enrolled, opt-outs not applied (docs/runbook.md)',
        metric: new cloudwatch.MathExpression({
          expression: 'errors - leaseBusy',
          usingMetrics: {
            errors: this.reconciler.function.metricErrors({ period: Duration.minutes(15), statistic: 'Sum' }),
            leaseBusy: new cloudwatch.Metric({
              namespace: 'LogReflector',
              metricName: 'LeaseBusy',
              dimensionsMap: { service: 'enrollment' },
              statistic: 'Sum',
              period: Duration.minutes(15),
            }),
          },
          period: Duration.minutes(15),
          label: 'failed runs',
        }),
        threshold: 0,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
    for (const alarm of alarms) alarm.addAlarmAction(new cwActions.SnsAction(topic));
  }

  /**
   * What goes wrong in this account reaches the central alarm topic (docs/runbook.md): the state
   * changes of our alarms here, and failed operations and stack instances of our StackSets
   * (CloudFormation emits both to EventBridge in the StackSet's account and Region:
   * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/event-detail-stackset-operation-status-change.html,
   * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/event-detail-stackset-stack-instance-status-change.html).
   * Sent to the central account's `log-reflector-alarms` bus, whose policy admits this account, with
   * a role, as EventBridge documents for cross-account targets
   * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html).
   */
  private forwardSignalsToCentral(c: DeploymentConfig, central: StackSet): void {
    const p = Aws.PARTITION;
    const bus = events.EventBus.fromEventBusArn(
      this,
      'CentralAlarmBus',
      `arn:${p}:events:${c.homeRegion}:${c.centralAccountId}:event-bus/${ALARM_BUS_NAME}`,
    );
    const role = new iam.Role(this, 'ForwardToCentralRole', {
      roleName: `${RESOURCE_PREFIX}forward-to-central-${Aws.REGION}`,
      description:
        'EventBridge sends log-reflector alarm states and StackSet failures to the central account',
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    });
    const ourStackSets = [
      { prefix: `arn:${p}:cloudformation:${Aws.REGION}:${Aws.ACCOUNT_ID}:stackset/${RESOURCE_PREFIX}` },
    ];
    const rules = [
      new events.Rule(this, 'ForwardAlarmStates', {
        ruleName: `${RESOURCE_PREFIX}forward-alarm-states`,
        description: 'State changes of the log-reflector alarms in this account → central alarm bus',
        eventPattern: {
          source: ['aws.cloudwatch'],
          detailType: ['CloudWatch Alarm State Change'],
          detail: { alarmName: [{ prefix: RESOURCE_PREFIX }] },
        },
      }),
      new events.Rule(this, 'ForwardStackSetOperationFailures', {
        ruleName: `${RESOURCE_PREFIX}forward-stackset-operation-failures`,
        description: 'Failed or stopped log-reflector StackSet operations → central alarm bus',
        eventPattern: {
          source: ['aws.cloudformation'],
          detailType: ['CloudFormation StackSet Operation Status Change'],
          detail: { 'stack-set-arn': ourStackSets, 'status-details': { status: ['FAILED', 'STOPPED'] } },
        },
      }),
      new events.Rule(this, 'ForwardStackInstanceFailures', {
        ruleName: `${RESOURCE_PREFIX}forward-stack-instance-failures`,
        description: 'log-reflector stack instances whose operation failed → central alarm bus',
        eventPattern: {
          source: ['aws.cloudformation'],
          detailType: ['CloudFormation StackSet StackInstance Status Change'],
          detail: { 'stack-set-arn': ourStackSets, 'status-details': { 'detailed-status': ['FAILED'] } },
        },
      }),
    ];
    for (const rule of rules) {
      rule.addTarget(new targets.EventBus(bus, { role }));
      // The bus is created by the central StackSet.
      rule.node.addDependency(central);
    }
  }

  private addReconciler(
    c: DeploymentConfig,
    members: StackSet,
    management: StackSet | undefined,
  ): InlineFunction {
    const p = Aws.PARTITION;
    const account = Aws.ACCOUNT_ID;
    const fn = new InlineFunction(this, 'Reconciler', {
      entry: 'central/enrollment/handler.ts',
      functionName: FUNCTION_NAMES.enrollment,
      description: 'Sets each account’s Enrollment parameter override from its opt-out tag',
      serviceName: 'enrollment',
      // Lambda's maximum: a run reads in rounds and writes after each, so a long run is
      // progress, not risk; runs that overlap the next schedule wait for the lease
      // (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html).
      // No reserved concurrency: overlapping runs are made harmless by the lease in the
      // state object (docs/enrollment.md).
      timeoutSeconds: 900,
      environment: {
        STACK_SET_NAME: STACK_SET_NAMES.members,
        CALL_AS: c.deployFrom === 'management' ? 'SELF' : 'DELEGATED_ADMIN',
        TARGET_OU_IDS: c.targetOuIds.join(','),
        REGIONS: c.regions.join(','),
        OPT_OUT_TAG_KEY: c.optOutTag.key,
        OPT_OUT_TAG_VALUE: c.optOutTag.value,
        MANAGEMENT_ACCOUNT_ID: c.managementAccountId,
        ...(management ? { MANAGEMENT_STACK_SET_NAME: STACK_SET_NAMES.management } : {}),
        STATE_BUCKET: this.reconcilerStateBucket.bucketName,
        ENROLLED_LIST_BUCKET: this.centralStateBucketName,
        // A key the reconciler's schema does not know (a rename on either side) fails the build.
      } satisfies Partial<Record<keyof z.input<typeof EnrollmentEnvSchema>, string>>,
    });
    fn.node.addDependency(members);

    const stackSetNames = [STACK_SET_NAMES.members, ...(management ? [STACK_SET_NAMES.management] : [])];
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadOrganization',
        actions: [
          'organizations:ListAccountsForParent',
          'organizations:ListOrganizationalUnitsForParent',
          'organizations:ListTagsForResource',
          'organizations:DescribeAccount',
        ],
        resources: [
          `arn:${p}:organizations::${c.managementAccountId}:account/${c.organizationId}/*`,
          `arn:${p}:organizations::${c.managementAccountId}:ou/${c.organizationId}/*`,
          `arn:${p}:organizations::${c.managementAccountId}:root/${c.organizationId}/*`,
        ],
      }),
    );
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ManageStackInstanceOverrides',
        actions: [
          'cloudformation:DescribeStackSet',
          'cloudformation:ListStackInstances',
          'cloudformation:DescribeStackInstance',
          'cloudformation:UpdateStackInstances',
          'cloudformation:ListStackSetOperations',
          'cloudformation:DescribeStackSetOperation',
          'cloudformation:ListStackSetOperationResults',
        ],
        resources: stackSetNames.flatMap((name) => [
          `arn:${p}:cloudformation:${Aws.REGION}:${account}:stackset/${name}:*`,
          // A delegated admin's StackSets may be addressed in the management account's ARN
          // space; grant both rather than fail at run time.
          ...(c.deployFrom === 'delegated-admin'
            ? [`arn:${p}:cloudformation:${Aws.REGION}:${c.managementAccountId}:stackset/${name}:*`]
            : []),
          `arn:${p}:cloudformation:*:*:stackset-target/${name}:*/*`,
          `arn:${p}:cloudformation:*::type/resource/*`,
        ]),
      }),
    );
    // Its memory: one object, read and conditionally rewritten; ListBucket (this prefix) so a
    // first run's missing object reads as NoSuchKey, not AccessDenied.
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReconcilerState',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.reconcilerStateBucket.arnForObjects(STATE_KEY)],
      }),
    );
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReconcilerStateList',
        actions: ['s3:ListBucket'],
        resources: [this.reconcilerStateBucket.bucketArn],
        conditions: { StringEquals: { 's3:prefix': [STATE_KEY] } },
      }),
    );
    // The enrolled list in the central account (its bucket policy admits this role for this key).
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishEnrolledList',
        actions: ['s3:PutObject'],
        resources: [`arn:${p}:s3:::${this.centralStateBucketName}/${ENROLLED_LIST_KEY}`],
      }),
    );
    if (c.deployFrom === 'delegated-admin') {
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'DelegatedAdminCheck',
          actions: ['organizations:ListDelegatedAdministrators'],
          resources: ['*'],
        }),
      );
    }
    acknowledgeFindings(
      fn.role,
      'AwsSolutions-IAM5',
      [
        `Resource::arn:<AWS::Partition>:organizations::${c.managementAccountId}:account/${c.organizationId}/*`,
        `Resource::arn:<AWS::Partition>:organizations::${c.managementAccountId}:ou/${c.organizationId}/*`,
        `Resource::arn:<AWS::Partition>:organizations::${c.managementAccountId}:root/${c.organizationId}/*`,
        'Resource::arn:<AWS::Partition>:cloudformation:*::type/resource/*',
        ...stackSetNames.flatMap((name) => [
          `Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stackset/${name}:*`,
          ...(c.deployFrom === 'delegated-admin'
            ? [
                `Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:${c.managementAccountId}:stackset/${name}:*`,
              ]
            : []),
          `Resource::arn:<AWS::Partition>:cloudformation:*:*:stackset-target/${name}:*/*`,
        ]),
        ...(c.deployFrom === 'delegated-admin' ? ['Resource::*'] : []),
      ],
      'Accounts, OUs and roots of this organization only (ids are found at run time); our StackSets (the id suffix is generated) and their instances in every target account and region (stackset-target, type/resource as the StackSets IAM reference requires). ListDelegatedAdministrators has no resource type.',
    );

    // Triggers: a schedule (drift heals itself), Organizations events, and every deploy.
    new events.Rule(this, 'ReconcileSchedule', {
      ruleName: `${RESOURCE_PREFIX}enrollment-schedule`,
      description: 'Periodic log-reflector enrollment reconcile',
      schedule: events.Schedule.rate(Duration.minutes(c.enrollmentIntervalMinutes)),
      targets: [new targets.LambdaFunction(fn.function, { retryAttempts: 2 })],
    });
    new events.Rule(this, 'OrganizationsEvents', {
      ruleName: `${RESOURCE_PREFIX}enrollment-org-events`,
      description:
        'AWS Organizations events (native in us-east-1, forwarded from there otherwise) → enrollment reconcile',
      eventPattern: ORGANIZATIONS_EVENT_PATTERN,
      targets: [new targets.LambdaFunction(fn.function, { retryAttempts: 2 })],
    });
    new events.Rule(this, 'AfterDeploy', {
      ruleName: `${RESOURCE_PREFIX}enrollment-after-deploy`,
      description: 'Reconcile enrollment once after every deploy of the org stack',
      eventPattern: {
        source: ['aws.cloudformation'],
        detailType: ['CloudFormation Stack Status Change'],
        resources: [this.stackId],
        detail: { 'status-details': { status: ['CREATE_COMPLETE', 'UPDATE_COMPLETE'] } },
      },
      targets: [
        new targets.LambdaFunction(fn.function, {
          retryAttempts: 2,
          event: events.RuleTargetInput.fromObject({ trigger: 'deploy' }),
        }),
      ],
    });
    return fn;
  }
}

/**
 * What the management-account StackSet execution role may do: everything CloudFormation's
 * resource handlers declare (`handlers.*.permissions` of the published resource provider
 * schemas) for the resource types of the member and org-events templates, kept with its source
 * in test/central/data/stackset-execution-permissions.json; test/central/stackset-execution-role.test.ts
 * fails when a template gains a type or a schema an action this policy lacks. Scoped to
 * `log-reflector-*` ARNs where the action takes an ARN of a resource we name; to this account's
 * ARNs where the resource has a generated id; `*` only where the action takes no ARN (Service
 * Authorization Reference). Read/list calls included: a handler that cannot read what it made
 * fails the stack.
 */
function stackSetExecutionPolicy(): { document: iam.PolicyDocument; wildcardResources: string[] } {
  const prefix = RESOURCE_PREFIX;
  const statements: { sid: string; actions: string[]; resources: string[] }[] = [
    {
      // The minimum AWS documents for every StackSet execution role: full CloudFormation, and S3,
      // which "StackSets uses ... to notify the stack instance state"
      // (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-prereqs-self-managed.html).
      // It also covers the Lambda handler's s3:GetObject(Version) for code in S3 (ours is inline).
      sid: 'StackSets',
      actions: ['cloudformation:*', 's3:*'],
      resources: ['*'],
    },
    {
      // AWS::IAM::Role, AWS::IAM::Policy (as AWS::IAM::RolePolicy), and iam:PassRole for
      // AWS::Lambda::Function and AWS::Events::Rule.
      sid: 'Roles',
      actions: [
        'iam:AttachRolePolicy',
        'iam:CreateRole',
        'iam:DeleteRole',
        'iam:DeleteRolePermissionsBoundary',
        'iam:DeleteRolePolicy',
        'iam:DetachRolePolicy',
        'iam:GetRole',
        'iam:GetRolePolicy',
        'iam:ListAttachedRolePolicies',
        'iam:ListRolePolicies',
        'iam:PassRole',
        'iam:PutRolePermissionsBoundary',
        'iam:PutRolePolicy',
        'iam:TagRole',
        'iam:UntagRole',
        'iam:UpdateAssumeRolePolicy',
        'iam:UpdateRole',
        'iam:UpdateRoleDescription',
      ],
      resources: [`iam::{account}:role/${prefix}*`],
    },
    {
      // AWS::Lambda::Function, ::Permission, ::EventInvokeConfig; InvokeFunction: the backfill
      // custom resource (CloudFormation calls its ServiceToken).
      sid: 'Functions',
      actions: [
        'lambda:AddPermission',
        'lambda:CreateFunction',
        'lambda:DeleteFunction',
        'lambda:DeleteFunctionCodeSigningConfig',
        'lambda:DeleteFunctionConcurrency',
        'lambda:DeleteFunctionEventInvokeConfig',
        'lambda:GetFunction',
        'lambda:GetFunctionCodeSigningConfig',
        'lambda:GetFunctionEventInvokeConfig',
        'lambda:GetFunctionRecursionConfig',
        'lambda:GetFunctionScalingConfig',
        'lambda:GetPolicy',
        'lambda:GetRuntimeManagementConfig',
        'lambda:InvokeFunction',
        'lambda:ListFunctionEventInvokeConfigs',
        'lambda:PublishVersion',
        'lambda:PutFunctionCodeSigningConfig',
        'lambda:PutFunctionConcurrency',
        'lambda:PutFunctionEventInvokeConfig',
        'lambda:PutFunctionRecursionConfig',
        'lambda:PutFunctionScalingConfig',
        'lambda:PutRuntimeManagementConfig',
        'lambda:RemovePermission',
        'lambda:TagResource',
        'lambda:UntagResource',
        'lambda:UpdateFunctionCode',
        'lambda:UpdateFunctionConfiguration',
        'lambda:UpdateFunctionEventInvokeConfig',
      ],
      resources: [`lambda:*:{account}:function:${prefix}*`],
    },
    {
      // Function features the handler reads or passes; our functions use none of them, so the
      // grants are as narrow as the ARNs allow (code-signing configs have generated ids).
      sid: 'FunctionFeatures',
      actions: ['lambda:GetCodeSigningConfig', 'lambda:PutFunctionCodeSigningConfig'],
      resources: ['lambda:*:{account}:code-signing-config:*'],
    },
    {
      sid: 'FunctionLayersAndCapacity',
      actions: ['lambda:GetLayerVersion', 'lambda:PassCapacityProvider'],
      resources: [`lambda:*:{account}:layer:${prefix}*`, `lambda:*:{account}:capacity-provider:${prefix}*`],
    },
    {
      // The Lambda handler's KMS calls (a function's KmsKeyArn) and file-system checks
      // (FileSystemConfigs): keys and file systems have generated ids, so this account's.
      sid: 'KeysAndFileSystems',
      actions: [
        'kms:CreateGrant',
        'kms:Decrypt',
        'kms:Encrypt',
        'kms:GenerateDataKey',
        'elasticfilesystem:DescribeMountTargets',
        's3files:ListMountTargets',
      ],
      resources: [
        'kms:*:{account}:key/*',
        'elasticfilesystem:*:{account}:file-system/*',
        'elasticfilesystem:*:{account}:access-point/*',
        's3files:*:{account}:file-system/*',
      ],
    },
    {
      // AWS::Logs::LogGroup: our functions' log groups.
      sid: 'LogGroups',
      actions: [
        'logs:AssociateKmsKey',
        'logs:CreateLogGroup',
        'logs:DeleteDataProtectionPolicy',
        'logs:DeleteLogGroup',
        'logs:DeleteRetentionPolicy',
        'logs:DisassociateKmsKey',
        'logs:GetDataProtectionPolicy',
        'logs:ListTagsForResource',
        'logs:PutDataProtectionPolicy',
        'logs:PutRetentionPolicy',
        'logs:TagResource',
        'logs:UntagResource',
      ],
      resources: [`logs:*:{account}:log-group:/aws/lambda/${prefix}*`],
    },
    {
      // AWS::Logs::LogGroup's create/update handlers also tag a Firehose delivery stream.
      sid: 'DeliveryStreams',
      actions: ['firehose:TagDeliveryStream'],
      resources: [`firehose:*:{account}:deliverystream/${prefix}*`],
    },
    {
      // AWS::SQS::Queue, AWS::SQS::QueuePolicy (as AWS::SQS::QueueInlinePolicy).
      sid: 'Queues',
      actions: [
        'sqs:CreateQueue',
        'sqs:DeleteQueue',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:ListQueueTags',
        'sqs:SetQueueAttributes',
        'sqs:TagQueue',
        'sqs:UntagQueue',
      ],
      resources: [`sqs:*:{account}:${prefix}*`],
    },
    {
      // AWS::Events::Rule (member rules and the org-events forwarder).
      sid: 'Rules',
      actions: [
        'events:DeleteRule',
        'events:DescribeRule',
        'events:ListTagsForResource',
        'events:ListTargetsByRule',
        'events:PutRule',
        'events:PutTargets',
        'events:RemoveTargets',
        'events:TagResource',
        'events:UntagResource',
      ],
      resources: [`events:*:{account}:rule/${prefix}*`],
    },
    {
      // Actions that take no resource ARN at all (Service Authorization Reference): list
      // handlers, VPC checks of the Lambda handler, and the log group handler's account-level
      // calls.
      sid: 'NoResourceLevelPermissions',
      actions: [
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSecurityGroups',
        'ec2:DescribeSubnets',
        'ec2:DescribeVpcs',
        'events:ListRules',
        'iam:ListRoles',
        'lambda:ListFunctions',
        'logs:CreateLogDelivery',
        'logs:DescribeLogGroups',
        'logs:DescribeResourcePolicies',
        'logs:PutResourcePolicy',
        'sqs:ListQueues',
      ],
      resources: ['*'],
    },
  ];
  const real = (r: string) =>
    r === '*' ? r : `arn:${Aws.PARTITION}:${r.replaceAll('{account}', Aws.ACCOUNT_ID)}`;
  const nag = (r: string) =>
    r === '*' ? r : `arn:<AWS::Partition>:${r.replaceAll('{account}', '<AWS::AccountId>')}`;
  const document = new iam.PolicyDocument({
    statements: statements.map(
      (st) =>
        new iam.PolicyStatement({ sid: st.sid, actions: st.actions, resources: st.resources.map(real) }),
    ),
  });
  const wildcardResources = [
    ...new Set(statements.flatMap((st) => st.resources).filter((r) => r.includes('*'))),
  ].map(nag);
  return { document, wildcardResources };
}
