/**
 * A small organization in moto for `log-reflector coverage` (issue 12.1): the real sweep runs in
 * every member account × region and writes its coverage report into the central state bucket
 * with that account's own credentials; the real aggregator builds the index with the central
 * account's; the reconciler's configuration is a `log-reflector-enrollment` function and its state
 * object sits in the management account's bucket. What is constructed rather than run: the
 * reconciler state (the shape `central/enrollment/state.ts` saves, as a run would leave it) and the
 * published enrolled list.
 *
 *   management 123456789012 (not covered)
 *   central    222222222222  eu-west-1 home (covered), us-east-1 (not covered by design, decision 10)
 *   member-a   333333333333  both regions; one conflict in us-east-1
 *   member-b   444444444444  opted out (tag), both regions disabled
 *   member-c   555555555555  just joined: tags not read, no report yet
 *
 * `node --import tsx test/central/coverage/scenario.ts` prints the table from a fresh moto.
 */
import {
  type CloudWatchLogsClient,
  CreateLogGroupCommand,
  PutSubscriptionFilterCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateStreamCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { CreateFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { aggregate } from '../../../central/coverage/handler';
import { s3StateStore } from '../../../central/enrollment/aws';
import { emptyState, type ReconcilerState } from '../../../central/enrollment/state';
import { createLogsClient, createLogsRuntime } from '../../../member/runtime/clients';
import { awsReportStore, createCoverageReporter } from '../../../member/runtime/report';
import { createSweepHandler } from '../../../member/sweep/handler';
import { coverageReportKey } from '../../../shared/coverage';
import { ENROLLED_LIST_KEY } from '../../../shared/enrollment';
import { FUNCTION_NAMES } from '../../../shared/naming';
import { systemClock } from '../../../shared/rate-limiter';
import { assumeInto, type Credentials, clientConfig, MANAGEMENT_CREDENTIALS } from '../../demo/aws';

export const HOME = 'eu-west-1';
export const REGIONS = ['eu-west-1', 'us-east-1'] as const;
export const MANAGEMENT = '123456789012';
export const CENTRAL = '222222222222';
export const MEMBER_A = '333333333333';
export const MEMBER_B = '444444444444';
export const MEMBER_C = '555555555555';
export const CENTRAL_BUCKET = 'log-reflector-state-5f0c2a10-3c1e-11f1-9a6b-0a1b2c3d4e5f';
export const STATE_BUCKET = 'log-reflector-org-reconcilerstate-1x2y3z';
const STACK_SET = 'log-reflector-members';

const noopMetrics = { addMetric: () => undefined, publishStoredMetrics: () => undefined };

const quietLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

export interface Scenario {
  readonly credentials: Record<string, Credentials>;
}

/** What each member stack runs with, and the log groups of its account × region. */
interface MemberSetup {
  readonly account: string;
  readonly region: string;
  readonly enrollment: 'enabled' | 'disabled';
  readonly groups: readonly string[];
  /** Groups whose two filter slots someone else holds (a conflict). */
  readonly full?: readonly string[];
}

const workload = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `/app/${prefix}-${i}`);

const MEMBERS: readonly MemberSetup[] = [
  {
    account: CENTRAL,
    region: 'eu-west-1',
    enrollment: 'enabled',
    groups: [...workload(6, 'archive'), '/aws/lambda/log-reflector-sweep'],
  },
  { account: CENTRAL, region: 'us-east-1', enrollment: 'disabled', groups: workload(3, 'archive') },
  {
    account: MEMBER_A,
    region: 'eu-west-1',
    enrollment: 'enabled',
    groups: [...workload(12, 'orders'), '/aws/lambda/log-reflector-sweep', '/noisy/debug'],
  },
  {
    account: MEMBER_A,
    region: 'us-east-1',
    enrollment: 'enabled',
    groups: workload(8, 'orders'),
    full: ['/app/legacy'],
  },
  { account: MEMBER_B, region: 'eu-west-1', enrollment: 'disabled', groups: workload(5, 'billing') },
  { account: MEMBER_B, region: 'us-east-1', enrollment: 'disabled', groups: workload(2, 'billing') },
];

function reconcilerState(T0: number): ReconcilerState {
  const instance = (enrollment: 'enabled' | 'disabled') => ({
    status: 'CURRENT',
    detailed: 'SUCCEEDED',
    lastOp: 'op-1',
    enrollment,
  });
  const state = emptyState();
  state.generation = 7;
  state.updatedAt = T0 + 10 * 60_000;
  state.stackSets[STACK_SET] = {
    accounts: {
      [CENTRAL]: {
        name: 'log-archive',
        state: 'ACTIVE',
        tag: null,
        tagsReadAt: T0,
        instances: { 'eu-west-1': instance('enabled'), 'us-east-1': instance('enabled') },
      },
      [MEMBER_A]: {
        name: 'member-a',
        state: 'ACTIVE',
        tag: null,
        tagsReadAt: T0,
        instances: { 'eu-west-1': instance('enabled'), 'us-east-1': instance('enabled') },
      },
      [MEMBER_B]: {
        name: 'member-b',
        state: 'ACTIVE',
        tag: 'true',
        tagsReadAt: T0,
        instances: { 'eu-west-1': instance('disabled'), 'us-east-1': instance('disabled') },
      },
      [MEMBER_C]: {
        name: 'member-c',
        state: 'ACTIVE',
        instances: {
          'eu-west-1': { status: 'OUTDATED', detailed: 'RUNNING', lastOp: 'op-2' },
          'us-east-1': { status: 'OUTDATED', detailed: 'RUNNING', lastOp: 'op-2' },
        },
      },
    },
    operations: {},
    regionsListedAt: { 'eu-west-1': T0, 'us-east-1': T0 },
    walkedAt: T0,
  };
  state.published = { generation: 7, at: T0, accounts: [CENTRAL, MEMBER_A] };
  return state;
}

async function sweepOne(
  endpoint: string,
  m: MemberSetup,
  credentials: Credentials,
  now: number,
): Promise<void> {
  const target = { endpoint, region: m.region, credentials };
  const logs: CloudWatchLogsClient = createLogsClient(m.region, { endpoint, credentials });
  const kinesis = new KinesisClient(clientConfig(target));
  // moto cannot subscribe to a logs Destination: each account × region gets a stand-in stream.
  await kinesis.send(new CreateStreamCommand({ StreamName: 'central', ShardCount: 1 }));
  const destination = `arn:aws:kinesis:${m.region}:${m.account}:stream/central`;
  for (const name of [...m.groups, ...(m.full ?? [])])
    await logs.send(new CreateLogGroupCommand({ logGroupName: name }));
  for (const name of m.full ?? []) {
    for (const f of ['vendor-a', 'vendor-b']) {
      await logs.send(
        new PutSubscriptionFilterCommand({
          logGroupName: name,
          filterName: f,
          filterPattern: '',
          destinationArn: destination,
        }),
      );
    }
  }
  const filterName = `log-reflector-${m.region}`;
  const clock = { now: () => now, sleep: systemClock.sleep };
  const handler = createSweepHandler({
    env: {
      DESTINATION_ARN: destination,
      SENDER_ROLE_ARN: `arn:aws:iam::${m.account}:role/log-reflector-sender-${m.region}`,
      FILTER_NAME: filterName,
      FILTER_PATTERN: '',
      INCLUDE: '',
      EXCLUDE: '/aws/lambda/log-reflector-*,/noisy/*',
      ENROLLMENT: m.enrollment,
      RATE_LIMIT_RPS: '100',
    },
    runtimeFor: () =>
      createLogsRuntime({ requestsPerSecond: 200, client: logs, retry: { baseDelayMs: 1, maxDelayMs: 5 } }),
    handOff: async () => {
      throw new Error('a small account never hands off');
    },
    clock,
    telemetry: { logger: quietLogger, metrics: noopMetrics },
    claim: async () => 'claimed',
    graceMs: 1_000,
    coverage: createCoverageReporter({
      target: {
        bucket: CENTRAL_BUCKET,
        key: coverageReportKey(m.account, m.region),
        account: m.account,
        region: m.region,
      },
      // The member's own credentials: the bucket policy admits it for coverage/<its account>/ only.
      store: awsReportStore(new S3Client(clientConfig({ ...target, region: HOME }))),
      clock,
      logger: quietLogger,
    }),
  });
  await handler(
    { id: `sweep-${m.account}-${m.region}` },
    {
      invokedFunctionArn: `arn:aws:lambda:${m.region}:${m.account}:function:${FUNCTION_NAMES.sweep}`,
      getRemainingTimeInMillis: () => 600_000,
    },
  );
}

/**
 * Builds the organization's coverage data in moto at `endpoint` (a fresh server): the reconciler
 * ran 20 minutes before `now`, the sweeps at `now`, the aggregator 5 minutes after.
 */
export async function buildScenario(endpoint: string, now: number): Promise<Scenario> {
  const T0 = now - 30 * 60_000;
  const credentials: Record<string, Credentials> = { [MANAGEMENT]: MANAGEMENT_CREDENTIALS };
  for (const a of [CENTRAL, MEMBER_A, MEMBER_B, MEMBER_C])
    credentials[a] = await assumeInto(endpoint, HOME, a);
  const as = (account: string, region = HOME) =>
    clientConfig({ endpoint, region, credentials: credentials[account] as Credentials });

  // Central account: the state bucket and the enrolled list the reconciler published.
  const centralS3 = new S3Client(as(CENTRAL));
  await centralS3.send(
    new CreateBucketCommand({
      Bucket: CENTRAL_BUCKET,
      CreateBucketConfiguration: { LocationConstraint: HOME },
    }),
  );
  await centralS3.send(
    new PutObjectCommand({
      Bucket: CENTRAL_BUCKET,
      Key: ENROLLED_LIST_KEY,
      Body: JSON.stringify({
        version: 1,
        generation: 7,
        updatedAt: new Date(T0).toISOString(),
        accounts: [CENTRAL, MEMBER_A],
      }),
    }),
  );

  // Management account: the reconciler's state and its function (the CLI reads its configuration).
  const mgmtS3 = new S3Client(as(MANAGEMENT));
  await mgmtS3.send(
    new CreateBucketCommand({
      Bucket: STATE_BUCKET,
      CreateBucketConfiguration: { LocationConstraint: HOME },
    }),
  );
  await s3StateStore(mgmtS3, STATE_BUCKET).save(reconcilerState(T0), undefined);
  const iam = new IAMClient(as(MANAGEMENT));
  const role = await iam.send(
    new CreateRoleCommand({
      RoleName: `${FUNCTION_NAMES.enrollment}-${HOME}`,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      }),
    }),
  );
  await new LambdaClient(as(MANAGEMENT)).send(
    new CreateFunctionCommand({
      FunctionName: FUNCTION_NAMES.enrollment,
      Runtime: 'nodejs22.x',
      Role: role.Role?.Arn,
      Handler: 'index.handler',
      Code: { ZipFile: new Uint8Array([80, 75, 5, 6, ...new Array(18).fill(0)]) },
      Environment: {
        Variables: {
          STACK_SET_NAME: STACK_SET,
          CALL_AS: 'SELF',
          TARGET_OU_IDS: 'r-ab12',
          REGIONS: REGIONS.join(','),
          OPT_OUT_TAG_KEY: 'log-reflector:opt-out',
          OPT_OUT_TAG_VALUE: 'true',
          MANAGEMENT_ACCOUNT_ID: MANAGEMENT,
          STATE_BUCKET,
          ENROLLED_LIST_BUCKET: CENTRAL_BUCKET,
        },
      },
    }),
  );

  // Every member stack's sweep, with its own account's credentials.
  for (const m of MEMBERS) await sweepOne(endpoint, m, credentials[m.account] as Credentials, now);

  // The central aggregator, with the central account's credentials.
  await aggregate({
    config: {
      bucket: CENTRAL_BUCKET,
      regions: [...REGIONS],
      homeRegion: HOME,
      centralAccountId: CENTRAL,
      staleAfterMinutes: 780,
    },
    s3: centralS3,
    now: () => now + 5 * 60_000,
    logger: quietLogger,
    metrics: noopMetrics,
  });
  return { credentials };
}

if (process.argv[1]?.endsWith('scenario.ts')) {
  const { startMoto, localAwsEnv } = await import('../../support/moto');
  const { main } = await import('../../../central/cli/main');
  const moto = await startMoto();
  try {
    await buildScenario(moto.endpoint, Date.now() - 40 * 60_000);
    Object.assign(process.env, localAwsEnv(moto.endpoint, HOME));
    process.exitCode = await main(['node', 'log-reflector', 'coverage', ...process.argv.slice(2)]);
  } finally {
    await moto.stop();
  }
}
