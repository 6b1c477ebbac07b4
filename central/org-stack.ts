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
import { Aws, CfnParameter, Duration, Stack, type StackProps, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
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
import { MemberStack } from '../member/member-stack';
import type { DeploymentConfig } from '../shared/config';
import { InlineFunction } from '../shared/constructs/inline-function';
import { acknowledgeFindings } from '../shared/constructs/nag';
import { FUNCTION_NAMES, RESOURCE_PREFIX } from '../shared/naming';
import type * as z from '../shared/zod';
import { CentralStack } from './central-stack';
import { DestinationStack } from './destination-stack';
import type { EnrollmentEnvSchema } from './enrollment/env';
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
        filterNameBase: c.filter.name,
        filterPattern: c.filter.pattern,
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
    const central = new StackSet(this, 'CentralStackSet', {
      stackSetName: STACK_SET_NAMES.central,
      description: 'log-reflector: stream, reflector and failure bucket in the central account',
      template: StackSetTemplate.fromStackSetStack(this.centralTemplate),
      target: centralTarget([c.homeRegion]),
      deploymentType: serviceManaged(false),
      capabilities: [Capability.NAMED_IAM],
      operationPreferences,
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
      parameters: memberStackSetParameters(this.memberTemplate),
    });
    members.node.addDependency(destinations);

    // ---- self-managed StackSets into the management account itself ----
    const needOrgEvents = fromManagement && c.homeRegion !== ORGANIZATIONS_EVENTS_REGION;
    let management: StackSet | undefined;
    let orgEvents: StackSet | undefined;
    if (c.coverManagementAccount || needOrgEvents) {
      const { adminRole } = this.selfManagedRoles();
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
          parameters: memberStackSetParameters(this.memberTemplate),
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
    }
    this.stackSets = { central, destinations, members, management, orgEvents };

    // ---- enrollment reconciler ----
    this.reconciler = this.addReconciler(c, members, management);
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
    const prefix = RESOURCE_PREFIX;
    const executionRole = new iam.Role(this, 'StackSetExecutionRole', {
      roleName: STACKSET_EXECUTION_ROLE_NAME,
      description: 'Creates the log-reflector member and org-events stacks in the management account',
      assumedBy: new iam.ArnPrincipal(adminRole.roleArn),
      inlinePolicies: {
        deployMemberStacks: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'Stacks',
              actions: ['cloudformation:*'],
              resources: [`arn:${p}:cloudformation:*:${account}:stack/StackSet-${prefix}*`],
            }),
            new iam.PolicyStatement({
              sid: 'Roles',
              actions: [
                'iam:CreateRole',
                'iam:DeleteRole',
                'iam:GetRole',
                'iam:UpdateRole',
                'iam:UpdateRoleDescription',
                'iam:UpdateAssumeRolePolicy',
                'iam:PutRolePolicy',
                'iam:GetRolePolicy',
                'iam:DeleteRolePolicy',
                'iam:ListRolePolicies',
                'iam:TagRole',
                'iam:UntagRole',
                'iam:PassRole',
              ],
              resources: [`arn:${p}:iam::${account}:role/${prefix}*`],
            }),
            new iam.PolicyStatement({
              sid: 'Functions',
              actions: [
                'lambda:CreateFunction',
                'lambda:DeleteFunction',
                'lambda:GetFunction',
                'lambda:GetFunctionConfiguration',
                'lambda:UpdateFunctionCode',
                'lambda:UpdateFunctionConfiguration',
                'lambda:AddPermission',
                'lambda:RemovePermission',
                'lambda:PutFunctionConcurrency',
                'lambda:DeleteFunctionConcurrency',
                'lambda:PutFunctionEventInvokeConfig',
                'lambda:UpdateFunctionEventInvokeConfig',
                'lambda:DeleteFunctionEventInvokeConfig',
                'lambda:TagResource',
                'lambda:UntagResource',
                'lambda:ListTags',
                'lambda:InvokeFunction',
              ],
              resources: [`arn:${p}:lambda:*:${account}:function:${prefix}*`],
            }),
            new iam.PolicyStatement({
              sid: 'Rules',
              actions: [
                'events:PutRule',
                'events:DeleteRule',
                'events:DescribeRule',
                'events:EnableRule',
                'events:DisableRule',
                'events:PutTargets',
                'events:RemoveTargets',
                'events:ListTargetsByRule',
                'events:TagResource',
                'events:UntagResource',
              ],
              resources: [`arn:${p}:events:*:${account}:rule/${prefix}*`],
            }),
            new iam.PolicyStatement({
              sid: 'Queues',
              actions: [
                'sqs:CreateQueue',
                'sqs:DeleteQueue',
                'sqs:GetQueueAttributes',
                'sqs:SetQueueAttributes',
                'sqs:GetQueueUrl',
                'sqs:TagQueue',
                'sqs:UntagQueue',
                'sqs:ListQueueTags',
              ],
              resources: [`arn:${p}:sqs:*:${account}:${prefix}*`],
            }),
            new iam.PolicyStatement({
              sid: 'LogGroups',
              actions: [
                'logs:CreateLogGroup',
                'logs:DeleteLogGroup',
                'logs:PutRetentionPolicy',
                'logs:DeleteRetentionPolicy',
                'logs:TagResource',
                'logs:UntagResource',
                'logs:ListTagsForResource',
              ],
              resources: [`arn:${p}:logs:*:${account}:log-group:/aws/lambda/${prefix}*`],
            }),
            new iam.PolicyStatement({
              sid: 'DescribeLogGroups',
              actions: ['logs:DescribeLogGroups'],
              resources: [`arn:${p}:logs:*:${account}:log-group:*`],
            }),
          ],
        }),
      },
    });
    acknowledgeFindings(
      executionRole,
      'AwsSolutions-IAM5',
      [
        'Action::cloudformation:*',
        `Resource::arn:<AWS::Partition>:cloudformation:*:<AWS::AccountId>:stack/StackSet-${prefix}*`,
        `Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/${prefix}*`,
        `Resource::arn:<AWS::Partition>:lambda:*:<AWS::AccountId>:function:${prefix}*`,
        `Resource::arn:<AWS::Partition>:events:*:<AWS::AccountId>:rule/${prefix}*`,
        `Resource::arn:<AWS::Partition>:sqs:*:<AWS::AccountId>:${prefix}*`,
        `Resource::arn:<AWS::Partition>:logs:*:<AWS::AccountId>:log-group:/aws/lambda/${prefix}*`,
        'Resource::arn:<AWS::Partition>:logs:*:<AWS::AccountId>:log-group:*',
      ],
      'The StackSet execution role creates the member and org-events stacks in every configured region of this one account: each statement is limited to this account and to resources named log-reflector-* (stacks StackSet-log-reflector-*). DescribeLogGroups is account-wide by API design.',
    );
    acknowledgeFindings(
      adminRole,
      'AwsSolutions-IAM5',
      [`Resource::arn:aws:iam::*:role/${STACKSET_EXECUTION_ROLE_NAME}`],
      'Added by cdk-stacksets to any self-managed admin role; the execution role it names exists only in this account and trusts only this admin role.',
    );
    return { adminRole, executionRole };
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
      timeoutSeconds: 300,
      // One reconcile at a time: StackSets run one operation at a time anyway.
      reservedConcurrency: 1,
      environment: {
        STACK_SET_NAME: STACK_SET_NAMES.members,
        CALL_AS: c.deployFrom === 'management' ? 'SELF' : 'DELEGATED_ADMIN',
        TARGET_OU_IDS: c.targetOuIds.join(','),
        REGIONS: c.regions.join(','),
        OPT_OUT_TAG_KEY: c.optOutTag.key,
        OPT_OUT_TAG_VALUE: c.optOutTag.value,
        MANAGEMENT_ACCOUNT_ID: c.managementAccountId,
        ...(management ? { MANAGEMENT_STACK_SET_NAME: STACK_SET_NAMES.management } : {}),
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
