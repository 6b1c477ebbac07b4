/**
 * `log-reflector replay --bucket B [--prefix P] [--dry-run] [--json]`: re-drives records
 * parked in the failure bucket (malformed records and the event source mapping's on-failure
 * files) through the reflector's forwarder core to the Sumo HTTP source. Replayed objects
 * move under `replayed/`, so running it twice sends nothing new twice.
 *
 * The Sumo URL comes from `--endpoint-secret-arn`, else SUMO_ENDPOINT_SECRET_ARN, else
 * SUMO_ENDPOINT (local use); header templates and tuning from the same SUMO_* variables as
 * the reflector. Honours AWS_ENDPOINT_URL (e.g. moto).
 */
import { S3Client } from '@aws-sdk/client-s3';
import type { Command } from 'commander';
import { formatTable, type Progress, printJson, progressBar } from '../../shared/cli/output';
import { defaultSecretsClient, secretEndpoint, staticEndpoint } from '../reflector/endpoint';
import { forwardConfigFrom, loadReflectorEnv, senderOptionsFrom } from '../reflector/env';
import { type ReplayObjectOutcome, replayBucket } from '../reflector/replay';
import { SumoSender } from '../reflector/sender';

interface ReplayCliOptions {
  readonly bucket: string;
  readonly prefix?: string;
  readonly dryRun?: boolean;
  readonly json?: boolean;
  readonly endpointSecretArn?: string;
}

/** A URL that is never contacted: a dry run needs no endpoint. */
const DRY_RUN_ENDPOINT = 'http://dry-run.invalid/';

async function run(o: ReplayCliOptions): Promise<void> {
  const secretArn = o.endpointSecretArn ?? process.env.SUMO_ENDPOINT_SECRET_ARN;
  const env = loadReflectorEnv({
    ...process.env,
    FAILURE_BUCKET: o.bucket,
    ...(secretArn ? { SUMO_ENDPOINT_SECRET_ARN: secretArn } : {}),
    ...(o.dryRun && !secretArn && !process.env.SUMO_ENDPOINT ? { SUMO_ENDPOINT: DRY_RUN_ENDPOINT } : {}),
  });
  // Path-style addressing for local endpoints (moto) that do not serve bucket subdomains.
  const s3 = new S3Client({ forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL) });
  const sender = o.dryRun
    ? undefined
    : new SumoSender(
        env.SUMO_ENDPOINT_SECRET_ARN
          ? secretEndpoint(env.SUMO_ENDPOINT_SECRET_ARN, defaultSecretsClient())
          : staticEndpoint(env.SUMO_ENDPOINT as string),
        senderOptionsFrom(env),
      );
  let bar: Progress | undefined;
  const seen: ReplayObjectOutcome[] = [];
  let summary: Awaited<ReturnType<typeof replayBucket>>;
  try {
    summary = await replayBucket(
      {
        bucket: o.bucket,
        dryRun: Boolean(o.dryRun),
        ...(o.prefix === undefined ? {} : { prefix: o.prefix }),
      },
      {
        s3,
        ...(sender ? { sender } : {}),
        config: forwardConfigFrom(env),
        onStart: (objects) => {
          bar = progressBar(objects, o.dryRun ? 'replay (dry run)' : 'replay', Boolean(o.json));
        },
        onObject: (outcome) => {
          seen.push(outcome);
          bar?.tick();
        },
      },
    );
  } finally {
    bar?.stop();
    sender?.close();
  }
  if (summary.counts.failed > 0 || summary.counts['still-malformed'] > 0) process.exitCode = 1;
  if (o.json) {
    printJson(summary);
    return;
  }
  if (seen.length > 0) {
    process.stdout.write(
      `${formatTable(
        seen.map((s) => ({
          status: s.status,
          kind: s.kind,
          records: s.records,
          events: s.events,
          key: s.key,
          detail: s.detail,
        })),
        ['status', 'kind', 'records', 'events', 'key', 'detail'],
      )}\n\n`,
    );
  }
  const c = summary.counts;
  process.stdout.write(
    `${summary.dryRun ? 'dry run: ' : ''}${summary.objects} object(s), ${summary.records} record(s), ${summary.events} event(s): ` +
      `${c.replayed} replayed, ${c['would-replay']} would replay, ${c.failed} failed, ${c['still-malformed']} still malformed, ${c.skipped} skipped\n`,
  );
}

/** Registers `replay` on the CLI. */
export function register(program: Command): void {
  program
    .command('replay')
    .description('re-drive records from the reflector failure bucket to Sumo Logic')
    .requiredOption('--bucket <name>', 'the failure bucket (FAILURE_BUCKET of the reflector)')
    .option('--prefix <prefix>', 'only objects under this key prefix')
    .option('--dry-run', 'list and count what would be sent; send and move nothing')
    .option('--json', 'print the summary as JSON')
    .option('--endpoint-secret-arn <arn>', 'secret holding the Sumo URL (default: SUMO_ENDPOINT_SECRET_ARN)')
    .action(async (o: ReplayCliOptions) => {
      await run(o);
    });
}
