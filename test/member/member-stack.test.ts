/** The member template: sender role, subscriber rule + DLQ, backfill, sweep, Enrollment wiring. */
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleHandler } from '../../shared/constructs/bundle';
import { exampleConfig, type Synthesized, synthesize } from '../support/synth';

type Statement = { Action: string | string[]; Resource: unknown };

describe('member stack template', () => {
  let s: Synthesized;
  let json: {
    Parameters: Record<string, { Default?: string; AllowedValues?: string[] }>;
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  };
  beforeAll(() => {
    s = synthesize(exampleConfig());
    json = s.member.toJSON() as typeof json;
  });

  it('has an Enrollment parameter, enabled by default, that switches the rule and the sweep', () => {
    expect(json.Parameters.Enrollment).toStrictEqual({
      Type: 'String',
      AllowedValues: ['enabled', 'disabled'],
      Default: 'enabled',
      Description: expect.stringContaining('enrollment reconciler'),
    });
    for (const name of ['log-reflector-create-log-group', 'log-reflector-sweep']) {
      s.member.hasResourceProperties('AWS::Events::Rule', {
        Name: name,
        State: { 'Fn::If': ['IsEnabled', 'ENABLED', 'DISABLED'] },
      });
    }
  });

  it('passes Enrollment to the backfill custom resource (disabled → Update removes our filters)', () => {
    s.member.hasResourceProperties('AWS::CloudFormation::CustomResource', {
      ServiceToken: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackfillFunction'), 'Arn'] },
      Enrollment: { 'Fn::If': ['IsCentralElsewhere', 'disabled', { Ref: 'Enrollment' }] },
      FilterName: { 'Fn::Join': ['-', [{ Ref: 'FilterNameBase' }, { Ref: 'AWS::Region' }]] },
      DestinationArn: Match.anyValue(),
      SenderRoleArn: Match.anyValue(),
      Include: { Ref: 'IncludePatterns' },
      Exclude: { Ref: 'ExcludePatterns' },
    });
    for (const fn of ['log-reflector-subscriber', 'log-reflector-backfill', 'log-reflector-sweep']) {
      s.member.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: fn,
        Environment: {
          Variables: Match.objectLike({
            ENROLLMENT: { 'Fn::If': ['IsCentralElsewhere', 'disabled', { Ref: 'Enrollment' }] },
          }),
        },
      });
    }
  });

  it('in the central account, subscribes home-region groups to the stream itself and leaves other regions disabled', () => {
    // A destination is for cross-account delivery; in its own account a log group subscribes to
    // a Kinesis stream of the same account (and region) directly (PutSubscriptionFilter,
    // https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutSubscriptionFilter.html).
    expect(json.Parameters.HomeRegion?.Default).toBe('eu-west-1');
    s.member.hasCondition('IsCentralAccount', {
      'Fn::Equals': [{ Ref: 'AWS::AccountId' }, { Ref: 'CentralAccountId' }],
    });
    s.member.hasCondition('IsCentralHome', {
      'Fn::And': [{ Condition: 'IsCentralAccount' }, { Condition: 'IsHomeRegion' }],
    });
    s.member.hasCondition('IsEnabled', {
      'Fn::And': [
        { 'Fn::Equals': [{ Ref: 'Enrollment' }, 'enabled'] },
        { 'Fn::Not': [{ Condition: 'IsCentralElsewhere' }] },
      ],
    });
    const subscriber = Object.values(json.Resources).find(
      (r) => r.Properties.FunctionName === 'log-reflector-subscriber',
    );
    const env =
      (subscriber?.Properties.Environment as { Variables: Record<string, unknown> } | undefined)?.Variables ??
      {};
    const destination = JSON.stringify(env.DESTINATION_ARN);
    expect(destination).toMatch(/^\{"Fn::If":\["IsCentralHome",/);
    expect(destination).toContain(':kinesis:');
    expect(destination).toContain('"Ref":"HomeRegion"');
    expect(destination).toContain(':stream/log-reflector');
    expect(destination).toContain(':destination:log-reflector');
    const role = JSON.stringify(env.SENDER_ROLE_ARN);
    expect(role).toMatch(/^\{"Fn::If":\["IsCentralHome",/);
    expect(role).toContain(':role/log-reflector-logs-to-kinesis');
    expect(env.ENROLLMENT).toStrictEqual({
      'Fn::If': ['IsCentralElsewhere', 'disabled', { Ref: 'Enrollment' }],
    });
    // The backfill gets the same values, so its Update follows them too.
    s.member.hasResourceProperties('AWS::CloudFormation::CustomResource', {
      DestinationArn: env.DESTINATION_ARN,
      SenderRoleArn: env.SENDER_ROLE_ARN,
      Enrollment: env.ENROLLMENT,
    });
  });

  it('always excludes our own log groups', () => {
    expect(json.Parameters.ExcludePatterns?.Default).toBe(
      '/aws/lambda/log-reflector-*,/aws/lambda/*-canary*',
    );
    s.member.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'log-reflector-subscriber',
      Environment: { Variables: Match.objectLike({ EXCLUDE: { Ref: 'ExcludePatterns' } }) },
    });
  });

  it('subscribes on successful CreateLogGroup calls only, with retries and a dead-letter queue', () => {
    s.member.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.logs'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['logs.amazonaws.com'],
          eventName: ['CreateLogGroup'],
          errorCode: [{ exists: false }],
        },
      },
      Targets: [
        Match.objectLike({
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21600 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLetterQueue'), 'Arn'] } },
        }),
      ],
    });
    s.member.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    s.member.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  it('gives CloudWatch Logs the sender role AWS documents for organization destinations', () => {
    // "Step 2: (Only if using an organization) Create an IAM role":
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CreateSubscriptionFilter-IAMrole.html
    // trust logs.amazonaws.com (no condition), logs:PutLogEvents on the sender's log groups.
    s.member.hasResourceProperties('AWS::IAM::Role', {
      RoleName: { 'Fn::Join': ['', ['log-reflector-sender-', { Ref: 'AWS::Region' }]] },
      AssumeRolePolicyDocument: {
        Statement: [
          { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'logs.amazonaws.com' } },
        ],
        Version: '2012-10-17',
      },
      Policies: [
        {
          PolicyName: 'deliver',
          PolicyDocument: {
            Statement: [
              {
                Action: 'logs:PutLogEvents',
                Effect: 'Allow',
                Resource: {
                  'Fn::Join': [
                    '',
                    [
                      'arn:',
                      { Ref: 'AWS::Partition' },
                      ':logs:',
                      { Ref: 'AWS::Region' },
                      ':',
                      { Ref: 'AWS::AccountId' },
                      ':log-group:*',
                    ],
                  ],
                },
              },
            ],
            Version: '2012-10-17',
          },
        },
      ],
    });
  });

  it('scopes the member functions to log groups, the destination, and passing the sender role', () => {
    const policies = Object.entries(json.Resources).filter(([, r]) => r.Type === 'AWS::IAM::Policy');
    expect(policies.length).toBe(3);
    for (const [, policy] of policies) {
      const statements = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
      for (const st of statements) {
        expect([st.Action].flat()).not.toContain('*');
        expect(st.Resource).not.toBe('*');
      }
      const pass = statements.find((st) => [st.Action].flat().includes('iam:PassRole'));
      expect(pass).toMatchObject({
        Condition: { StringEquals: { 'iam:PassedToService': 'logs.amazonaws.com' } },
      });
    }
  });

  it('names every function log-reflector-* on a current runtime, inline', () => {
    const fns = Object.values(json.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(fns.map((f) => f.Properties.FunctionName).sort()).toStrictEqual([
      'log-reflector-backfill',
      'log-reflector-subscriber',
      'log-reflector-sweep',
    ]);
    for (const f of fns) {
      expect(f.Properties.Runtime).toBe('nodejs24.x');
      expect(f.Properties.Code).toStrictEqual({ ZipFile: expect.any(String) });
    }
  });

  it('bakes no account or region of the config into the template', () => {
    const text = JSON.stringify(json.Resources);
    expect(text).not.toContain('111111111111');
    expect(text).not.toContain('222222222222');
    expect(text).not.toMatch(/eu-west-1|eu-central-1|us-east-1/);
  });
});

describe('inline bundles', () => {
  it.each([
    ['central/reflector/handler.ts', 150 * 1024],
    ['member/subscriber/handler.ts', 200 * 1024],
    ['member/backfill/handler.ts', 200 * 1024],
    ['member/sweep/handler.ts', 200 * 1024],
    ['central/enrollment/handler.ts', 150 * 1024],
  ])('%s stays under its budget', (entry, budget) => {
    const b = bundleHandler(entry);
    expect(b.bytes).toBeGreaterThan(1000);
    expect(b.bytes).toBeLessThan(budget);
    expect(b.code).not.toMatch(/require\("aws-cdk-lib/);
  });
});

describe('member stack ordering and self-continuation', () => {
  it('deletes both rules before the backfill removes our filters, and lets backfill and sweep re-invoke themselves', () => {
    const t = synthesize(exampleConfig()).member;
    const json = t.toJSON() as {
      Resources: Record<string, { Type: string; DependsOn?: string[]; Properties: Record<string, unknown> }>;
    };
    const backfillId = Object.entries(json.Resources).find(
      ([, r]) => r.Type === 'AWS::CloudFormation::CustomResource',
    )?.[0];
    expect(backfillId).toBeDefined();
    const rules = Object.values(json.Resources).filter((r) => r.Type === 'AWS::Events::Rule');
    expect(rules.length).toBe(2);
    for (const rule of rules) expect(rule.DependsOn ?? []).toContain(backfillId);
    for (const fn of ['log-reflector-backfill', 'log-reflector-sweep']) {
      expect(JSON.stringify(json.Resources)).toContain(`:function:${fn}"`);
    }
    t.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Sid: 'ContinueOnAFreshInvocation', Action: 'lambda:InvokeFunction' }),
        ]),
      },
    });
  });
});
