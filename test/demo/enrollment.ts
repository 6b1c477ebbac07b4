/**
 * The enrollment reconciler (central/enrollment/handler.ts) in-process, in the management
 * account's home region, with the environment the org stack gives it and the triggers it gets
 * in AWS: `{"trigger":"deploy"}` after the org stack deploys, Organizations events forwarded
 * from us-east-1 (MoveAccount, TagResource), and the schedule. After each run the StackSet
 * operations it started are played (`StackSetsPlayer.sync`).
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { awsOrganizations, awsStackSets, CLIENT_RETRY } from '../../central/enrollment/aws';
import { parseEnrollmentEnv } from '../../central/enrollment/env';
import {
  createHandler,
  type EnrollmentRunResult,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from '../../central/enrollment/handler';
import { FUNCTION_NAMES } from '../../shared/naming';
import { loadEvent } from '../support/events';
import { clientConfig, MANAGEMENT_CREDENTIALS } from './aws';
import { type Deployment, reconcilerSetup } from './deployment';
import type { InProcessLambda } from './lambda';
import type { StackSetsPlayer, SyncResult } from './stacksets';

export interface ReconcileOutcome {
  readonly result: EnrollmentRunResult;
  readonly sync: SyncResult;
}

interface OrganizationsEvent {
  id: string;
  account: string;
  time: string;
  'detail-type': string;
  detail: Record<string, unknown> & { requestParameters?: Record<string, unknown> | null };
}

export class Reconciler {
  readonly arn: string;
  runs = 0;

  constructor(
    private readonly deployment: Deployment,
    private readonly lambda: InProcessLambda,
    private readonly player: StackSetsPlayer,
    endpoint: string,
    logLevel: 'INFO' | 'SILENT',
  ) {
    const { config } = deployment;
    const { env, timeoutSeconds } = reconcilerSetup(deployment);
    const organizations = new OrganizationsClient({
      ...clientConfig({ endpoint, region: config.homeRegion, credentials: MANAGEMENT_CREDENTIALS }),
      ...CLIENT_RETRY,
    });
    const deps = {
      config: parseEnrollmentEnv(env),
      reconcileDeps: {
        organizations: awsOrganizations(organizations),
        stackSets: awsStackSets(player.cfn),
      },
      logger: new Logger({ serviceName: SERVICE_NAME, logLevel }),
      metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME }),
    };
    const handler = createHandler(() => deps);
    this.arn = `arn:aws:lambda:${config.homeRegion}:${config.managementAccountId}:function:${FUNCTION_NAMES.enrollment}`;
    lambda.register(this.arn, timeoutSeconds, (event, context) => handler(event, context));
  }

  /** One invocation, then the StackSet operations it started land in the member stacks. */
  async run(event: unknown): Promise<ReconcileOutcome> {
    this.runs += 1;
    const result = (await this.lambda.invoke(this.arn, event)) as EnrollmentRunResult;
    return { result, sync: await this.player.sync() };
  }

  afterDeploy(): Promise<ReconcileOutcome> {
    return this.run({ trigger: 'deploy' });
  }

  scheduled(): Promise<ReconcileOutcome> {
    const { config } = this.deployment;
    return this.run({
      version: '0',
      id: randomUUID(),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: config.managementAccountId,
      time: new Date().toISOString(),
      region: config.homeRegion,
      resources: [
        `arn:aws:events:${config.homeRegion}:${config.managementAccountId}:rule/log-reflector-enrollment-schedule`,
      ],
      detail: {},
    });
  }

  /** An Organizations API call as EventBridge delivers it (the envelope of a real MoveAccount event). */
  private organizationsEvent(
    eventName: string,
    requestParameters: Record<string, unknown>,
  ): OrganizationsEvent {
    const event = structuredClone(
      loadEvent<OrganizationsEvent>('organizations/organizations-moveaccount.eventbridge.asea.json'),
    );
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    event.id = randomUUID();
    event.account = this.deployment.config.managementAccountId;
    event.time = now;
    event.detail.eventName = eventName;
    event.detail.eventTime = now;
    event.detail.eventID = randomUUID();
    event.detail.requestID = randomUUID();
    event.detail.requestParameters = requestParameters;
    return event;
  }

  moved(accountId: string, from: string, to: string): Promise<ReconcileOutcome> {
    return this.run(
      this.organizationsEvent('MoveAccount', {
        accountId,
        sourceParentId: from,
        destinationParentId: to,
      }),
    );
  }

  tagged(accountId: string, key: string, value: string): Promise<ReconcileOutcome> {
    // CloudTrail spells Organizations tag keys in lower case (`key`, `value`).
    return this.run(
      this.organizationsEvent('TagResource', { resourceId: accountId, tags: [{ key, value }] }),
    );
  }
}
