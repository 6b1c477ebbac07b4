/**
 * The workload: the applications of every account and region writing logs. It creates log
 * groups (some before the member stack exists, some after), writes numbered events into them
 * and keeps a ledger of every event written — which account and region, and whether it must
 * reach Sumo (written while the account was enrolled) or must not (written while opted out).
 * `tally` then compares the ledger with what the local Sumo source accepted.
 *
 * Each message is a JSON object carrying its ledger id (`{"demo":"…"}`), so it is recognised
 * whatever the reflector's line format (`sumo.lineContext`) puts around it.
 */
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeLogGroupsCommand,
  DescribeSubscriptionFiltersCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { clientConfig, type EmulatedAccount } from './aws';

/** Kinds of log groups a real account has (names only; the content is the demo's). */
const GROUP_KINDS = [
  '/aws/lambda/orders-api',
  '/ecs/payments',
  '/aws/rds/cluster/ledger/error',
  '/app/web',
  '/aws/apigateway/checkout',
  '/aws/codebuild/deploy',
];

/** A group the example configuration excludes (`/aws/lambda/*-canary*`): created, never written. */
export const EXCLUDED_GROUP = '/aws/lambda/orders-canary';

export function groupName(index: number, phase: 'early' | 'late'): string {
  const kind = GROUP_KINDS[index % GROUP_KINDS.length] as string;
  return `${kind}-${phase}-${String(index).padStart(3, '0')}`;
}

interface LedgerEntry {
  readonly account: string;
  readonly region: string;
  /** true: written while enrolled, must arrive; false: written while not enrolled, must not. */
  readonly expected: boolean;
  /** Written while not enrolled into a group that still carried our filter: reaches the reflector. */
  readonly stray: boolean;
  received: number;
}

export interface RegionTally {
  readonly region: string;
  logGroups: number;
  subscribed: number;
  eventsWritten: number;
  eventsReceived: number;
  /** Written while the account was enrolled (must arrive). */
  eventsExpected: number;
  /** Written while it was opted out (must not arrive). */
  eventsWhileOptedOut: number;
  /** Of those, how many arrived anyway. */
  forwardedWhileOptedOut: number;
  /**
   * Of those, written into a group that still carried our filter (a stray filter): they reach
   * the central stream, and the reflector must hold them back (the account is not on the list).
   */
  strayEvents: number;
  lost: number;
  duplicates: number;
  /** Eligible groups of an enrolled account without our filter / with our filter while opted out. */
  unsubscribed: number;
  strayFilters: number;
}

export class Workload {
  private readonly ledger = new Map<string, LedgerEntry>();
  /** Workload groups per `account/region`. */
  readonly groups = new Map<string, string[]>();
  private streamCounter = 0;
  written = 0;

  constructor(private readonly eventsPerGroup: number) {}

  /** The ledger id of event `i` of group `g` in `round`. */
  eventId(account: EmulatedAccount, region: string, round: string, g: number, i: number): string {
    return `${account.id}-${region}-${round}-${g}-${i}`;
  }

  private logs(account: EmulatedAccount, region: string): CloudWatchLogsClient {
    return new CloudWatchLogsClient(clientConfig(account.target(region)));
  }

  /** Creates `names` (and, the first time, the excluded canary group) in account × region. */
  async createGroups(account: EmulatedAccount, region: string, names: readonly string[]): Promise<void> {
    const logs = this.logs(account, region);
    const key = `${account.id}/${region}`;
    const list = this.groups.get(key) ?? [];
    if (!this.groups.has(key)) await logs.send(new CreateLogGroupCommand({ logGroupName: EXCLUDED_GROUP }));
    for (const logGroupName of names) {
      await logs.send(new CreateLogGroupCommand({ logGroupName }));
      list.push(logGroupName);
    }
    this.groups.set(key, list);
  }

  /**
   * Writes one batch of events into every workload group of account × region; `enrolled` says
   * whether the account was enrolled when written (its member stack runs Enrollment=enabled and
   * it is on the published list). Events written while not enrolled into a group that carries
   * `filterName` (ours) are marked stray: they reach the reflector.
   */
  async write(
    account: EmulatedAccount,
    region: string,
    round: string,
    enrolled: boolean,
    filterName: string,
  ): Promise<void> {
    const logs = this.logs(account, region);
    const names = this.groups.get(`${account.id}/${region}`) ?? [];
    await Promise.all(
      names.map(async (logGroupName, g) => {
        const stray =
          !enrolled &&
          (
            (await logs.send(new DescribeSubscriptionFiltersCommand({ logGroupName }))).subscriptionFilters ??
            []
          ).some((f) => f.filterName === filterName);
        this.streamCounter += 1;
        const logStreamName = `${new Date().toISOString().slice(0, 10).replace(/-/g, '/')}/[demo]${round}-${this.streamCounter}`;
        await logs.send(new CreateLogStreamCommand({ logGroupName, logStreamName }));
        const now = Date.now();
        const logEvents = Array.from({ length: this.eventsPerGroup }, (_, i) => {
          const id = this.eventId(account, region, round, g, i);
          this.ledger.set(id, { account: account.id, region, expected: enrolled, stray, received: 0 });
          return {
            timestamp: now + i,
            message: JSON.stringify({ level: 'INFO', msg: `order ${i} placed`, demo: id }),
          };
        });
        await logs.send(new PutLogEventsCommand({ logGroupName, logStreamName, logEvents }));
        this.written += logEvents.length;
      }),
    );
  }

  /**
   * Counts what Sumo accepted against the ledger. Lines without a demo id (e.g. a `verify`
   * marker) are counted in `otherLines`.
   */
  receive(lines: readonly Record<string, unknown>[]): { otherLines: number; duplicates: number } {
    let otherLines = 0;
    let duplicates = 0;
    for (const line of lines) {
      const message = line.message;
      const id = message && typeof message === 'object' ? (message as { demo?: unknown }).demo : undefined;
      const entry = typeof id === 'string' ? this.ledger.get(id) : undefined;
      if (!entry) {
        otherLines += 1;
        continue;
      }
      entry.received += 1;
      if (entry.received > 1) duplicates += 1;
    }
    return { otherLines, duplicates };
  }

  /** The per account × region tally (call after `receive`). */
  tally(account: EmulatedAccount, region: string): RegionTally {
    const t: RegionTally = {
      region,
      logGroups: 0,
      subscribed: 0,
      eventsWritten: 0,
      eventsReceived: 0,
      eventsExpected: 0,
      eventsWhileOptedOut: 0,
      forwardedWhileOptedOut: 0,
      strayEvents: 0,
      lost: 0,
      duplicates: 0,
      unsubscribed: 0,
      strayFilters: 0,
    };
    for (const e of this.ledger.values()) {
      if (e.account !== account.id || e.region !== region) continue;
      t.eventsWritten += 1;
      if (e.received > 0) t.eventsReceived += 1;
      if (e.received > 1) t.duplicates += e.received - 1;
      if (e.expected) {
        t.eventsExpected += 1;
        if (e.received === 0) t.lost += 1;
      } else {
        t.eventsWhileOptedOut += 1;
        if (e.received > 0) t.forwardedWhileOptedOut += 1;
        if (e.stray) t.strayEvents += 1;
      }
    }
    return t;
  }

  /** Reads every group of account × region and whether it carries `filterName`. */
  async filters(
    account: EmulatedAccount,
    region: string,
    filterName: string,
  ): Promise<{ groups: string[]; subscribed: Set<string> }> {
    const logs = this.logs(account, region);
    const groups: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await logs.send(new DescribeLogGroupsCommand({ nextToken }));
      for (const g of page.logGroups ?? []) if (g.logGroupName) groups.push(g.logGroupName);
      nextToken = page.nextToken;
    } while (nextToken);
    const subscribed = new Set<string>();
    for (const logGroupName of groups) {
      const out = await logs.send(new DescribeSubscriptionFiltersCommand({ logGroupName }));
      if ((out.subscriptionFilters ?? []).some((f) => f.filterName === filterName))
        subscribed.add(logGroupName);
    }
    return { groups, subscribed };
  }
}
