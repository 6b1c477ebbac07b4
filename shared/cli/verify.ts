/**
 * `log-reflector verify [--region R] [--filter-name BASE] [--stream NAME] [--timeout-seconds N] [--json]`
 * Shows logs of the current account and region reaching the pipeline (shared/verify.ts).
 * Exit code 1 when a step failed.
 */
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Command } from 'commander';
import { DEFAULT_FILTER_NAME, ownFilterName, STREAM_NAME } from '../naming';
import { verify } from '../verify';
import { formatTable, printJson } from './output';

export function register(program: Command): void {
  program
    .command('verify')
    .description(
      'Write a marker event into log-reflector-verify, wait for our filter on it and, where the central stream is readable, for the marker in Kinesis',
    )
    .option('--region <region>', 'region (default: AWS_REGION)')
    .option('--filter-name <base>', 'base name of our filter; the region is appended', DEFAULT_FILTER_NAME)
    .option('--stream <name>', 'central Kinesis stream name', STREAM_NAME)
    .option('--timeout-seconds <n>', 'how long to wait for each step', '120')
    .option('--json', 'print the report as JSON')
    .action(
      async (opts: {
        region?: string;
        filterName: string;
        stream: string;
        timeoutSeconds: string;
        json?: boolean;
      }) => {
        const region = opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
        if (!region) throw new Error('no region: pass --region or set AWS_REGION (received nothing)');
        const timeoutSeconds = Number(opts.timeoutSeconds);
        if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
          throw new Error(`--timeout-seconds must be a positive number (received "${opts.timeoutSeconds}")`);
        }
        const report = await verify(
          {
            logs: new CloudWatchLogsClient({ region }),
            // Plain HTTP/1.1: the same client works against kinesalite or moto.
            kinesis: new KinesisClient({ region, requestHandler: new NodeHttpHandler() }),
            sts: new STSClient({ region }),
          },
          {
            region,
            filterName: ownFilterName(opts.filterName, region),
            streamName: opts.stream,
            timeoutMs: timeoutSeconds * 1000,
          },
        );
        if (opts.json) printJson(report);
        else
          process.stdout.write(
            `${formatTable(
              report.steps.map((s) => ({ ...s })),
              ['step', 'status', 'detail'],
            )}\n`,
          );
        if (!report.ok) process.exitCode = 1;
      },
    );
}
