/** The member template: sender role, subscriber rule + DLQ, backfill, sweep, Enrollment wiring. */
import { spawnSync } from 'node:child_process';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleHandler } from '../../shared/constructs/bundle';
import { exampleConfig, type Synthesized, synthesize } from '../support/synth';

type Statement = { Action: string | string[]; Resource: unknown };

/** CloudWatch Logs actions that accept no resource ARN (Service Authorization Reference). */
const ACCOUNT_POLICY_ACTIONS = new Set([
  'logs:DescribeAccountPolicies',
  'logs:PutAccountPolicy',
  'logs:DeleteAccountPolicy',
]);

/** The install id: the first 8 hex digits of the stack's UUID. */
const INSTALL_ID_EXPR = {
  'Fn::Select': [
    0,
    { 'Fn::Split': ['-', { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] }] },
  ],
};

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

  it('has an Enrollment parameter, enabled by default, that switches the CreateLogGroup rule', () => {
    expect(json.Parameters.Enrollment).toStrictEqual({
      Type: 'String',
      AllowedValues: ['enabled', 'disabled'],
      Default: 'enabled',
      Description: expect.stringContaining('enrollment reconciler'),
    });
    s.member.hasResourceProperties('AWS::Events::Rule', {
      Name: 'log-reflector-create-log-group',
      State: { 'Fn::If': ['IsEnabled', 'ENABLED', 'DISABLED'] },
    });
  });

  it('keeps the sweep running when Enrollment is disabled: it finishes what a broken removal chain left (issue 15.2)', () => {
    s.member.hasResourceProperties('AWS::Events::Rule', { Name: 'log-reflector-sweep', State: 'ENABLED' });
    s.member.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'log-reflector-sweep',
      Environment: {
        Variables: Match.objectLike({
          ENROLLMENT: { 'Fn::If': ['IsCentralElsewhere', 'disabled', { Ref: 'Enrollment' }] },
        }),
      },
    });
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
        // Only the account policy actions, which take no resource ARN, may name "*".
        if (st.Resource === '*')
          expect([st.Action].flat().every((a) => ACCOUNT_POLICY_ACTIONS.has(a))).toBe(true);
      }
      const pass = statements.find((st) => [st.Action].flat().includes('iam:PassRole'));
      expect(pass).toMatchObject({
        Condition: { StringEquals: { 'iam:PassedToService': 'logs.amazonaws.com' } },
      });
    }
  });

  it('names every function log-reflector-* on a current runtime, inline', () => {
    const fns = Object.values(json.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    const names = fns.map((f) => f.Properties.FunctionName);
    expect(names).toHaveLength(4);
    expect(names).toEqual(
      expect.arrayContaining([
        { 'Fn::Join': ['', ['log-reflector-cleanup-', INSTALL_ID_EXPR]] },
        'log-reflector-subscriber',
        'log-reflector-backfill',
        'log-reflector-sweep',
      ]),
    );
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
    ['member/cleanup/handler.ts', 200 * 1024],
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

  it('lets the self-invoking chains run past Lambda recursive loop detection (~16 hops), and no other function', () => {
    // https://docs.aws.amazon.com/lambda/latest/dg/invocation-recursion.html: loops made of
    // Lambda functions alone are stopped after about 16 invocations unless set to Allow.
    const functions = Object.values(
      (
        synthesize(exampleConfig()).member.toJSON() as {
          Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
        }
      ).Resources,
    ).filter((r) => r.Type === 'AWS::Lambda::Function');
    const allowed = functions
      .filter((f) => f.Properties.RecursiveLoop === 'Allow')
      .map((f) => f.Properties.FunctionName)
      .sort();
    expect(allowed).toStrictEqual(['log-reflector-backfill', 'log-reflector-sweep']);
  });
});

describe('exactly one answer: the backfill gets no Lambda retries (issue 15.7)', () => {
  it('sets MaximumRetryAttempts 0 and sends failed invocations to the backfill itself, which answers', () => {
    const t = synthesize(exampleConfig()).member;
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: Match.stringLikeRegexp('^BackfillFunction') },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: {
        OnFailure: {
          Destination: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':lambda:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                ':function:log-reflector-backfill',
              ],
            ],
          },
        },
      },
    });
  });
});

describe('the cleanup worker outlives the stack (issue 15.3)', () => {
  type Resource = {
    Type: string;
    DeletionPolicy?: string;
    UpdateReplacePolicy?: string;
    DependsOn?: string[];
    Properties: Record<string, unknown>;
  };
  let resources: Record<string, Resource>;
  let t: Synthesized['member'];
  beforeAll(() => {
    t = synthesize(exampleConfig()).member;
    resources = (t.toJSON() as { Resources: Record<string, Resource> }).Resources;
  });
  const byPrefix = (prefix: string) =>
    Object.entries(resources)
      .filter(([id]) => id.startsWith(prefix))
      .map(([, r]) => r);

  it('retains its function, role, log group and schedule permission on delete, not on a failed create', () => {
    const cleanup = byPrefix('Cleanup');
    expect(cleanup.map((r) => r.Type).sort()).toStrictEqual([
      'AWS::IAM::Role',
      'AWS::Lambda::Function',
      'AWS::Lambda::Permission',
      'AWS::Logs::LogGroup',
    ]);
    for (const r of cleanup) {
      expect(r.DeletionPolicy).toBe('RetainExceptOnCreate');
      expect(r.UpdateReplacePolicy).toBe('Delete');
    }
    // Nothing else of the stack is retained: the rest goes with the stack as before.
    const retained = Object.entries(resources).filter(([, r]) => r.DeletionPolicy?.startsWith('Retain'));
    expect(retained.map(([id]) => id).every((id) => id.startsWith('Cleanup'))).toBe(true);
  });

  it('names everything after the install id, so a reinstall never collides with a running worker', () => {
    const fn = byPrefix('Cleanup').find((r) => r.Type === 'AWS::Lambda::Function') as Resource;
    expect(fn.Properties.FunctionName).toStrictEqual({
      'Fn::Join': ['', ['log-reflector-cleanup-', INSTALL_ID_EXPR]],
    });
    expect(fn.Properties.Timeout).toBe(900);
    expect(fn.Properties.Environment).toMatchObject({
      Variables: {
        INSTALL_ID: INSTALL_ID_EXPR,
        RATE_LIMIT_RPS: '4',
        CLEANUP_FUNCTION_ARN: expect.anything(),
      },
    });
    const role = byPrefix('Cleanup').find((r) => r.Type === 'AWS::IAM::Role') as Resource;
    expect(role.Properties.RoleName).toStrictEqual({
      'Fn::Join': ['', ['log-reflector-cleanup-', INSTALL_ID_EXPR, '-', { Ref: 'AWS::Region' }]],
    });
    t.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'log-reflector-backfill',
      Environment: {
        Variables: Match.objectLike({ INSTALL_ID: INSTALL_ID_EXPR, CLEANUP_FUNCTION_ARN: Match.anyValue() }),
      },
    });
  });

  it('grants the worker only what it needs, in two inline policies, self-deletion last and on itself only', () => {
    const role = byPrefix('Cleanup').find((r) => r.Type === 'AWS::IAM::Role') as Resource;
    const policies = role.Properties.Policies as {
      PolicyName: string;
      PolicyDocument: { Statement: Statement[] };
    }[];
    expect(policies.map((x) => x.PolicyName)).toStrictEqual(['work', 'self-delete']);
    const actions = (name: string) =>
      (policies.find((x) => x.PolicyName === name)?.PolicyDocument.Statement ?? []).flatMap((st) =>
        [st.Action].flat(),
      );
    expect(actions('work').sort()).toStrictEqual([
      'events:PutTargets',
      'lambda:GetFunctionConfiguration',
      'logs:CreateLogStream',
      'logs:DeleteAccountPolicy',
      'logs:DeleteSubscriptionFilter',
      'logs:DescribeAccountPolicies',
      'logs:DescribeLogGroups',
      'logs:DescribeSubscriptionFilters',
      'logs:PutLogEvents',
      's3:PutObject',
    ]);
    expect(actions('self-delete').sort()).toStrictEqual([
      'events:DeleteRule',
      'events:RemoveTargets',
      'iam:DeleteRole',
      'iam:DeleteRolePolicy',
      'lambda:DeleteFunction',
    ]);
    const text = JSON.stringify(policies);
    expect(text).not.toContain('logs:PutSubscriptionFilter');
    expect(text).not.toContain('logs:PutAccountPolicy');
    // "*" only for the account policy actions, which take no resource ARN.
    for (const st of policies.flatMap((x) => x.PolicyDocument.Statement)) {
      if (st.Resource === '*')
        expect([st.Action].flat().every((a) => ACCOUNT_POLICY_ACTIONS.has(a))).toBe(true);
    }
    // No separate AWS::IAM::Policy: a policy resource would be deleted with the stack.
    const attached = Object.values(resources).filter(
      (r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes('CleanupRole'),
    );
    expect(attached).toStrictEqual([]);
  });

  it('bakes its progress report target into its own environment and role (it outlives the stack): one key, in the work policy', () => {
    const fn = byPrefix('Cleanup').find((r) => r.Type === 'AWS::Lambda::Function') as Resource;
    const key = {
      'Fn::Join': [
        '',
        ['coverage/', { Ref: 'AWS::AccountId' }, '/cleanup/', { Ref: 'AWS::Region' }, '.json'],
      ],
    };
    expect(fn.Properties.Environment).toMatchObject({
      Variables: {
        COVERAGE_BUCKET: { Ref: 'CoverageBucket' },
        COVERAGE_REGION: { Ref: 'HomeRegion' },
        CLEANUP_REPORT_KEY: key,
      },
    });
    const role = byPrefix('Cleanup').find((r) => r.Type === 'AWS::IAM::Role') as Resource;
    const policies = role.Properties.Policies as {
      PolicyName: string;
      PolicyDocument: { Statement: Statement[] };
    }[];
    const put = policies.flatMap((x) =>
      x.PolicyDocument.Statement.filter((st) => [st.Action].flat().includes('s3:PutObject')).map((st) => ({
        policy: x.PolicyName,
        st,
      })),
    );
    expect(put).toHaveLength(1);
    // In `work`, deleted before `self-delete`: the last report is written before deleteSelf.
    expect(put[0]?.policy).toBe('work');
    const resource = JSON.stringify(put[0]?.st.Resource);
    expect(resource).toContain('"Fn::If":["HasCoverageBucket"');
    expect(resource).toContain('"/cleanup/"');
    expect(resource).not.toContain('*');
  });

  it('lets the backfill start the worker (its schedule and one invocation) and nothing more', () => {
    t.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Sid: 'StartCleanupWorker', Action: ['events:PutRule', 'events:PutTargets'] }),
          Match.objectLike({ Sid: 'InvokeCleanupWorker', Action: 'lambda:InvokeFunction' }),
        ]),
      },
    });
    t.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'events.amazonaws.com',
      Action: 'lambda:InvokeFunction',
      SourceArn: Match.anyValue(),
    });
    const custom = Object.values(resources).find(
      (r) => r.Type === 'AWS::CloudFormation::CustomResource',
    ) as Resource;
    const cleanupIds = Object.keys(resources).filter((id) => id.startsWith('Cleanup'));
    for (const id of cleanupIds) expect(custom.DependsOn ?? []).toContain(id);
  });
});

describe('account scope (issue 14): one account-level policy, no per-group functions', () => {
  type Resource = { Type: string; Properties: Record<string, unknown>; Condition?: string };
  let account: Synthesized;
  let logGroup: Synthesized;
  let resources: Record<string, Resource>;
  beforeAll(() => {
    const config = { ...exampleConfig(), filter: { name: 'log-reflector', scope: 'account' as const } };
    config.logGroups = { exclude: ['/ecs/debug', '/aws/lambda/noisy'] };
    // Synthesis runs cdk-nag: an unacknowledged finding in the account-scope template throws.
    account = synthesize(config);
    logGroup = synthesize(exampleConfig());
    resources = account.member.toJSON().Resources as Record<string, Resource>;
  });
  const ofType = (type: string) => Object.values(resources).filter((r) => r.Type === type);
  const statements = (t: Synthesized['member']) =>
    Object.values(t.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: (Statement & { Sid?: string })[] } } }).Properties
          .PolicyDocument.Statement,
    );

  it('has no subscriber, CloudTrail rule, dead-letter queue or sweep: only the backfill, its check schedule and the dormant cleanup worker', () => {
    const names = ofType('AWS::Lambda::Function').map((f) => f.Properties.FunctionName);
    expect(names).toStrictEqual(
      expect.arrayContaining([
        'log-reflector-backfill',
        { 'Fn::Join': ['', ['log-reflector-cleanup-', INSTALL_ID_EXPR]] },
      ]),
    );
    expect(names).toHaveLength(2);
    expect(ofType('AWS::Events::Rule').map((r) => r.Properties.Name)).toStrictEqual([
      'log-reflector-account-check',
    ]);
    expect(ofType('AWS::SQS::Queue')).toStrictEqual([]);
    // Positive control: the log-group template has them.
    expect(Object.keys(logGroup.member.findResources('AWS::Events::Rule'))).toHaveLength(2);
  });

  it('passes Scope and the exact names the policy leaves out (every own log group, this install’s worker, the configured ones)', () => {
    const exclude = {
      'Fn::Join': [
        '',
        [
          Match.stringLikeRegexp(
            '^/aws/lambda/log-reflector-reflector,.*,/aws/lambda/log-reflector-cleanup-$',
          ),
          INSTALL_ID_EXPR,
          ',',
          { Ref: 'ExcludePatterns' },
        ],
      ],
    };
    account.member.hasResourceProperties('AWS::CloudFormation::CustomResource', {
      Scope: 'account',
      Exclude: exclude,
      Enrollment: { 'Fn::If': ['IsCentralElsewhere', 'disabled', { Ref: 'Enrollment' }] },
    });
    account.member.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'log-reflector-backfill',
      Environment: { Variables: Match.objectLike({ SCOPE: 'account', EXCLUDE: exclude }) },
    });
    const [backfillRun] = ofType('AWS::CloudFormation::CustomResource');
    const join = (backfillRun?.Properties.Exclude as { 'Fn::Join': [string, unknown[]] } | undefined)?.[
      'Fn::Join'
    ];
    const joined = JSON.stringify(join?.[1][0]);
    for (const fn of ['reflector', 'subscriber', 'backfill', 'sweep', 'enrollment'])
      expect(joined).toContain(`/aws/lambda/log-reflector-${fn}`);
    expect(joined).toContain('/aws/lambda/log-reflector-cleanup-');
    expect(account.member.toJSON().Parameters.ExcludePatterns.Default).toBe('/ecs/debug,/aws/lambda/noisy');
    // Log-group scope keeps its properties exactly: no Scope, so no Update for existing stacks.
    logGroup.member.hasResourceProperties('AWS::CloudFormation::CustomResource', {
      Scope: Match.absent(),
      Exclude: { Ref: 'ExcludePatterns' },
    });
  });

  it('checks our policy on the sweep schedule: a rule invoking the backfill, created after and deleted before the backfill resource (the periodic check)', () => {
    type WithDeps = Resource & { DependsOn?: string[] };
    const all = resources as Record<string, WithDeps>;
    const id = (pred: (r: WithDeps) => boolean) => Object.entries(all).find(([, r]) => pred(r))?.[0];
    const backfillFn = id(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.FunctionName === 'log-reflector-backfill',
    );
    const backfillRun = id((r) => r.Type === 'AWS::CloudFormation::CustomResource');
    const ruleId = id((r) => r.Type === 'AWS::Events::Rule');
    expect([backfillFn, backfillRun, ruleId].every((x) => x !== undefined)).toBe(true);
    const rule = all[ruleId as string] as WithDeps;
    // The same period as the log-group sweep (sweepIntervalMinutes, 360 in cdk.json), so the
    // central staleness limit (2 periods + 1 hour) fits reports of both scopes.
    expect(exampleConfig().sweepIntervalMinutes).toBe(360);
    expect(rule.Properties).toMatchObject({
      Name: 'log-reflector-account-check',
      ScheduleExpression: 'rate(6 hours)',
      // Not switched by Enrollment: a disabled stack's check deletes ours if it is back.
      State: 'ENABLED',
      Targets: [{ Arn: { 'Fn::GetAtt': [backfillFn, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 2 } }],
    });
    // Input absent: the backfill receives the scheduled event itself (ScheduledEventSchema).
    expect((rule.Properties.Targets as Record<string, unknown>[])[0]?.Input).toBeUndefined();
    expect(rule.DependsOn).toContain(backfillRun);
    // EventBridge may invoke the backfill from this rule only.
    const fromEvents = ofType('AWS::Lambda::Permission').filter(
      (p) => p.Properties.Principal === 'events.amazonaws.com',
    );
    const toBackfill = fromEvents.filter(
      (p) =>
        JSON.stringify(p.Properties.FunctionName) === JSON.stringify({ 'Fn::GetAtt': [backfillFn, 'Arn'] }),
    );
    expect(toBackfill.map((p) => p.Properties)).toStrictEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [backfillFn, 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
      },
    ]);
    // The only other one is the cleanup worker's, for its own rule.
    expect(fromEvents).toHaveLength(2);
    // The log-group template has no check (its sweep does this).
    expect(JSON.stringify(logGroup.member.toJSON())).not.toContain('log-reflector-account-check');
  });

  it('lets the backfill put the account policy only in account scope; both scopes may read and delete ours', () => {
    const policyActions = (t: Synthesized['member']) =>
      statements(t)
        .filter((st) => st.Sid === 'OurAccountPolicy')
        .map((st) => ({ actions: [st.Action].flat().sort(), resource: st.Resource }));
    expect(policyActions(account.member)).toStrictEqual([
      {
        actions: ['logs:DeleteAccountPolicy', 'logs:DescribeAccountPolicies', 'logs:PutAccountPolicy'],
        resource: '*',
      },
    ]);
    expect(policyActions(logGroup.member)).toStrictEqual([
      { actions: ['logs:DeleteAccountPolicy', 'logs:DescribeAccountPolicies'], resource: '*' },
      { actions: ['logs:DeleteAccountPolicy', 'logs:DescribeAccountPolicies'], resource: '*' },
    ]);
    expect(JSON.stringify(logGroup.member.toJSON())).not.toContain('logs:PutAccountPolicy');
  });

  it('opens the destination to PutAccountPolicy in account scope only', () => {
    const policyText = (t: Synthesized['destination']) =>
      JSON.stringify(
        (Object.values(t.findResources('AWS::Logs::Destination'))[0] as { Properties: unknown }).Properties,
      );
    expect(policyText(account.destination)).toContain(
      '\\"Action\\":[\\"logs:PutSubscriptionFilter\\",\\"logs:PutAccountPolicy\\"]',
    );
    expect(policyText(logGroup.destination)).not.toContain('PutAccountPolicy');
  });

  it('every function of every template has its log group left out of the policy', () => {
    const fns = [account.org, account.central, account.destination, account.member, account.orgEvents]
      .flatMap((t) => (t ? Object.values(t.findResources('AWS::Lambda::Function')) : []))
      .map((f) => (f as { Properties: { FunctionName: unknown } }).Properties.FunctionName);
    expect(fns.length).toBeGreaterThanOrEqual(4);
    const joined = JSON.stringify(resources.BackfillRun ?? ofType('AWS::CloudFormation::CustomResource')[0]);
    for (const name of fns) {
      if (typeof name === 'string') expect(joined).toContain(`/aws/lambda/${name}`);
      else
        expect(JSON.stringify(name)).toBe(
          JSON.stringify({ 'Fn::Join': ['', ['log-reflector-cleanup-', INSTALL_ID_EXPR]] }),
        );
    }
  });

  it('cfn-lint finds no errors in the account-scope templates', () => {
    const res = spawnSync('cfn-lint', ['--ignore-checks', 'W3005', '--', ...account.files], {
      encoding: 'utf8',
    });
    expect(`${res.stdout}${res.stderr}`).toBe('');
    expect(res.status).toBe(0);
  });
});

describe('member stack coverage report wiring', () => {
  let s: Synthesized;
  let json: {
    Parameters: Record<string, unknown>;
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  };
  beforeAll(() => {
    s = synthesize(exampleConfig());
    json = s.member.toJSON() as typeof json;
  });

  it('lets the sweep and the backfill put their coverage report, one key, into the bucket the org stack names (issue 12.1)', () => {
    expect(json.Parameters.CoverageBucket).toMatchObject({ Type: 'String', Default: '' });
    const key = {
      'Fn::Join': ['', ['coverage/', { Ref: 'AWS::AccountId' }, '/', { Ref: 'AWS::Region' }, '.json']],
    };
    for (const name of ['log-reflector-sweep', 'log-reflector-backfill']) {
      s.member.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: name,
        Environment: {
          Variables: Match.objectLike({
            COVERAGE_BUCKET: { Ref: 'CoverageBucket' },
            COVERAGE_REGION: { Ref: 'HomeRegion' },
            COVERAGE_KEY: key,
          }),
        },
      });
    }
    s.member.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'log-reflector-sweep',
      Environment: {
        Variables: Match.objectLike({
          DEAD_LETTER_QUEUE_URL: { Ref: Match.stringLikeRegexp('^DeadLetterQueue') },
        }),
      },
    });
    s.member.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'log-reflector-subscriber',
      Environment: { Variables: Match.not(Match.objectLike({ COVERAGE_BUCKET: Match.anyValue() })) },
    });
    // In each role's own policy (the backfill custom resource waits for it), on exactly one key.
    const statements = Object.values(json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap(
        (r) => (r.Properties.PolicyDocument as { Statement: (Statement & { Sid?: string })[] }).Statement,
      )
      .filter((st) => st.Sid === 'PutCoverageReport');
    expect(statements).toHaveLength(2);
    for (const st of statements) {
      expect(st.Action).toBe('s3:PutObject');
      expect(JSON.stringify(st.Resource)).toContain('"Fn::If":["HasCoverageBucket"');
      expect(JSON.stringify(st.Resource)).not.toContain('*');
    }
    s.member.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'ReadDeadLetterDepth',
            Action: 'sqs:GetQueueAttributes',
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLetterQueue'), 'Arn'] },
          }),
        ]),
      },
    });
  });
});
