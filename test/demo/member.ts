/**
 * Member stacks, played: for each stack instance of the members (and management) StackSet,
 * what CloudFormation would create in that account and region, with the project's real
 * handlers in-process:
 * - the functions' log groups (`/aws/lambda/log-reflector-*`, created by the stack);
 * - the subscriber, backfill and sweep handlers with the environment the template gives
 *   them for this instance's parameters (`deployment.ts`), one CloudWatch Logs client of
 *   this account and region each;
 * - the backfill custom resource: Create when the stack is created, Update when a parameter
 *   changes (Enrollment above all), Delete when the instance goes, each answered to a local
 *   ResponseURL; a FAILED answer fails the run, as it would fail the StackSet operation;
 * - the rules' states (CreateLogGroup rule and sweep schedule), from the IsEnabled condition.
 *
 * CloudTrail → EventBridge is played by `CloudTrailWatcher`: moto records no CloudTrail
 * events, so it lists each account × region's log groups and turns every group it has not
 * seen before into the EventBridge "AWS API Call via CloudTrail" CreateLogGroup event (the
 * real shape, test/events/eventbridge/), delivered to the subscriber when the rule is enabled.
 *
 * - the subscriber's dead-letter queue (SQS, created with the template's name; its URL is what
 *   the sweep's `DEAD_LETTER_QUEUE_URL` holds);
 * - the coverage report the backfill and the sweep write at the end of each reconcile run
 *   (member/runtime/report.ts) into the bucket their `COVERAGE_BUCKET` names — the central
 *   state bucket, the `CoverageBucket` value the org template gives the StackSets — in
 *   `COVERAGE_REGION`, with this account's keys (moto admits the cross-account PUT without the
 *   bucket policy's Allow, buckets.ts).
 *
 * Substituted: the `DESTINATION_ARN` variable and `DestinationArn` property (the central
 * account's `logs` Destination in AWS) point at this account × region's stand-in stream
 * (`pipeline.ts`); everything else is the template's value. And the account-level subscription
 * filter policy calls (DescribeAccountPolicies, PutAccountPolicy, DeleteAccountPolicy), which
 * moto 5.2 does not implement (it answers an HTML page the SDK cannot parse, and each run would
 * spend its eight attempts on it): the member functions get an in-memory store of policies per
 * account × region, empty at the start, as an account that never ran account scope has it
 * (`InMemoryAccountPolicies`). In log-group scope they only look for a policy of ours to remove.
 */
import { randomUUID } from 'node:crypto';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  DescribeLogGroupsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, DeleteQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { sendResponse } from '../../member/backfill/cfn-response';
import {
  GRACE_MS as BACKFILL_GRACE_MS,
  createBackfillHandler,
  SYNC_BUDGET_MS,
} from '../../member/backfill/handler';
import type { CleanupJob } from '../../member/cleanup/job';
import { createClaim } from '../../member/runtime/claims';
import {
  createLogsClient,
  createLogsRuntime,
  type HandOff,
  type LogsRuntime,
} from '../../member/runtime/clients';
import { loadMemberEnv } from '../../member/runtime/env';
import type { AccountPolicyApi } from '../../member/runtime/logs-api';
import { awsReportStore, type ReportTarget, reporterFromEnv } from '../../member/runtime/report';
import type { LogSink, MemberService, MetricsSink, Telemetry } from '../../member/runtime/telemetry';
import { createSubscriberHandler } from '../../member/subscriber/handler';
import { createSweepHandler, GRACE_MS as SWEEP_GRACE_MS } from '../../member/sweep/handler';
import { renderPolicyDocument } from '../../shared/account-policy';
import type { ExistingAccountPolicy } from '../../shared/plan';
import { systemClock } from '../../shared/rate-limiter';
import type { CfnResponseServer } from '../support/cfn-response-server';
import { loadEvent } from '../support/events';
import { clientConfig, type EmulatedAccount } from './aws';
import { type Deployment, type MemberRole, type MemberStackView, memberStack } from './deployment';
import type { Handler, InProcessLambda } from './lambda';
import { createStream, type DestinationRelay, STAND_IN_STREAM, type StreamRef } from './pipeline';

/** What the member functions logged at warn/error, and their metrics, summed over the run. */
export class MemberTelemetry {
  readonly problems: { service: string; level: string; message: string; fields: unknown }[] = [];
  readonly metrics = new Map<string, number>();

  constructor(private readonly verbose: (line: string) => void) {}

  for(service: MemberService, where: string): Telemetry {
    const line =
      (level: string) =>
      (message: unknown, ...extra: unknown[]): void => {
        const fields = extra.length === 1 ? extra[0] : extra;
        if (level === 'warn' || level === 'error')
          this.problems.push({ service: `${service} ${where}`, level, message: String(message), fields });
        if (level !== 'debug')
          this.verbose(`${service} ${where} ${level}: ${String(message)} ${JSON.stringify(fields)}`);
      };
    const logger = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
    const metrics: MetricsSink = {
      addMetric: (name: string, _unit: unknown, value: number) => {
        const key = `${service}.${name}`;
        this.metrics.set(key, (this.metrics.get(key) ?? 0) + value);
      },
      publishStoredMetrics: () => undefined,
    };
    return { logger: logger as unknown as LogSink, metrics };
  }

  metric(service: MemberService, name: string): number {
    return this.metrics.get(`${service}.${name}`) ?? 0;
  }
}

export interface MemberStackInstance {
  readonly account: EmulatedAccount;
  readonly region: string;
  readonly stackSetName: string;
  readonly key: string;
  readonly standIn: StreamRef;
  parameters: Record<string, string>;
  view: MemberStackView;
  /** Physical ids of what the demo created for the stack (the dead-letter queue's URL). */
  readonly physicalIds: Record<string, string>;
  /** The stack's resource properties as last sent to the backfill. */
  backfillProperties: Record<string, unknown>;
  physicalId?: string;
}

export interface MemberStacksOptions {
  readonly deployment: Deployment;
  readonly lambda: InProcessLambda;
  readonly responses: CfnResponseServer;
  readonly relay: DestinationRelay;
  readonly telemetry: MemberTelemetry;
  /** Endpoint the member functions' CloudWatch Logs clients use (moto, or a throttling proxy). */
  readonly logsEndpoint: string;
  /** moto: the member functions' S3 (coverage report) and SQS (dead-letter depth) clients. */
  readonly endpoint: string;
}

export const instanceKey = (account: string, region: string) => `${account}/${region}`;

/** The account policy calls against an in-memory store of one account × region (module comment). */
export class InMemoryAccountPolicies implements AccountPolicyApi {
  readonly policies = new Map<string, ExistingAccountPolicy>();

  async describe(): Promise<ExistingAccountPolicy[]> {
    return [...this.policies.values()];
  }

  async put(policy: Parameters<AccountPolicyApi['put']>[0]): Promise<void> {
    this.policies.set(policy.policyName, {
      policyName: policy.policyName,
      policyDocument: renderPolicyDocument(policy),
      selectionCriteria: policy.selectionCriteria,
    });
  }

  async delete(policyName: string): Promise<'done' | 'gone'> {
    return this.policies.delete(policyName) ? 'done' : 'gone';
  }
}

export class MemberStacks {
  readonly instances = new Map<string, MemberStackInstance>();
  /** Cleanup worker jobs the backfill's Delete started (the worker itself is not played). */
  readonly cleanupJobs: { where: string; job: CleanupJob }[] = [];
  private requests = 0;
  /** Account policies per `account/region` (see InMemoryAccountPolicies). */
  readonly accountPolicies = new Map<string, InMemoryAccountPolicies>();

  constructor(private readonly o: MemberStacksOptions) {}

  private view(
    account: EmulatedAccount,
    region: string,
    stackSetName: string,
    parameters: Record<string, string>,
    physicalIds: Record<string, string> = {},
  ) {
    return memberStack(this.o.deployment, {
      account: account.id,
      region,
      stackName: `StackSet-${stackSetName}-demo`,
      parameters,
      physicalIds,
    });
  }

  /** The template's environment for `role`, with the destination substituted (see module comment). */
  private env(instance: MemberStackInstance, role: MemberRole): Record<string, string> {
    const env = instance.view.env(role);
    return {
      ...env,
      DESTINATION_ARN: instance.standIn.arn,
      // What Lambda adds to every function's environment.
      AWS_REGION: instance.region,
      AWS_LAMBDA_FUNCTION_NAME: instance.view.functionArn(role).split(':').pop() ?? role,
    };
  }

  private properties(instance: MemberStackInstance): Record<string, unknown> {
    const templateDestination = instance.view.env('backfill').DESTINATION_ARN;
    const props = { ...instance.view.backfillProperties };
    if (props.DestinationArn !== templateDestination)
      throw new Error(
        `the backfill's DestinationArn (${String(props.DestinationArn)}) differs from its DESTINATION_ARN (${templateDestination})`,
      );
    return { ...props, DestinationArn: instance.standIn.arn };
  }

  /** (Re)creates the three functions from the instance's current view: a deploy of new code/config. */
  private registerFunctions(instance: MemberStackInstance): void {
    const { account, region } = instance;
    const where = `${account.name}/${region}`;
    const client = () =>
      createLogsClient(region, { endpoint: this.o.logsEndpoint, credentials: account.credentials });
    const policies = this.accountPolicies.get(instance.key) ?? new InMemoryAccountPolicies();
    this.accountPolicies.set(instance.key, policies);
    const runtime = (rps: number): LogsRuntime => ({
      ...createLogsRuntime({ requestsPerSecond: rps, client: client() }),
      policies,
    });
    const handOff: HandOff = async (functionArn, payload) => {
      this.o.lambda.invokeAsync(functionArn, payload);
    };
    // The coverage report: S3 in the bucket's region (COVERAGE_REGION), SQS here, this account's keys.
    const reportStore = (target: ReportTarget) =>
      awsReportStore(
        new S3Client({
          ...clientConfig(account.target(target.bucketRegion ?? region, this.o.endpoint)),
          followRegionRedirects: true,
        }),
        new SQSClient(clientConfig(account.target(region, this.o.endpoint))),
      );
    // Exactly-once markers live in each function's own log group, as in AWS (runtime/claims.ts).
    const claimFor = (role: MemberRole) => createClaim(client(), `/aws/lambda/log-reflector-${role}`);
    const subscriberEnv = this.env(instance, 'subscriber');
    const subscriberSettings = loadMemberEnv(subscriberEnv);
    const subscriber = createSubscriberHandler({
      settings: subscriberSettings,
      runtime: createLogsRuntime({ requestsPerSecond: subscriberSettings.rateLimitRps, client: client() }),
      telemetry: this.o.telemetry.for('subscriber', where),
      region,
    });
    const backfillEnv = this.env(instance, 'backfill');
    const backfillTelemetry = this.o.telemetry.for('backfill', where);
    const backfill = createBackfillHandler({
      env: backfillEnv,
      runtimeFor: (s) => runtime(s.rateLimitRps),
      handOff,
      clock: systemClock,
      telemetry: backfillTelemetry,
      claim: claimFor('backfill'),
      sendResponse,
      budgets: { graceMs: BACKFILL_GRACE_MS, syncBudgetMs: SYNC_BUDGET_MS },
      // Substituted: the cleanup worker's schedule is not played. A Delete at demo sizes removes
      // every filter of ours within its own budget; the job the worker would get is recorded.
      startCleanup: async (job: CleanupJob) => {
        this.cleanupJobs.push({ where, job });
      },
      coverage: reporterFromEnv(backfillEnv, systemClock, backfillTelemetry.logger, reportStore),
    });
    const sweepEnv = this.env(instance, 'sweep');
    const sweepTelemetry = this.o.telemetry.for('sweep', where);
    const sweep = createSweepHandler({
      env: sweepEnv,
      runtimeFor: (s) => runtime(s.rateLimitRps),
      handOff,
      clock: systemClock,
      telemetry: sweepTelemetry,
      claim: claimFor('sweep'),
      graceMs: SWEEP_GRACE_MS,
      coverage: reporterFromEnv(sweepEnv, systemClock, sweepTelemetry.logger, reportStore),
    });
    const handlers: Record<MemberRole, Handler> = {
      subscriber: (event) => subscriber(event),
      backfill: (event, context) => backfill(event, context),
      sweep: (event, context) => sweep(event, context),
    };
    for (const role of ['subscriber', 'backfill', 'sweep'] as const) {
      this.o.lambda.register(
        instance.view.functionArn(role),
        instance.view.timeoutSeconds(role),
        handlers[role],
      );
    }
  }

  /** Sends one custom resource request to the backfill and returns its answer. */
  private async customResource(
    instance: MemberStackInstance,
    requestType: 'Create' | 'Update' | 'Delete',
    properties: Record<string, unknown>,
    oldProperties?: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    this.requests += 1;
    const requestId = randomUUID();
    const stackId = `arn:aws:cloudformation:${instance.region}:${instance.account.id}:stack/StackSet-${instance.stackSetName}-demo/${randomUUID()}`;
    const event = {
      RequestType: requestType,
      ServiceToken: instance.view.functionArn('backfill'),
      ResponseURL: this.o.responses.responseUrl(requestId),
      StackId: stackId,
      RequestId: requestId,
      LogicalResourceId: instance.view.backfillLogicalId,
      ResourceType: 'AWS::CloudFormation::CustomResource',
      ...(instance.physicalId ? { PhysicalResourceId: instance.physicalId } : {}),
      ResourceProperties: { ServiceToken: instance.view.functionArn('backfill'), ...properties },
      ...(oldProperties
        ? { OldResourceProperties: { ServiceToken: instance.view.functionArn('backfill'), ...oldProperties } }
        : {}),
    };
    // CloudFormation invokes the ServiceToken function asynchronously and waits for the PUT.
    await this.o.lambda.invoke(instance.view.functionArn('backfill'), event);
    const answered = () =>
      this.o.responses.received.find((r) => r.path.includes(encodeURIComponent(requestId)));
    // A Delete may answer from a hand-off invocation, later.
    if (!answered()) await this.o.lambda.settled();
    const answer = answered();
    if (!answer)
      throw new Error(
        `backfill ${requestType} in ${instance.account.name}/${instance.region} sent no answer`,
      );
    if (answer.body.Status !== 'SUCCESS')
      throw new Error(
        `backfill ${requestType} in ${instance.account.name}/${instance.region} answered ${String(answer.body.Status)}: ${String(answer.body.Reason)}`,
      );
    instance.physicalId = String(answer.body.PhysicalResourceId);
    return answer.body;
  }

  /** A new stack instance: the stack's resources, then the backfill's Create. */
  async create(
    account: EmulatedAccount,
    region: string,
    stackSetName: string,
    parameters: Record<string, string>,
  ): Promise<MemberStackInstance> {
    const key = instanceKey(account.id, region);
    const standIn = await createStream(account, region, STAND_IN_STREAM);
    await this.o.relay.add(standIn);
    // The stack's queues first: their URLs are what the functions' environment refers to.
    const physicalIds: Record<string, string> = {};
    const sqs = account.client(SQSClient, region);
    for (const q of this.view(account, region, stackSetName, parameters).queues) {
      const created = await sqs.send(new CreateQueueCommand({ QueueName: q.name }));
      physicalIds[q.logicalId] = created.QueueUrl ?? '';
    }
    const view = this.view(account, region, stackSetName, parameters, physicalIds);
    const instance: MemberStackInstance = {
      account,
      region,
      stackSetName,
      key,
      standIn,
      parameters,
      view,
      physicalIds,
      backfillProperties: {},
    };
    const logs = account.client(CloudWatchLogsClient, region);
    for (const logGroupName of view.ownLogGroups) {
      await logs.send(new CreateLogGroupCommand({ logGroupName }));
    }
    this.registerFunctions(instance);
    instance.backfillProperties = this.properties(instance);
    await this.customResource(instance, 'Create', instance.backfillProperties);
    this.instances.set(key, instance);
    return instance;
  }

  /** A parameter change (an UpdateStackInstances that landed): new configuration, then Update. */
  async update(instance: MemberStackInstance, parameters: Record<string, string>): Promise<void> {
    instance.parameters = parameters;
    instance.view = this.view(
      instance.account,
      instance.region,
      instance.stackSetName,
      parameters,
      instance.physicalIds,
    );
    this.registerFunctions(instance);
    const old = instance.backfillProperties;
    const next = this.properties(instance);
    if (JSON.stringify(old) !== JSON.stringify(next)) {
      await this.customResource(instance, 'Update', next, old);
      instance.backfillProperties = next;
    }
  }

  /** The instance is removed: the backfill's Delete removes our filters, then the functions go. */
  async delete(instance: MemberStackInstance): Promise<void> {
    await this.customResource(instance, 'Delete', instance.backfillProperties);
    for (const role of ['subscriber', 'backfill', 'sweep'] as const)
      this.o.lambda.unregister(instance.view.functionArn(role));
    const sqs = instance.account.client(SQSClient, instance.region);
    for (const url of Object.values(instance.physicalIds))
      await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
    this.instances.delete(instance.key);
  }

  /** The sweep schedule fires in every instance whose rule is enabled. */
  async sweepAll(): Promise<number> {
    const runs = [...this.instances.values()].filter((i) => i.view.sweepRuleEnabled);
    await Promise.all(
      runs.map((i) =>
        this.o.lambda.invoke(i.view.functionArn('sweep'), {
          version: '0',
          id: randomUUID(),
          'detail-type': 'Scheduled Event',
          source: 'aws.events',
          account: i.account.id,
          time: new Date().toISOString(),
          region: i.region,
          resources: [`arn:aws:events:${i.region}:${i.account.id}:rule/log-reflector-sweep`],
          detail: {},
        }),
      ),
    );
    return runs.length;
  }
}

interface CreateLogGroupEvent {
  id: string;
  account: string;
  time: string;
  region: string;
  detail: {
    eventTime: string;
    awsRegion: string;
    recipientAccountId?: string;
    requestID: string;
    eventID: string;
    userIdentity: { accountId: string };
    requestParameters: { logGroupName: string };
  };
}

/** CloudTrail + EventBridge for CreateLogGroup (see the module comment). */
export class CloudTrailWatcher {
  private readonly seen = new Map<string, Set<string>>();
  events = 0;
  delivered = 0;

  constructor(
    private readonly stacks: MemberStacks,
    private readonly lambda: InProcessLambda,
  ) {}

  private async groups(account: EmulatedAccount, region: string): Promise<string[]> {
    const logs = new CloudWatchLogsClient(clientConfig(account.target(region)));
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await logs.send(new DescribeLogGroupsCommand({ nextToken }));
      for (const g of page.logGroups ?? []) if (g.logGroupName) names.push(g.logGroupName);
      nextToken = page.nextToken;
    } while (nextToken);
    return names;
  }

  /** Groups existing now produce no event (the rule did not exist when they were created). */
  async baseline(instance: MemberStackInstance): Promise<void> {
    this.seen.set(instance.key, new Set(await this.groups(instance.account, instance.region)));
  }

  private event(instance: MemberStackInstance, logGroupName: string): CreateLogGroupEvent {
    const event = structuredClone(
      loadEvent<CreateLogGroupEvent>('eventbridge/cloudtrail-createloggroup.eventbridge.previewme.json'),
    );
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    event.id = randomUUID();
    event.account = instance.account.id;
    event.region = instance.region;
    event.time = now;
    event.detail.eventTime = now;
    event.detail.awsRegion = instance.region;
    event.detail.recipientAccountId = instance.account.id;
    event.detail.userIdentity.accountId = instance.account.id;
    event.detail.requestID = randomUUID();
    event.detail.eventID = randomUUID();
    event.detail.requestParameters = { logGroupName };
    return event;
  }

  /** One look at every account × region; returns the events delivered to a subscriber. */
  async tick(): Promise<number> {
    let delivered = 0;
    await Promise.all(
      [...this.stacks.instances.values()].map(async (instance) => {
        const known = this.seen.get(instance.key);
        if (!known) return;
        for (const name of await this.groups(instance.account, instance.region)) {
          if (known.has(name)) continue;
          known.add(name);
          this.events += 1;
          if (!instance.view.createLogGroupRuleEnabled) continue; // the rule is disabled: no target
          delivered += 1;
          this.lambda.invokeAsync(
            instance.view.functionArn('subscriber'),
            this.event(instance, name),
            instance.view.subscriberAsyncRetries,
          );
        }
      }),
    );
    this.delivered += delivered;
    return delivered;
  }
}
