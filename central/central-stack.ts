/**
 * The central stack: deployed by the central StackSet into the central account (e.g. Log
 * Archive), home region only. Infrastructure code.
 *
 * Kinesis stream (KMS) ← every regional destination; event source mapping → reflector →
 * Sumo; a failure bucket for what can never be forwarded (ESM on-failure records and
 * malformed records, replayable); the Sumo URL in Secrets Manager; the role CloudWatch Logs
 * assumes to write the stream; alarms and a dashboard.
 */
import { Aws, CfnParameter, Duration, Fn, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { StackSetStack } from 'cdk-stacksets';
import type { Construct } from 'constructs';
import { CLEANUP_PREFIX } from '../shared/account-policy';
import { type DeploymentConfig, renderSumoFields } from '../shared/config';
import { COVERAGE_INDEX_KEY, COVERAGE_PREFIX } from '../shared/coverage';
import { ENROLLED_LIST_KEY } from '../shared/enrollment';
import { FUNCTION_NAMES, LOGS_TO_KINESIS_ROLE_NAME, RESOURCE_PREFIX, STREAM_NAME } from '../shared/naming';
import type * as z from '../shared/zod';
import type { CoverageEnvSchema } from './coverage/env';
import type { ReflectorEnvSchema } from './reflector/env';

export { LOGS_TO_KINESIS_ROLE_NAME, STREAM_NAME };

import { InlineFunction } from '../shared/constructs/inline-function';
import { acknowledgeFindings, nagRef } from '../shared/constructs/nag';

/**
 * The event bus that carries the management account's signals here (docs/runbook.md): its
 * reconciler alarms' state changes and failed StackSet operations and instances.
 */
export const ALARM_BUS_NAME = `${RESOURCE_PREFIX}alarms`;

/** The coverage aggregator (central/coverage/handler.ts), hourly. */
export const COVERAGE_FUNCTION_NAME = FUNCTION_NAMES.coverage;
export const COVERAGE_INTERVAL_MINUTES = 60;

/** Prefix of the secret the stack creates; the rest is unique to the stack (docs/deploy.md, "Uninstall"). */
export const DEFAULT_SUMO_SECRET_NAME = 'log-reflector/sumo-endpoint';

export interface CentralStackProps {
  readonly config: DeploymentConfig;
}

export class CentralStack extends StackSetStack {
  readonly stream: kinesis.Stream;
  readonly key: kms.Key;
  readonly failureBucket: s3.Bucket;
  readonly reflector: InlineFunction;
  readonly logsToKinesisRole: iam.Role;
  readonly sumoSecret: secretsmanager.ISecret;
  readonly alarmTopic: sns.Topic;
  /**
   * Central state: `enrollment/accounts.json` (the enrolled accounts, written by the
   * reconciler in the management account, read by the reflector). A general bucket for the
   * central account's state; other writers get their own prefixes.
   */
  readonly stateBucket: s3.Bucket;
  /** Builds the coverage index and the org-wide coverage metrics every hour. */
  readonly coverage: InlineFunction;
  /** Where the management account's alarm state changes and StackSet failures arrive. */
  readonly alarmBus: events.EventBus;
  /** Failed StackSet operations and instances, kept until someone reads them (alarmed). */
  readonly stackSetFailures: sqs.Queue;
  private readonly organizationId: string;
  /** The account of the org stack (management or delegated admin), from the StackSet parameter. */
  private reconcilerAccountId = '';

  constructor(scope: Construct, id: string, props: CentralStackProps) {
    super(scope, id);
    const c = props.config;
    this.organizationId = c.organizationId;
    this.templateOptions.description =
      'log-reflector central: Kinesis stream, reflector to Sumo Logic, failure bucket (StackSet instance, central account, home region)';

    const sourceRegions = new CfnParameter(this, 'SourceRegions', {
      type: 'CommaDelimitedList',
      default: c.regions.join(','),
      description: 'Regions whose CloudWatch Logs destinations write to this stream',
    });

    // What survives an uninstall (docs/deploy.md, "Uninstall"): the failure bucket (parked
    // records) and this key, without which its objects cannot be read. Neither has a fixed
    // name, so a reinstall creates new ones beside them; the alias is deleted with the stack
    // and moves to the new key. Everything with a fixed name is deleted with its stack
    // (test/central/reinstall.test.ts).
    this.key = new kms.Key(this, 'Key', {
      alias: 'alias/log-reflector',
      description: 'log-reflector: stream, failure bucket and alarm topic encryption',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to the encrypted topic.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );

    // EventBridge publishes the management account's signals to the encrypted topic
    // (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );

    this.stream = new kinesis.Stream(this, 'Stream', {
      streamName: STREAM_NAME,
      encryption: kinesis.StreamEncryption.KMS,
      encryptionKey: this.key,
      streamMode:
        c.kinesis.mode === 'on-demand' ? kinesis.StreamMode.ON_DEMAND : kinesis.StreamMode.PROVISIONED,
      shardCount: c.kinesis.mode === 'provisioned' ? c.kinesis.shardCount : undefined,
      retentionPeriod: Duration.hours(c.kinesis.retentionHours),
      // A transport, not a store: the destinations find it by this fixed name, so it cannot be
      // retained (the next install's stream would collide). What the reflector could not
      // forward is parked in the failure bucket before it ages out (config: maxRecordAge ≤
      // retention); uninstall deletes the members first, so the reflector drains the rest.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.stream).acknowledge({
      id: 'AwsSolutions-KDS3',
      reason:
        'Encrypted with our customer-managed key on purpose: its policy is ours to scope (the destinations role may only GenerateDataKey, the reflector Decrypt) and it rotates yearly.',
    });

    // The role CloudWatch Logs assumes to put records into the stream, for the destination
    // in every source region. Inline policy: attached in the same resource as the role, so
    // the destination's test message cannot race it (docs/architecture.md; "Creating a destination" in https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CreateDestination.html).
    // Confused deputy: only CloudWatch Logs acting for a log resource in one of our regions.
    // (Fn::Join's delimiter must be a literal, so the partition is too: the commercial
    // partition is the only one supported, shared/regions.ts.)
    const sourceArns = Fn.split(
      ',',
      Fn.join('', ['arn:aws:logs:', Fn.join(':*:*,arn:aws:logs:', sourceRegions.valueAsList), ':*:*']),
    );
    this.logsToKinesisRole = new iam.Role(this, 'LogsToKinesisRole', {
      roleName: LOGS_TO_KINESIS_ROLE_NAME,
      description: 'CloudWatch Logs destinations write subscription data to the log-reflector stream',
      assumedBy: new iam.ServicePrincipal('logs.amazonaws.com', {
        conditions: { StringLike: { 'aws:SourceArn': sourceArns } },
      }),
      inlinePolicies: {
        putRecords: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['kinesis:PutRecord', 'kinesis:PutRecords'],
              resources: [this.stream.streamArn],
            }),
            new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [this.key.keyArn] }),
          ],
        }),
      },
    });

    this.failureBucket = new s3.Bucket(this, 'FailureBucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      // Request metrics let an alarm fire on the first object written (storage metrics are daily).
      metrics: [{ id: 'All' }],
      lifecycleRules: [
        {
          id: 'expire-replayed-and-old',
          // Long enough to notice (the alarm fires on the first object) and replay.
          expiration: Duration.days(90),
          noncurrentVersionExpiration: Duration.days(7),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    Validations.of(this.failureBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Only the reflector (and the ESM with its role) writes here and operators read it to replay; access is recorded by the organization CloudTrail trail. A separate access-log bucket would itself need an exception.',
    });

    this.stateBucket = this.createStateBucket();

    this.sumoSecret = c.sumo.secretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'SumoSecret', c.sumo.secretArn)
      : c.sumo.secretName
        ? secretsmanager.Secret.fromSecretNameV2(this, 'SumoSecret', c.sumo.secretName)
        : this.createSumoSecret();

    this.reflector = new InlineFunction(this, 'Reflector', {
      entry: 'central/reflector/handler.ts',
      functionName: FUNCTION_NAMES.reflector,
      description: 'Forwards CloudWatch Logs events from the log-reflector stream to Sumo Logic',
      serviceName: 'reflector',
      memorySizeMb: c.reflector.memorySizeMb,
      timeoutSeconds: c.reflector.timeoutSeconds,
      environment: {
        SUMO_ENDPOINT_SECRET_ARN: this.sumoSecret.secretArn,
        FAILURE_BUCKET: this.failureBucket.bucketName,
        SUMO_CATEGORY_TEMPLATE: c.sumo.categoryTemplate,
        SUMO_LINE_CONTEXT: c.sumo.lineContext,
        // The config has checked every pair reads back as itself (shared/config.ts).
        SUMO_FIELDS: renderSumoFields(c.sumo.fields),
        ENROLLED_LIST_BUCKET: this.stateBucket.bucketName,
        // A key the reflector's schema does not know (a rename on either side) fails the build.
      } satisfies Partial<Record<keyof z.input<typeof ReflectorEnvSchema>, string>>,
    });
    const fn = this.reflector.function;
    this.sumoSecret.grantRead(fn);
    // Malformed records are written by the reflector itself (replay runs from the CLI).
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [this.failureBucket.arnForObjects('*')],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.failureBucket.bucketArn] }),
    );
    this.key.grant(fn, 'kms:GenerateDataKey', 'kms:Decrypt');
    // The enrolled list only (central/reflector/enrolled.ts).
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.stateBucket.arnForObjects(ENROLLED_LIST_KEY)],
      }),
    );

    fn.addEventSource(
      new KinesisEventSource(this.stream, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: c.reflector.batchSize,
        maxBatchingWindow: Duration.seconds(c.reflector.maxBatchingWindowSeconds),
        parallelizationFactor: c.reflector.parallelizationFactor,
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        retryAttempts: c.reflector.maxRetryAttempts,
        maxRecordAge: Duration.seconds(c.reflector.maxRecordAgeSeconds),
        // S3 receives the whole failed batch (SQS/SNS would get metadata only). CDK's
        // S3OnFailureDestination grants read/write/delete; the ESM needs PutObject and
        // ListBucket (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html).
        onFailure: { bind: () => ({ destination: this.failureBucket.bucketArn }) },
      }),
    );
    const bucketArn = nagRef(this.failureBucket.node.defaultChild as s3.CfnBucket, 'Arn');
    acknowledgeFindings(
      this.reflector.role,
      'AwsSolutions-IAM5',
      [`Resource::${bucketArn}/*`],
      'Objects inside the failure bucket only: keys are made per record at run time.',
    );

    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      topicName: `${RESOURCE_PREFIX}alarms`,
      displayName: 'log-reflector alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    if (c.alarmEmail) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(c.alarmEmail));

    this.coverage = this.addCoverageAggregator(c, sourceRegions.valueAsList);
    ({ bus: this.alarmBus, stackSetFailures: this.stackSetFailures } = this.addAlarmBus());
    this.addAlarmsAndDashboard(c);
  }

  /**
   * The central state bucket. Its name comes from the org stack (`StateBucketName`, derived
   * from the org stack's id: a reinstall gets a new bucket, the old one is retained), because
   * the reconciler in the management account must name it in its own policy and environment.
   * The reconciler's role may put the enrolled list, and nothing else: principal its account,
   * condition its role's ARN (a bucket policy naming a role that does not exist yet would be
   * refused, and the central StackSet deploys before the org stack creates the reconciler;
   * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn).
   * SSE-S3: a cross-account writer needs no grant on a KMS key.
   */
  private createStateBucket(): s3.Bucket {
    const name = new CfnParameter(this, 'StateBucketName', {
      type: 'String',
      allowedPattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
      description: 'Name of the central state bucket (set by the org stack)',
    });
    const reconcilerAccount = new CfnParameter(this, 'ReconcilerAccountId', {
      type: 'String',
      allowedPattern: '^\\d{12}$',
      description: 'Account of the enrollment reconciler (management account or delegated admin)',
    });
    const reconcilerRole = new CfnParameter(this, 'ReconcilerRoleName', {
      type: 'String',
      allowedPattern: '^[\\w+=,.@-]{1,64}$',
      description: 'Name of the enrollment reconciler role, allowed to publish the enrolled list',
    });
    const bucket = new s3.Bucket(this, 'StateBucket', {
      bucketName: name.valueAsString,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(7) }],
    });
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ReconcilerPublishesEnrolledList',
        principals: [new iam.AccountPrincipal(reconcilerAccount.valueAsString)],
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(ENROLLED_LIST_KEY)],
        conditions: {
          ArnEquals: {
            'aws:PrincipalArn': `arn:${Aws.PARTITION}:iam::${reconcilerAccount.valueAsString}:role/${reconcilerRole.valueAsString}`,
          },
        },
      }),
    );
    // Coverage reports (docs/member.md, "Coverage report"): any principal of the organization may
    // put objects under coverage/<its own account>/ only. `${aws:PrincipalAccount}` is a policy
    // variable (global condition keys are; https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html),
    // resolved from the request, so a member can write, or misreport, nothing but its own account;
    // aws:PrincipalOrgID keeps everyone else out
    // (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgid),
    // and the role names narrow it to our sweep and backfill roles. A fixed aws:PrincipalOrgID makes
    // the policy non-public, so Block Public Access accepts it
    // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html#access-control-block-public-access-policy-status).
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'MembersPutOwnCoverageReport',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(`${COVERAGE_PREFIX}\${aws:PrincipalAccount}/*`)],
        conditions: {
          StringEquals: { 'aws:PrincipalOrgID': this.organizationId },
          ArnLike: {
            'aws:PrincipalArn': [
              `arn:${Aws.PARTITION}:iam::*:role/${FUNCTION_NAMES.sweep}-*`,
              `arn:${Aws.PARTITION}:iam::*:role/${FUNCTION_NAMES.backfill}-*`,
            ],
          },
        },
      }),
    );
    // The cleanup worker's progress report (member/cleanup/report.ts), under the same account
    // prefix but in its own statement: its role (log-reflector-cleanup-<install id>-<region>,
    // member-stack.ts CleanupWorker) may put `coverage/<its own account>/cleanup/*` only, never
    // the coverage report itself. Same keys and conditions as above: aws:PrincipalArn is the
    // role's ARN for a role session (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn).
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CleanupWorkersPutOwnProgress',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(`${COVERAGE_PREFIX}\${aws:PrincipalAccount}/cleanup/*`)],
        conditions: {
          StringEquals: { 'aws:PrincipalOrgID': this.organizationId },
          ArnLike: { 'aws:PrincipalArn': `arn:${Aws.PARTITION}:iam::*:role/${CLEANUP_PREFIX}*` },
        },
      }),
    );
    // `log-reflector coverage` with management credentials alone: the index and the enrolled
    // list, read-only (docs/runbook.md, "Coverage").
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ManagementReadsCoverageIndex',
        principals: [new iam.AccountPrincipal(reconcilerAccount.valueAsString)],
        actions: ['s3:GetObject'],
        resources: [bucket.arnForObjects(COVERAGE_INDEX_KEY), bucket.arnForObjects(ENROLLED_LIST_KEY)],
      }),
    );
    this.reconcilerAccountId = reconcilerAccount.valueAsString;
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Holds small state documents (the enrolled list, coverage reports and their index) written by our roles and read by the reflector, the aggregator and the CLI; access is recorded by the organization CloudTrail trail. A separate access-log bucket would itself need an exception.',
    });
    return bucket;
  }

  /**
   * `log-reflector-coverage` (central/coverage/handler.ts): every hour it reads the members'
   * coverage reports and the enrolled list, writes the index `log-reflector coverage` reads, and
   * publishes CoveragePercent and the figures the alarms watch. Why a scheduled function: a
   * member's metrics stay in its own account and region, so an org-wide figure needs one reader
   * of every report (docs/architecture.md, "Coverage").
   */
  private addCoverageAggregator(c: DeploymentConfig, regions: string[]): InlineFunction {
    const bucket = this.stateBucket;
    const fn = new InlineFunction(this, 'Coverage', {
      entry: 'central/coverage/handler.ts',
      functionName: COVERAGE_FUNCTION_NAME,
      description: 'Builds the org-wide coverage index and metrics from the member stacks’ reports',
      serviceName: 'coverage',
      memorySizeMb: 512,
      timeoutSeconds: 300,
      environment: {
        STATE_BUCKET: bucket.bucketName,
        REGIONS: Fn.join(',', regions),
        HOME_REGION: Aws.REGION,
        CENTRAL_ACCOUNT_ID: Aws.ACCOUNT_ID,
        // A report older than two sweep periods and an hour means the sweep there is not running.
        STALE_AFTER_MINUTES: String(2 * c.sweepIntervalMinutes + 60),
      } satisfies Partial<Record<keyof z.input<typeof CoverageEnvSchema>, string>>,
    });
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListCoverageReports',
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${COVERAGE_PREFIX}*`] } },
      }),
    );
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadCoverageReportsAndEnrolledList',
        actions: ['s3:GetObject'],
        resources: [bucket.arnForObjects(`${COVERAGE_PREFIX}*`), bucket.arnForObjects(ENROLLED_LIST_KEY)],
      }),
    );
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteCoverageIndex',
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(COVERAGE_INDEX_KEY)],
      }),
    );
    acknowledgeFindings(
      fn.role,
      'AwsSolutions-IAM5',
      [
        `Resource::<${Stack.of(this).getLogicalId(bucket.node.defaultChild as s3.CfnBucket)}.Arn>/${COVERAGE_PREFIX}*`,
      ],
      'Every member report: one object per account × region, named by the members at run time.',
    );
    new events.Rule(this, 'CoverageSchedule', {
      ruleName: `${RESOURCE_PREFIX}coverage`,
      description: 'Hourly log-reflector coverage aggregation',
      schedule: events.Schedule.rate(Duration.minutes(COVERAGE_INTERVAL_MINUTES)),
      targets: [new targets.LambdaFunction(fn.function, { retryAttempts: 2 })],
    });
    return fn;
  }

  /**
   * The management account's signals reach the central alarm topic through this bus
   * (docs/runbook.md): CloudWatch alarms can act on an SNS topic in their own Region, and their
   * state changes are EventBridge events in their own account
   * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html);
   * EventBridge is the documented way to send events between accounts: the receiving bus's
   * resource policy admits the sender, and the sender's rule uses an IAM role
   * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html). Only the
   * org stack's account (management or delegated admin) sends here.
   * - alarm state changes of its alarms → the alarm topic, as a readable line;
   * - failed StackSet operations and stack instances → a queue that keeps them (alarmed while not
   *   empty), so a burst of instance failures is one alarm, not an e-mail per instance.
   */
  private addAlarmBus(): { bus: events.EventBus; stackSetFailures: sqs.Queue } {
    const bus = new events.EventBus(this, 'AlarmBus', { eventBusName: ALARM_BUS_NAME });
    bus.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OrgStackAccountSendsSignals',
        principals: [new iam.AccountPrincipal(this.reconcilerAccountId)],
        actions: ['events:PutEvents'],
        resources: [bus.eventBusArn],
      }),
    );
    const alarmsRule = new events.Rule(this, 'ManagementAlarmsRule', {
      ruleName: `${RESOURCE_PREFIX}management-alarms`,
      description: 'State changes of the log-reflector alarms in the management account → alarm topic',
      eventBus: bus,
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: ['CloudWatch Alarm State Change'],
        detail: { alarmName: [{ prefix: RESOURCE_PREFIX }] },
      },
    });
    // The topic's policy admits EventBridge for this rule only (aws:SourceArn), as the EventBridge
    // docs show for SNS targets (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions);
    // targets.SnsTopic would add a statement without that condition.
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ManagementAlarmsRulePublishes',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: { ArnEquals: { 'aws:SourceArn': alarmsRule.ruleArn } },
      }),
    );
    const message = events.RuleTargetInput.fromText(
      `log-reflector alarm ${events.EventField.fromPath('$.detail.alarmName')} is ${events.EventField.fromPath('$.detail.state.value')} in account ${events.EventField.account}, ${events.EventField.region}: ${events.EventField.fromPath('$.detail.state.reason')} (docs/runbook.md)`,
    );
    alarmsRule.addTarget({ bind: () => ({ arn: this.alarmTopic.topicArn, input: message }) });
    const stackSetFailures = new sqs.Queue(this, 'StackSetFailures', {
      queueName: `${RESOURCE_PREFIX}stackset-failures`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(stackSetFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'An inbox of failure events for an operator to read (docs/runbook.md); nothing consumes it, so nothing can fail to process it.',
    });
    const failuresRule = new events.Rule(this, 'StackSetFailuresRule', {
      ruleName: `${RESOURCE_PREFIX}stackset-failures`,
      description:
        'Failed log-reflector StackSet operations and stack instances (from the management account) → queue',
      eventBus: bus,
      eventPattern: {
        source: ['aws.cloudformation'],
        detailType: [
          'CloudFormation StackSet Operation Status Change',
          'CloudFormation StackSet StackInstance Status Change',
        ],
      },
      targets: [new targets.SqsQueue(stackSetFailures)],
    });
    // The rules name their bus by its (fixed) name, which EventBridge accepts as well as the ARN,
    // and wait for it explicitly: moto's CloudFormation cannot resolve a Ref to a bus in a rule
    // (the deploy rehearsal, test/central/rehearsal.moto.test.ts).
    for (const rule of [alarmsRule, failuresRule]) {
      (rule.node.defaultChild as events.CfnRule).eventBusName = ALARM_BUS_NAME;
      rule.node.addDependency(bus);
    }
    return { bus, stackSetFailures };
  }

  private createSumoSecret(): secretsmanager.Secret {
    // Named `log-reflector/sumo-endpoint-<first part of this stack's id>`: every install (a new
    // stack) gets a name of its own, so a secret left behind, or still in Secrets Manager's
    // recovery window after a delete, never blocks the next install. It holds only the URL,
    // which Sumo also has, so it goes with the stack.
    const stackIdSuffix = Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID))));
    const secret = new secretsmanager.Secret(this, 'SumoSecret', {
      secretName: Fn.join('', [`${DEFAULT_SUMO_SECRET_NAME}-`, stackIdSuffix]),
      description:
        'Sumo Logic HTTP source URL for log-reflector. Put the URL here after the first deploy (docs/deploy.md).',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The value is a Sumo Logic HTTP source URL issued by Sumo; it can only be rotated in Sumo, not by a rotation Lambda. docs/deploy.md says how to replace it.',
    });
    return secret;
  }

  private addAlarmsAndDashboard(c: DeploymentConfig): void {
    const fn = this.reflector.function;
    const action = new cwActions.SnsAction(this.alarmTopic);
    const period = Duration.minutes(5);
    const metric = (name: string, statistic = 'Sum') =>
      new cloudwatch.Metric({
        namespace: 'LogReflector',
        metricName: name,
        dimensionsMap: { service: 'reflector' },
        statistic,
        period,
      });
    const coverage = (name: string, statistic = 'Maximum') =>
      new cloudwatch.Metric({
        namespace: 'LogReflector',
        metricName: name,
        dimensionsMap: { service: 'coverage' },
        statistic,
        period: Duration.minutes(COVERAGE_INTERVAL_MINUTES),
      });

    // Every alarm fires above zero (or above the iterator-age limit), missing data is fine.
    const alarm = (
      id: string,
      name: string,
      description: string,
      metric: cloudwatch.IMetric,
      threshold = 0,
      evaluationPeriods = 3,
    ) =>
      new cloudwatch.Alarm(this, id, {
        alarmName: `${RESOURCE_PREFIX}${name}`,
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const alarms: cloudwatch.Alarm[] = [
      alarm(
        'IteratorAgeAlarm',
        'iterator-age',
        'The reflector is more than 5 minutes behind the stream',
        fn.metric('IteratorAge', { statistic: 'Maximum', period }),
        5 * 60 * 1000,
      ),
      alarm(
        'ErrorsAlarm',
        'reflector-errors',
        'Reflector invocations fail (records are retried, then parked in the failure bucket)',
        fn.metricErrors({ period }),
      ),
      alarm(
        'ThrottlesAlarm',
        'reflector-throttles',
        'Reflector invocations are throttled (account concurrency)',
        fn.metricThrottles({ period }),
      ),
      alarm(
        'FailureBucketAlarm',
        'failure-bucket-objects',
        'Records were parked in the failure bucket (malformed, or retries/age exhausted): inspect and `log-reflector replay`',
        new cloudwatch.Metric({
          namespace: 'AWS/S3',
          metricName: 'PutRequests',
          dimensionsMap: { BucketName: this.failureBucket.bucketName, FilterId: 'All' },
          statistic: 'Sum',
          period,
        }),
        0,
        1,
      ),
    ];
    alarms.push(
      alarm(
        'EnrollmentListAlarm',
        'enrollment-list-unavailable',
        'The reflector cannot read the enrolled list (enrollment/accounts.json): batches go back to Kinesis until it can (docs/enrollment.md)',
        metric('EnrollmentListUnavailable'),
        0,
        1,
      ),
      alarm(
        'EnrollmentListAgeAlarm',
        'enrollment-list-age',
        'The enrolled list was last published over 2 hours ago: is the enrollment reconciler running? (docs/enrollment.md)',
        metric('EnrollmentListAgeSeconds', 'Maximum'),
        2 * 60 * 60,
        3,
      ),
    );
    alarms.push(
      alarm(
        'KinesisWriteThrottlesAlarm',
        'kinesis-write-throttles',
        'Writes to the log-reflector stream are throttled for 15 minutes: CloudWatch Logs retries, delivery lags (docs/capacity.md)',
        this.stream.metricWriteProvisionedThroughputExceeded({ period, statistic: 'Sum' }),
        0,
        3,
      ),
    );
    alarms.push(...this.coverageAlarms(c));
    const failures = this.stackSetFailures.metricApproximateNumberOfMessagesVisible({
      period,
      statistic: 'Maximum',
    });
    alarms.push(
      alarm(
        'StackSetFailuresAlarm',
        'stackset-failures',
        'A log-reflector StackSet operation or stack instance failed (event in the log-reflector-stackset-failures queue; docs/runbook.md)',
        failures,
        0,
        1,
      ),
    );
    for (const alarm of alarms) alarm.addAlarmAction(action);

    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: 'log-reflector',
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Stream in (records)',
            left: [this.stream.metricIncomingRecords({ period })],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Reflector iterator age (ms)',
            left: [fn.metric('IteratorAge', { statistic: 'Maximum', period })],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Reflector errors / throttles',
            left: [fn.metricErrors({ period }), fn.metricThrottles({ period })],
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Events in / sent',
            left: [metric('EventsIn'), metric('EventsSent')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Retries / failed / malformed records',
            left: [metric('Retries'), metric('FailedRecords'), metric('MalformedRecords')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Events not enrolled (not forwarded) / list unavailable',
            left: [metric('EventsNotEnrolled'), metric('EnrollmentListUnavailable')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Failure bucket writes',
            left: [alarms[3]?.metric ?? metric('MalformedRecords')],
            width: 8,
          }),
        ],
        [
          new cloudwatch.SingleValueWidget({
            title: 'Org-wide coverage (%)',
            metrics: [coverage('CoveragePercent', 'Minimum')],
            width: 6,
          }),
          new cloudwatch.GraphWidget({
            title: 'Coverage (%)',
            left: [coverage('CoveragePercent', 'Minimum')],
            leftYAxis: { min: 0, max: 100 },
            width: 6,
          }),
          new cloudwatch.GraphWidget({
            title: 'Log groups: eligible / subscribed / conflicts / failed',
            left: [coverage('GroupsEligible'), coverage('GroupsSubscribed')],
            right: [coverage('GroupsConflicts'), coverage('GroupsFailed')],
            width: 6,
          }),
          new cloudwatch.GraphWidget({
            title: 'Member stacks: reports overdue / runs stopped / dead letters',
            left: [coverage('ReportsOverdue'), coverage('RunErrors'), coverage('DeadLetterMessages')],
            width: 6,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Stream write throttles / StackSet failures waiting',
            left: [this.stream.metricWriteProvisionedThroughputExceeded({ period, statistic: 'Sum' })],
            right: [failures],
            width: 12,
          }),
        ],
      ],
    });
  }

  /**
   * Alarms on the org-wide figures the aggregator publishes hourly (metrics of service
   * `coverage`): what the member stacks report reaches this topic (docs/runbook.md).
   */
  private coverageAlarms(c: DeploymentConfig): cloudwatch.Alarm[] {
    const hour = Duration.minutes(COVERAGE_INTERVAL_MINUTES);
    const m = (name: string) =>
      new cloudwatch.Metric({
        namespace: 'LogReflector',
        metricName: name,
        dimensionsMap: { service: 'coverage' },
        statistic: 'Maximum',
        period: hour,
      });
    const above = (
      id: string,
      name: string,
      description: string,
      metric: cloudwatch.IMetric,
      evaluationPeriods = 1,
      missing = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) =>
      new cloudwatch.Alarm(this, id, {
        alarmName: `${RESOURCE_PREFIX}${name}`,
        alarmDescription: description,
        metric,
        threshold: 0,
        evaluationPeriods,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: missing,
      });
    return [
      above(
        'DeadLettersAlarm',
        'member-dead-letters',
        'Subscriber events parked in a member dead-letter queue (CreateLogGroup events it could not handle; the sweep re-plans those groups). `log-reflector coverage --problems` names the accounts (docs/runbook.md)',
        m('DeadLetterMessages'),
      ),
      above(
        'MemberRunErrorsAlarm',
        'member-run-errors',
        'A member sweep or backfill run stopped on an error (access denied, bad configuration, listing failed, hop limit). `log-reflector coverage --problems` (docs/runbook.md)',
        m('RunErrors'),
      ),
      above(
        'MemberGroupFailuresAlarm',
        'member-group-failures',
        'Log groups whose subscription failed after retries in a member account (retried next sweep). `log-reflector coverage --problems` (docs/runbook.md)',
        m('GroupsFailed'),
      ),
      above(
        'ConflictsRisingAlarm',
        'conflicts-rising',
        'More log groups than an hour ago have every filter slot held by someone else (never taken over; docs/troubleshooting.md)',
        new cloudwatch.MathExpression({
          expression: 'DIFF(conflicts)',
          usingMetrics: { conflicts: m('GroupsConflicts') },
          period: hour,
          label: 'new conflicts',
        }),
      ),
      above(
        'ReportsOverdueAlarm',
        'coverage-reports-overdue',
        `Enrolled account × regions without a coverage report younger than ${2 * c.sweepIntervalMinutes + 60} minutes for two hours: a member stack missing, failed, or its sweep (account scope: its periodic check) not running (docs/troubleshooting.md)`,
        m('ReportsOverdue'),
        2,
      ),
      new cloudwatch.Alarm(this, 'CoverageAggregationAlarm', {
        alarmName: `${RESOURCE_PREFIX}coverage-aggregation`,
        alarmDescription:
          'log-reflector-coverage has not completed an aggregation for two hours: the coverage index, the dashboard and the member alarms are blind (docs/runbook.md)',
        metric: m('AggregationsCompleted'),
        threshold: 1,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    ];
  }
}
