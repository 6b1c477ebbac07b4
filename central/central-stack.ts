/**
 * The central stack: deployed by the central StackSet into the central account (e.g. Log
 * Archive), home region only. Infrastructure code.
 *
 * Kinesis stream (KMS) ← every regional destination; event source mapping → reflector →
 * Sumo; a failure bucket for what can never be forwarded (ESM on-failure records and
 * malformed records, replayable); the Sumo URL in Secrets Manager; the role CloudWatch Logs
 * assumes to write the stream; alarms and a dashboard.
 */
import { Aws, CfnParameter, Duration, Fn, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { StackSetStack } from 'cdk-stacksets';
import type { Construct } from 'constructs';
import { type DeploymentConfig, renderSumoFields } from '../shared/config';
import { ENROLLED_LIST_KEY } from '../shared/enrollment';
import { FUNCTION_NAMES, LOGS_TO_KINESIS_ROLE_NAME, RESOURCE_PREFIX, STREAM_NAME } from '../shared/naming';
import type * as z from '../shared/zod';
import type { ReflectorEnvSchema } from './reflector/env';

export { LOGS_TO_KINESIS_ROLE_NAME, STREAM_NAME };

import { InlineFunction } from '../shared/constructs/inline-function';
import { acknowledgeFindings, nagRef } from '../shared/constructs/nag';

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

  constructor(scope: Construct, id: string, props: CentralStackProps) {
    super(scope, id);
    const c = props.config;
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

    this.addAlarmsAndDashboard();
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
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Holds small state documents (the enrolled list) written by one role and read by the reflector; access is recorded by the organization CloudTrail trail. A separate access-log bucket would itself need an exception.',
    });
    return bucket;
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

  private addAlarmsAndDashboard(): void {
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
      ],
    });
  }
}
