/**
 * The deployment the demo emulates, read from its synthesized templates (`synthesize.ts`).
 * Everything the demo gives a handler — environment variables, custom resource properties,
 * rule states, event source mapping settings, StackSet parameters and targets — is read from
 * the templates (`cfn-template.ts`), so the demo runs what would be deployed. This module does
 * not load aws-cdk-lib: the demo starts moto while the synthesis module loads.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeploymentConfig, DeploymentConfigInput } from '../../shared/config';
import { FUNCTION_NAMES } from '../../shared/naming';
import { type CfnTemplate, type StackScope, TemplateError, TemplateReader } from './cfn-template';

/** The example configuration committed in cdk.json (what `npm run synth` uses). */
export function exampleConfig(): DeploymentConfigInput {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const cdkJson = JSON.parse(readFileSync(join(root, 'cdk.json'), 'utf8'));
  return structuredClone(cdkJson.context['log-reflector']);
}

/** What the emulated organization contributes to the configuration. */
export interface OrgIdentity {
  readonly organizationId: string;
  readonly rootId: string;
  readonly managementAccountId: string;
  readonly centralAccountId: string;
  readonly targetOuIds: readonly string[];
  readonly regions: readonly string[];
}

export interface StackSetDefinition {
  readonly name: string;
  readonly permissionModel: 'SERVICE_MANAGED' | 'SELF_MANAGED';
  readonly callAs: string | undefined;
  readonly autoDeployment:
    | { readonly Enabled: boolean; readonly RetainStacksOnAccountRemoval?: boolean }
    | undefined;
  /** StackSet-level parameter values (what an instance without an override runs with). */
  readonly parameters: Readonly<Record<string, string>>;
  readonly instanceGroups: readonly {
    readonly organizationalUnitIds: readonly string[];
    readonly accounts: readonly string[];
    readonly regions: readonly string[];
  }[];
}

export interface Deployment {
  readonly config: DeploymentConfig;
  readonly orgStackName: string;
  readonly org: CfnTemplate;
  readonly member: CfnTemplate;
  readonly central: CfnTemplate;
  readonly stackSets: { readonly members: StackSetDefinition; readonly management?: StackSetDefinition };
}

/** The example configuration with the emulated organization's ids and regions. */
export function demoConfig(ids: OrgIdentity): DeploymentConfigInput {
  const base = exampleConfig();
  return {
    ...base,
    organizationId: ids.organizationId,
    organizationRootId: ids.rootId,
    managementAccountId: ids.managementAccountId,
    centralAccountId: ids.centralAccountId,
    homeRegion: ids.regions[0],
    regions: [...ids.regions],
    targetOuIds: [...ids.targetOuIds],
    deployFrom: 'management',
  } as DeploymentConfigInput;
}

/** The reconciler's environment, as the org stack sets it. */
export function reconcilerSetup(d: Deployment): { env: Record<string, string>; timeoutSeconds: number } {
  const reader = new TemplateReader(d.org, {
    account: d.config.managementAccountId,
    region: d.config.homeRegion,
    stackName: d.orgStackName,
    parameters: {},
  });
  const fn = reader.findOne(
    'AWS::Lambda::Function',
    FUNCTION_NAMES.enrollment,
    (p) => p.FunctionName === FUNCTION_NAMES.enrollment,
  );
  return { env: reader.environment(fn), timeoutSeconds: Number(reader.property(fn, 'Timeout')) };
}

export type MemberRole = 'subscriber' | 'backfill' | 'sweep';

/** One member stack (an account × region instance), read with its effective parameters. */
export interface MemberStackView {
  /** The function's environment variables, exactly as the template sets them. */
  env(role: MemberRole): Record<string, string>;
  functionArn(role: MemberRole): string;
  timeoutSeconds(role: MemberRole): number;
  /** The backfill custom resource's properties (ServiceToken left out, as in the request). */
  readonly backfillProperties: Record<string, unknown>;
  readonly backfillLogicalId: string;
  /** Rule states: the CreateLogGroup rule and the sweep schedule. */
  readonly createLogGroupRuleEnabled: boolean;
  readonly sweepRuleEnabled: boolean;
  /** Async retries of the subscriber (EventInvokeConfig MaximumRetryAttempts). */
  readonly subscriberAsyncRetries: number;
  /** Log groups the stack itself creates (one per function). */
  readonly ownLogGroups: readonly string[];
}

function targetsFunction(rule: Record<string, unknown>, fnId: string): boolean {
  const targets = (rule.Targets as { Arn?: unknown }[] | undefined) ?? [];
  return targets.some((t) => JSON.stringify(t.Arn) === JSON.stringify({ 'Fn::GetAtt': [fnId, 'Arn'] }));
}

export function memberStack(d: Deployment, scope: StackScope): MemberStackView {
  const r = new TemplateReader(d.member, scope);
  const fnIds: Record<MemberRole, string> = {
    subscriber: r.findOne(
      'AWS::Lambda::Function',
      'subscriber',
      (p) => p.FunctionName === FUNCTION_NAMES.subscriber,
    ),
    backfill: r.findOne(
      'AWS::Lambda::Function',
      'backfill',
      (p) => p.FunctionName === FUNCTION_NAMES.backfill,
    ),
    sweep: r.findOne('AWS::Lambda::Function', 'sweep', (p) => p.FunctionName === FUNCTION_NAMES.sweep),
  };
  const backfillId = r.findOne(
    'AWS::CloudFormation::CustomResource',
    'backfill custom resource',
    (p) => JSON.stringify(p.ServiceToken) === JSON.stringify({ 'Fn::GetAtt': [fnIds.backfill, 'Arn'] }),
  );
  const { ServiceToken: _token, ...backfillProperties } = r.resolve(
    r.resource(backfillId).Properties,
    backfillId,
  ) as Record<string, unknown>;
  const ruleState = (fnId: string, what: string) => {
    const id = r.findOne('AWS::Events::Rule', what, (p) => targetsFunction(p, fnId));
    return r.property(id, 'State') !== 'DISABLED';
  };
  const invokeConfig = r.find(
    'AWS::Lambda::EventInvokeConfig',
    (p) => JSON.stringify(p.FunctionName) === JSON.stringify({ Ref: fnIds.subscriber }),
  );
  const retries = invokeConfig[0] ? Number(r.property(invokeConfig[0], 'MaximumRetryAttempts') ?? 2) : 2;
  return {
    env: (role) => r.environment(fnIds[role]),
    functionArn: (role) => r.string({ 'Fn::GetAtt': [fnIds[role], 'Arn'] }, `${role} arn`),
    timeoutSeconds: (role) => Number(r.property(fnIds[role], 'Timeout') ?? 3),
    backfillProperties,
    backfillLogicalId: backfillId,
    createLogGroupRuleEnabled: ruleState(fnIds.subscriber, 'CreateLogGroup rule'),
    sweepRuleEnabled: ruleState(fnIds.sweep, 'sweep schedule'),
    subscriberAsyncRetries: retries,
    ownLogGroups: r
      .find('AWS::Logs::LogGroup')
      .map((id) => r.string(r.resource(id).Properties?.LogGroupName, id)),
  };
}

/** The central stack's pieces the demo creates in moto, and the reflector's configuration. */
export interface CentralStackView {
  readonly streamName: string;
  readonly streamMode: string;
  readonly secretName: string;
  readonly secretLogicalId: string;
  readonly bucketLogicalId: string;
  /** Needs the secret ARN and bucket name as physical ids in the scope. */
  reflectorEnv(scope: StackScope): Record<string, string>;
  readonly reflectorTimeoutSeconds: number;
  readonly eventSourceMapping: {
    readonly batchSize: number;
    readonly maxRetryAttempts: number;
    readonly maxRecordAgeSeconds: number;
    readonly bisectOnError: boolean;
    readonly reportBatchItemFailures: boolean;
    readonly startingPosition: string;
  };
}

export function centralStack(d: Deployment): CentralStackView {
  const base: StackScope = {
    account: d.config.centralAccountId,
    region: d.config.homeRegion,
    stackName: 'StackSet-log-reflector-central',
    parameters: {},
  };
  const r = new TemplateReader(d.central, base);
  const streamId = r.findOne('AWS::Kinesis::Stream', 'the central stream');
  const secretIds = r.find('AWS::SecretsManager::Secret');
  if (secretIds.length !== 1)
    throw new TemplateError(
      'the demo needs the central stack to create the Sumo secret (config sumo.secretName/secretArn unset)',
    );
  const secretId = secretIds[0] as string;
  const bucketId = r.findOne('AWS::S3::Bucket', 'failure bucket');
  const reflectorId = r.findOne(
    'AWS::Lambda::Function',
    'reflector',
    (p) => p.FunctionName === FUNCTION_NAMES.reflector,
  );
  const esmId = r.findOne('AWS::Lambda::EventSourceMapping', 'reflector event source mapping');
  const esm = (key: string) => r.property(esmId, key);
  return {
    streamName: r.string(r.resource(streamId).Properties?.Name, 'stream name'),
    streamMode: String((r.property(streamId, 'StreamModeDetails') as { StreamMode?: string })?.StreamMode),
    secretName: r.string(r.resource(secretId).Properties?.Name, 'secret name'),
    secretLogicalId: secretId,
    bucketLogicalId: bucketId,
    reflectorEnv: (scope) => new TemplateReader(d.central, scope).environment(reflectorId),
    reflectorTimeoutSeconds: Number(r.property(reflectorId, 'Timeout')),
    eventSourceMapping: {
      batchSize: Number(esm('BatchSize') ?? 100),
      maxRetryAttempts: Number(esm('MaximumRetryAttempts') ?? -1),
      maxRecordAgeSeconds: Number(esm('MaximumRecordAgeInSeconds') ?? -1),
      bisectOnError: esm('BisectBatchOnFunctionError') === true,
      reportBatchItemFailures: ((esm('FunctionResponseTypes') as string[] | undefined) ?? []).includes(
        'ReportBatchItemFailures',
      ),
      startingPosition: String(esm('StartingPosition')),
    },
  };
}
