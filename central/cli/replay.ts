/**
 * `log-reflector replay --bucket B [--prefix P] [--dry-run] [--region R] [--json]`: re-drives records
 * parked in the failure bucket (malformed records and the event source mapping's on-failure
 * files) through the reflector's forwarder core to the Sumo HTTP source. Replayed objects
 * move under `replayed/`, so running it twice sends nothing new twice.
 *
 * The Sumo URL comes from `--endpoint-secret-arn`, else SUMO_ENDPOINT_SECRET_ARN, else
 * SUMO_ENDPOINT (local use); header templates and tuning from the same SUMO_* variables as
 * the reflector. Honours AWS_ENDPOINT_URL (e.g. moto). Errors name the flag where a flag set
 * the value (`--bucket`, `--endpoint-secret-arn`), the variable otherwise.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Command } from 'commander';
import { jsonOption, regionOption, resolveRegion } from '../../shared/cli/options';
import { formatTable, type Progress, printJson, progressBar, statusLine } from '../../shared/cli/output';
import { ConfigError, UsageError } from '../../shared/errors';
import type { Region } from '../../shared/regions';
import { secretEndpoint, staticEndpoint } from '../reflector/endpoint';
import { forwardConfigFrom, loadReflectorEnv, type ReflectorEnv, senderOptionsFrom } from '../reflector/env';
import { type ReplayObjectOutcome, replayBucket } from '../reflector/replay';
import { SumoSender } from '../reflector/sender';

interface ReplayCliOptions {
  readonly bucket: string;
  readonly prefix?: string;
  readonly dryRun?: boolean;
  readonly json?: boolean;
  readonly endpointSecretArn?: string;
  readonly region?: Region;
}

/** A URL that is never contacted: a dry run needs no endpoint. */
const DRY_RUN_ENDPOINT = 'http://dry-run.invalid/';

/**
 * S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens, starting and ending with
 * a letter or digit (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
 */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function bucketName(value: string): string {
  if (!BUCKET_NAME.test(value)) {
    throw new UsageError(
      '--bucket',
      `expected an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens), received '${value}'`,
    );
  }
  return value;
}

/** The reflector's variables that a flag of this command sets. */
const FLAG_OF: Readonly<Record<string, string>> = {
  FAILURE_BUCKET: '--bucket',
  SUMO_ENDPOINT_SECRET_ARN: '--endpoint-secret-arn',
};

/** The reflector's own environment schema, with the flags' values; errors name the flags. */
function replayEnv(o: ReplayCliOptions): ReflectorEnv {
  const secretArn = o.endpointSecretArn ?? process.env.SUMO_ENDPOINT_SECRET_ARN;
  try {
    return loadReflectorEnv({
      ...process.env,
      FAILURE_BUCKET: o.bucket,
      ...(secretArn ? { SUMO_ENDPOINT_SECRET_ARN: secretArn } : {}),
      ...(o.dryRun && !secretArn && !process.env.SUMO_ENDPOINT ? { SUMO_ENDPOINT: DRY_RUN_ENDPOINT } : {}),
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(
      'replay options',
      error.issues.map((i) => {
        const flag = FLAG_OF[i.path];
        if (flag === undefined) return i;
        if (i.path === 'SUMO_ENDPOINT_SECRET_ARN' && i.received === undefined)
          return {
            ...i,
            path: flag,
            message:
              'required: the secret holding the Sumo URL (or SUMO_ENDPOINT_SECRET_ARN in the environment; --dry-run needs none)',
          };
        return { ...i, path: flag };
      }),
      { cause: error },
    );
  }
}

async function run(o: ReplayCliOptions): Promise<void> {
  const env = replayEnv(o);
  // Path-style addressing for local endpoints (moto) that do not serve bucket subdomains.
  const s3 = new S3Client({
    forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL),
    ...(o.region ? { region: o.region } : {}),
  });
  const region = await resolveRegion(o.region, () => s3.config.region());
  const sender = o.dryRun
    ? undefined
    : new SumoSender(
        env.SUMO_ENDPOINT_SECRET_ARN
          ? secretEndpoint(env.SUMO_ENDPOINT_SECRET_ARN, () =>
              // A secret is read in its own region (the ARN's fourth field), else the bucket's.
              Promise.resolve(
                new SecretsManagerClient({ region: env.SUMO_ENDPOINT_SECRET_ARN?.split(':')[3] || region }),
              ),
            )
          : staticEndpoint(env.SUMO_ENDPOINT as string),
        senderOptionsFrom(env),
      );
  const listing = statusLine(o.json === true);
  listing.update(`replay: listing s3://${o.bucket}/${o.prefix ?? ''}…`);
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
          listing.clear();
          bar = progressBar(objects, o.dryRun ? 'replay (dry run)' : 'replay', Boolean(o.json));
        },
        onObject: (outcome) => {
          seen.push(outcome);
          bar?.tick();
        },
      },
    );
  } finally {
    listing.clear();
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
    .requiredOption('--bucket <name>', 'the failure bucket (FAILURE_BUCKET of the reflector)', bucketName)
    .option('--prefix <prefix>', 'only objects under this key prefix')
    .option('--dry-run', 'list and count what would be sent; send and move nothing')
    .option(
      '--endpoint-secret-arn <arn>',
      'the secret holding the Sumo URL (default: SUMO_ENDPOINT_SECRET_ARN)',
    )
    .addOption(regionOption())
    .addOption(jsonOption())
    .action((o: ReplayCliOptions) => run(o));
}
