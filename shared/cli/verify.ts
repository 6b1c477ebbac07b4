/**
 * `log-reflector verify [--region R] [--scope log-group|account] [--filter-name NAME] [--stream NAME] [--timeout-seconds N] [--json]`
 * Shows logs of the current account and region reaching the pipeline (shared/verify.ts), with
 * a status line on stderr while it waits. Exit code 1 when a step failed.
 */
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { type Command, Option } from 'commander';
import type { SubscriptionScope } from '../account-policy';
import { DEFAULT_FILTER_NAME, ownFilterName, STREAM_NAME } from '../naming';
import type { Region } from '../regions';
import { VERIFY_LOG_GROUP, type VerifyWait, verify } from '../verify';
import { jsonOption, positiveNumber, regionOption, resolveRegion, scopeOption } from './options';
import { formatTable, printJson, statusLine } from './output';

/** Default wait for each of the two waits (our filter on the group, the marker in the stream). */
const DEFAULT_TIMEOUT_SECONDS = 120;
/** An hour: longer than any wait worth having (the subscriber reacts within seconds). */
const MAX_TIMEOUT_SECONDS = 3600;

interface VerifyCliOptions {
  readonly region?: Region;
  readonly scope: SubscriptionScope;
  readonly filterName?: string;
  readonly stream: string;
  readonly timeoutSeconds: number;
  readonly json?: boolean;
}

/** What the status line says while verify waits. */
export function waitText(
  wait: VerifyWait,
  filterName: string,
  streamName: string,
  scope: SubscriptionScope = 'log-group',
): string {
  const of = `${Math.floor(wait.waitedMs / 1000)} s of ${Math.round(wait.timeoutMs / 1000)} s`;
  if (wait.step === 'stream') return `verify: waiting for the marker in ${streamName} (${of})`;
  return scope === 'account'
    ? `verify: waiting for the account policy ${filterName} (${of})`
    : `verify: waiting for ${filterName} on ${VERIFY_LOG_GROUP} (${of})`;
}

async function run(opts: VerifyCliOptions): Promise<void> {
  const sts = new STSClient(opts.region ? { region: opts.region } : {});
  const region = await resolveRegion(opts.region, () => sts.config.region());
  const filterName = opts.filterName ?? ownFilterName(DEFAULT_FILTER_NAME, region);
  const status = statusLine(opts.json === true);
  let report: Awaited<ReturnType<typeof verify>>;
  try {
    report = await verify(
      {
        logs: new CloudWatchLogsClient({ region }),
        // Plain HTTP/1.1: the same client works against kinesalite or moto.
        kinesis: new KinesisClient({ region, requestHandler: new NodeHttpHandler() }),
        sts: new STSClient({ region }),
      },
      {
        region,
        filterName,
        scope: opts.scope,
        streamName: opts.stream,
        timeoutMs: opts.timeoutSeconds * 1000,
        onWait: (wait) => status.update(waitText(wait, filterName, opts.stream, opts.scope)),
      },
    );
  } finally {
    status.clear();
  }
  if (opts.json) printJson(report);
  else
    process.stdout.write(
      `${formatTable(
        report.steps.map((s) => ({ ...s })),
        ['step', 'status', 'detail'],
      )}\n`,
    );
  if (!report.ok) process.exitCode = 1;
}

export function register(program: Command): void {
  program
    .command('verify')
    .description(
      `write a marker event into ${VERIFY_LOG_GROUP}, wait for our filter on it (or our account policy) and, where the central stream is readable, for the marker in it`,
    )
    .addOption(regionOption())
    .addOption(scopeOption())
    .addOption(
      new Option(
        '--filter-name <name>',
        `full name of the filter (account scope: the policy) we own (default: ${DEFAULT_FILTER_NAME}-<region>)`,
      ),
    )
    .addOption(new Option('--stream <name>', 'the central Kinesis stream').default(STREAM_NAME, STREAM_NAME))
    .addOption(
      new Option('--timeout-seconds <n>', `how long each wait lasts, up to ${MAX_TIMEOUT_SECONDS}`)
        .argParser(positiveNumber('--timeout-seconds', MAX_TIMEOUT_SECONDS))
        .default(DEFAULT_TIMEOUT_SECONDS),
    )
    .addOption(jsonOption())
    .action((opts: VerifyCliOptions) => run(opts));
}
