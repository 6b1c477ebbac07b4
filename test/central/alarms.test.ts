/**
 * Alarms that reach someone (issue 12.2): every signal ends at the central alarm topic. Central
 * alarms act on it directly; the management account's alarms and StackSet failures travel over
 * EventBridge to the central `log-reflector-alarms` bus (policy: the org stack's account only);
 * member accounts report through the coverage reports in the central state bucket (policy: a
 * principal of the organization, its own account's prefix only), which the hourly aggregator turns
 * into the metrics the central alarms watch. docs/runbook.md has an entry for every alarm.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/constructs/bundle';
import { exampleConfig, type Synthesized, synthesize } from '../support/synth';

type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };
type Statement = {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};

let s: Synthesized;
let central: Record<string, Resource>;
let org: Record<string, Resource>;
const ORG_ID = exampleConfig().organizationId as string;
const CENTRAL_ACCOUNT = exampleConfig().centralAccountId as string;

beforeAll(() => {
  s = synthesize(exampleConfig());
  central = (s.central.toJSON() as { Resources: Record<string, Resource> }).Resources;
  org = (s.org.toJSON() as { Resources: Record<string, Resource> }).Resources;
});

const ofType = (resources: Record<string, Resource>, type: string) =>
  Object.entries(resources).filter(([, r]) => r.Type === type);
const alarmNames = (resources: Record<string, Resource>) =>
  ofType(resources, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties.AlarmName as string);
const idOf = (resources: Record<string, Resource>, type: string, name: string, key = 'Name') => {
  const found = ofType(resources, type).find(([, r]) => r.Properties[key] === name);
  if (!found) throw new Error(`no ${type} named ${name}`);
  return found[0];
};

const topicId = () => ofType(central, 'AWS::SNS::Topic')[0]?.[0];

function stateBucketStatements(): Statement[] {
  const bucketId = ofType(central, 'AWS::S3::Bucket').find(
    ([, r]) => JSON.stringify(r.Properties.BucketName) === JSON.stringify({ Ref: 'StateBucketName' }),
  )?.[0];
  const policy = ofType(central, 'AWS::S3::BucketPolicy').find(
    ([, r]) => JSON.stringify(r.Properties.Bucket) === JSON.stringify({ Ref: bucketId }),
  )?.[1];
  if (!policy) throw new Error('no policy on the central state bucket');
  return (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
}

describe('member reports into the central state bucket', () => {
  it('admits principals of the organization to put objects under their own account only, from our sweep and backfill roles', () => {
    const st = stateBucketStatements().find((x) => x.Sid === 'MembersPutOwnCoverageReport');
    expect(st).toMatchObject({ Effect: 'Allow', Principal: { AWS: '*' }, Action: 's3:PutObject' });
    expect(JSON.stringify(st?.Resource)).toMatch(/"\/coverage\/\$\{aws:PrincipalAccount\}\/\*"\]\]\}$/);
    expect(st?.Condition?.StringEquals).toStrictEqual({ 'aws:PrincipalOrgID': ORG_ID });
    expect(JSON.stringify(st?.Condition?.ArnLike?.['aws:PrincipalArn'])).toBe(
      JSON.stringify([
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::*:role/log-reflector-sweep-*']] },
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::*:role/log-reflector-backfill-*']] },
      ]),
    );
  });

  it('admits the cleanup worker roles of the organization to put their progress report under their own account only (issue 15.3)', () => {
    const st = stateBucketStatements().find((x) => x.Sid === 'CleanupWorkersPutOwnProgress');
    expect(st).toMatchObject({ Effect: 'Allow', Principal: { AWS: '*' }, Action: 's3:PutObject' });
    expect(JSON.stringify(st?.Resource)).toMatch(
      /"\/coverage\/\$\{aws:PrincipalAccount\}\/cleanup\/\*"\]\]\}$/,
    );
    expect(st?.Condition?.StringEquals).toStrictEqual({ 'aws:PrincipalOrgID': ORG_ID });
    const pattern = st?.Condition?.ArnLike?.['aws:PrincipalArn'];
    expect(pattern).toStrictEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::*:role/log-reflector-cleanup-*']],
    });
    // The worker's actual role name (member template) and report key fall under it.
    const member = (s.member.toJSON() as { Resources: Record<string, Resource> }).Resources;
    const role = Object.entries(member).find(
      ([id, r]) => id.startsWith('Cleanup') && r.Type === 'AWS::IAM::Role',
    )?.[1];
    expect(JSON.stringify(role?.Properties.RoleName)).toMatch(
      /^\{"Fn::Join":\["",\["log-reflector-cleanup-",/,
    );
    const fn = Object.entries(member).find(
      ([id, r]) => id.startsWith('Cleanup') && r.Type === 'AWS::Lambda::Function',
    )?.[1];
    const env = fn?.Properties.Environment as { Variables: Record<string, unknown> } | undefined;
    const key = JSON.stringify(env?.Variables.CLEANUP_REPORT_KEY);
    expect(key).toBe(
      JSON.stringify({
        'Fn::Join': [
          '',
          ['coverage/', { Ref: 'AWS::AccountId' }, '/cleanup/', { Ref: 'AWS::Region' }, '.json'],
        ],
      }),
    );
    // The coverage statement does not admit the worker (its role names are sweep-* and backfill-*).
    const coverage = stateBucketStatements().find((x) => x.Sid === 'MembersPutOwnCoverageReport');
    expect(JSON.stringify(coverage?.Condition?.ArnLike)).not.toContain('cleanup');
  });

  it('opens nothing else to the organization, and lets the org stack account read only the index and the list', () => {
    const statements = stateBucketStatements().filter((x) => x.Effect === 'Allow');
    expect(statements.map((x) => x.Sid).sort()).toStrictEqual([
      'CleanupWorkersPutOwnProgress',
      'ManagementReadsCoverageIndex',
      'MembersPutOwnCoverageReport',
      'ReconcilerPublishesEnrolledList',
    ]);
    const read = statements.find((x) => x.Sid === 'ManagementReadsCoverageIndex');
    expect(read?.Action).toBe('s3:GetObject');
    expect(JSON.stringify(read?.Principal)).toContain('{"Ref":"ReconcilerAccountId"}');
    const keys = JSON.stringify(read?.Resource);
    expect(keys).toContain('/coverage-index/latest.json.gz');
    expect(keys).toContain('/enrollment/accounts.json');
  });

  it('runs the aggregator hourly with read access to the reports and the list, write access to the index only', () => {
    s.central.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'log-reflector-coverage',
      Environment: {
        Variables: Match.objectLike({
          STATE_BUCKET: { Ref: Match.stringLikeRegexp('^StateBucket') },
          REGIONS: { 'Fn::Join': [',', { Ref: 'SourceRegions' }] },
          STALE_AFTER_MINUTES: String(2 * 360 + 60),
        }),
      },
    });
    s.central.hasResourceProperties('AWS::Events::Rule', {
      Name: 'log-reflector-coverage',
      ScheduleExpression: 'rate(1 hour)',
    });
    const role = ofType(central, 'AWS::IAM::Policy').find(([id]) => id.startsWith('CoverageRole'))?.[1];
    if (!role) throw new Error('no policy of the coverage role');
    const statements = (role.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
    const byAction = Object.fromEntries(
      statements.map((x) => [[x.Action].flat().join(','), JSON.stringify(x.Resource)]),
    );
    expect(byAction['s3:PutObject']).toContain('/coverage-index/latest.json.gz');
    expect(byAction['s3:PutObject']).not.toContain('*');
    expect(byAction['s3:GetObject']).toContain('/coverage/*');
    expect(statements.find((x) => x.Action === 's3:ListBucket')?.Condition).toStrictEqual({
      StringLike: { 's3:prefix': ['coverage/*'] },
    });
  });
});

describe('the management account’s signals', () => {
  it('the central bus admits PutEvents from the org stack’s account only', () => {
    s.central.hasResourceProperties('AWS::Events::EventBus', { Name: 'log-reflector-alarms' });
    const policies = ofType(central, 'AWS::Events::EventBusPolicy');
    expect(policies).toHaveLength(1);
    const p = policies[0]?.[1].Properties as { Statement: Statement };
    expect(p.Statement).toMatchObject({
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Principal: {
        AWS: {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'ReconcilerAccountId' }, ':root'],
          ],
        },
      },
    });
  });

  it('alarm state changes go to the topic as one readable line, the topic admitting that rule only', () => {
    const ruleId = idOf(central, 'AWS::Events::Rule', 'log-reflector-management-alarms');
    const rule = central[ruleId] as Resource;
    expect(rule.Properties.EventPattern).toStrictEqual({
      source: ['aws.cloudwatch'],
      'detail-type': ['CloudWatch Alarm State Change'],
      detail: { alarmName: [{ prefix: 'log-reflector-' }] },
    });
    const [target] = rule.Properties.Targets as {
      Arn: unknown;
      InputTransformer: { InputTemplate: string };
    }[];
    expect(target?.Arn).toStrictEqual({ Ref: topicId() });
    expect(target?.InputTransformer.InputTemplate).toContain('is <detail-state-value> in account <account>');
    const topicPolicy = ofType(central, 'AWS::SNS::TopicPolicy')[0]?.[1].Properties.PolicyDocument as {
      Statement: Statement[];
    };
    const events = topicPolicy.Statement.filter((x) =>
      JSON.stringify(x.Principal).includes('events.amazonaws.com'),
    );
    expect(events).toStrictEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'sns:Publish',
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
      }),
    ]);
    // EventBridge may use the topic's key (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
    s.central.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'events.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ]),
      },
    });
  });

  it('StackSet failures land in a queue that alarms while it holds anything', () => {
    const ruleId = idOf(central, 'AWS::Events::Rule', 'log-reflector-stackset-failures');
    const queueId = idOf(central, 'AWS::SQS::Queue', 'log-reflector-stackset-failures', 'QueueName');
    expect((central[ruleId] as Resource).Properties.Targets).toStrictEqual([
      { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] }, Id: 'Target0' },
    ]);
    s.central.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'log-reflector-stackset-failures',
      SqsManagedSseEnabled: true,
    });
    s.central.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'log-reflector-stackset-failures',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('the org stack forwards its alarm states and failed StackSet operations and instances, with a role', () => {
    const forward = ofType(org, 'AWS::Events::Rule').filter(([, r]) =>
      String(r.Properties.Name).startsWith('log-reflector-forward-'),
    );
    expect(forward.map(([, r]) => r.Properties.Name).sort()).toStrictEqual([
      'log-reflector-forward-alarm-states',
      'log-reflector-forward-stack-instance-failures',
      'log-reflector-forward-stackset-operation-failures',
    ]);
    const busArn = JSON.stringify({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          `:events:eu-west-1:${CENTRAL_ACCOUNT}:event-bus/log-reflector-alarms`,
        ],
      ],
    });
    const forwardRoleId = ofType(org, 'AWS::IAM::Role').find(([id]) =>
      id.startsWith('ForwardToCentralRole'),
    )?.[0];
    const centralStackSet = ofType(org, 'AWS::CloudFormation::StackSet').find(
      ([, r]) => r.Properties.StackSetName === 'log-reflector-central',
    )?.[0];
    for (const [, r] of forward) {
      const [target] = r.Properties.Targets as { Arn: unknown; RoleArn: unknown }[];
      expect(JSON.stringify(target?.Arn)).toBe(busArn);
      expect(target?.RoleArn).toStrictEqual({ 'Fn::GetAtt': [forwardRoleId, 'Arn'] });
      expect(r.DependsOn).toContain(centralStackSet);
    }
    const pattern = (name: string) =>
      forward.find(([, r]) => r.Properties.Name === name)?.[1].Properties.EventPattern as Record<
        string,
        unknown
      >;
    expect(pattern('log-reflector-forward-alarm-states')).toStrictEqual({
      source: ['aws.cloudwatch'],
      'detail-type': ['CloudWatch Alarm State Change'],
      detail: { alarmName: [{ prefix: 'log-reflector-' }] },
    });
    expect(pattern('log-reflector-forward-stackset-operation-failures')).toMatchObject({
      'detail-type': ['CloudFormation StackSet Operation Status Change'],
      detail: { 'status-details': { status: ['FAILED', 'STOPPED'] } },
    });
    expect(pattern('log-reflector-forward-stack-instance-failures')).toMatchObject({
      'detail-type': ['CloudFormation StackSet StackInstance Status Change'],
      detail: { 'status-details': { 'detailed-status': ['FAILED'] } },
    });
    expect(JSON.stringify(pattern('log-reflector-forward-stack-instance-failures'))).toContain(
      ':stackset/log-reflector-"]]}}]',
    );
    s.org.hasResourceProperties('AWS::IAM::Role', {
      RoleName: { 'Fn::Join': ['', ['log-reflector-forward-to-central-', { Ref: 'AWS::Region' }]] },
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'events.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ],
      },
    });
    s.org.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: [Match.objectLike({ Action: 'events:PutEvents', Effect: 'Allow' })] },
      Roles: [{ Ref: Match.stringLikeRegexp('^ForwardToCentralRole') }],
    });
  });

  it('alarms on reconciler failures, not on a run that found the lease taken', () => {
    s.org.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'log-reflector-enrollment-errors',
      EvaluationPeriods: 2,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'errors - leaseBusy' }),
        Match.objectLike({
          Id: 'leaseBusy',
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'LeaseBusy' }) }),
        }),
      ]),
    });
  });
});

describe('member and central alarms', () => {
  it('watch the figures the aggregator publishes, the stream’s write throttles and the aggregator itself', () => {
    for (const [name, metric] of [
      ['log-reflector-member-dead-letters', 'DeadLetterMessages'],
      ['log-reflector-member-run-errors', 'RunErrors'],
      ['log-reflector-member-group-failures', 'GroupsFailed'],
      ['log-reflector-coverage-reports-overdue', 'ReportsOverdue'],
    ]) {
      s.central.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: name,
        Namespace: 'LogReflector',
        MetricName: metric,
        Dimensions: [{ Name: 'service', Value: 'coverage' }],
        Period: 3600,
        Threshold: 0,
      });
    }
    s.central.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'log-reflector-conflicts-rising',
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'DIFF(conflicts)' })]),
    });
    s.central.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'log-reflector-coverage-aggregation',
      MetricName: 'AggregationsCompleted',
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
    });
    s.central.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'log-reflector-kinesis-write-throttles',
      Namespace: 'AWS/Kinesis',
      MetricName: 'WriteProvisionedThroughputExceeded',
      EvaluationPeriods: 3,
    });
  });

  it('every central alarm acts on the central topic; every management alarm on its topic and by name on the forward rule', () => {
    for (const [, r] of ofType(central, 'AWS::CloudWatch::Alarm')) {
      expect({ alarm: r.Properties.AlarmName, actions: r.Properties.AlarmActions }).toStrictEqual({
        alarm: r.Properties.AlarmName,
        actions: [{ Ref: topicId() }],
      });
    }
    for (const [, r] of ofType(org, 'AWS::CloudWatch::Alarm')) {
      expect(String(r.Properties.AlarmName)).toMatch(/^log-reflector-/);
      expect(r.Properties.AlarmActions).toHaveLength(1);
    }
  });

  it('the dashboard shows the org-wide coverage %', () => {
    const [, dashboard] = ofType(central, 'AWS::CloudWatch::Dashboard')[0] ?? [];
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    expect(body).toContain('Org-wide coverage (%)');
    expect(body).toContain('\\"LogReflector\\",\\"CoveragePercent\\",\\"service\\",\\"coverage\\"');
  });

  it('docs/runbook.md has an entry for every alarm of every template, by name', () => {
    const runbook = readFileSync(join(PROJECT_ROOT, 'docs', 'runbook.md'), 'utf8');
    const names = [...alarmNames(central), ...alarmNames(org)];
    expect(names.length).toBeGreaterThanOrEqual(17);
    for (const name of names) expect(runbook, name).toContain(`### \`${name}\``);
    // And the forwarded StackSet failures, which are not alarms of their own in the management account.
    expect(runbook).toContain('log-reflector-stackset-failures');
  });
});
