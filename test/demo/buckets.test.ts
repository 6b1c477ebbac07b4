/**
 * The demo creates buckets as a template defines them, and says what moto is not given: the
 * TLS-only Deny stays out of the bucket policy because moto 5.2 would refuse every object
 * request under it (pinned below, so a moto that evaluates it properly shows up here).
 */
import {
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { useMoto } from '../support/moto';
import { assumeInto, EmulatedAccount, MANAGEMENT_CREDENTIALS, MOTO_DEFAULT_ACCOUNT } from './aws';
import { createTemplateBucket, generatedBucketName } from './buckets';
import type { CfnTemplate, StackScope } from './cfn-template';

const REGION = 'eu-west-1';
const CENTRAL = '222222222222';

/** The shape our stacks synthesize: a named, versioned, SSE-S3 bucket, TLS-only, one Allow. */
const template: CfnTemplate = {
  Parameters: { StateBucketName: { Type: 'String' }, ReconcilerAccountId: { Type: 'String' } },
  Resources: {
    State: {
      Type: 'AWS::S3::Bucket',
      Properties: {
        BucketName: { Ref: 'StateBucketName' },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LifecycleConfiguration: {
          Rules: [{ Id: 'x', NoncurrentVersionExpiration: { NoncurrentDays: 7 }, Status: 'Enabled' }],
        },
      },
    },
    StatePolicy: {
      Type: 'AWS::S3::BucketPolicy',
      Properties: {
        Bucket: { Ref: 'State' },
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Resource: [{ 'Fn::GetAtt': ['State', 'Arn'] }],
            },
            {
              Action: 's3:PutObject',
              Effect: 'Allow',
              Principal: {
                AWS: { 'Fn::Join': ['', ['arn:aws:iam::', { Ref: 'ReconcilerAccountId' }, ':root']] },
              },
              Resource: {
                'Fn::Join': ['', [{ 'Fn::GetAtt': ['State', 'Arn'] }, '/enrollment/accounts.json']],
              },
              Sid: 'ReconcilerPublishesEnrolledList',
            },
          ],
        },
      },
    },
    Odd: { Type: 'AWS::S3::Bucket', Properties: { WebsiteConfiguration: { IndexDocument: 'index.html' } } },
  },
};

describe('buckets created as the template defines them', () => {
  const moto = useMoto(REGION);

  async function accounts() {
    const management = new EmulatedAccount(
      MOTO_DEFAULT_ACCOUNT,
      'management',
      MANAGEMENT_CREDENTIALS,
      moto.endpoint,
    );
    const central = new EmulatedAccount(
      CENTRAL,
      'log-archive',
      await assumeInto(moto.endpoint, REGION, CENTRAL),
      moto.endpoint,
    );
    return { management, central };
  }

  const scope = (name: string): StackScope => ({
    account: CENTRAL,
    region: REGION,
    stackName: 'StackSet-log-reflector-central-demo',
    parameters: { StateBucketName: name, ReconcilerAccountId: MOTO_DEFAULT_ACCOUNT },
  });

  it('applies name, versioning and the policy without its TLS-only Deny; another account can publish', async () => {
    const { management, central } = await accounts();
    const name = 'log-reflector-state-test-1';
    const created = await createTemplateBucket(central, template, scope(name), 'State', name);
    expect(created.substituted).toStrictEqual([
      'bucket policy without its TLS-only Deny (moto would deny every request under it)',
    ]);
    const s3 = central.client(S3Client, REGION);
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: name }))).Status).toBe('Enabled');
    const policy = JSON.parse((await s3.send(new GetBucketPolicyCommand({ Bucket: name }))).Policy ?? '{}');
    expect(policy.Statement).toStrictEqual([
      {
        Action: 's3:PutObject',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${MOTO_DEFAULT_ACCOUNT}:root` },
        Resource: `arn:aws:s3:::${name}/enrollment/accounts.json`,
        Sid: 'ReconcilerPublishesEnrolledList',
      },
    ]);
    // The reconciler's cross-account write (management → central), read back by the owner.
    await management
      .client(S3Client, REGION)
      .send(
        new PutObjectCommand({ Bucket: name, Key: 'enrollment/accounts.json', Body: '{"generation":1}' }),
      );
    const read = await s3.send(new GetObjectCommand({ Bucket: name, Key: 'enrollment/accounts.json' }));
    expect(await read.Body?.transformToString()).toBe('{"generation":1}');
    // moto evaluates no Allow: a key the policy does not admit is written too (S3 would refuse
    // it: a cross-account request needs an Allow in the bucket policy). docs/demo.md says so.
    await management
      .client(S3Client, REGION)
      .send(new PutObjectCommand({ Bucket: name, Key: 'not-admitted.json', Body: '{}' }));
  });

  it('moto 5.2 refuses every object request under the TLS-only Deny (why the demo leaves it out)', async () => {
    const { central } = await accounts();
    const name = 'log-reflector-state-test-2';
    await createTemplateBucket(central, template, scope(name), 'State', name);
    const s3 = central.client(S3Client, REGION);
    await s3.send(
      new PutBucketPolicyCommand({
        Bucket: name,
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Resource: [`arn:aws:s3:::${name}`, `arn:aws:s3:::${name}/*`],
            },
          ],
        }),
      }),
    );
    await expect(s3.send(new PutObjectCommand({ Bucket: name, Key: 'k', Body: 'x' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 403 },
    });
  });

  it('stops on a property it does not know, naming it', async () => {
    const { central } = await accounts();
    await expect(createTemplateBucket(central, template, scope('x'), 'Odd', 'odd-bucket-1')).rejects.toThrow(
      'the demo does not know how to create bucket Odd with WebsiteConfiguration',
    );
  });

  it('names an unnamed bucket as CloudFormation does: <stack>-<logical id>-<random>, lower case, ≤ 63', () => {
    expect(generatedBucketName('StackSet-log-reflector-central', 'FailureBucket')).toMatch(
      /^stackset-log-reflector-central-failurebucket-[0-9a-f]{12}$/,
    );
    const long = generatedBucketName('StackSet-log-reflector-central-demo', 'FailureBucket1DB25638');
    expect(long).toMatch(/^stackset-log-reflector-central-demo-failurebucket1-[0-9a-f]{12}$/);
    expect(long).toHaveLength(63);
  });
});
