/**
 * The member stack: deployed by the members StackSet into every account × region of the
 * target OUs (and, behind a switch, into the management account). Infrastructure code.
 *
 * It keeps every eligible log group of its account and region subscribed to the central
 * destination of its region:
 * - a sender role CloudWatch Logs uses for the org-wide destination,
 * - the subscriber (EventBridge rule on CloudTrail CreateLogGroup, retries + dead-letter queue),
 * - the backfill custom resource (one Lambda answering CloudFormation itself: no Provider
 *   framework inside a StackSet, docs/architecture.md, decision 3),
 * - a scheduled sweep that heals drift,
 * - the `Enrollment` parameter the enrollment reconciler overrides per account: `disabled`
 *   turns the CreateLogGroup rule off and makes the backfill and the sweep remove our filters.
 *
 * In account scope (`filter.scope: "account"`) the subscriber, its rule and dead-letter queue,
 * the sweep and its schedule are not in the template: the backfill puts one account-level
 * subscription filter policy instead, on stack operations and from a periodic check schedule
 * (docs/member.md, "Two scopes", says why that is a custom resource and not
 * AWS::Logs::AccountPolicy).
 *
 * Environment-agnostic (a StackSet template): nothing per account is baked in; org-wide
 * settings are parameter defaults, account and region come from pseudo parameters.
 */
import {
  Aws,
  CfnCondition,
  CfnCustomResource,
  CfnDeletionPolicy,
  CfnParameter,
  Duration,
  Fn,
  type ICfnConditionExpression,
  Stack,
  Validations,
} from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaDestinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { StackSetStack } from 'cdk-stacksets';
import { Construct } from 'constructs';
import { ownLogGroupNames, type SubscriptionScope } from '../shared/account-policy';
import { bundleHandler } from '../shared/constructs/bundle';
import {
  FUNCTION_RUNTIME,
  INLINE_CODE_LIMIT_BYTES,
  InlineFunction,
} from '../shared/constructs/inline-function';
import { acknowledgeFindings } from '../shared/constructs/nag';
import {
  ENROLLMENT_VALUES,
  FUNCTION_NAMES,
  LOGS_TO_KINESIS_ROLE_NAME,
  OWN_LOG_GROUP_PATTERN,
  RESOURCE_PREFIX,
  STREAM_NAME,
} from '../shared/naming';
import type * as z from '../shared/zod';
import { ACCOUNT_CHECK_RULE_NAME } from './backfill/scheduled-check';
import { CLEANUP_POLICY_NAMES, CLEANUP_PREFIX } from './cleanup/job';
import type { CLEANUP_REPORT_ENV } from './cleanup/report';
import type { MemberEnvSchema } from './runtime/env';
import type { REPORT_ENV } from './runtime/report';

/** Name of the CloudWatch Logs destination the central account has in every region. */
export const DESTINATION_NAME = 'log-reflector';

/** The parameter the enrollment reconciler overrides per account (docs/architecture.md, decision 4). */
export const ENROLLMENT_PARAMETER = 'Enrollment';

/** The StackSet-level parameter naming the central state bucket for coverage reports (org stack). */
export const COVERAGE_BUCKET_PARAMETER = 'CoverageBucket';

export interface MemberSettings {
  /** The central account that owns the destinations. */
  readonly centralAccountId: string;
  /** The central account's region of the stream. */
  readonly homeRegion: string;
  /** Base of the filter name we own; the stack appends `-<region>` (shared/naming.ts). */
  readonly filterNameBase: string;
  /** CloudWatch Logs filter pattern; empty = every event. */
  readonly filterPattern: string;
  /** Globs over log group names; empty = all. */
  readonly include: readonly string[];
  /** Globs excluded in addition to our own log groups (always excluded). */
  readonly exclude: readonly string[];
  /** Control-plane calls per second for the member functions. */
  readonly rateLimitRps: number;
  /** Minutes between sweeps. */
  readonly sweepIntervalMinutes: number;
  /** `log-group` (a filter per group) or `account` (one account-level policy). */
  readonly scope: SubscriptionScope;
}

export interface MemberStackProps {
  /** Org-wide settings, written as parameter defaults (the same in every account). */
  readonly settings: MemberSettings;
}

export class MemberStack extends StackSetStack {
  /** Every function this stack deploys, by role. */
  readonly functions: {
    /** Log-group scope only. */
    readonly subscriber?: InlineFunction;
    readonly backfill: InlineFunction;
    /** Log-group scope only. */
    readonly sweep?: InlineFunction;
  };
  /** Log-group scope only. */
  readonly deadLetterQueue?: sqs.Queue;
  /** The worker that removes our filters after the stack is gone (docs/member.md). */
  readonly cleanup: CleanupWorker;
  private readonly settings: MemberSettings;
  /** Enrollment enabled, and not the central account outside its home region. */
  private readonly isEnabled: ICfnConditionExpression;

  constructor(scope: Construct, id: string, props: MemberStackProps) {
    super(scope, id);
    const s = props.settings;
    this.settings = s;
    this.templateOptions.description =
      'log-reflector member: subscribes every eligible log group to the central destination (StackSet instance)';

    const enrollment = new CfnParameter(this, ENROLLMENT_PARAMETER, {
      type: 'String',
      allowedValues: [...ENROLLMENT_VALUES],
      default: 'enabled',
      description:
        'Set per account by the log-reflector enrollment reconciler (opt-out tag). disabled removes our filters.',
    });
    const centralAccount = new CfnParameter(this, 'CentralAccountId', {
      type: 'String',
      allowedPattern: '^\\d{12}$',
      default: s.centralAccountId,
      description: 'Account that owns the log-reflector destinations',
    });
    const homeRegion = new CfnParameter(this, 'HomeRegion', {
      type: 'String',
      default: s.homeRegion,
      description: 'Region of the log-reflector stream in the central account',
    });
    const filterNameBase = new CfnParameter(this, 'FilterNameBase', {
      type: 'String',
      allowedPattern: '^[^:*]{1,480}$',
      default: s.filterNameBase,
      description: 'Base name of the subscription filter log-reflector owns (the region is appended)',
    });
    const filterPattern = new CfnParameter(this, 'FilterPattern', {
      type: 'String',
      default: s.filterPattern,
      maxLength: 1024,
      description: 'CloudWatch Logs filter pattern of our filter; empty forwards every event',
    });
    const include = new CfnParameter(this, 'IncludePatterns', {
      type: 'String',
      default: s.include.join(','),
      description: 'Comma-separated globs over log group names to subscribe; empty = all',
    });
    const accountScope = s.scope === 'account';
    const exclude = new CfnParameter(this, 'ExcludePatterns', {
      type: 'String',
      default: (accountScope ? s.exclude : [OWN_LOG_GROUP_PATTERN, ...s.exclude]).join(','),
      description: accountScope
        ? 'Comma-separated exact log group names the account policy leaves out (our own are always left out)'
        : `Comma-separated globs never subscribed (${OWN_LOG_GROUP_PATTERN} is always excluded)`,
    });
    // The member stack lands in the central account too (it is in the target OUs). A CloudWatch
    // Logs destination serves cross-account delivery: PutSubscriptionFilter documents "a logical
    // destination ... that belongs to a different account" and, in the same account, a Kinesis
    // stream (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutSubscriptionFilter.html;
    // PutDestination "is used only to create destinations for cross-account subscriptions").
    // So the central account's home-region groups subscribe to the stream itself, through the
    // role the destinations use; its other regions have neither a documented same-account path
    // nor a stream, so the member stack there is switched off (docs/architecture.md, decision 10).
    // Where the sweep and the backfill write their coverage report (docs/member.md, "Coverage
    // report"): the central state bucket, named by the org stack (a StackSet-level parameter);
    // empty leaves reports off (a template used outside the org stack).
    const coverageBucket = new CfnParameter(this, COVERAGE_BUCKET_PARAMETER, {
      type: 'String',
      default: '',
      allowedPattern: '^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
      description:
        'Central state bucket the sweep and backfill write coverage/<account>/<region>.json to (set by the org stack); empty: no reports',
    });
    const hasCoverageBucket = new CfnCondition(this, 'HasCoverageBucket', {
      expression: Fn.conditionNot(Fn.conditionEquals(coverageBucket.valueAsString, '')),
    });
    const isCentralAccount = new CfnCondition(this, 'IsCentralAccount', {
      expression: Fn.conditionEquals(Aws.ACCOUNT_ID, centralAccount.valueAsString),
    });
    const isHomeRegion = new CfnCondition(this, 'IsHomeRegion', {
      expression: Fn.conditionEquals(Aws.REGION, homeRegion.valueAsString),
    });
    const isCentralHome = new CfnCondition(this, 'IsCentralHome', {
      expression: Fn.conditionAnd(isCentralAccount, isHomeRegion),
    });
    const isCentralElsewhere = new CfnCondition(this, 'IsCentralElsewhere', {
      expression: Fn.conditionAnd(isCentralAccount, Fn.conditionNot(isHomeRegion)),
    });
    // Switches the CreateLogGroup rule (log-group scope only: account scope has no rule).
    this.isEnabled = Fn.conditionAnd(
      Fn.conditionEquals(enrollment.valueAsString, 'enabled'),
      Fn.conditionNot(isCentralElsewhere),
    );
    const effectiveEnrollment = Fn.conditionIf(
      isCentralElsewhere.logicalId,
      'disabled',
      enrollment.valueAsString,
    ).toString();

    const destinationArn = `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${centralAccount.valueAsString}:destination:${DESTINATION_NAME}`;
    const streamArn = `arn:${Aws.PARTITION}:kinesis:${homeRegion.valueAsString}:${Aws.ACCOUNT_ID}:stream/${STREAM_NAME}`;
    const logsToKinesisRoleArn = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/${LOGS_TO_KINESIS_ROLE_NAME}`;
    const filterName = Fn.join('-', [filterNameBase.valueAsString, Aws.REGION]);

    // The role CloudWatch Logs assumes to check and deliver a subscription to a destination
    // opened to the organization, exactly as AWS documents it ("Step 2: (Only if using an
    // organization) Create an IAM role",
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CreateSubscriptionFilter-IAMrole.html):
    // trust logs.amazonaws.com with no condition, logs:PutLogEvents on the sending account's log
    // groups (all of them here: we subscribe any group). No AWS page shows CloudWatch Logs
    // satisfying an aws:SourceArn condition on this role; a condition it does not meet would make
    // every PutSubscriptionFilter fail in every account. IAM is global and this stack runs once
    // per region, so the name carries the region.
    const senderRole = new iam.Role(this, 'SenderRole', {
      roleName: `${RESOURCE_PREFIX}sender-${Aws.REGION}`,
      description: 'CloudWatch Logs delivers subscription data to the log-reflector destination',
      assumedBy: new iam.ServicePrincipal('logs.amazonaws.com'),
      inlinePolicies: {
        deliver: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['logs:PutLogEvents'],
              resources: [`arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*`],
            }),
          ],
        }),
      },
    });
    acknowledgeFindings(
      senderRole,
      'AwsSolutions-IAM5',
      ['Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*'],
      'The documented role for organization destinations grants PutLogEvents on the log groups that carry the subscription filter; we subscribe every eligible group of this account and region, including ones created later.',
    );

    // Where our filters deliver, and the role CloudWatch Logs assumes for it.
    const deliveryArn = Fn.conditionIf(isCentralHome.logicalId, streamArn, destinationArn).toString();
    const deliveryRoleArn = Fn.conditionIf(
      isCentralHome.logicalId,
      logsToKinesisRoleArn,
      senderRole.roleArn,
    ).toString();

    // The cleanup worker outlives the stack; the backfill's Delete starts it (docs/member.md).
    // Its progress report goes to the same central bucket as the coverage report, under its
    // own key (shared/coverage.ts).
    this.cleanup = new CleanupWorker(this, 'Cleanup', {
      rateLimitRps: s.rateLimitRps,
      report: {
        bucket: coverageBucket.valueAsString,
        bucketRegion: homeRegion.valueAsString,
        hasBucket: hasCoverageBucket,
      },
    });

    // In account scope EXCLUDE lists, by exact name, every log group the policy leaves out: all
    // our functions' (the selection criteria take no glob) and the configured names.
    const excludeValue = accountScope
      ? [...ownLogGroupNames(this.cleanup.installId), exclude.valueAsString].join(',')
      : exclude.valueAsString;

    const environment = {
      DESTINATION_ARN: deliveryArn,
      SENDER_ROLE_ARN: deliveryRoleArn,
      FILTER_NAME: filterName,
      FILTER_PATTERN: filterPattern.valueAsString,
      INCLUDE: include.valueAsString,
      EXCLUDE: excludeValue,
      ENROLLMENT: effectiveEnrollment,
      RATE_LIMIT_RPS: String(s.rateLimitRps),
      SCOPE: s.scope,
      // A key the runtime's schema does not know (a rename on either side) fails the build.
    } satisfies Partial<Record<keyof z.input<typeof MemberEnvSchema>, string>>;

    const coverageKey = `coverage/${Aws.ACCOUNT_ID}/${Aws.REGION}.json`;
    const reportEnvironment = {
      COVERAGE_BUCKET: coverageBucket.valueAsString,
      // The bucket is in the central account's home region; the functions run in every region.
      COVERAGE_REGION: homeRegion.valueAsString,
      COVERAGE_KEY: coverageKey,
    } satisfies Partial<Record<(typeof REPORT_ENV)[number], string>>;

    const backfill = new InlineFunction(this, 'Backfill', {
      entry: 'member/backfill/handler.ts',
      functionName: FUNCTION_NAMES.backfill,
      description: accountScope
        ? 'Custom resource: puts the account-level subscription policy, removes it on disable/delete'
        : 'Custom resource: subscribes existing log groups on deploy, removes our filters on disable/delete',
      serviceName: 'backfill',
      memorySizeMb: 512,
      timeoutSeconds: 900,
      // Hands large accounts on to itself, up to MAX_HOPS (member/runtime/continuation.ts).
      selfInvoking: true,
      environment: {
        ...environment,
        ...reportEnvironment,
        INSTALL_ID: this.cleanup.installId,
        CLEANUP_FUNCTION_ARN: this.cleanup.functionArn,
      },
    });
    const perGroup = accountScope ? undefined : this.perGroupFunctions(environment, reportEnvironment);
    this.functions = {
      backfill,
      ...(perGroup ? { subscriber: perGroup.subscriber, sweep: perGroup.sweep } : {}),
    };
    this.deadLetterQueue = perGroup?.deadLetterQueue;
    this.addCoverageReportPermissions(coverageBucket.valueAsString, coverageKey, hasCoverageBucket);

    // Control-plane permissions, scoped to this account and region's log groups.
    const logGroupArn = `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*`;
    for (const fn of [perGroup?.subscriber, backfill, perGroup?.sweep]) {
      if (!fn) continue;
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ManageOurSubscriptionFilters',
          actions: [
            'logs:DescribeLogGroups',
            'logs:DescribeSubscriptionFilters',
            'logs:PutSubscriptionFilter',
            'logs:DeleteSubscriptionFilter',
          ],
          resources: [logGroupArn],
        }),
      );
      // PutSubscriptionFilter on a cross-account destination also needs the destination.
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'SubscribeToCentralDestination',
          actions: ['logs:PutSubscriptionFilter'],
          resources: [destinationArn],
        }),
      );
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'PassSenderRole',
          actions: ['iam:PassRole'],
          resources: [deliveryRoleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'logs.amazonaws.com' } },
        }),
      );
      acknowledgeFindings(
        fn.role,
        'AwsSolutions-IAM5',
        ['Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*'],
        'Every log group of this account and region, including ones created after deploy: the function lists them and manages its own filter on each (never a foreign filter: shared/plan.ts).',
      );
    }
    // The account-level subscription filter policy: the backfill puts it (account scope) and
    // deletes ours when not wanted; the sweep deletes one left from account scope. These
    // actions take no resource ARN ("*" only, Service Authorization Reference,
    // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html);
    // the code acts on SUBSCRIPTION_FILTER_POLICY only, and on ours by name only (shared/plan.ts).
    // PutAccountPolicy of a subscription policy also needs logs:PutSubscriptionFilter and
    // iam:PassRole, DeleteAccountPolicy logs:DeleteSubscriptionFilter, DescribeAccountPolicies
    // logs:DescribeSubscriptionFilters (PutAccountPolicy, DeleteAccountPolicy,
    // DescribeAccountPolicies API references): held above.
    for (const [fn, actions] of [
      [
        backfill,
        [
          'logs:DescribeAccountPolicies',
          'logs:DeleteAccountPolicy',
          ...(accountScope ? ['logs:PutAccountPolicy'] : []),
        ],
      ],
      [perGroup?.sweep, ['logs:DescribeAccountPolicies', 'logs:DeleteAccountPolicy']],
    ] as const) {
      if (!fn) continue;
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ sid: 'OurAccountPolicy', actions: [...actions], resources: ['*'] }),
      );
      acknowledgeFindings(
        fn.role,
        'AwsSolutions-IAM5',
        ['Resource::*'],
        'CloudWatch Logs account policy actions accept no resource ARN (Service Authorization Reference); the function acts on the subscription filter policy named like our filter only, never on another policy or type.',
      );
    }
    // The backfill (and in log-group scope the sweep) hand the rest of a large account on to a
    // fresh invocation of themselves, with a cursor (docs/member.md).
    for (const fn of [backfill, perGroup?.sweep]) {
      if (!fn) continue;
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ContinueOnAFreshInvocation',
          actions: ['lambda:InvokeFunction'],
          resources: [
            `arn:${Aws.PARTITION}:lambda:${Aws.REGION}:${Aws.ACCOUNT_ID}:function:${fn === backfill ? FUNCTION_NAMES.backfill : FUNCTION_NAMES.sweep}`,
          ],
        }),
      );
    }

    // The backfill's Delete starts the cleanup worker: its schedule (created here, named for
    // this install) and a first invocation.
    backfill.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'StartCleanupWorker',
        actions: ['events:PutRule', 'events:PutTargets'],
        resources: [this.cleanup.ruleArn],
      }),
    );
    backfill.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'InvokeCleanupWorker',
        actions: ['lambda:InvokeFunction'],
        resources: [this.cleanup.functionArn],
      }),
    );
    // CloudFormation invokes the backfill asynchronously
    // (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html). No
    // Lambda retries: a retried request could be answered twice or start a second chain.
    // A failed invocation's record goes to the backfill itself, which still answers
    // (member/backfill/handler.ts, answerAfterFailure); it may invoke itself already
    // (ContinueOnAFreshInvocation), as an on-failure destination requires
    // (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
    // Events older than the custom resource timeout (one hour) have no one waiting for them.
    new lambda.CfnEventInvokeConfig(this, 'BackfillInvokeConfig', {
      functionName: backfill.function.functionName,
      qualifier: '$LATEST',
      maximumRetryAttempts: 0,
      maximumEventAgeInSeconds: 3600,
      destinationConfig: {
        onFailure: {
          destination: `arn:${Aws.PARTITION}:lambda:${Aws.REGION}:${Aws.ACCOUNT_ID}:function:${FUNCTION_NAMES.backfill}`,
        },
      },
    }).node.addDependency(backfill.role);

    // The backfill: CloudFormation calls the function directly (ServiceToken = its ARN) and
    // the function answers the ResponseURL itself. Every setting is a property, so changing
    // one (Enrollment above all) makes CloudFormation send Update.
    const backfillResource = new CfnCustomResource(this, 'BackfillRun', {
      serviceToken: backfill.function.functionArn,
    });
    backfillResource.addPropertyOverride('DestinationArn', deliveryArn);
    backfillResource.addPropertyOverride('SenderRoleArn', deliveryRoleArn);
    backfillResource.addPropertyOverride('FilterName', filterName);
    backfillResource.addPropertyOverride('FilterPattern', filterPattern.valueAsString);
    backfillResource.addPropertyOverride('Include', include.valueAsString);
    backfillResource.addPropertyOverride('Exclude', excludeValue);
    backfillResource.addPropertyOverride('Enrollment', effectiveEnrollment);
    // Switching scope is an Update of this resource (docs/member.md, "Switching scope"). Absent
    // before account scope existed; the runtime reads absent as log-group, so the property is
    // written only in account scope and existing log-group stacks see no change.
    if (accountScope) backfillResource.addPropertyOverride('Scope', s.scope);
    // Its role's policies must exist before CloudFormation invokes it, and on delete the
    // function and its permissions must outlive the resource that removes our filters.
    backfillResource.node.addDependency(backfill.role, senderRole, this.cleanup);
    // On uninstall the rules go first, so nothing re-subscribes a group while the backfill's
    // Delete removes our filters. (On create they come up right after the backfill answers.)
    if (perGroup) {
      perGroup.createLogGroupRule.node.addDependency(backfillResource);
      perGroup.sweepRule.node.addDependency(backfillResource);
    } else {
      // Account scope: the periodic check, after the backfill resource for the same reasons
      // (on uninstall no check starts while the Delete removes our policy; a failed Create or a
      // refused switch never gets one).
      this.accountCheckRule(backfill).node.addDependency(backfillResource);
    }
  }

  /**
   * Account scope: an EventBridge schedule that invokes the backfill every `sweepIntervalMinutes`
   * with the scheduled event (member/backfill/scheduled-check.ts), so a policy of ours deleted or
   * replaced between stack operations is noticed and put back, and the coverage report stays
   * fresh (docs/member.md, "The periodic check"). Same period as the log-group sweep, so the
   * central staleness limit (2 periods + 1 hour) fits both scopes. Runs whatever `Enrollment`
   * says, like the sweep: disabled makes the run delete ours. The target adds the
   * lambda:InvokeFunction permission for events.amazonaws.com with the rule's ARN as SourceArn
   * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-lambda-permissions);
   * the backfill's role already holds every account policy action it needs. The invocation is
   * asynchronous and takes the backfill's invoke config (no Lambda retries, failures to itself,
   * which logs them: answerAfterFailure); EventBridge retries only a failed delivery.
   */
  private accountCheckRule(backfill: InlineFunction): events.Rule {
    return new events.Rule(this, 'AccountCheckSchedule', {
      ruleName: ACCOUNT_CHECK_RULE_NAME,
      description:
        'Periodic log-reflector account-scope check: put our account policy back if missing, report',
      schedule: events.Schedule.rate(Duration.minutes(this.settings.sweepIntervalMinutes)),
      targets: [new targets.LambdaFunction(backfill.function, { retryAttempts: 2 })],
    });
  }

  /**
   * Log-group scope: the subscriber (CloudTrail CreateLogGroup rule, retries, dead-letter
   * queue) and the scheduled sweep.
   */
  private perGroupFunctions(environment: Record<string, string>, reportEnvironment: Record<string, string>) {
    const s = this.settings;
    const deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      queueName: `${RESOURCE_PREFIX}subscriber-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the subscriber (EventBridge target and Lambda on-failure); the sweep re-plans every group, so nothing in it is lost.',
    });
    const subscriber = new InlineFunction(this, 'Subscriber', {
      entry: 'member/subscriber/handler.ts',
      functionName: FUNCTION_NAMES.subscriber,
      description: 'Subscribes a new log group (CloudTrail CreateLogGroup) to the log-reflector destination',
      serviceName: 'subscriber',
      timeoutSeconds: 180,
      environment,
    });
    const sweep = new InlineFunction(this, 'Sweep', {
      entry: 'member/sweep/handler.ts',
      functionName: FUNCTION_NAMES.sweep,
      description: 'Re-plans every log group of the account and region and heals drift',
      serviceName: 'sweep',
      memorySizeMb: 512,
      timeoutSeconds: 900,
      selfInvoking: true,
      environment: {
        ...environment,
        ...reportEnvironment,
        DEAD_LETTER_QUEUE_URL: deadLetterQueue.queueUrl,
      } satisfies Partial<Record<(typeof REPORT_ENV)[number], string>>,
    });

    // Subscriber: async invocation, retried by Lambda, then parked in the DLQ.
    subscriber.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new lambdaDestinations.SqsDestination(deadLetterQueue),
    });
    const createLogGroupRule = new events.Rule(this, 'CreateLogGroupRule', {
      ruleName: `${RESOURCE_PREFIX}create-log-group`,
      description: 'CloudTrail CreateLogGroup (successful calls only) → log-reflector subscriber',
      eventPattern: {
        source: ['aws.logs'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['logs.amazonaws.com'],
          eventName: ['CreateLogGroup'],
          // Failed calls are delivered too; they created nothing.
          errorCode: [{ exists: false }],
        },
      },
      targets: [
        new targets.LambdaFunction(subscriber.function, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
          deadLetterQueue,
        }),
      ],
    });
    const isEnabled = new CfnCondition(this, 'IsEnabled', { expression: this.isEnabled });
    (createLogGroupRule.node.defaultChild as events.CfnRule).state = Fn.conditionIf(
      isEnabled.logicalId,
      'ENABLED',
      'DISABLED',
    ).toString();

    const sweepRule = new events.Rule(this, 'SweepSchedule', {
      ruleName: `${RESOURCE_PREFIX}sweep`,
      description: 'Periodic log-reflector sweep: re-plan every log group, heal drift',
      schedule: events.Schedule.rate(Duration.minutes(s.sweepIntervalMinutes)),
      targets: [new targets.LambdaFunction(sweep.function, { retryAttempts: 2 })],
    });
    // The sweep runs whatever Enrollment says: with `disabled` it removes our filters (and only
    // ours) from every group, finishing what the backfill's removal chain left (docs/member.md).
    return { deadLetterQueue, subscriber, sweep, createLogGroupRule, sweepRule };
  }

  /**
   * The sweep and the backfill put their coverage report, one key, into the central state bucket
   * (whose policy admits this account for `coverage/<this account>/` only, central-stack.ts); the
   * sweep (log-group scope) reads its dead-letter queue's depth for it. In the roles' own policies, so the grant
   * exists before CloudFormation first invokes the backfill (it depends on its role). Without a
   * bucket (HasCoverageBucket false) the statement names a placeholder bucket and the functions
   * write nothing (their COVERAGE_BUCKET is empty).
   */
  private addCoverageReportPermissions(bucket: string, key: string, hasBucket: CfnCondition): void {
    const { backfill, sweep } = this.functions;
    const object = Fn.conditionIf(
      hasBucket.logicalId,
      `arn:${Aws.PARTITION}:s3:::${bucket}/${key}`,
      `arn:${Aws.PARTITION}:s3:::${RESOURCE_PREFIX}coverage-off/${key}`,
    ).toString();
    for (const fn of [backfill, sweep]) {
      fn?.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ sid: 'PutCoverageReport', actions: ['s3:PutObject'], resources: [object] }),
      );
    }
    // Log-group scope only: account scope has neither the sweep nor the queue.
    if (sweep && this.deadLetterQueue) {
      sweep.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadDeadLetterDepth',
          actions: ['sqs:GetQueueAttributes'],
          resources: [this.deadLetterQueue.queueArn],
        }),
      );
    }
  }
}

export interface CleanupWorkerProps {
  /** Control-plane calls per second per API (the member functions' rate). */
  readonly rateLimitRps: number;
  /**
   * Where the worker writes its progress report (member/cleanup/report.ts): the central state
   * bucket (empty when `hasBucket` is false: no reports) and its region.
   */
  readonly report?: {
    readonly bucket: string;
    readonly bucketRegion: string;
    readonly hasBucket: CfnCondition;
  };
}

/**
 * The cleanup worker (member/cleanup/): a function, its role (inline policies only, so they
 * go with the role) and its log group, all with DeletionPolicy RetainExceptOnCreate: they
 * outlive the stack's deletion (the uninstall, or the StackSet deleting the instance of an
 * account that left the target OUs) and are deleted with the stack only when the operation
 * that created them rolls back
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html).
 * Its schedule is not in the template: the backfill's Delete creates it, the worker deletes
 * it, its function and its role when done. Every name carries the install id (the first
 * 8 hex digits of the stack's UUID), so a reinstall never collides with a worker still
 * running for the stack before it. Least privilege: each permission names one resource; the
 * self-deletion ones are in their own policy, deleted last.
 */
export class CleanupWorker extends Construct {
  /** First 8 hex digits of the stack id's UUID. */
  readonly installId: string;
  readonly functionName: string;
  /** Built from the name (not GetAtt), so the worker can carry its own ARN. */
  readonly functionArn: string;
  readonly ruleArn: string;
  readonly function: lambda.CfnFunction;
  readonly role: iam.CfnRole;
  readonly logGroup: logs.CfnLogGroup;
  readonly codeBytes: number;

  constructor(scope: Construct, id: string, props: CleanupWorkerProps) {
    super(scope, id);
    const p = Aws.PARTITION;
    const region = Aws.REGION;
    const account = Aws.ACCOUNT_ID;
    this.installId = Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID))));
    this.functionName = `${CLEANUP_PREFIX}${this.installId}`;
    const roleName = `${CLEANUP_PREFIX}${this.installId}-${region}`;
    this.functionArn = `arn:${p}:lambda:${region}:${account}:function:${this.functionName}`;
    this.ruleArn = `arn:${p}:events:${region}:${account}:rule/${this.functionName}`;
    const roleArn = `arn:${p}:iam::${account}:role/${roleName}`;
    const logGroupName = `/aws/lambda/${this.functionName}`;
    const logGroupArn = `arn:${p}:logs:${region}:${account}:log-group:${logGroupName}`;
    // Its progress report: one key under this account's prefix, which the bucket policy admits
    // for roles named log-reflector-cleanup-* (central/central-stack.ts). The name and the grant
    // are in the function's environment and the role's `work` policy, both retained, so they
    // outlive the stack; the grant goes when the worker deletes its policies, after its last report.
    const reportKey = `coverage/${account}/cleanup/${region}.json`;
    const report = props.report;
    const reportObject = report
      ? Fn.conditionIf(
          report.hasBucket.logicalId,
          `arn:${p}:s3:::${report.bucket}/${reportKey}`,
          `arn:${p}:s3:::${RESOURCE_PREFIX}coverage-off/${reportKey}`,
        ).toString()
      : undefined;

    this.logGroup = new logs.CfnLogGroup(this, 'LogGroup', { logGroupName, retentionInDays: 90 });
    this.role = new iam.CfnRole(this, 'Role', {
      roleName,
      description:
        'log-reflector cleanup worker: removes our subscription filters after uninstall, then itself',
      assumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      },
      policies: [
        {
          policyName: CLEANUP_POLICY_NAMES.work,
          policyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'RemoveOurSubscriptionFilters',
                Effect: 'Allow',
                Action: [
                  'logs:DescribeLogGroups',
                  'logs:DescribeSubscriptionFilters',
                  'logs:DeleteSubscriptionFilter',
                ],
                Resource: `arn:${p}:logs:${region}:${account}:log-group:*`,
              },
              {
                Sid: 'OwnLogs',
                Effect: 'Allow',
                Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
                Resource: `${logGroupArn}:log-stream:*`,
              },
              {
                // A policy of ours the backfill could not delete (account scope); ours by name
                // only. These actions take no resource ARN (Service Authorization Reference).
                Sid: 'RemoveOurAccountPolicy',
                Effect: 'Allow',
                Action: ['logs:DescribeAccountPolicies', 'logs:DeleteAccountPolicy'],
                Resource: '*',
              },
              { Sid: 'KeepJob', Effect: 'Allow', Action: 'events:PutTargets', Resource: this.ruleArn },
              {
                Sid: 'FindLiveInstall',
                Effect: 'Allow',
                Action: 'lambda:GetFunctionConfiguration',
                Resource: `arn:${p}:lambda:${region}:${account}:function:${FUNCTION_NAMES.backfill}`,
              },
              ...(reportObject
                ? [
                    {
                      Sid: 'PutCleanupReport',
                      Effect: 'Allow',
                      Action: 's3:PutObject',
                      Resource: reportObject,
                    },
                  ]
                : []),
            ],
          },
        },
        {
          policyName: CLEANUP_POLICY_NAMES.selfDelete,
          policyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'DeleteOwnSchedule',
                Effect: 'Allow',
                Action: ['events:RemoveTargets', 'events:DeleteRule'],
                Resource: this.ruleArn,
              },
              {
                Sid: 'DeleteOwnFunction',
                Effect: 'Allow',
                Action: 'lambda:DeleteFunction',
                Resource: this.functionArn,
              },
              {
                Sid: 'DeleteOwnRole',
                Effect: 'Allow',
                Action: ['iam:DeleteRolePolicy', 'iam:DeleteRole'],
                Resource: roleArn,
              },
            ],
          },
        },
      ],
    });
    const bundle = bundleHandler('member/cleanup/handler.ts');
    if (bundle.bytes > INLINE_CODE_LIMIT_BYTES) {
      throw new Error(
        `bundle of member/cleanup/handler.ts is ${bundle.bytes} bytes, over the inline code limit`,
      );
    }
    this.codeBytes = bundle.bytes;
    this.function = new lambda.CfnFunction(this, 'Function', {
      functionName: this.functionName,
      description:
        'log-reflector cleanup worker: removes our subscription filters after uninstall, then itself',
      runtime: FUNCTION_RUNTIME.name,
      architectures: ['arm64'],
      handler: 'index.handler',
      code: { zipFile: bundle.code },
      memorySize: 256,
      timeout: 900,
      role: this.role.attrArn,
      environment: {
        variables: {
          POWERTOOLS_SERVICE_NAME: 'cleanup',
          POWERTOOLS_METRICS_NAMESPACE: 'LogReflector',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          INSTALL_ID: this.installId,
          CLEANUP_FUNCTION_ARN: this.functionArn,
          RATE_LIMIT_RPS: String(props.rateLimitRps),
          ...(report
            ? ({
                COVERAGE_BUCKET: report.bucket,
                COVERAGE_REGION: report.bucketRegion,
                CLEANUP_REPORT_KEY: reportKey,
              } satisfies Record<(typeof CLEANUP_REPORT_ENV)[number], string>)
            : {}),
        },
      },
    });
    this.function.node.addDependency(this.role);
    this.function.node.addDependency(this.logGroup);
    // EventBridge may invoke it from its schedule (the rule the backfill creates).
    const permission = new lambda.CfnPermission(this, 'SchedulePermission', {
      action: 'lambda:InvokeFunction',
      functionName: this.functionName,
      principal: 'events.amazonaws.com',
      sourceArn: this.ruleArn,
      sourceAccount: account,
    });
    permission.node.addDependency(this.function);
    for (const resource of [this.logGroup, this.role, this.function, permission]) {
      resource.cfnOptions.deletionPolicy = CfnDeletionPolicy.RETAIN_EXCEPT_ON_CREATE;
      resource.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.DELETE;
    }
    acknowledgeFindings(
      this.role,
      'AwsSolutions-IAM5',
      [
        'Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*',
        // cdk-nag renders the install id expression as its JSON.
        `Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/lambda/${CLEANUP_PREFIX}${JSON.stringify(Stack.of(this).resolve(this.installId))}:log-stream:*`,
        'Resource::*',
      ],
      'Every log group of this account and region (it removes our filter from each, never a foreign one); log streams of its own log group, named by Lambda at run time; the account policy actions, which take no resource ARN (it deletes only the subscription filter policy named like our filter).',
    );
  }
}
