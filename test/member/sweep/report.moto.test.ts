/**
 * The sweep's coverage report against moto (CloudWatch Logs, S3, SQS): one report per run, at
 * the end of the chain, with the whole chain's figures, the dead-letter queue depth, and the
 * error of a run that stopped early.
 */
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { beforeEach, describe, expect, it } from 'vitest';
import { createLogsRuntime } from '../../../member/runtime/clients';
import type { Continuation } from '../../../member/runtime/continuation';
import { awsReportStore, createCoverageReporter, type ReportStore } from '../../../member/runtime/report';
import { createSweepHandler } from '../../../member/sweep/handler';
import { type CoverageReport, CoverageReportSchema, coverageReportKey } from '../../../shared/coverage';
import { AuthError } from '../../../shared/errors';
import { systemClock } from '../../../shared/rate-limiter';
import { useMoto } from '../../support/moto';
import {
  ACCOUNT,
  FILTER_NAME,
  freshAccount,
  type MotoAccount,
  memberEnv,
  memberSettings,
  memoryClaim,
  REGION,
  ROLE_ARN,
} from '../support';
import { recordTelemetry } from '../telemetry-recorder';

const moto = useMoto(REGION);
const BUCKET = 'log-reflector-state-test';
const KEY = coverageReportKey(ACCOUNT, REGION);
let account: MotoAccount;
let destination: string;
let foreignDestination: string;
let s3: S3Client;
let sqs: SQSClient;
let queueUrl: string;

beforeEach(async () => {
  ({ account, destination, foreignDestination } = await freshAccount(moto));
  s3 = new S3Client({ endpoint: moto.endpoint, region: REGION, forcePathStyle: true });
  sqs = new SQSClient({ endpoint: moto.endpoint, region: REGION });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  queueUrl =
    (await sqs.send(new CreateQueueCommand({ QueueName: 'log-reflector-subscriber-dlq' }))).QueueUrl ?? '';
});

const FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:log-reflector-sweep`;
const GRACE_MS = 1_000;
const context = (workMs = 60_000) => ({
  invokedFunctionArn: FUNCTION_ARN,
  getRemainingTimeInMillis: () => GRACE_MS + workMs,
});
const SCHEDULED = {
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
};

function sweep(store: ReportStore, enrollment: 'enabled' | 'disabled' = 'enabled') {
  const handedOff: Continuation[] = [];
  const recorded = recordTelemetry();
  const handler = createSweepHandler({
    env: memberEnv(memberSettings({ destinationArn: destination, exclude: ['/excluded/*'], enrollment })),
    runtimeFor: () =>
      createLogsRuntime({
        requestsPerSecond: 2000,
        client: account.logs,
        retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 2 },
      }),
    handOff: async (_arn, payload) => {
      handedOff.push(payload as Continuation);
    },
    clock: systemClock,
    telemetry: recorded.telemetry,
    claim: memoryClaim(),
    graceMs: GRACE_MS,
    coverage: createCoverageReporter({
      target: { bucket: BUCKET, key: KEY, account: ACCOUNT, region: REGION, deadLetterQueueUrl: queueUrl },
      store,
      clock: systemClock,
      logger: recorded.telemetry.logger,
    }),
  });
  return { handler, handedOff };
}

/** Counts the puts, passing them to S3 in moto. */
function countingStore() {
  const real = awsReportStore(s3, sqs);
  const store = { ...real, puts: 0 };
  store.put = async (bucket, key, body) => {
    store.puts += 1;
    await real.put(bucket, key, body);
  };
  return store;
}

async function readReport(): Promise<CoverageReport> {
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }));
  return CoverageReportSchema.parse(JSON.parse((await out.Body?.transformToString()) ?? ''));
}

describe('sweep coverage report', () => {
  it('reports what the account × region looks like after the run, and the dead-letter depth', async () => {
    await account.createGroups([
      '/app/new',
      '/app/fine',
      '/app/full',
      '/excluded/x',
      '/aws/lambda/log-reflector-sweep',
    ]);
    await account.putFilter('/app/fine', FILTER_NAME, destination, '', ROLE_ARN);
    await account.putForeignFilter('/app/full', 'one', foreignDestination);
    await account.putForeignFilter('/app/full', 'two', foreignDestination);
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{}' }));
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{}' }));
    const store = countingStore();
    const { handler } = sweep(store);
    await handler(SCHEDULED, context());
    expect(store.puts).toBe(1);
    const report = await readReport();
    expect(report).toMatchObject({
      account: ACCOUNT,
      region: REGION,
      source: 'sweep',
      complete: true,
      enrollment: 'enabled',
      filterName: FILTER_NAME,
      hops: 1,
      deadLetterMessages: 2,
      groups: { total: 5, eligible: 3, subscribed: 2, conflicts: 1, failed: 0, excluded: 2, notEnrolled: 0 },
    });
    expect(report.error).toBeUndefined();
  });

  it('writes once, at the end of a chain, with the figures of every hop', async () => {
    const groups = Array.from({ length: 150 }, (_, i) => `/app/r-${String(i).padStart(3, '0')}`);
    await account.createGroups([...groups, '/excluded/a', '/excluded/b']);
    const store = countingStore();
    const { handler, handedOff } = sweep(store);
    await handler(SCHEDULED, context(20));
    let hops = 1;
    while (handedOff.length > 0) {
      expect(store.puts).toBe(0);
      const next = handedOff.shift();
      hops += 1;
      await handler(JSON.parse(JSON.stringify(next)), context(20));
    }
    expect(hops).toBeGreaterThanOrEqual(2);
    expect(store.puts).toBe(1);
    const report = await readReport();
    expect(report.hops).toBe(hops);
    expect(report.groups).toStrictEqual({
      total: 152,
      eligible: 150,
      subscribed: 150,
      conflicts: 0,
      failed: 0,
      excluded: 2,
      notEnrolled: 0,
    });
  });

  it('reports a disabled account × region as not enrolled', async () => {
    await account.createGroups(['/app/a', '/app/b']);
    await account.putFilter('/app/a', FILTER_NAME, destination, '', ROLE_ARN);
    const { handler } = sweep(countingStore(), 'disabled');
    await handler(SCHEDULED, context());
    expect(await readReport()).toMatchObject({
      enrollment: 'disabled',
      groups: { total: 2, eligible: 0, subscribed: 0, notEnrolled: 2 },
    });
  });

  it('still reports, with the error, when the run stops on an AuthError (and still throws)', async () => {
    await account.createGroups(['/app/a']);
    account.logs.middlewareStack.add(
      (next, ctx) => async (args) => {
        if (ctx.commandName === 'DescribeSubscriptionFiltersCommand') {
          throw Object.assign(new Error('not authorized'), {
            name: 'AccessDeniedException',
            $fault: 'client',
          });
        }
        return next(args);
      },
      { step: 'initialize', name: 'deny' },
    );
    const { handler } = sweep(countingStore());
    await expect(handler(SCHEDULED, context())).rejects.toBeInstanceOf(AuthError);
    const report = await readReport();
    expect(report.complete).toBe(false);
    expect(report.error).toMatch(/^AuthError: DescribeSubscriptionFilters on "\/app\/a" was denied/);
    expect(report.groups).toMatchObject({ failed: 1 });
  });
});
