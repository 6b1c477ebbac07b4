/**
 * The enrollment reconciler (central/enrollment/handler.ts) in-process, in the management
 * account's home region, with the environment the org stack gives it and the triggers it gets
 * in AWS: `{"trigger":"deploy"}` after the org stack deploys, Organizations events forwarded
 * from us-east-1 (CreateAccountResult, MoveAccount, TagResource), and the schedule.
 *
 * Its dependencies are the deployed ones, pointed at moto with the management account's keys:
 * Organizations, StackSets (with the moto adapter of stacksets.ts), its state object in the
 * org stack's reconciler state bucket (lease, conditional writes) and the enrolled-list
 * publisher writing `enrollment/accounts.json` into the central account's state bucket —
 * a cross-account PutObject, as in AWS (buckets.ts says what moto checks of it).
 *
 * Time: the reconciler waits for a joining account's auto-deployment by sleeping between
 * polls (10 s each, at most 15 minutes). The demo gives it a sleep that lets what happens
 * meanwhile in AWS happen (`whileWaiting`: the auto-deployment) and returns at once.
 * After a run, the StackSet operations it started are played (`StackSetsPlayer.sync`), unless
 * the caller lands them itself (`land: false`) to show what happens while one runs.
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { S3Client } from '@aws-sdk/client-s3';
import {
  awsOrganizations,
  awsStackSets,
  CLIENT_RETRY,
  s3EnrolledPublisher,
  s3StateStore,
} from '../../central/enrollment/aws';
import { type EnrollmentConfig, parseEnrollmentEnv } from '../../central/enrollment/env';
import {
  createHandler,
  type EnrollmentRunResult,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from '../../central/enrollment/handler';
import { FUNCTION_NAMES } from '../../shared/naming';
import { loadEvent } from '../support/events';
import { clientConfig, MANAGEMENT_CREDENTIALS } from './aws';
import type { Deployment } from './deployment';
import type { InProcessLambda } from './lambda';
import type { StackSetsPlayer, SyncResult } from './stacksets';

export interface ReconcileOutcome {
  readonly result: EnrollmentRunResult;
  /** The member stacks the run's operations updated (none yet when `land: false`). */
  readonly sync: SyncResult;
  /** Polls the run spent waiting (each 10 s in AWS). */
  readonly waits: number;
}

interface OrganizationsEvent {
  id: string;
  account: string;
  time: string;
  'detail-type': string;
  detail: Record<string, unknown> & { requestParameters?: Record<string, unknown> | null };
}

export interface ReconcilerOptions {
  readonly deployment: Deployment;
  readonly lambda: InProcessLambda;
  readonly player: StackSetsPlayer;
  readonly endpoint: string;
  /** The reconciler's environment, as the org template sets it (its state bucket resolved). */
  readonly env: Record<string, string>;
  readonly timeoutSeconds: number;
  readonly logLevel: 'INFO' | 'SILENT';
}

export class Reconciler {
  readonly arn: string;
  readonly config: EnrollmentConfig;
  runs = 0;
  private readonly waiting: (() => Promise<void>)[] = [];
  private waits = 0;

  constructor(private readonly o: ReconcilerOptions) {
    const { config } = o.deployment;
    this.config = parseEnrollmentEnv(o.env);
    const target = { endpoint: o.endpoint, region: config.homeRegion, credentials: MANAGEMENT_CREDENTIALS };
    const organizations = new OrganizationsClient({ ...clientConfig(target), ...CLIENT_RETRY });
    const s3 = new S3Client({ ...clientConfig(target), ...CLIENT_RETRY });
    const { stateBucket, enrolledListBucket } = this.config;
    if (!stateBucket || !enrolledListBucket)
      throw new Error(
        `the org template gives the reconciler no STATE_BUCKET or ENROLLED_LIST_BUCKET (received ${JSON.stringify(o.env)})`,
      );
    const deps = {
      config: this.config,
      reconcileDeps: {
        organizations: awsOrganizations(organizations),
        stackSets: awsStackSets(o.player.cfn),
        stateStore: s3StateStore(s3, stateBucket),
        publisher: s3EnrolledPublisher(s3, enrolledListBucket),
        sleep: async () => {
          this.waits += 1;
          await this.waiting.shift()?.();
        },
      },
      logger: new Logger({ serviceName: SERVICE_NAME, logLevel: o.logLevel }),
      metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME }),
    };
    const handler = createHandler(() => deps);
    this.arn = `arn:aws:lambda:${config.homeRegion}:${config.managementAccountId}:function:${FUNCTION_NAMES.enrollment}`;
    o.lambda.register(this.arn, o.timeoutSeconds, (event, context) => handler(event, context));
  }

  /** Happens while the next run waits (polls), e.g. the auto-deployment it waits for. */
  whileWaiting(task: () => Promise<void>): void {
    this.waiting.push(task);
  }

  /**
   * One invocation; then the StackSet operations it started land in the member stacks, unless
   * `land` is false (the caller calls `land()` when it wants them to).
   */
  async run(event: unknown, { land = true }: { land?: boolean } = {}): Promise<ReconcileOutcome> {
    this.runs += 1;
    const before = this.waits;
    const result = (await this.o.lambda.invoke(this.arn, event)) as EnrollmentRunResult;
    const sync = land ? await this.land() : { created: 0, updated: 0, deleted: 0 };
    return { result, sync, waits: this.waits - before };
  }

  /** The operations started so far land (CloudFormation updates the member stacks). */
  land(): Promise<SyncResult> {
    return this.o.player.sync();
  }

  afterDeploy(options?: { land?: boolean }): Promise<ReconcileOutcome> {
    return this.run({ trigger: 'deploy' }, options);
  }

  scheduled(): Promise<ReconcileOutcome> {
    const { config } = this.o.deployment;
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
    event.account = this.o.deployment.config.managementAccountId;
    event.time = now;
    event.detail.eventName = eventName;
    event.detail.eventTime = now;
    event.detail.eventID = randomUUID();
    event.detail.requestID = randomUUID();
    event.detail.requestParameters = requestParameters;
    return event;
  }

  /**
   * CreateAccountResult as EventBridge delivers it in the management account: the service event
   * of the Organizations documentation's sample record (test/events/organizations/), SUCCEEDED,
   * naming the new account, on the envelope of the real MoveAccount event with the service
   * event's detail-type
   * (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_security_incident-response.html).
   */
  accountCreated(accountId: string, accountName: string): Promise<ReconcileOutcome> {
    const event = this.organizationsEvent('CreateAccountResult', {});
    const record = structuredClone(
      loadEvent<
        Record<string, unknown> & { serviceEventDetails: { createAccountStatus: Record<string, unknown> } }
      >('organizations/organizations-createaccountresult.cloudtrail-record.awsdocs.json'),
    );
    const management = this.o.deployment.config.managementAccountId;
    record.eventTime = event.time;
    record.eventID = randomUUID();
    record.userIdentity = { accountId: management, invokedBy: 'organizations.amazonaws.com' };
    record.recipientAccountId = management;
    record.serviceEventDetails.createAccountStatus = {
      ...record.serviceEventDetails.createAccountStatus,
      id: `car-${randomUUID().replace(/-/g, '')}`,
      accountName,
      accountId,
    };
    event['detail-type'] = 'AWS Service Event via CloudTrail';
    event.detail = record as OrganizationsEvent['detail'];
    return this.run(event);
  }

  moved(
    accountId: string,
    from: string,
    to: string,
    options?: { land?: boolean },
  ): Promise<ReconcileOutcome> {
    return this.run(
      this.organizationsEvent('MoveAccount', {
        accountId,
        sourceParentId: from,
        destinationParentId: to,
      }),
      options,
    );
  }

  tagged(
    accountId: string,
    key: string,
    value: string,
    options?: { land?: boolean },
  ): Promise<ReconcileOutcome> {
    // CloudTrail spells Organizations tag keys in lower case (`key`, `value`).
    return this.run(
      this.organizationsEvent('TagResource', { resourceId: accountId, tags: [{ key, value }] }),
      options,
    );
  }
}
