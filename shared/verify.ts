/**
 * `log-reflector verify`: shows, step by step, that logs of this account and region reach the
 * pipeline. It writes a marker event into a log group of its own (`log-reflector-verify`,
 * created if missing, 1-day retention: the only log group it ever touches), waits for our
 * subscription (log-group scope: our filter on that group, which the subscriber puts there when
 * CloudTrail reports the CreateLogGroup; account scope: our account-level subscription filter
 * policy, not leaving that group out), and, where it can read the central stream (run in the
 * central account's home region), waits until the marker arrives in Kinesis. The core takes
 * its clients as a port so tests drive it against moto (and an SDK mock for account scope,
 * which moto does not answer).
 */
import { randomUUID } from 'node:crypto';
import {
  type CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeAccountPoliciesCommand,
  DescribeSubscriptionFiltersCommand,
  PutLogEventsCommand,
  PutRetentionPolicyCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import {
  parsePolicyDocument,
  parseSelectionCriteria,
  SUBSCRIPTION_FILTER_POLICY,
  type SubscriptionScope,
} from './account-policy';
import { sleep } from './backoff';
import { decodeGzipPayload } from './decode';

export const VERIFY_LOG_GROUP = 'log-reflector-verify';

export interface VerifyClients {
  readonly logs: CloudWatchLogsClient;
  readonly kinesis: KinesisClient;
  readonly sts: STSClient;
}

export interface VerifyOptions {
  readonly region: string;
  /** Our filter's full name on this region's log groups, e.g. `log-reflector-eu-west-1` (in account scope, our policy's). */
  readonly filterName: string;
  /** How this account subscribes. @default 'log-group' */
  readonly scope?: SubscriptionScope;
  /** The central stream; read only if this account and region can see it. */
  readonly streamName: string;
  readonly timeoutMs: number;
  /** Polling interval. */
  readonly pollMs?: number;
  readonly now?: () => number;
  /** Called at every poll of a wait, before it sleeps (the CLI draws progress from it). */
  readonly onWait?: (wait: VerifyWait) => void;
}

/** One poll of a wait: for our filter on the log group, or for the marker in the stream. */
export interface VerifyWait {
  readonly step: 'subscription' | 'stream';
  readonly waitedMs: number;
  readonly timeoutMs: number;
}

export type StepStatus = 'ok' | 'failed' | 'skipped';

export interface VerifyStep {
  readonly step: string;
  readonly status: StepStatus;
  readonly detail: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly marker: string;
  readonly steps: readonly VerifyStep[];
}

function errorName(err: unknown): string {
  return (err as { name?: string }).name ?? 'Error';
}

export async function verify(clients: VerifyClients, options: VerifyOptions): Promise<VerifyReport> {
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 2000;
  const steps: VerifyStep[] = [];
  const marker = `log-reflector verify ${randomUUID()}`;
  const done = (ok: boolean): VerifyReport => ({ ok, marker, steps });

  // 1. Who are we?
  let account: string;
  try {
    const id = await clients.sts.send(new GetCallerIdentityCommand({}));
    account = id.Account ?? 'unknown';
    steps.push({ step: 'credentials', status: 'ok', detail: `account ${account}, region ${options.region}` });
  } catch (err) {
    steps.push({
      step: 'credentials',
      status: 'failed',
      detail: `${errorName(err)}: ${(err as Error).message}`,
    });
    return done(false);
  }

  // 2. Our own log group.
  try {
    await clients.logs.send(new CreateLogGroupCommand({ logGroupName: VERIFY_LOG_GROUP }));
    await clients.logs.send(
      new PutRetentionPolicyCommand({ logGroupName: VERIFY_LOG_GROUP, retentionInDays: 1 }),
    );
    steps.push({ step: 'log group', status: 'ok', detail: `created ${VERIFY_LOG_GROUP}` });
  } catch (err) {
    if (errorName(err) !== 'ResourceAlreadyExistsException') {
      steps.push({
        step: 'log group',
        status: 'failed',
        detail: `${errorName(err)}: ${(err as Error).message}`,
      });
      return done(false);
    }
    steps.push({ step: 'log group', status: 'ok', detail: `${VERIFY_LOG_GROUP} exists` });
  }

  // 3. Our subscription: our filter on the group (the subscriber's work), or our account policy.
  const waitStart = now();
  const deadline = waitStart + options.timeoutMs;
  const accountScope = options.scope === 'account';
  let destination: string | undefined;
  let blocker = '';
  for (;;) {
    if (accountScope) {
      ({ destination, blocker } = await findAccountPolicy(clients.logs, options.filterName));
    } else {
      const res = await clients.logs.send(
        new DescribeSubscriptionFiltersCommand({ logGroupName: VERIFY_LOG_GROUP }),
      );
      destination = res.subscriptionFilters?.find((f) => f.filterName === options.filterName)?.destinationArn;
    }
    if (destination || now() >= deadline) break;
    options.onWait?.({ step: 'subscription', waitedMs: now() - waitStart, timeoutMs: options.timeoutMs });
    await sleep(pollMs);
  }
  if (!destination) {
    steps.push({
      step: 'subscription',
      status: 'failed',
      detail: accountScope
        ? `no account-level subscription filter policy named ${options.filterName} covering ${VERIFY_LOG_GROUP} after ${Math.round(options.timeoutMs / 1000)} s${blocker ? ` (${blocker})` : ''}. The member stack's backfill puts it on deploy; the account may be opted out (log-reflector enrollment plan); run \`log-reflector plan --scope account\``
        : `no filter named ${options.filterName} on ${VERIFY_LOG_GROUP} after ${Math.round(options.timeoutMs / 1000)} s. The subscriber reacts to CloudTrail CreateLogGroup (an organization trail is required); the account may be opted out (log-reflector enrollment plan); run \`log-reflector plan\` to see what the planner would do`,
    });
    return done(false);
  }
  steps.push({
    step: 'subscription',
    status: 'ok',
    detail: `${accountScope ? 'account policy ' : ''}${options.filterName} → ${destination}`,
  });

  // 4. Where the stream is visible, remember where it ends before writing.
  const startedAt = new Date(now() - 5000);
  let shardIterators: Map<string, string> | undefined;
  let streamNote = '';
  try {
    const shards = await clients.kinesis.send(new ListShardsCommand({ StreamName: options.streamName }));
    shardIterators = new Map();
    for (const shard of shards.Shards ?? []) {
      if (!shard.ShardId) continue;
      const it = await clients.kinesis.send(
        new GetShardIteratorCommand({
          StreamName: options.streamName,
          ShardId: shard.ShardId,
          ShardIteratorType: 'AT_TIMESTAMP',
          Timestamp: startedAt,
        }),
      );
      if (it.ShardIterator) shardIterators.set(shard.ShardId, it.ShardIterator);
    }
  } catch (err) {
    shardIterators = undefined;
    streamNote = `${errorName(err)}: run verify with the central account's credentials in the home region to watch the stream`;
  }

  // 5. The marker.
  const logStream = `verify-${new Date(now()).toISOString().replace(/[:.]/g, '-')}`;
  try {
    await clients.logs.send(
      new CreateLogStreamCommand({ logGroupName: VERIFY_LOG_GROUP, logStreamName: logStream }),
    );
    await clients.logs.send(
      new PutLogEventsCommand({
        logGroupName: VERIFY_LOG_GROUP,
        logStreamName: logStream,
        logEvents: [{ timestamp: now(), message: marker }],
      }),
    );
    steps.push({
      step: 'marker event',
      status: 'ok',
      detail: `"${marker}" in ${VERIFY_LOG_GROUP}/${logStream}`,
    });
  } catch (err) {
    steps.push({
      step: 'marker event',
      status: 'failed',
      detail: `${errorName(err)}: ${(err as Error).message}`,
    });
    return done(false);
  }

  // 6. The marker in the stream.
  if (!shardIterators) {
    steps.push({
      step: 'stream',
      status: 'skipped',
      detail: `stream ${options.streamName} not readable here (${streamNote})`,
    });
    return done(true);
  }
  const streamStart = now();
  const streamDeadline = streamStart + options.timeoutMs;
  for (;;) {
    for (const [shardId, iterator] of shardIterators) {
      const res = await clients.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      if (res.NextShardIterator) shardIterators.set(shardId, res.NextShardIterator);
      for (const record of res.Records ?? []) {
        if (!record.Data) continue;
        const decoded = decodeGzipPayload(Buffer.from(record.Data));
        if (decoded.kind !== 'data') continue;
        if (decoded.payload.logGroup !== VERIFY_LOG_GROUP) continue;
        if (decoded.payload.logEvents.some((e) => e.message === marker)) {
          steps.push({
            step: 'stream',
            status: 'ok',
            detail: `marker arrived in ${options.streamName} (${shardId}) from account ${decoded.payload.owner}; the reflector forwards it to Sumo: search for "${marker}"`,
          });
          return done(true);
        }
      }
    }
    if (now() >= streamDeadline) break;
    options.onWait?.({ step: 'stream', waitedMs: now() - streamStart, timeoutMs: options.timeoutMs });
    await sleep(pollMs);
  }
  steps.push({
    step: 'stream',
    status: 'failed',
    detail: `marker not seen in ${options.streamName} within ${Math.round(options.timeoutMs / 1000)} s: check the destination in this region and its role (docs/deploy.md)`,
  });
  return done(false);
}

/**
 * Our account-level policy, if it covers the verify group: its destination, or why not (a
 * foreign policy holds the account's one place, or ours leaves the group out).
 */
async function findAccountPolicy(
  logs: CloudWatchLogsClient,
  policyName: string,
): Promise<{ destination: string | undefined; blocker: string }> {
  let res: {
    accountPolicies?: { policyName?: string; policyDocument?: string; selectionCriteria?: string }[];
  };
  try {
    res = await logs.send(new DescribeAccountPoliciesCommand({ policyType: SUBSCRIPTION_FILTER_POLICY }));
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') return { destination: undefined, blocker: '' };
    return { destination: undefined, blocker: `${errorName(err)}: ${(err as Error).message}` };
  }
  const policies = res.accountPolicies ?? [];
  const ours = policies.find((p) => p.policyName === policyName);
  if (!ours) {
    const foreign = policies.map((p) => p.policyName).filter(Boolean);
    return {
      destination: undefined,
      blocker: foreign.length
        ? `the account's policy is ${foreign.map((n) => JSON.stringify(n)).join(', ')}, not ours`
        : '',
    };
  }
  if (parseSelectionCriteria(ours.selectionCriteria)?.includes(VERIFY_LOG_GROUP)) {
    return { destination: undefined, blocker: `our policy leaves ${VERIFY_LOG_GROUP} out` };
  }
  return { destination: parsePolicyDocument(ours.policyDocument).DestinationArn, blocker: '' };
}
