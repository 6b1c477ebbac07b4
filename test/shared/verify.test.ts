/**
 * `verify` against moto: moto's CloudWatch Logs delivers subscription data to a Kinesis
 * stream destination (gzip records), so the whole path log group → filter → stream is real
 * here; only the regional Destination hop is not (moto cannot subscribe to a logs
 * Destination ARN, so the filter points at the stream directly).
 */
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeAccountPoliciesCommand,
  DescribeSubscriptionFiltersCommand,
  PutLogEventsCommand,
  PutRetentionPolicyCommand,
  PutSubscriptionFilterCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../central/cli/main';
import { waitText } from '../../shared/cli/verify';
import { VERIFY_LOG_GROUP, type VerifyClients, type VerifyWait, verify } from '../../shared/verify';
import { useMoto } from '../support/moto';

const REGION = 'us-east-1';
const FILTER = 'log-reflector-us-east-1';

describe('verify (moto)', () => {
  const moto = useMoto(REGION);
  let clients: VerifyClients;

  beforeEach(async () => {
    await moto.reset();
    clients = {
      logs: new CloudWatchLogsClient({ region: REGION }),
      kinesis: new KinesisClient({ region: REGION, requestHandler: new NodeHttpHandler() }),
      sts: new STSClient({ region: REGION }),
    };
  });

  const runVerify = (timeoutMs: number, onWait?: (wait: VerifyWait) => void) =>
    verify(clients, {
      region: REGION,
      filterName: FILTER,
      streamName: 'log-reflector',
      timeoutMs,
      pollMs: 100,
      ...(onWait ? { onWait } : {}),
    });

  async function centralStream(): Promise<string> {
    await clients.kinesis.send(new CreateStreamCommand({ StreamName: 'log-reflector', ShardCount: 2 }));
    const d = await clients.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'log-reflector' }));
    return d.StreamDescriptionSummary?.StreamARN ?? '';
  }

  async function subscribe(destinationArn: string): Promise<void> {
    // What the subscriber does when CloudTrail reports the CreateLogGroup.
    await clients.logs.send(new CreateLogGroupCommand({ logGroupName: VERIFY_LOG_GROUP }));
    await clients.logs.send(
      new PutSubscriptionFilterCommand({
        logGroupName: VERIFY_LOG_GROUP,
        filterName: FILTER,
        filterPattern: '',
        destinationArn,
        roleArn: 'arn:aws:iam::123456789012:role/log-reflector-sender-us-east-1',
      }),
    );
  }

  it('sees the marker arrive in the central stream', async () => {
    await subscribe(await centralStream());
    const report = await runVerify(5000);
    expect(report.steps.map((s) => [s.step, s.status])).toStrictEqual([
      ['credentials', 'ok'],
      ['log group', 'ok'],
      ['subscription', 'ok'],
      ['marker event', 'ok'],
      ['stream', 'ok'],
    ]);
    expect(report.ok).toBe(true);
    expect(report.steps[4]?.detail).toContain(report.marker);
  });

  it('fails, naming the filter and what to check, when nothing subscribed the group', async () => {
    await centralStream();
    const waits: VerifyWait[] = [];
    const report = await runVerify(300, (w) => waits.push(w));
    // Told at every poll while it waited, before sleeping.
    expect(waits.length).toBeGreaterThan(0);
    expect(waits.every((w) => w.step === 'subscription' && w.timeoutMs === 300 && w.waitedMs >= 0)).toBe(
      true,
    );
    expect(report.ok).toBe(false);
    expect(report.steps.at(-1)).toMatchObject({ step: 'subscription', status: 'failed' });
    expect(report.steps.at(-1)?.detail).toContain(`no filter named ${FILTER} on ${VERIFY_LOG_GROUP}`);
  });

  it('skips the stream step where the stream is not visible (a member account)', async () => {
    await clients.kinesis.send(new CreateStreamCommand({ StreamName: 'elsewhere', ShardCount: 1 }));
    await subscribe('arn:aws:kinesis:us-east-1:123456789012:stream/elsewhere');
    const report = await runVerify(300);
    expect(report.ok).toBe(true);
    expect(report.steps.at(-1)).toMatchObject({ step: 'stream', status: 'skipped' });
  });

  it('runs as `log-reflector verify` and exits 1 on failure', async () => {
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      out.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    let code: number;
    try {
      code = await main([
        'node',
        'log-reflector',
        'verify',
        '--region',
        REGION,
        '--timeout-seconds',
        '0.3',
        '--json',
      ]);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(1);
    const report = JSON.parse(out.join(''));
    expect(report.steps.map((s: { step: string }) => s.step)).toStrictEqual([
      'credentials',
      'log group',
      'subscription',
    ]);
  });

  it('shows what it waits for on a terminal, and nothing on stderr with --json', async () => {
    const tty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    const run = async (...extra: string[]) => {
      let stderr = '';
      vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
        stderr += String(chunk);
        return true;
      });
      try {
        const code = await main([
          'node',
          'log-reflector',
          'verify',
          '--region',
          REGION,
          '--timeout-seconds',
          '0.3',
          ...extra,
        ]);
        return { code, stderr };
      } finally {
        vi.restoreAllMocks();
      }
    };
    try {
      const shown = await run();
      expect(shown.code).toBe(1);
      expect(shown.stderr).toContain(`\rverify: waiting for ${FILTER} on ${VERIFY_LOG_GROUP} (0 s of 0 s)`);
      expect(shown.stderr.endsWith('\r\x1b[K')).toBe(true);
      const quiet = await run('--json');
      expect(quiet.code).toBe(1);
      expect(quiet.stderr).toBe('');
    } finally {
      if (tty) Object.defineProperty(process.stderr, 'isTTY', tty);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
    }
  });
});

describe('verify status line', () => {
  it('says what it waits for and for how long', () => {
    expect(
      waitText({ step: 'subscription', waitedMs: 12_400, timeoutMs: 120_000 }, FILTER, 'log-reflector'),
    ).toBe(`verify: waiting for ${FILTER} on ${VERIFY_LOG_GROUP} (12 s of 120 s)`);
    expect(waitText({ step: 'stream', waitedMs: 999, timeoutMs: 60_000 }, FILTER, 'log-reflector')).toBe(
      'verify: waiting for the marker in log-reflector (0 s of 60 s)',
    );
  });
});

describe('verify in account scope (issue 14; SDK mock: moto does not answer account policies)', () => {
  const logs = new CloudWatchLogsClient({ region: REGION });
  const kinesis = new KinesisClient({ region: REGION });
  const sts = new STSClient({ region: REGION });
  const logsMock = mockClient(logs);
  const kinesisMock = mockClient(kinesis);
  const stsMock = mockClient(sts);
  const DEST = 'arn:aws:logs:us-east-1:222222222222:destination:log-reflector';

  beforeEach(() => {
    for (const m of [logsMock, kinesisMock, stsMock]) m.reset();
    stsMock.on(GetCallerIdentityCommand).resolves({ Account: '123456789012' });
    logsMock.on(CreateLogGroupCommand).resolves({});
    logsMock.on(PutRetentionPolicyCommand).resolves({});
    logsMock.on(CreateLogStreamCommand).resolves({});
    logsMock.on(PutLogEventsCommand).resolves({});
    // A member account: the central stream is not readable here.
    kinesisMock
      .on(ListShardsCommand)
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
  });

  const run = () =>
    verify(
      { logs, kinesis, sts },
      {
        region: REGION,
        filterName: FILTER,
        scope: 'account',
        streamName: 'log-reflector',
        timeoutMs: 0,
        pollMs: 1,
      },
    );
  const policy = (
    policyName: string,
    selectionCriteria = 'LogGroupName NOT IN ["/aws/lambda/log-reflector-reflector"]',
  ) => ({
    accountPolicies: [
      {
        policyName,
        policyType: 'SUBSCRIPTION_FILTER_POLICY' as const,
        policyDocument: JSON.stringify({ DestinationArn: DEST, RoleArn: 'arn:aws:iam::123456789012:role/r' }),
        selectionCriteria,
      },
    ],
  });

  it('finds our account policy covering the verify group, writes the marker, and never looks for a per-group filter', async () => {
    logsMock.on(DescribeAccountPoliciesCommand).resolves(policy(FILTER));
    const report = await run();
    expect(report.steps.map((s) => [s.step, s.status])).toStrictEqual([
      ['credentials', 'ok'],
      ['log group', 'ok'],
      ['subscription', 'ok'],
      ['marker event', 'ok'],
      ['stream', 'skipped'],
    ]);
    expect(report.steps[2]?.detail).toBe(`account policy ${FILTER} → ${DEST}`);
    expect(logsMock.commandCalls(DescribeSubscriptionFiltersCommand)).toHaveLength(0);
    expect(logsMock.commandCalls(DescribeAccountPoliciesCommand)[0]?.args[0].input).toStrictEqual({
      policyType: 'SUBSCRIPTION_FILTER_POLICY',
    });
  });

  it('fails naming the foreign policy that holds the account, or our policy leaving the group out', async () => {
    logsMock.on(DescribeAccountPoliciesCommand).resolves(policy('central-logging'));
    let report = await run();
    expect(report.ok).toBe(false);
    expect(report.steps.at(-1)?.detail).toContain(`the account's policy is "central-logging", not ours`);
    logsMock
      .on(DescribeAccountPoliciesCommand)
      .resolves(policy(FILTER, `LogGroupName NOT IN ["${VERIFY_LOG_GROUP}"]`));
    report = await run();
    expect(report.steps.at(-1)).toMatchObject({
      step: 'subscription',
      status: 'failed',
      detail: expect.stringContaining(`our policy leaves ${VERIFY_LOG_GROUP} out`),
    });
  });

  it('says it waits for the policy', () => {
    expect(
      waitText(
        { step: 'subscription', waitedMs: 2000, timeoutMs: 60_000 },
        FILTER,
        'log-reflector',
        'account',
      ),
    ).toBe(`verify: waiting for the account policy ${FILTER} (2 s of 60 s)`);
  });
});
