/**
 * Helpers the member tests share: a moto account with a Kinesis stream as the destination
 * (moto cannot subscribe to a `logs` Destination ARN), log groups, foreign filters, and a
 * reader for the filters a group ends up with.
 */
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  DeleteLogGroupCommand,
  DescribeSubscriptionFiltersCommand,
  PutSubscriptionFilterCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { CreateStreamCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { MemberSettings } from '../../member/runtime/env';

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';
export const FILTER_NAME = `log-reflector-${REGION}`;
export const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/log-reflector-sender`;
export const streamArn = (name: string, region = REGION) =>
  `arn:aws:kinesis:${region}:${ACCOUNT}:stream/${name}`;

export function memberSettings(overrides: Partial<MemberSettings> = {}): MemberSettings {
  return {
    destinationArn: streamArn('central'),
    roleArn: ROLE_ARN,
    filterName: FILTER_NAME,
    filterPattern: '',
    include: [],
    exclude: [],
    enrollment: 'enabled',
    rateLimitRps: 100,
    filterSlots: 2,
    scope: 'log-group',
    ...overrides,
  };
}

/** The same settings as the function environment the lead's stack sets. */
export function memberEnv(settings: MemberSettings = memberSettings()): Record<string, string> {
  return {
    DESTINATION_ARN: settings.destinationArn,
    SENDER_ROLE_ARN: settings.roleArn,
    FILTER_NAME: settings.filterName,
    FILTER_PATTERN: settings.filterPattern,
    INCLUDE: settings.include.join(','),
    EXCLUDE: settings.exclude.join(','),
    ENROLLMENT: settings.enrollment,
    RATE_LIMIT_RPS: String(settings.rateLimitRps),
    SCOPE: settings.scope,
    AWS_REGION: REGION,
  };
}

export class MotoAccount {
  readonly logs: CloudWatchLogsClient;
  readonly kinesis: KinesisClient;

  readonly region: string;

  constructor(endpoint: string, region = REGION) {
    this.region = region;
    this.logs = new CloudWatchLogsClient({ endpoint, region });
    this.kinesis = new KinesisClient({ endpoint, region, requestHandler: new NodeHttpHandler() });
  }

  async createStream(name: string): Promise<string> {
    await this.kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
    return streamArn(name, this.region);
  }

  async createGroups(names: readonly string[]): Promise<void> {
    // A few at a time: moto is single-threaded, and 1,000 sequential calls are slow on 2 cores.
    for (let i = 0; i < names.length; i += 20) {
      await Promise.all(
        names
          .slice(i, i + 20)
          .map((logGroupName) => this.logs.send(new CreateLogGroupCommand({ logGroupName }))),
      );
    }
  }

  async deleteGroup(logGroupName: string): Promise<void> {
    await this.logs.send(new DeleteLogGroupCommand({ logGroupName }));
  }

  async putForeignFilter(logGroupName: string, filterName: string, destinationArn: string): Promise<void> {
    await this.logs.send(
      new PutSubscriptionFilterCommand({ logGroupName, filterName, filterPattern: '', destinationArn }),
    );
  }

  async putFilter(
    logGroupName: string,
    filterName: string,
    destinationArn: string,
    filterPattern: string,
    roleArn?: string,
  ) {
    await this.logs.send(
      new PutSubscriptionFilterCommand({ logGroupName, filterName, filterPattern, destinationArn, roleArn }),
    );
  }

  /** `{filterName: destinationArn}` of a group, sorted by name. */
  async filters(
    logGroupName: string,
  ): Promise<Record<string, { destinationArn: string; filterPattern: string; roleArn?: string }>> {
    const out = await this.logs.send(new DescribeSubscriptionFiltersCommand({ logGroupName }));
    const result: Record<string, { destinationArn: string; filterPattern: string; roleArn?: string }> = {};
    for (const f of (out.subscriptionFilters ?? []).sort((a, b) =>
      (a.filterName ?? '').localeCompare(b.filterName ?? ''),
    )) {
      result[f.filterName ?? ''] = {
        destinationArn: f.destinationArn ?? '',
        filterPattern: f.filterPattern ?? '',
        ...(f.roleArn ? { roleArn: f.roleArn } : {}),
      };
    }
    return result;
  }

  /** Names of the groups among `names` that carry a filter named `filterName`. */
  async groupsWith(names: readonly string[], filterName: string): Promise<string[]> {
    const hits: string[] = [];
    for (let i = 0; i < names.length; i += 20) {
      const batch = names.slice(i, i + 20);
      const found = await Promise.all(
        batch.map(async (n) => ((await this.filters(n))[filterName] ? n : undefined)),
      );
      for (const n of found) if (n) hits.push(n);
    }
    return hits;
  }
}

/** Silences Powertools output in tests (set before handlers build their telemetry). */
export function quietPowertools(): void {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
}

export interface FreshAccount {
  readonly account: MotoAccount;
  /** Stream ARN playing the central destination. */
  readonly destination: string;
  /** Stream ARN standing for someone else's destination (a foreign filter's target). */
  readonly foreignDestination: string;
}

/** Clears moto and sets up the account most member tests start from. */
export async function freshAccount(
  moto: { endpoint: string; reset(): Promise<void> },
  region = REGION,
): Promise<FreshAccount> {
  await moto.reset();
  const account = new MotoAccount(moto.endpoint, region);
  return {
    account,
    destination: await account.createStream('central'),
    foreignDestination: await account.createStream('someone-else'),
  };
}

/** An in-memory claim (runtime/claims.ts semantics: the first caller of a key wins). */
export function memoryClaim(): (key: string) => Promise<'claimed' | 'taken'> {
  const seen = new Set<string>();
  return async (key) => {
    if (seen.has(key)) return 'taken';
    seen.add(key);
    return 'claimed';
  };
}
