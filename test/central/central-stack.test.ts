/** The central stack template: stream, reflector ESM, failure bucket, secret, roles, alarms. */
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, type Synthesized, synthesize } from '../support/synth';

/** The value, or a failed test naming what was missing. */
function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`expected ${what} in the template`);
  return value;
}

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

describe('central stack template', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize(exampleConfig());
  });

  it('encrypts the stream with the customer-managed key, on-demand, with the configured retention', () => {
    s.central.hasResourceProperties('AWS::Kinesis::Stream', {
      Name: 'log-reflector',
      StreamEncryption: { EncryptionType: 'KMS', KeyId: Match.anyValue() },
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      RetentionPeriodHours: 48,
    });
    s.central.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('maps the stream to the reflector with bisect, partial batch responses, bounded retries and age, S3 on failure', () => {
    s.central.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 5,
      ParallelizationFactor: 2,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 100,
      MaximumRecordAgeInSeconds: 86400,
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^FailureBucket'), 'Arn'] } },
      },
    });
  });

  it('keeps the failure bucket encrypted, SSL-only, private, versioned, with a lifecycle', () => {
    s.central.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({ ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }) }),
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 90, Status: 'Enabled' })] },
    });
    s.central.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('runs the reflector on a current runtime with the secret ARN, never the URL', () => {
    s.central.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'log-reflector-reflector',
      Runtime: 'nodejs24.x',
      MemorySize: 1024,
      Timeout: 300,
      Environment: {
        Variables: Match.objectLike({
          SUMO_ENDPOINT_SECRET_ARN: { Ref: Match.stringLikeRegexp('^SumoSecret') },
          FAILURE_BUCKET: { Ref: Match.stringLikeRegexp('^FailureBucket') },
          SUMO_CATEGORY_TEMPLATE: 'aws/cloudwatch/{account}/{region}/{logGroup}',
          SUMO_FIELDS: 'org=example',
          SUMO_LINE_CONTEXT: 'full',
        }),
      },
    });
    const fns = s.central.findResources('AWS::Lambda::Function');
    expect(JSON.stringify(fns)).not.toContain('SUMO_ENDPOINT"');
    s.central.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: { 'Fn::Join': ['', ['log-reflector/sumo-endpoint-', Match.anyValue()]] },
    });
  });

  it('gives the reflector scoped actions only (no bare *)', () => {
    const policies = s.central.findResources('AWS::IAM::Policy');
    const reflector = Object.entries(policies).find(([id]) => id.startsWith('ReflectorRole'));
    expect(reflector).toBeDefined();
    const statements = (
      must(reflector, 'reflector policy')[1] as { Properties: { PolicyDocument: { Statement: Statement[] } } }
    ).Properties.PolicyDocument.Statement;
    const actions = statements.flatMap((st) => [st.Action].flat());
    expect(actions).toContain('secretsmanager:GetSecretValue');
    expect(actions).toContain('s3:PutObject');
    expect(actions).not.toContain('s3:DeleteObject*');
    for (const st of statements) {
      expect([st.Action].flat()).not.toContain('*');
      expect(st.Resource).not.toBe('*');
    }
  });

  it('lets CloudWatch Logs write the stream through an inline policy with a confused-deputy condition', () => {
    s.central.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'log-reflector-logs-to-kinesis',
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'logs.amazonaws.com' },
            Condition: { StringLike: { 'aws:SourceArn': Match.anyValue() } },
          }),
        ],
      },
      Policies: [
        {
          PolicyName: 'putRecords',
          PolicyDocument: {
            Statement: [
              Match.objectLike({
                Action: ['kinesis:PutRecord', 'kinesis:PutRecords'],
                Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Stream'), 'Arn'] },
              }),
              Match.objectLike({ Action: 'kms:GenerateDataKey' }),
            ],
          },
        },
      ],
    });
  });

  it('alarms on iterator age, errors, throttles and failure-bucket writes, to an encrypted topic', () => {
    for (const name of [
      'iterator-age',
      'reflector-errors',
      'reflector-throttles',
      'failure-bucket-objects',
    ]) {
      s.central.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `log-reflector-${name}`,
        AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlarmTopic') }],
      });
    }
    s.central.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    s.central.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('has a central state bucket the reconciler role may put the enrolled list into, and nothing else (issue 15.4)', () => {
    s.central.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: { Ref: 'StateBucketName' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    const policies = Object.values(s.central.findResources('AWS::S3::BucketPolicy')) as {
      Properties: { Bucket: unknown; PolicyDocument: { Statement: Record<string, unknown>[] } };
    }[];
    const state = policies.find((p) => JSON.stringify(p.Properties.Bucket).includes('StateBucket'));
    const statements = state?.Properties.PolicyDocument.Statement ?? [];
    expect(statements.find((st) => st.Sid === 'ReconcilerPublishesEnrolledList')).toStrictEqual({
      Sid: 'ReconcilerPublishesEnrolledList',
      Effect: 'Allow',
      Action: 's3:PutObject',
      Principal: {
        AWS: {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'ReconcilerAccountId' }, ':root'],
          ],
        },
      },
      Resource: {
        'Fn::Join': [
          '',
          [{ 'Fn::GetAtt': [expect.stringMatching(/^StateBucket/), 'Arn'] }, '/enrollment/accounts.json'],
        ],
      },
      Condition: {
        ArnEquals: {
          'aws:PrincipalArn': {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':iam::',
                { Ref: 'ReconcilerAccountId' },
                ':role/',
                { Ref: 'ReconcilerRoleName' },
              ],
            ],
          },
        },
      },
    });
    // TLS only.
    expect(
      statements.some(
        (st) => st.Effect === 'Deny' && JSON.stringify(st.Condition).includes('aws:SecureTransport'),
      ),
    ).toBe(true);
  });

  it('points the reflector at the enrolled list and lets it read that key only', () => {
    s.central.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'log-reflector-reflector',
      Environment: {
        Variables: Match.objectLike({
          ENROLLED_LIST_BUCKET: { Ref: Match.stringLikeRegexp('^StateBucket') },
        }),
      },
    });
    const policies = Object.values(s.central.findResources('AWS::IAM::Policy')) as {
      Properties: { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } };
    }[];
    const reads = policies
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .filter((st) => JSON.stringify(st.Resource).includes('/enrollment/accounts.json'));
    // The reflector and the coverage aggregator (which counts reports against the list) read it.
    expect(reads.map((st) => st.Action)).toStrictEqual(['s3:GetObject', 's3:GetObject']);
  });

  it('alarms when the reflector cannot read the list or the list grows old', () => {
    for (const name of ['log-reflector-enrollment-list-unavailable', 'log-reflector-enrollment-list-age']) {
      s.central.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: name });
    }
  });

  it('is environment-agnostic: no account id or region literal of the config in the template', () => {
    const text = JSON.stringify(s.central.toJSON().Resources);
    expect(text).not.toContain('222222222222');
    expect(text).not.toContain('111111111111');
    expect(text).not.toContain('eu-west-1');
  });

  it('references an existing secret by name when configured', () => {
    const t = synthesize({ ...exampleConfig(), sumo: { secretName: 'team/sumo-url' } }).central;
    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ SUMO_ENDPOINT_SECRET_ARN: Match.anyValue() }) },
    });
    expect(JSON.stringify(t.toJSON())).toContain('secret:team/sumo-url');
  });
});
