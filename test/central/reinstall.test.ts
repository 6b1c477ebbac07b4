/**
 * Uninstall, then install again (docs/deploy.md, "Uninstall"). A resource CloudFormation retains
 * on delete stays in the account; if it also has a fixed physical name, the next install's
 * create of the same name fails and rolls the StackSet instance back. So: whatever we retain has
 * a generated name, and whatever has a fixed name is deleted with its stack.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, type Synthesized, synthesize } from '../support/synth';

type Resource = {
  Type: string;
  Properties?: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};

/** The property that holds each type's physical name (CloudFormation template reference). */
const NAME_PROPERTY: Readonly<Record<string, string>> = {
  'AWS::CloudFormation::StackSet': 'StackSetName',
  'AWS::CloudWatch::Alarm': 'AlarmName',
  'AWS::CloudWatch::Dashboard': 'DashboardName',
  'AWS::Events::Rule': 'Name',
  'AWS::IAM::Role': 'RoleName',
  'AWS::KMS::Alias': 'AliasName',
  'AWS::Kinesis::Stream': 'Name',
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::Logs::Destination': 'DestinationName',
  'AWS::Logs::LogGroup': 'LogGroupName',
  'AWS::S3::Bucket': 'BucketName',
  'AWS::SecretsManager::Secret': 'Name',
  'AWS::SNS::Topic': 'TopicName',
  'AWS::SQS::Queue': 'QueueName',
};

/** What stays behind when its stack is deleted. */
const KEPT = new Set(['Retain', 'RetainExceptOnCreate', 'Snapshot']);

/**
 * A name that embeds a stack's id is unique to one install, so a reinstall never collides:
 * the stack's own id, or the central state bucket's name, which the org stack derives from its
 * id and passes as the `StateBucketName` parameter (checked below).
 */
const uniqueToInstall = (name: unknown) =>
  /\{"Ref":"AWS::StackId"\}|^\{"Ref":"StateBucketName"\}$/.test(JSON.stringify(name ?? null));

describe('uninstall, then install again', () => {
  let s: Synthesized;
  let templates: Record<string, Record<string, Resource>>;
  beforeAll(() => {
    s = synthesize(exampleConfig());
    templates = Object.fromEntries(
      Object.entries({
        org: s.org,
        central: s.central,
        destination: s.destination,
        member: s.member,
        orgEvents: s.orgEvents,
      }).flatMap(([name, t]) => (t ? [[name, t.toJSON().Resources as Record<string, Resource>]] : [])),
    );
  });

  it('passes the central state bucket a name derived from the org stack id', () => {
    const central = Object.values(templates.org ?? {}).find(
      (r) =>
        r.Type === 'AWS::CloudFormation::StackSet' && r.Properties?.StackSetName === 'log-reflector-central',
    );
    const parameters = (central?.Properties?.Parameters ?? []) as {
      ParameterKey: string;
      ParameterValue: unknown;
    }[];
    const name = parameters.find((p) => p.ParameterKey === 'StateBucketName')?.ParameterValue;
    expect(JSON.stringify(name)).toContain('{"Ref":"AWS::StackId"}');
  });

  it('retains only what holds data (KMS key, failure bucket, the state buckets: S3 cannot delete a non-empty bucket) and the member cleanup worker (it outlives its stack), none under a fixed name', () => {
    const kept = Object.entries(templates).flatMap(([name, resources]) =>
      Object.values(resources)
        .filter((r) => KEPT.has(r.DeletionPolicy ?? 'Delete'))
        .map((r) => {
          const named = NAME_PROPERTY[r.Type] && r.Properties?.[NAME_PROPERTY[r.Type] ?? ''];
          return {
            where: `${name}/${r.Type}`,
            named: named === undefined ? 'generated' : uniqueToInstall(named) ? 'per install' : named,
          };
        }),
    );
    kept.sort((a, b) => a.where.localeCompare(b.where));
    expect(kept).toStrictEqual(
      [
        { where: 'central/AWS::KMS::Key', named: 'generated' },
        { where: 'central/AWS::S3::Bucket', named: 'generated' },
        { where: 'central/AWS::S3::Bucket', named: 'per install' },
        // The reconciler's state bucket in the management account.
        { where: 'org/AWS::S3::Bucket', named: 'generated' },
        ...['AWS::Logs::LogGroup', 'AWS::IAM::Role', 'AWS::Lambda::Function'].map((type) => ({
          where: `member/${type}`,
          named: 'per install',
        })),
        // The permission that lets the worker's own schedule invoke it (it has no name).
        { where: 'member/AWS::Lambda::Permission', named: 'generated' },
      ].sort((a, b) => a.where.localeCompare(b.where)),
    );
  });

  it('deletes every resource with a fixed name along with its stack', () => {
    let named = 0;
    for (const [name, resources] of Object.entries(templates)) {
      for (const [id, r] of Object.entries(resources)) {
        const property = NAME_PROPERTY[r.Type];
        if (!property || r.Properties?.[property] === undefined) continue;
        if (uniqueToInstall(r.Properties?.[property])) continue;
        named += 1;
        expect(KEPT.has(r.DeletionPolicy ?? 'Delete'), `${name}/${id} (${r.Type})`).toBe(false);
      }
    }
    // The stream, the alias, roles, functions, log groups, queue, topic, destination, rules...
    expect(named).toBeGreaterThan(30);
  });

  it('names a created Sumo secret after the stack that created it, so the next install gets a new name', () => {
    const secret = Object.values(templates.central ?? {}).find(
      (r) => r.Type === 'AWS::SecretsManager::Secret',
    );
    const name = JSON.stringify(secret?.Properties?.Name);
    expect(name).toMatch(/^\{"Fn::Join":\["",\["log-reflector\/sumo-endpoint-",/);
    expect(name).toContain('{"Ref":"AWS::StackId"}');
  });

  it('deletes the stream with the central stack and keeps the alias off the retained key', () => {
    const central = Object.values(templates.central ?? {});
    const stream = central.find((r) => r.Type === 'AWS::Kinesis::Stream');
    expect(stream?.Properties?.Name).toBe('log-reflector');
    expect(stream?.DeletionPolicy ?? 'Delete').toBe('Delete');
    const alias = central.find((r) => r.Type === 'AWS::KMS::Alias');
    expect(alias?.Properties?.AliasName).toBe('alias/log-reflector');
    expect(alias?.DeletionPolicy ?? 'Delete').toBe('Delete');
  });
});
