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
import {
  type CfnTemplate,
  effectiveParameters,
  type StackScope,
  TemplateError,
  TemplateReader,
} from './cfn-template';

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
  /** `AWS::StackId` of the org stack (the central state bucket's name is derived from it). */
  readonly orgStackId: string;
  readonly org: CfnTemplate;
  readonly member: CfnTemplate;
  readonly central: CfnTemplate;
  readonly stackSets: {
    readonly central: StackSetDefinition;
    readonly members: StackSetDefinition;
    readonly management?: StackSetDefinition;
  };
}

/**
 * The S3 bucket a function's environment variable names with `Ref`: how the demo tells the
 * buckets of a template apart (by what the template says each one is for, not by their order).
 */
function bucketNamedBy(reader: TemplateReader, functionId: string, variable: string): string {
  const raw = (reader.resource(functionId).Properties?.Environment as { Variables?: Record<string, unknown> })
    ?.Variables?.[variable];
  const ref = raw && typeof raw === 'object' ? (raw as { Ref?: unknown }).Ref : undefined;
  if (typeof ref !== 'string' || reader.resource(ref).Type !== 'AWS::S3::Bucket')
    throw new TemplateError(
      `${functionId} ${variable} is not a Ref to an AWS::S3::Bucket of its template (received ${JSON.stringify(raw)})`,
    );
  return ref;
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

/** The org stack's scope in the management account (its id included). */
export function orgScope(d: Deployment, physicalIds: Record<string, string> = {}): StackScope {
  return {
    account: d.config.managementAccountId,
    region: d.config.homeRegion,
    stackName: d.orgStackName,
    stackId: d.orgStackId,
    parameters: {},
    physicalIds,
  };
}

/** The reconciler as the org stack defines it: its state bucket, environment and timeout. */
export interface ReconcilerView {
  /** Logical id of the reconciler function in the org template. */
  readonly functionLogicalId: string;
  /** Logical id of the bucket its `STATE_BUCKET` names (the reconciler's memory). */
  readonly stateBucketLogicalId: string;
  /** Needs the state bucket's name as a physical id. */
  env(physicalIds: Record<string, string>): Record<string, string>;
  readonly timeoutSeconds: number;
}

export function reconcilerSetup(d: Deployment): ReconcilerView {
  const reader = new TemplateReader(d.org, orgScope(d));
  const fn = reader.findOne(
    'AWS::Lambda::Function',
    FUNCTION_NAMES.enrollment,
    (p) => p.FunctionName === FUNCTION_NAMES.enrollment,
  );
  return {
    functionLogicalId: fn,
    stateBucketLogicalId: bucketNamedBy(reader, fn, 'STATE_BUCKET'),
    env: (physicalIds) => new TemplateReader(d.org, orgScope(d, physicalIds)).environment(fn),
    timeoutSeconds: Number(reader.property(fn, 'Timeout')),
  };
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
  /**
   * The stack's SQS queues (the subscriber's dead-letter queue): the caller creates them and
   * gives their URLs as physical ids, since a queue's Ref is the URL SQS hands out.
   */
  readonly queues: readonly { readonly logicalId: string; readonly name: string }[];
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
    queues: r.find('AWS::SQS::Queue').map((id) => ({
      logicalId: id,
      name: r.string(r.resource(id).Properties?.QueueName, `${id}.QueueName`),
    })),
  };
}

/** The central stack's pieces the demo creates in moto, and the reflector's configuration. */
export interface CentralStackView {
  /** The central stack's scope: account, home region, the parameters the org template gives it. */
  readonly scope: StackScope;
  readonly streamName: string;
  readonly streamMode: string;
  readonly secretName: string;
  readonly secretLogicalId: string;
  /** The bucket the reflector's FAILURE_BUCKET names. */
  readonly failureBucketLogicalId: string;
  /** The bucket the reflector's ENROLLED_LIST_BUCKET names, and its name (the template sets it). */
  readonly stateBucketLogicalId: string;
  readonly stateBucketName: string;
  /** Needs the secret ARN and both buckets' names as physical ids in the scope. */
  reflectorEnv(physicalIds: Record<string, string>): Record<string, string>;
  readonly reflectorTimeoutSeconds: number;
  /**
   * The coverage aggregator (`log-reflector-coverage`): its environment (needs the state bucket's
   * name as a physical id; its STATE_BUCKET names the same bucket as the reflector's
   * ENROLLED_LIST_BUCKET), its timeout, and the rule that schedules it.
   */
  coverageEnv(physicalIds: Record<string, string>): Record<string, string>;
  readonly coverageTimeoutSeconds: number;
  readonly coverageScheduleName: string;
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
    stackName: `StackSet-${d.stackSets.central.name}-demo`,
    // What the org template's central StackSet passes (the state bucket's name among them).
    parameters: effectiveParameters(d.central, d.stackSets.central.parameters, {}),
  };
  const r = new TemplateReader(d.central, base);
  const streamId = r.findOne('AWS::Kinesis::Stream', 'the central stream');
  const secretIds = r.find('AWS::SecretsManager::Secret');
  if (secretIds.length !== 1)
    throw new TemplateError(
      'the demo needs the central stack to create the Sumo secret (config sumo.secretName/secretArn unset)',
    );
  const secretId = secretIds[0] as string;
  const reflectorId = r.findOne(
    'AWS::Lambda::Function',
    'reflector',
    (p) => p.FunctionName === FUNCTION_NAMES.reflector,
  );
  const failureBucketId = bucketNamedBy(r, reflectorId, 'FAILURE_BUCKET');
  const stateBucketId = bucketNamedBy(r, reflectorId, 'ENROLLED_LIST_BUCKET');
  const coverageId = r.findOne(
    'AWS::Lambda::Function',
    'coverage aggregator',
    (p) => p.FunctionName === FUNCTION_NAMES.coverage,
  );
  const coverageBucketId = bucketNamedBy(r, coverageId, 'STATE_BUCKET');
  if (coverageBucketId !== stateBucketId)
    throw new TemplateError(
      `the coverage aggregator's STATE_BUCKET (${coverageBucketId}) is not the reflector's ENROLLED_LIST_BUCKET (${stateBucketId})`,
    );
  const coverageRule = r.findOne('AWS::Events::Rule', 'coverage schedule', (p) =>
    targetsFunction(p, coverageId),
  );
  const esmId = r.findOne('AWS::Lambda::EventSourceMapping', 'reflector event source mapping');
  const esm = (key: string) => r.property(esmId, key);
  return {
    scope: base,
    streamName: r.string(r.resource(streamId).Properties?.Name, 'stream name'),
    streamMode: String((r.property(streamId, 'StreamModeDetails') as { StreamMode?: string })?.StreamMode),
    secretName: r.string(r.resource(secretId).Properties?.Name, 'secret name'),
    secretLogicalId: secretId,
    failureBucketLogicalId: failureBucketId,
    stateBucketLogicalId: stateBucketId,
    stateBucketName: r.string(r.resource(stateBucketId).Properties?.BucketName, 'central state bucket name'),
    reflectorEnv: (physicalIds) =>
      new TemplateReader(d.central, { ...base, physicalIds }).environment(reflectorId),
    reflectorTimeoutSeconds: Number(r.property(reflectorId, 'Timeout')),
    coverageEnv: (physicalIds) =>
      new TemplateReader(d.central, { ...base, physicalIds }).environment(coverageId),
    coverageTimeoutSeconds: Number(r.property(coverageId, 'Timeout')),
    coverageScheduleName: r.string(r.resource(coverageRule).Properties?.Name, 'coverage schedule name'),
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
