/**
 * Deploy rehearsal: every StackSet template the org stack carries is created as a stack in
 * moto's CloudFormation, in the accounts and regions its StackSet targets, with the StackSet-level
 * parameters the org template gives it, in the order the org template's DependsOn sets. Not
 * proof (moto does not model every type, nor IAM, nor StackSets), but it catches a broken Ref,
 * GetAtt, condition or parameter before a user's first deploy does. docs/deploy.md lists what
 * moto does not model.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
  ListStackResourcesCommand,
  type Parameter,
} from '@aws-sdk/client-cloudformation';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/constructs/bundle';
import { useMoto } from '../support/moto';
import { exampleConfig, type Synthesized, synthesize } from '../support/synth';

const MANAGEMENT = '111111111111';
const CENTRAL = '222222222222';
/** An ordinary member account of the target OUs (the root). */
const MEMBER = '333333333333';

/**
 * Resource types of our templates that moto's CloudFormation skips (it creates the rest).
 * AWS::SecretsManager::Secret is skipped too, and a Ref to it resolves to nothing, which breaks
 * the reflector's policy in moto: the rehearsal therefore uses a configured secret ARN
 * (`sumo.secretArn`), and a test below pins that this is the only difference.
 */
const MOTO_SKIPS = [
  'AWS::CloudFormation::CustomResource',
  'AWS::CloudWatch::Alarm',
  'AWS::Events::EventBusPolicy',
  'AWS::Lambda::EventInvokeConfig',
  'AWS::Logs::Destination',
  'AWS::S3::BucketPolicy',
  'AWS::SNS::TopicPolicy',
  'AWS::SQS::QueuePolicy',
];
const MOTO_SKIPS_ELSEWHERE = ['AWS::SecretsManager::Secret'];
/** Added by the CDK CLI's version reporting (`npm run synth`), not by the test app; moto skips it too. */
const MOTO_SKIPS_CLI_ONLY = ['AWS::CDK::Metadata'];

type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };
type Template = { Resources: Record<string, Resource>; Parameters?: Record<string, unknown> };

interface Rehearsal {
  readonly stackSet: string;
  readonly account: string;
  readonly region: string;
  readonly status: string;
  readonly reason?: string;
  /** Types of the template's resources moto did not create. */
  readonly skipped: readonly string[];
}

const moto = useMoto('eu-west-1');

/** Credentials of `account` in moto (moto switches account on an assumed role's credentials). */
async function credentialsFor(account: string, region: string) {
  const sts = new STSClient({ endpoint: moto.endpoint, region });
  const out = await sts.send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${account}:role/rehearsal`,
      RoleSessionName: 'rehearsal',
    }),
  );
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error(`moto gave no credentials for ${account}`);
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
}

/** Creates one stack instance as StackSets would name it and reports what moto made of it. */
async function createInstance(
  stackSet: string,
  template: Template,
  parameters: Parameter[],
  account: string,
  region: string,
): Promise<Rehearsal> {
  const cfn = new CloudFormationClient({
    endpoint: moto.endpoint,
    region,
    credentials: await credentialsFor(account, region),
  });
  const StackName = `StackSet-${stackSet}-rehearsal`;
  try {
    await cfn.send(
      new CreateStackCommand({
        StackName,
        TemplateBody: JSON.stringify(template),
        Parameters: parameters,
        Capabilities: ['CAPABILITY_NAMED_IAM'],
      }),
    );
  } catch (err) {
    return { stackSet, account, region, status: 'REJECTED', reason: (err as Error).message, skipped: [] };
  }
  const stack = (await cfn.send(new DescribeStacksCommand({ StackName }))).Stacks?.[0];
  const created = new Set(
    ((await cfn.send(new ListStackResourcesCommand({ StackName }))).StackResourceSummaries ?? []).map(
      (r) => r.LogicalResourceId,
    ),
  );
  const skipped = [
    ...new Set(
      Object.entries(template.Resources)
        .filter(([id]) => !created.has(id))
        .map(([, r]) => r.Type),
    ),
  ];
  return {
    stackSet,
    account,
    region,
    status: stack?.StackStatus ?? 'MISSING',
    ...(stack?.StackStatusReason ? { reason: stack.StackStatusReason } : {}),
    skipped,
  };
}

/** The StackSets of the org template in DependsOn order, each with its template, parameters and targets. */
function stackSetsOf(s: Synthesized) {
  const org = s.org.toJSON() as Template;
  const assets = JSON.parse(readFileSync(join(s.outdir, 'LogReflectorOrg.assets.json'), 'utf8')) as {
    files: Record<string, { source: { path: string } }>;
  };
  const sets = Object.entries(org.Resources).filter(([, r]) => r.Type === 'AWS::CloudFormation::StackSet');
  const ids = new Set(sets.map(([id]) => id));
  const ordered: typeof sets = [];
  const pending = [...sets];
  while (pending.length > 0) {
    const next = pending.findIndex(([, r]) =>
      (r.DependsOn ?? []).every((d) => !ids.has(d) || ordered.some(([id]) => id === d)),
    );
    if (next < 0) throw new Error('StackSet DependsOn cycle');
    ordered.push(...pending.splice(next, 1));
  }
  return ordered.map(([, r]) => {
    const p = r.Properties as {
      StackSetName: string;
      TemplateURL: unknown;
      Parameters?: Parameter[];
      StackInstancesGroup: { DeploymentTargets: { Accounts?: string[] }; Regions: string[] }[];
    };
    const hash = /([0-9a-f]{64})\.json/.exec(JSON.stringify(p.TemplateURL))?.[1] ?? '';
    const file = assets.files[hash]?.source.path;
    if (!file) throw new Error(`no template asset for ${p.StackSetName}`);
    const template = JSON.parse(readFileSync(join(s.outdir, file), 'utf8')) as Template;
    const targets = p.StackInstancesGroup.flatMap((g) =>
      // An OU target (no account list): the central account and an ordinary member account.
      (g.DeploymentTargets.Accounts ?? [CENTRAL, MEMBER]).flatMap((account) =>
        g.Regions.map((region) => ({ account, region })),
      ),
    );
    return { name: p.StackSetName, template, parameters: p.Parameters ?? [], targets };
  });
}

describe('deploy rehearsal in moto', () => {
  let s: Synthesized;
  let results: Rehearsal[];
  beforeAll(async () => {
    // moto does not model AWS::SecretsManager::Secret: rehearse with a configured secret.
    s = synthesize({
      ...exampleConfig(),
      sumo: {
        ...(exampleConfig().sumo as object),
        secretArn: `arn:aws:secretsmanager:eu-west-1:${CENTRAL}:secret:log-reflector/sumo-AbCdEf`,
      },
    });
    results = [];
    for (const set of stackSetsOf(s)) {
      for (const { account, region } of set.targets) {
        // Member instances start with the StackSet's Enrollment=disabled (fail-closed); an
        // untagged account runs with the override the reconciler then sets: enabled.
        const parameters = set.parameters.map((p) =>
          p.ParameterKey === 'Enrollment' ? { ...p, ParameterValue: 'enabled' } : p,
        );
        results.push(await createInstance(set.name, set.template, parameters, account, region));
      }
    }
  });

  it('creates every StackSet template in every targeted account and region', () => {
    expect(results.map((r) => `${r.stackSet} ${r.account} ${r.region}`)).toStrictEqual([
      `log-reflector-central ${CENTRAL} eu-west-1`,
      ...['eu-west-1', 'eu-central-1', 'us-east-1'].map((r) => `log-reflector-destinations ${CENTRAL} ${r}`),
      ...[CENTRAL, MEMBER].flatMap((a) =>
        ['eu-west-1', 'eu-central-1', 'us-east-1'].map((r) => `log-reflector-members ${a} ${r}`),
      ),
      ...['eu-west-1', 'eu-central-1', 'us-east-1'].map((r) => `log-reflector-management ${MANAGEMENT} ${r}`),
      `log-reflector-org-events ${MANAGEMENT} us-east-1`,
    ]);
    const failed = results.filter((r) => r.status !== 'CREATE_COMPLETE');
    expect(failed).toStrictEqual([]);
  });

  it('skips exactly the resource types docs/deploy.md lists as not modelled by moto', () => {
    const skipped = [...new Set(results.flatMap((r) => r.skipped))].sort();
    expect(skipped).toStrictEqual(MOTO_SKIPS);
    const docs = readFileSync(join(PROJECT_ROOT, 'docs', 'deploy.md'), 'utf8');
    const section = docs.slice(docs.indexOf('### Deploy rehearsal'));
    for (const type of [...MOTO_SKIPS, ...MOTO_SKIPS_ELSEWHERE, ...MOTO_SKIPS_CLI_ONLY]) {
      expect(section, type).toContain(`\`${type}\``);
    }
  });

  it('the configured-secret variant differs from the default only by the secret moto cannot create', () => {
    const types = (t: Template) => new Set(Object.values(t.Resources).map((r) => r.Type));
    const rehearsed = types(s.central.toJSON() as Template);
    const deployed = types(synthesize(exampleConfig()).central.toJSON() as Template);
    expect([...deployed].filter((t) => !rehearsed.has(t))).toStrictEqual(MOTO_SKIPS_ELSEWHERE);
    expect([...rehearsed].filter((t) => !deployed.has(t))).toStrictEqual([]);
  });

  it('declares Enrollment=disabled at the StackSet level, so every instance starts disabled (fail-closed)', () => {
    const members = stackSetsOf(s).filter((set) => set.template.Parameters?.Enrollment);
    expect(members.map((set) => set.name)).toStrictEqual([
      'log-reflector-members',
      'log-reflector-management',
    ]);
    for (const set of members) {
      expect(set.parameters.find((p) => p.ParameterKey === 'Enrollment')?.ParameterValue).toBe('disabled');
    }
  });

  it('delivers to the stream in the central home region, to the destination elsewhere, and not from the central account elsewhere', async () => {
    const env = async (account: string, region: string) => {
      const lambda = new LambdaClient({
        endpoint: moto.endpoint,
        region,
        credentials: await credentialsFor(account, region),
      });
      const out = await lambda.send(
        new GetFunctionConfigurationCommand({ FunctionName: 'log-reflector-subscriber' }),
      );
      const v = out.Environment?.Variables ?? {};
      return { destination: v.DESTINATION_ARN, role: v.SENDER_ROLE_ARN, enrollment: v.ENROLLMENT };
    };
    expect(await env(CENTRAL, 'eu-west-1')).toStrictEqual({
      destination: `arn:aws:kinesis:eu-west-1:${CENTRAL}:stream/log-reflector`,
      role: `arn:aws:iam::${CENTRAL}:role/log-reflector-logs-to-kinesis`,
      enrollment: 'enabled',
    });
    expect(await env(CENTRAL, 'us-east-1')).toMatchObject({ enrollment: 'disabled' });
    expect(await env(MEMBER, 'eu-central-1')).toStrictEqual({
      destination: `arn:aws:logs:eu-central-1:${CENTRAL}:destination:log-reflector`,
      role: `arn:aws:iam::${MEMBER}:role/log-reflector-sender-eu-central-1`,
      enrollment: 'enabled',
    });
    expect(await env(MANAGEMENT, 'eu-west-1')).toMatchObject({
      destination: `arn:aws:logs:eu-west-1:${CENTRAL}:destination:log-reflector`,
    });
  });

  it('negative control: a template with a dangling reference is rejected', async () => {
    const broken: Template = {
      Resources: {
        Queue: { Type: 'AWS::SQS::Queue', Properties: { QueueName: { Ref: 'NoSuchParameter' } } },
      },
    };
    const r = await createInstance('broken', broken, [], MEMBER, 'eu-west-1');
    expect(r.status).not.toBe('CREATE_COMPLETE');
  });
});
