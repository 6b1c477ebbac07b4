/**
 * S3 buckets created in moto as a template defines them: the central stack's failure bucket
 * and state bucket, the org stack's reconciler state bucket. CloudFormation would create them;
 * the demo makes the S3 calls that give the bucket the template's properties and bucket policy.
 *
 * Applied: the name (`BucketName`, else CloudFormation's generated `<stack>-<logical id>-<random>`),
 * `OwnershipControls`, `PublicAccessBlockConfiguration`, `VersioningConfiguration`, SSE-S3
 * `BucketEncryption`, and every `AWS::S3::BucketPolicy` of the template on this bucket.
 * Not emulated: SSE-KMS (moto keeps no KMS-encrypted data apart; the key would be the
 * template's), `LifecycleConfiguration` and `MetricsConfigurations` (nothing in a demo run ages or
 * is measured). Any other property stops the demo, naming it.
 *
 * Substituted: the TLS-only statement (`Deny s3:*` when `aws:SecureTransport` is `false`) is left
 * out of the bucket policy. moto 5.2 enforces a bucket policy's explicit Deny on object
 * requests but evaluates its condition without a request context, so the statement denies
 * every request (moto/iam/access_control.py, IAMPolicyStatement.is_action_permitted); the demo
 * speaks plain HTTP to moto anyway. moto enforces no Allow either: cross-account access needs
 * none there, where in S3 it needs the bucket policy's Allow and the caller's identity policy
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
 */
import { randomBytes } from 'node:crypto';
import {
  type BucketVersioningStatus,
  CreateBucketCommand,
  type ObjectOwnership,
  PutBucketEncryptionCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { EmulatedAccount } from './aws';
import { type CfnTemplate, type StackScope, TemplateError, TemplateReader } from './cfn-template';

const APPLIED = new Set([
  'BucketName',
  'OwnershipControls',
  'PublicAccessBlockConfiguration',
  'VersioningConfiguration',
  'BucketEncryption',
]);
const NOT_EMULATED = new Set(['LifecycleConfiguration', 'MetricsConfigurations']);

export interface TemplateBucket {
  readonly logicalId: string;
  readonly name: string;
  /** What was not given to moto, and why (for the demo's output). */
  readonly substituted: readonly string[];
}

interface PolicyStatement {
  Effect?: string;
  Condition?: { Bool?: Record<string, unknown> };
}

/** The TLS-only Deny every bucket of ours carries (`enforceSSL`). */
function isTlsOnlyDeny(statement: PolicyStatement): boolean {
  return (
    statement.Effect === 'Deny' && String(statement.Condition?.Bool?.['aws:SecureTransport']) === 'false'
  );
}

/** CloudFormation's name for an unnamed bucket: `<stack>-<logical id>-<random>`, lower case, ≤ 63. */
export function generatedBucketName(stackName: string, logicalId: string): string {
  const suffix = randomBytes(6).toString('hex');
  const stem = `${stackName}-${logicalId}`.toLowerCase().replace(/[^a-z0-9-]/g, '');
  return `${stem.slice(0, 63 - suffix.length - 1)}-${suffix}`;
}

/** The bucket's name as the template sets it, or as CloudFormation would generate it. */
export function templateBucketName(template: CfnTemplate, scope: StackScope, logicalId: string): string {
  const reader = new TemplateReader(template, scope);
  const named = reader.resource(logicalId).Properties?.BucketName;
  return named === undefined
    ? generatedBucketName(scope.stackName, logicalId)
    : reader.string(named, `${logicalId}.BucketName`);
}

/** Creates bucket `logicalId` of `template` in `account` × `scope.region` under `name`. */
export async function createTemplateBucket(
  account: EmulatedAccount,
  template: CfnTemplate,
  scope: StackScope,
  logicalId: string,
  name: string,
): Promise<TemplateBucket> {
  const reader = new TemplateReader(template, {
    ...scope,
    physicalIds: { ...scope.physicalIds, [logicalId]: name },
  });
  const resource = reader.resource(logicalId);
  if (resource.Type !== 'AWS::S3::Bucket')
    throw new TemplateError(`${logicalId} is a ${resource.Type}, not an AWS::S3::Bucket`);
  const properties = resource.Properties ?? {};
  for (const key of Object.keys(properties)) {
    if (!APPLIED.has(key) && !NOT_EMULATED.has(key))
      throw new TemplateError(`the demo does not know how to create bucket ${logicalId} with ${key}`);
  }
  const substituted: string[] = [];
  const region = scope.region;
  const s3 = account.client(S3Client, region);
  await s3.send(
    new CreateBucketCommand({
      Bucket: name,
      ...(region === 'us-east-1'
        ? {}
        : { CreateBucketConfiguration: { LocationConstraint: region as 'eu-west-1' } }),
    }),
  );
  const ownership = reader.resolve(properties.OwnershipControls, `${logicalId}.OwnershipControls`) as
    | { Rules: { ObjectOwnership: ObjectOwnership }[] }
    | undefined;
  if (ownership)
    await s3.send(new PutBucketOwnershipControlsCommand({ Bucket: name, OwnershipControls: ownership }));
  const block = reader.resolve(properties.PublicAccessBlockConfiguration, `${logicalId}.PublicAccess`) as
    | Record<string, boolean>
    | undefined;
  if (block)
    await s3.send(new PutPublicAccessBlockCommand({ Bucket: name, PublicAccessBlockConfiguration: block }));
  const versioning = reader.resolve(properties.VersioningConfiguration, `${logicalId}.Versioning`) as
    | { Status: BucketVersioningStatus }
    | undefined;
  if (versioning)
    await s3.send(
      new PutBucketVersioningCommand({
        Bucket: name,
        VersioningConfiguration: { Status: versioning.Status },
      }),
    );
  const encryption = properties.BucketEncryption as
    | {
        ServerSideEncryptionConfiguration: {
          ServerSideEncryptionByDefault: { SSEAlgorithm: string };
          BucketKeyEnabled?: boolean;
        }[];
      }
    | undefined;
  if (encryption) {
    const rules = encryption.ServerSideEncryptionConfiguration;
    if (rules.every((r) => r.ServerSideEncryptionByDefault.SSEAlgorithm === 'AES256')) {
      await s3.send(
        new PutBucketEncryptionCommand({
          Bucket: name,
          ServerSideEncryptionConfiguration: {
            Rules: rules.map(() => ({ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } })),
          },
        }),
      );
    } else {
      substituted.push('SSE-KMS not emulated');
    }
  }
  const policies = reader.find(
    'AWS::S3::BucketPolicy',
    (p) => JSON.stringify(p.Bucket) === JSON.stringify({ Ref: logicalId }),
  );
  for (const policyId of policies) {
    const document = reader.property(policyId, 'PolicyDocument') as { Statement: PolicyStatement[] };
    const statements = document.Statement.filter((s) => !isTlsOnlyDeny(s));
    if (statements.length < document.Statement.length)
      substituted.push('bucket policy without its TLS-only Deny (moto would deny every request under it)');
    if (statements.length > 0)
      await s3.send(
        new PutBucketPolicyCommand({
          Bucket: name,
          Policy: JSON.stringify({ ...document, Statement: statements }),
        }),
      );
  }
  return { logicalId, name, substituted };
}
