/**
 * `verify` against moto: moto's CloudWatch Logs delivers subscription data to a Kinesis
 * stream destination (gzip records), so the whole path log group → filter → stream is real
 * here; only the regional Destination hop is not (moto cannot subscribe to a logs
 * Destination ARN, so the filter points at the stream directly).
 */
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  PutSubscriptionFilterCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { CreateStreamCommand, DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../central/cli/main';
import { VERIFY_LOG_GROUP, type VerifyClients, verify } from '../../shared/verify';
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

  const runVerify = (timeoutMs: number) =>
    verify(clients, {
      region: REGION,
      filterName: FILTER,
      streamName: 'log-reflector',
      timeoutMs,
      pollMs: 100,
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
    const report = await runVerify(300);
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
});
