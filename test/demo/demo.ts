/**
 * The whole organization on one machine (docs/demo.md): an emulated AWS Organization in
 * moto, the deployment synthesized from the example configuration, and the project's real
 * handlers in-process — enrollment reconciler, backfill, subscriber, sweep, reflector —
 * invoked the way their triggers invoke them, with a local Sumo Logic source at the end.
 *
 * Timeline of `run()`:
 *  1. organization: management account, central account (security OU), N members
 *     (workloads OU; the last one carries the opt-out tag);
 *  2. synthesis of the deployment for that organization (deployment.ts);
 *  3. central side: stream, failure bucket, central state bucket (where the enrolled list is
 *     published), Sumo secret (holding the local source's URL), event source mapping →
 *     reflector; a stand-in destination per account × region;
 *  4. `G` log groups per account × region, before anything is deployed;
 *  5. the org stack: the reconciler's state bucket, the StackSets and their instances — every
 *     one created with the StackSet's Enrollment=disabled (backfill Create subscribes nothing) —
 *     then the reconciler's after-deploy run: it publishes the enrolled list, then enables the
 *     untagged accounts, and the operations land (backfill Update subscribes);
 *  6. faults only: a stray filter of ours left in the opted-out account (the reflector must
 *     hold its events back; the sweep removes it in 8);
 *     events into every group (round 1);
 *     faults only: an account joins (CreateAccountResult, MoveAccount → the reconciler waits
 *     for auto-deployment, which creates its stacks disabled, then publishes and enables it),
 *     and an enrolled account gets the opt-out tag (TagResource → the reconciler takes it off
 *     the list, then disables it; while that operation runs its filters still deliver, and the
 *     reflector holds those events back);
 *  7. new log groups everywhere (CloudTrail CreateLogGroup → EventBridge → subscriber);
 *  8. events into every group (round 2), then the scheduled sweep everywhere (each sweep writes
 *     its coverage report into the central state bucket), then the hourly coverage aggregator;
 *  9. drain: stand-ins → central stream → reflector until every record is acknowledged;
 * 10. tally: what the local source accepted against what was written; `log-reflector coverage`
 *     (the CLI, with the management account's profile) and its numbers against the demo's own.
 * An event counts as written while enrolled when its account's member stack ran
 * Enrollment=enabled and the account was on the published enrolled list. The verdict passes
 * when no such event is missing, no event written while not enrolled arrived, and the coverage
 * command's table agrees with what the demo counted.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  DescribeSubscriptionFiltersCommand,
  PutSubscriptionFilterCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { KinesisStreamBatchResponse } from 'aws-lambda';
import type { CoverageRow } from '../../central/coverage/rows';
import { parseEnrolledList } from '../../central/reflector/enrolled';
import { loadReflectorEnv, senderOptionsFrom } from '../../central/reflector/env';
import type { CoverageTotals } from '../../shared/coverage';
import { ENROLLED_LIST_KEY } from '../../shared/enrollment';
import { FUNCTION_NAMES } from '../../shared/naming';
import { type CfnResponseServer, startCfnResponseServer } from '../support/cfn-response-server';
import { type MotoServer, startMoto } from '../support/moto';
import { type FaultPlan, type SumoServer, startSumoServer } from '../support/sumo-server';
import { ACCESS_ROLE_NAME, type EmulatedAccount, MANAGEMENT_CREDENTIALS } from './aws';
import { createTemplateBucket, generatedBucketName, type TemplateBucket } from './buckets';
import {
  type AggregatorRun,
  CoverageAggregator,
  type CoverageCommandRun,
  compareCoverage,
  type DemoCell,
  runCoverageCommand,
} from './coverage';
import {
  centralStack,
  type Deployment,
  demoConfig,
  exampleConfig,
  orgScope,
  reconcilerSetup,
} from './deployment';
import { type ReconcileOutcome, Reconciler } from './enrollment';
import { recordFunction } from './functions';
import { InProcessLambda } from './lambda';
import { CloudTrailWatcher, type MemberStackInstance, MemberStacks, MemberTelemetry } from './member';
import { type AccountRole, EmulatedOrg, type OptOutTag } from './org';
import { createStream, DestinationRelay, type EsmStats, EventSourceMapping } from './pipeline';
import { InProcessReflector } from './reflector';
import { StackSetsPlayer, type SyncResult } from './stacksets';
import { startThrottleProxy, type ThrottleProxy } from './throttle-proxy';
import { groupName, type RegionTally, Workload } from './workload';

/** Regions the demo uses, in order (`--regions M` takes the first M; the first is home). */
export const DEMO_REGIONS = [
  'eu-west-1',
  'us-east-1',
  'eu-central-1',
  'ap-southeast-2',
  'us-west-2',
  'ap-northeast-1',
  'ca-central-1',
  'sa-east-1',
] as const;

export interface DemoOptions {
  /** Member accounts (besides management and central); the last one opts out. Default 3. */
  readonly accounts?: number;
  /** Regions (the first is the home region). Default 2. */
  readonly regions?: number;
  /** Log groups per account × region before the deployment; half as many are created after. Default 4. */
  readonly groups?: number;
  /** Events per group per write round. Default 20. */
  readonly eventsPerGroup?: number;
  /**
   * The fault scenario: Sumo answers 503 and 429, the member functions' CloudWatch Logs API
   * is throttled, an account joins mid-run and an enrolled account is tagged mid-run.
   */
  readonly faults?: boolean;
  /** Print the functions' log lines (default: only the demo's progress). */
  readonly verbose?: boolean;
  /** Progress lines (default: none). */
  readonly progress?: (line: string) => void;
  /** Aborting stops the run; `stop()` still has to be called. */
  readonly signal?: AbortSignal;
  /** performance.now() at which the wall time starts (the CLI: 0, the process start). Default: start(). */
  readonly startedAt?: number;
  /** Called after the deployment, before the first events (tests use it to fail a run). */
  readonly afterDeploy?: (session: DemoSession) => Promise<void>;
}

export interface RegionReport {
  readonly region: string;
  readonly enrollment: string;
  readonly logGroups: number;
  readonly subscribed: number;
  readonly eventsWritten: number;
  readonly eventsReceived: number;
  readonly eventsExpected: number;
  readonly eventsWhileOptedOut: number;
  readonly forwardedWhileOptedOut: number;
  readonly strayEvents: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly unsubscribed: number;
  readonly strayFilters: number;
  /**
   * Groups the demo gave two foreign filters (faults) that still hold both of them and not ours
   * at the end: a conflict, which the member functions must leave alone.
   */
  readonly conflicts: number;
}

export interface AccountReport {
  readonly account: string;
  readonly name: string;
  readonly role: AccountRole;
  /** Carries the opt-out tag at the end of the run. */
  readonly optedOut: boolean;
  /** On the enrolled list at the end of the run. */
  readonly enrolled: boolean;
  /** Events of this account the reflector held back: not on the enrolled list (its log lines). */
  readonly eventsNotEnrolled: number;
  readonly regions: readonly RegionReport[];
}

/** One reconciler invocation: what triggered it, the list it published, the overrides it wrote. */
export interface EnrollmentRun {
  readonly trigger: string;
  readonly published?: { readonly generation: number; readonly accounts: readonly string[] };
  readonly changes: readonly { readonly account: string; readonly action: string }[];
  /** Polls it spent waiting for a joining account's auto-deployment. */
  readonly waits: number;
}

/** Coverage as the organization reports it (coverage.ts), checked against the demo's own count. */
export interface CoverageSummary {
  /** Org-wide coverage in percent, as `log-reflector coverage` prints it. */
  readonly percent: number | undefined;
  readonly totals: CoverageTotals | undefined;
  /** The command line that ran (`log-reflector coverage …`), its exit code and its table. */
  readonly command: string;
  readonly exitCode: number | null;
  readonly table: string;
  readonly rows: readonly CoverageRow[];
  /** The aggregator's scheduled run: its totals and the metrics it published. */
  readonly aggregator: AggregatorRun;
  /** Where the command disagrees with the demo's count (empty: it agrees). */
  readonly disagreements: readonly string[];
}

/** The enrolled list as the reconciler last published it (read from the central state bucket). */
export interface EnrolledListReport {
  readonly bucket: string;
  readonly key: string;
  readonly generation: number;
  readonly updatedAt: string;
  readonly accounts: readonly string[];
}

export interface DemoReport {
  readonly ok: boolean;
  readonly verdict: string;
  readonly accounts: readonly AccountReport[];
  readonly eventsWritten: number;
  readonly eventsReceived: number;
  readonly eventsExpected: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly eventsWhileOptedOut: number;
  readonly forwardedWhileOptedOut: number;
  /** Events written while not enrolled into a group that still carried our filter (they reach the reflector). */
  readonly strayEvents: number;
  /** Events the reflector held back because their account was not on the enrolled list (its log lines). */
  readonly eventsNotEnrolled: number;
  readonly enrolledList: EnrolledListReport | undefined;
  /** The reconciler's runs, in order. */
  readonly enrollmentRuns: readonly EnrollmentRun[];
  /** Eligible groups of enrolled accounts without our filter; our filters left in opted-out ones. */
  readonly unsubscribed: number;
  readonly strayFilters: number;
  /** Conflict groups the demo planted (faults): both filter slots foreign. */
  readonly conflicts: number;
  /** Org-wide coverage % from `log-reflector coverage` (also in `coverage`). */
  readonly coveragePercent: number | undefined;
  readonly coverage: CoverageSummary;
  /** Accepted lines that are not demo events (e.g. `verify` markers). */
  readonly otherLines: number;
  readonly wallSeconds: number;
  readonly faults: boolean;
  readonly scale: { readonly accounts: number; readonly regions: number; readonly groups: number };
  readonly counters: {
    readonly sumoRequests: number;
    readonly sumoRefused: number;
    readonly logsThrottled: number;
    readonly logsAborted: number;
    readonly esm: EsmStats;
    readonly relayedRecords: number;
    readonly reconcileRuns: number;
    /** Batches the reflector handed back to Kinesis for want of a usable enrolled list. */
    readonly enrollmentListUnavailable: number;
    /** StackSet operations that landed after the reflector's list cache expired (see reflector.ts). */
    readonly reflectorCacheExpiries: number;
    readonly createLogGroupEvents: number;
    readonly subscriberEventsParked: number;
    readonly memberProblems: number;
    readonly subscribedBy: Readonly<Record<string, number>>;
    readonly removedBy: Readonly<Record<string, number>>;
  };
}

/** What `--keep-running` prints: how to point the CLI at the emulator. */
export interface EmulatorAccess {
  readonly endpoint: string;
  readonly sumoUrl: string;
  readonly homeRegion: string;
  /** AWS config file with one profile per account (named like the account). */
  readonly configFile: string;
  readonly accounts: readonly {
    readonly account: string;
    readonly name: string;
    readonly role: AccountRole;
    readonly profile: string;
    /** Environment that points the SDK, the AWS CLI and `log-reflector` at this account. */
    readonly env: Readonly<Record<string, string>>;
  }[];
}

export class DemoError extends Error {
  override readonly name: string = 'DemoError';
}

/** A bad option: the CLI exits 2. */
export class DemoUsageError extends DemoError {
  override readonly name = 'DemoUsageError';
}

function positiveInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new DemoUsageError(`--${name} must be an integer from ${min} to ${max} (received ${value})`);
  return value;
}

/**
 * Sumo faults: every 4th request 503, every 7th 429 with Retry-After: 1 (the reflector retries
 * them within the invocation), and every request holding one chosen event ("poison") is
 * refused one time more than the reflector attempts a request, so its record goes back to
 * Kinesis as a batch item failure and comes again from the event source mapping.
 */
function sumoFaults(poison: () => string | undefined, refusals: number): FaultPlan {
  let poisonRefused = 0;
  return (n, lines) => {
    const id = poison();
    if (id !== undefined && poisonRefused < refusals) {
      if (lines.some((l) => (l.message as { demo?: unknown } | undefined)?.demo === id)) {
        poisonRefused += 1;
        return { status: 503 };
      }
    }
    if (n % 7 === 0) return { status: 429, retryAfter: '1' };
    if (n % 4 === 0) return { status: 503 };
    return undefined;
  };
}

export class DemoSession {
  readonly accounts: number;
  readonly regions: readonly string[];
  readonly groups: number;
  private readonly started: number;
  private configDir: string | undefined;
  private readonly lambda = new InProcessLambda();
  private readonly telemetry: MemberTelemetry;
  private readonly workload: Workload;
  private readonly savedEnv = new Map<string, string | undefined>();
  private pumpLoop: Promise<void> | undefined;
  private pumping = false;
  private pumpError: unknown;
  private serving: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private org?: EmulatedOrg;
  private stacks?: MemberStacks;
  private watcher?: CloudTrailWatcher;
  private player?: StackSetsPlayer;
  private reconciler?: Reconciler;
  private reflector?: InProcessReflector;
  /** The central state bucket (the enrolled list) and a central-account client to read it. */
  private centralState?: { bucket: string; s3: S3Client };
  private enrolledList?: EnrolledListReport;
  private readonly runLog: EnrollmentRun[] = [];
  private readonly substituted = new Set<string>();
  private relay?: DestinationRelay;
  private esm?: EventSourceMapping;
  private optOut: OptOutTag;
  private readonly optedOut = new Set<string>();
  /** The event the Sumo fault plan refuses until its record fails back (faults only). */
  private poison: string | undefined;
  private aggregator?: CoverageAggregator;
  private aggregatorRun?: AggregatorRun;
  /** Conflict groups planted per `account/region` (faults), with the foreign filters' names. */
  private readonly conflictGroups = new Map<string, { logGroupName: string; filters: string[] }[]>();

  private constructor(
    startedAt: number,
    private readonly options: DemoOptions,
    private readonly synthesis: Promise<typeof import('./synthesize')>,
    readonly moto: MotoServer,
    readonly sumo: SumoServer,
    readonly responses: CfnResponseServer,
    readonly proxy: ThrottleProxy | undefined,
  ) {
    this.started = startedAt;
    this.accounts = options.accounts ?? 3;
    this.regions = DEMO_REGIONS.slice(0, options.regions ?? 2);
    this.groups = options.groups ?? 4;
    this.workload = new Workload(options.eventsPerGroup ?? 20);
    this.telemetry = new MemberTelemetry(options.verbose ? (l) => this.progress(`  ${l}`) : () => undefined);
    const tag = exampleConfig().optOutTag;
    this.optOut = { key: tag?.key ?? 'log-reflector:opt-out', value: tag?.value ?? 'true' };
  }

  /** Validates the options and starts the servers (moto, local Sumo source, ResponseURL, proxy). */
  static async start(options: DemoOptions = {}): Promise<DemoSession> {
    const startedAt = options.startedAt ?? performance.now();
    positiveInt('accounts', options.accounts ?? 3, 2, 200);
    positiveInt('regions', options.regions ?? 2, 1, DEMO_REGIONS.length);
    positiveInt('groups', options.groups ?? 4, 1, 2000);
    positiveInt('events', options.eventsPerGroup ?? 20, 1, 10_000);
    // aws-cdk-lib takes seconds to load: load it while moto_server starts.
    const synthesis = import('./synthesize');
    synthesis.catch(() => undefined);
    const moto = await startMoto();
    const servers: { stop(): Promise<void> }[] = [moto];
    try {
      const sumo = await startSumoServer(`demo${randomBytes(8).toString('hex')}`);
      servers.push(sumo);
      const responses = await startCfnResponseServer();
      servers.push({ stop: () => responses.close() });
      const proxy = options.faults ? await startThrottleProxy(moto.endpoint) : undefined;
      if (proxy) servers.push(proxy);
      return new DemoSession(startedAt, options, synthesis, moto, sumo, responses, proxy);
    } catch (err) {
      await Promise.allSettled(servers.map((s) => s.stop()));
      throw err;
    }
  }

  private progress(line: string): void {
    const at = ((performance.now() - this.started) / 1000).toFixed(1).padStart(5);
    this.options.progress?.(`${at}s  ${line}`);
  }

  private checkAborted(): void {
    if (this.options.signal?.aborted) throw new DemoError('interrupted');
    if (this.stopped) throw new DemoError('the demo was stopped');
  }

  private setEnv(values: Record<string, string>): void {
    if (this.stopped) return;
    for (const [k, v] of Object.entries(values)) {
      if (!this.savedEnv.has(k)) this.savedEnv.set(k, process.env[k]);
      process.env[k] = v;
    }
  }

  /** Runs the timeline (module comment) and returns the report. */
  async run(): Promise<DemoReport> {
    const abort = new Promise<never>((_, reject) => {
      const signal = this.options.signal;
      if (!signal) return;
      const onAbort = () => reject(new DemoError('interrupted'));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    abort.catch(() => undefined);
    return Promise.race([this.timeline(), abort]);
  }

  private async timeline(): Promise<DemoReport> {
    const faults = this.options.faults === true;
    const home = this.regions[0] as string;

    // 1. The organization.
    const org = await EmulatedOrg.create(this.moto.endpoint, home);
    this.org = org;
    const central = await org.createAccount('log-archive', 'central', org.securityOu);
    for (let i = 1; i <= this.accounts; i += 1) {
      const last = i === this.accounts;
      await org.createAccount(`member-${i}`, 'member', org.workloadsOu, last ? [this.optOut] : []);
      if (last) this.optedOut.add(org.accounts[org.accounts.length - 1]?.id ?? '');
    }
    this.progress(
      `organization ${org.organizationId}: management ${org.management.id}, central ${central.id}, ` +
        `${this.accounts} members (${[...this.optedOut].join(', ')} tagged ${this.optOut.key}=${this.optOut.value}), ` +
        `regions ${this.regions.join(', ')}`,
    );
    this.checkAborted();

    // 2. The deployment for this organization.
    const { synthesizeDeployment } = await this.synthesis;
    const deployment = synthesizeDeployment(
      demoConfig({
        organizationId: org.organizationId,
        rootId: org.rootId,
        managementAccountId: org.management.id,
        centralAccountId: central.id,
        targetOuIds: [org.securityOu, org.workloadsOu],
        regions: this.regions,
      }),
    );
    this.progress(
      `synthesized the deployment (org stack, StackSets ${Object.values(deployment.stackSets)
        .map((s) => s.name)
        .join(', ')})`,
    );
    this.checkAborted();

    // 3. The central side.
    await this.deployCentral(deployment, central);
    this.checkAborted();

    // 4. Log groups that exist before the deployment.
    const members = () => org.accounts.filter((a) => this.stacks?.instances.has(`${a.id}/${home}`));
    const early = Array.from({ length: this.groups }, (_, i) => groupName(i, 'early'));
    for (const account of org.accounts)
      await Promise.all(this.regions.map((r) => this.workload.createGroups(account, r, early)));

    // 5. The org stack: the reconciler's state bucket, the StackSets (every instance starts
    // disabled: the StackSet's value), the after-deploy run (publish, then enable), the operations land.
    await this.deployOrgStack(deployment, org);
    const player = this.player as StackSetsPlayer;
    const reconciler = this.reconciler as Reconciler;
    await player.createStackSets();
    const deployed = await player.deployInstanceGroups();
    const createdDisabled = [...(this.stacks as MemberStacks).instances.values()].filter(
      (i) => i.parameters.Enrollment === 'disabled',
    ).length;
    this.progress(
      `StackSets deployed: ${deployed.created} member stacks, ${createdDisabled} of them created with Enrollment=disabled ` +
        `(the StackSet's value; backfill Create subscribed ${this.metric('backfill', 'Subscribed')} groups)`,
    );
    const before = this.metric('backfill', 'Subscribed');
    const afterDeploy = await this.afterRun('deploy', await reconciler.afterDeploy({ land: false }));
    const landed = await reconciler.land();
    this.progress(
      `enrollment reconciled after deploy: ${afterDeploy}; operations landed: ${landed.updated} stacks updated (backfill Update subscribed ${this.metric('backfill', 'Subscribed') - before} groups)`,
    );
    await this.options.afterDeploy?.(this);
    this.checkAborted();
    this.startPump();

    // 6. Round 1; the fault scenario's stray filter and mid-run changes.
    if (faults) await this.plantStrayFilter(early);
    if (faults) await this.plantConflict();
    const firstMember = org.accounts.find((a) => a.role === 'member' && !this.optedOut.has(a.id));
    if (faults && firstMember) this.poison = this.workload.eventId(firstMember, home, 'r1', 0, 0);
    await this.writeRound('r1');
    this.progress(`round 1: events written into ${this.instanceCount()} account × region pairs`);
    if (faults) await this.midRunChanges(early);
    this.checkAborted();

    // 7. Log groups created after the deployment: the subscriber's work.
    const late = Array.from({ length: Math.max(1, Math.ceil(this.groups / 2)) }, (_, i) =>
      groupName(this.groups + i, 'late'),
    );
    for (const account of members())
      await Promise.all(this.regions.map((r) => this.workload.createGroups(account, r, late)));
    const delivered = await (this.watcher as CloudTrailWatcher).tick();
    await this.lambda.settled();
    this.progress(`new log groups: ${delivered} CreateLogGroup events delivered to subscribers`);
    this.checkAborted();

    // 8. Round 2, then the scheduled sweep (each writes its coverage report), then the hourly
    // coverage aggregator.
    await this.writeRound('r2');
    const sweeps = await (this.stacks as MemberStacks).sweepAll();
    await this.lambda.settled();
    this.progress(`round 2 written; scheduled sweep ran in ${sweeps} account × region pairs`);
    const aggregated = await (this.aggregator as CoverageAggregator).scheduled();
    this.aggregatorRun = aggregated;
    this.progress(
      `coverage aggregator (hourly schedule): ${aggregated.totals.reporting} of ${aggregated.totals.expected} enrolled account × regions reporting, ` +
        `CoveragePercent ${aggregated.metrics.CoveragePercent ?? '?'}; index written to the central state bucket`,
    );
    this.checkAborted();

    // 9. Drain; meanwhile the operator runs log-reflector coverage (a separate process).
    const coverage = this.coverageCommand();
    coverage.catch(() => undefined);
    await this.drain();
    this.progress(`drained: ${this.esm?.stats.invocations ?? 0} reflector invocations`);
    const command = await coverage;
    this.progress(
      `log-reflector ${command.args.join(' ')} (management account profile): exit ${command.exitCode}`,
    );
    return this.report(command);
  }

  /** `log-reflector coverage` as the CLI, with the management account's profile (docs/demo.md). */
  private coverageCommand(): Promise<CoverageCommandRun> {
    const access = this.writeConfig();
    const management = access.accounts.find((a) => a.role === 'management');
    const env: Record<string, string> = {};
    // The child gets none of the AWS_* settings this process runs the reflector with.
    for (const [k, v] of this.savedEnvOrCurrent()) if (v !== undefined && !k.startsWith('AWS_')) env[k] = v;
    return runCoverageCommand(access.homeRegion, {
      ...env,
      ...management?.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
  }

  /** process.env as it was before the demo set the reflector's variables. */
  private savedEnvOrCurrent(): [string, string | undefined][] {
    const out = new Map<string, string | undefined>(Object.entries(process.env));
    for (const [k, v] of this.savedEnv) out.set(k, v);
    return [...out];
  }

  private instanceCount(): number {
    return this.stacks?.instances.size ?? 0;
  }

  private async deployCentral(d: Deployment, central: EmulatedAccount): Promise<void> {
    const home = d.config.homeRegion;
    const c = centralStack(d);
    const stream = await createStream(central, home, c.streamName, {
      onDemand: c.streamMode === 'ON_DEMAND',
    });
    // Both buckets as the central template defines them: the failure bucket (unnamed: named
    // by CloudFormation) and the state bucket (named from the org stack's id).
    const failureBucket = await this.bucket(
      central,
      d.central,
      c.scope,
      c.failureBucketLogicalId,
      generatedBucketName(c.scope.stackName, c.failureBucketLogicalId),
    );
    const stateBucket = await this.bucket(
      central,
      d.central,
      c.scope,
      c.stateBucketLogicalId,
      c.stateBucketName,
    );
    const s3 = central.client(S3Client, home);
    this.centralState = { bucket: stateBucket.name, s3 };
    // The operator puts the source URL into the secret after the first deploy (docs/deploy.md).
    const secret = await central
      .client(SecretsManagerClient, home)
      .send(new CreateSecretCommand({ Name: c.secretName, SecretString: this.sumo.url() }));
    const env = c.reflectorEnv({
      [c.secretLogicalId]: secret.ARN ?? '',
      [c.failureBucketLogicalId]: failureBucket.name,
      [c.stateBucketLogicalId]: stateBucket.name,
    });
    // The reflector has no injection seam: it reads process.env like the Lambda runtime gives
    // it, and its SDK clients use the central account's credentials from there.
    this.setEnv({
      ...env,
      AWS_ENDPOINT_URL: this.moto.endpoint,
      AWS_REGION: home,
      AWS_DEFAULT_REGION: home,
      AWS_ACCESS_KEY_ID: central.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: central.credentials.secretAccessKey,
      AWS_SESSION_TOKEN: central.credentials.sessionToken ?? '',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_LAMBDA_FUNCTION_NAME: FUNCTION_NAMES.reflector,
      // Lambda logs would bury the demo's output; --verbose shows them. No EMF metrics.
      POWERTOOLS_LOG_LEVEL: this.options.verbose ? 'INFO' : 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    const reflectorArn = `arn:aws:lambda:${home}:${central.id}:function:${FUNCTION_NAMES.reflector}`;
    this.reflector = await InProcessReflector.load(this.lambda, reflectorArn, c.reflectorTimeoutSeconds);
    this.relay = new DestinationRelay(stream);
    this.esm = new EventSourceMapping(
      stream,
      home,
      c.eventSourceMapping,
      async (event) => (await this.lambda.invoke(reflectorArn, event)) as KinesisStreamBatchResponse,
      { s3, bucket: failureBucket.name },
      `arn:aws:iam::${central.id}:role/${FUNCTION_NAMES.reflector}-${home}`,
    );
    await this.esm.init();
    // The coverage aggregator, with the central account's keys (its own client, not process.env).
    this.aggregator = new CoverageAggregator(
      this.lambda,
      { account: central.id, region: home, rule: c.coverageScheduleName },
      c.coverageEnv({ [c.stateBucketLogicalId]: stateBucket.name }),
      s3,
      c.coverageTimeoutSeconds,
      this.options.verbose === true,
    );
    this.stacks = new MemberStacks({
      deployment: d,
      lambda: this.lambda,
      responses: this.responses,
      relay: this.relay,
      telemetry: this.telemetry,
      logsEndpoint: this.proxy?.endpoint ?? this.moto.endpoint,
      endpoint: this.moto.endpoint,
    });
    this.watcher = new CloudTrailWatcher(this.stacks, this.lambda);
    this.player = new StackSetsPlayer(
      d,
      this.org as EmulatedOrg,
      this.stacks,
      this.watcher,
      this.moto.endpoint,
    );
    if (this.options.faults) {
      const attempts = senderOptionsFrom(loadReflectorEnv(env)).maxAttempts;
      this.sumo.setPlan(sumoFaults(() => this.poison, attempts + 1));
    }
    this.progress(
      `central side in ${central.id}/${home}: stream ${c.streamName}, failure bucket, state bucket ${stateBucket.name}, secret ${c.secretName}, reflector, coverage aggregator`,
    );
  }

  /** Creates a bucket as its template defines it and notes what moto was not given. */
  private async bucket(...args: Parameters<typeof createTemplateBucket>): Promise<TemplateBucket> {
    const created = await createTemplateBucket(...args);
    for (const s of created.substituted) this.substituted.add(s);
    return created;
  }

  /** The org stack's own resources: the reconciler's state bucket, and the reconciler. */
  private async deployOrgStack(d: Deployment, org: EmulatedOrg): Promise<void> {
    const setup = reconcilerSetup(d);
    const scope = orgScope(d);
    const stateBucket = await this.bucket(
      org.management,
      d.org,
      scope,
      setup.stateBucketLogicalId,
      generatedBucketName(d.orgStackName, setup.stateBucketLogicalId),
    );
    // Recorded in moto's Lambda too: `log-reflector coverage` reads its configuration (functions.ts).
    await recordFunction(
      org.management,
      d.org,
      orgScope(d, { [setup.stateBucketLogicalId]: stateBucket.name }),
      setup.functionLogicalId,
    );
    this.reconciler = new Reconciler({
      deployment: d,
      lambda: this.lambda,
      player: this.player as StackSetsPlayer,
      endpoint: this.moto.endpoint,
      env: setup.env({ [setup.stateBucketLogicalId]: stateBucket.name }),
      timeoutSeconds: setup.timeoutSeconds,
      logLevel: this.options.verbose ? 'INFO' : 'SILENT',
    });
    this.progress(
      `org stack in ${org.management.id}/${d.config.homeRegion}: reconciler state bucket ${stateBucket.name}; ` +
        `it publishes to s3://${this.reconciler.config.enrolledListBucket}/${ENROLLED_LIST_KEY} in ${d.config.centralAccountId}`,
    );
    if (this.substituted.size > 0)
      this.progress(
        `buckets as the templates define them, except in moto: ${[...this.substituted].join('; ')}; moto evaluates no Allow, so the cross-account publish passes without the policy that admits it in AWS (docs/demo.md)`,
      );
  }

  /** Reads the enrolled list the reconciler published, as the central account (the reflector) reads it. */
  private async readEnrolledList(): Promise<EnrolledListReport | undefined> {
    const state = this.centralState;
    if (!state) return undefined;
    try {
      const out = await state.s3.send(new GetObjectCommand({ Bucket: state.bucket, Key: ENROLLED_LIST_KEY }));
      const where = `s3://${state.bucket}/${ENROLLED_LIST_KEY}`;
      const list = parseEnrolledList((await out.Body?.transformToString()) ?? '', where);
      return {
        bucket: state.bucket,
        key: ENROLLED_LIST_KEY,
        generation: list.generation,
        updatedAt: list.updatedAt,
        accounts: list.accounts,
      };
    } catch (err) {
      if ((err as Error).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  /**
   * After a reconcile run: reads the list it published and describes the run. The operations
   * the run started take minutes in AWS — longer than the reflector's list cache — so a
   * reflector that has run reads the new list before they land (reflector.ts `expireCache`).
   */
  private async afterRun(trigger: string, outcome: ReconcileOutcome): Promise<string> {
    const list = await this.readEnrolledList();
    const published = list !== undefined && list.generation !== this.enrolledList?.generation;
    this.enrolledList = list;
    if (published && (this.esm?.stats.invocations ?? 0) > 0) this.reflector?.expireCache();
    const r = outcome.result;
    const all = r.status === 'ignored' ? [] : r.stackSets.flatMap((set) => set.changes);
    this.runLog.push({
      trigger,
      ...(published ? { published: { generation: list.generation, accounts: list.accounts } } : {}),
      changes: all.map((c) => ({ account: c.account, action: c.action })),
      waits: outcome.waits,
    });
    if (r.status === 'ignored') return `ignored (${r.reason})`;
    const names = new Map((this.org as EmulatedOrg).accounts.map((a) => [a.id, a.name]));
    const byAction = new Map<string, string[]>();
    for (const c of all)
      byAction.set(c.action, [...(byAction.get(c.action) ?? []), names.get(c.account) ?? c.account]);
    const changes = [...byAction].map(([action, accounts]) => `${action} ${accounts.join(', ')}`);
    return [
      ...(outcome.waits > 0 ? [`waited ${outcome.waits} poll(s) for the auto-deployment`] : []),
      published
        ? `published enrolled list generation ${list.generation} (${list.accounts.length} accounts)`
        : 'published nothing new',
      changes.length > 0 ? `then ${changes.join('; ')}` : 'no change',
    ].join(', ');
  }

  private metric(service: 'backfill' | 'subscriber' | 'sweep', name: string): number {
    return this.telemetry.metric(service, name);
  }

  /**
   * A filter of ours left behind in the account opted out from the start (as an earlier
   * install, or a disable whose backfill could not reach the group, would leave it): created
   * by hand the way the member functions create ours, on one group of the home region. Its
   * events reach the central stream; the reflector must hold them back (the account is not on
   * the enrolled list); the scheduled sweep, which keeps running while disabled, removes it.
   */
  private async plantStrayFilter(early: readonly string[]): Promise<void> {
    const home = this.regions[0] as string;
    const account = (this.org as EmulatedOrg).accounts.find((a) => this.optedOut.has(a.id));
    const instance = account ? this.stacks?.instances.get(`${account.id}/${home}`) : undefined;
    const logGroupName = early[0];
    if (!account || !instance || !logGroupName) return;
    const env = instance.view.env('backfill');
    await account.client(CloudWatchLogsClient, home).send(
      new PutSubscriptionFilterCommand({
        logGroupName,
        filterName: env.FILTER_NAME,
        filterPattern: env.FILTER_PATTERN ?? '',
        destinationArn: instance.standIn.arn,
        roleArn: env.SENDER_ROLE_ARN,
      }),
    );
    this.progress(
      `stray filter: ${env.FILTER_NAME} put by hand on ${logGroupName} in ${account.name} (${account.id}, opted out), a leftover of ours`,
    );
  }

  /**
   * A log group whose two subscription filter slots (the CloudWatch Logs limit, docs/member.md)
   * another tool holds, in an account that stays enrolled: ours has no place, and the member
   * functions must report it as a conflict and leave both filters alone. Created by hand in the
   * home region of the second enrolled member (the first one is tagged mid-run), else of the
   * management account; the filters send to a stream of that account, and no event is written to it.
   */
  private async plantConflict(): Promise<void> {
    const org = this.org as EmulatedOrg;
    const home = this.regions[0] as string;
    const candidates = org.accounts.filter((a) => a.role === 'member' && !this.optedOut.has(a.id));
    const account = candidates[1] ?? org.management;
    const logGroupName = '/demo/audit-two-foreign-filters';
    const logs = account.client(CloudWatchLogsClient, home);
    await logs.send(new CreateLogGroupCommand({ logGroupName }));
    const theirs = await createStream(account, home, 'third-party-logs');
    const filters = ['third-party-siem', 'third-party-archive'];
    for (const filterName of filters) {
      await logs.send(
        new PutSubscriptionFilterCommand({
          logGroupName,
          filterName,
          filterPattern: '',
          destinationArn: theirs.arn,
          roleArn: `arn:aws:iam::${account.id}:role/third-party-logs`,
        }),
      );
    }
    this.conflictGroups.set(`${account.id}/${home}`, [{ logGroupName, filters }]);
    this.progress(
      `conflict: ${logGroupName} in ${account.name} (${account.id}, enrolled) has two filters of another tool, no slot left for ours`,
    );
  }

  private async midRunChanges(early: readonly string[]): Promise<void> {
    const org = this.org as EmulatedOrg;
    const reconciler = this.reconciler as Reconciler;
    const player = this.player as StackSetsPlayer;
    // An account joins: CreateAccount lands it at the root (CreateAccountResult: not under the
    // target OUs yet), its applications create log groups, MoveAccount puts it into a target OU.
    // The reconciler waits for the auto-deployment, which creates its stacks with the StackSet's
    // Enrollment=disabled, then publishes the list with it and enables it.
    const { account, ou } = await org.joinAccount(`member-${this.accounts + 1}`);
    const created = await this.afterRun(
      'CreateAccountResult',
      await reconciler.accountCreated(account.id, account.name),
    );
    await Promise.all(this.regions.map((r) => this.workload.createGroups(account, r, early)));
    await org.move(account.id, ou);
    let deployed: SyncResult | undefined;
    let disabledAtCreation = 0;
    reconciler.whileWaiting(async () => {
      deployed = await player.autoDeploy(ou);
      disabledAtCreation = [...(this.stacks as MemberStacks).instances.values()].filter(
        (i) => i.account.id === account.id && effectiveEnrollment(i) === 'disabled',
      ).length;
    });
    const moved = await this.afterRun(
      'MoveAccount',
      await reconciler.moved(account.id, org.rootId, ou, { land: false }),
    );
    const landed = await reconciler.land();
    this.progress(
      `joined: ${account.name} ${account.id} (CreateAccountResult → reconcile: ${created}; MoveAccount → reconcile: ` +
        `${moved}; the auto-deployment created ${deployed?.created ?? 0} member stacks, ${disabledAtCreation} of them disabled; ` +
        `operations landed: ${landed.updated} stacks updated)`,
    );
    // An enrolled account opts out mid-run. What it wrote while enrolled is forwarded first:
    // records still in the stream when an account leaves the list are held back by design.
    const tagged = org.accounts.find((a) => a.role === 'member' && !this.optedOut.has(a.id));
    if (tagged) {
      await this.drain();
      this.startPump();
      await org.tag(tagged.id, this.optOut);
      this.optedOut.add(tagged.id);
      const run = await this.afterRun(
        'TagResource',
        await reconciler.tagged(tagged.id, this.optOut.key, this.optOut.value, { land: false }),
      );
      // The disable operation runs for minutes; meanwhile the account's filters still deliver.
      const instances = [...(this.stacks as MemberStacks).instances.values()].filter(
        (i) => i.account.id === tagged.id,
      );
      const heldBefore = this.reflector?.notEnrolled.get(tagged.id) ?? 0;
      await Promise.all(instances.map((i) => this.writeInstance(i, 'r1t')));
      await this.drain();
      this.startPump();
      const held = (this.reflector?.notEnrolled.get(tagged.id) ?? 0) - heldBefore;
      const removedBefore = this.metric('backfill', 'Removed');
      const landedDisable = await reconciler.land();
      this.progress(
        `tagged: ${tagged.name} ${tagged.id} ${this.optOut.key}=${this.optOut.value} (TagResource → reconcile: ${run}; ` +
          `while the operation ran, its filters still delivered: the reflector held back ${held} events; operations landed: ` +
          `${landedDisable.updated} stacks updated, backfill Update removed ${this.metric('backfill', 'Removed') - removedBefore} filters)`,
      );
    }
    await this.writeRound('r1b');
  }

  /** Planted conflict groups of account × region that still hold exactly the two foreign filters. */
  private async intactConflicts(account: EmulatedAccount, region: string): Promise<number> {
    let intact = 0;
    for (const planted of this.conflictGroups.get(`${account.id}/${region}`) ?? []) {
      const out = await account
        .client(CloudWatchLogsClient, region)
        .send(new DescribeSubscriptionFiltersCommand({ logGroupName: planted.logGroupName }));
      const names = (out.subscriptionFilters ?? []).map((f) => f.filterName).sort();
      if (JSON.stringify(names) === JSON.stringify([...planted.filters].sort())) intact += 1;
    }
    return intact;
  }

  /** Whether `instance`'s account is enrolled now: its stack runs enabled and it is on the list. */
  private enrolledNow(instance: MemberStackInstance): boolean {
    return (
      effectiveEnrollment(instance) === 'enabled' &&
      (this.enrolledList?.accounts.includes(instance.account.id) ?? false)
    );
  }

  private writeInstance(instance: MemberStackInstance, round: string): Promise<void> {
    return this.workload.write(
      instance.account,
      instance.region,
      round,
      this.enrolledNow(instance),
      instance.view.env('backfill').FILTER_NAME ?? '',
    );
  }

  private async writeRound(round: string): Promise<void> {
    const instances = [...(this.stacks as MemberStacks).instances.values()];
    await Promise.all(instances.map((i) => this.writeInstance(i, round)));
  }

  /** Relay + event source mapping in the background while the run goes on. */
  private startPump(): void {
    if (this.pumpLoop) return;
    this.pumping = true;
    this.pumpLoop = (async () => {
      while (this.pumping && !this.stopped) {
        let moved = 0;
        try {
          moved =
            (await (this.relay as DestinationRelay).pump()) + (await (this.esm as EventSourceMapping).pump());
        } catch (err) {
          // Kept for drain() to rethrow: a rejection nobody awaits would end the process
          // before the servers are stopped.
          if (!this.stopped) this.pumpError ??= err;
          return;
        }
        if (moved === 0) await new Promise((r) => setTimeout(r, 100));
      }
    })();
  }

  private async stopPump(): Promise<void> {
    this.pumping = false;
    const loop = this.pumpLoop;
    this.pumpLoop = undefined;
    await loop;
    if (this.pumpError) throw this.pumpError;
  }

  /** Until every stand-in is copied and every record of the central stream acknowledged. */
  async drain(): Promise<void> {
    await this.stopPump();
    for (;;) {
      const moved = await (this.relay as DestinationRelay).pump();
      const invoked = await (this.esm as EventSourceMapping).pump();
      await this.lambda.settled();
      if (moved === 0 && invoked === 0) return;
    }
  }

  private async report(command: CoverageCommandRun): Promise<DemoReport> {
    const stacks = this.stacks as MemberStacks;
    const reflector = this.reflector as InProcessReflector;
    const { otherLines, duplicates } = this.workload.receive(this.sumo.accepted());
    const accounts: AccountReport[] = [];
    const cells: DemoCell[] = [];
    for (const account of (this.org as EmulatedOrg).accounts) {
      const regions: RegionReport[] = [];
      for (const region of this.regions) {
        const instance = stacks.instances.get(`${account.id}/${region}`);
        if (!instance) continue;
        // What the member functions run with: the template's effective value, which is
        // `disabled` in the central account outside its home region (docs/architecture.md, 10).
        const effective = effectiveEnrollment(instance);
        const enrollment = effective === instance.parameters.Enrollment ? effective : `${effective}†`;
        const t: RegionTally = this.workload.tally(account, region);
        const filterName = instance.view.env('backfill').FILTER_NAME ?? '';
        const { groups, subscribed } = await this.workload.filters(account, region, filterName);
        const eligible = this.workload.groups.get(`${account.id}/${region}`) ?? [];
        t.logGroups = groups.length;
        t.subscribed = subscribed.size;
        if (effective === 'enabled') t.unsubscribed = eligible.filter((g) => !subscribed.has(g)).length;
        else t.strayFilters = subscribed.size;
        const conflicts = await this.intactConflicts(account, region);
        regions.push({ ...t, enrollment, conflicts });
        cells.push({
          account: account.id,
          region,
          enabled: effective === 'enabled',
          logGroups: groups.length,
          eligible: eligible.length + conflicts,
          subscribed: subscribed.size,
          conflicts,
        });
      }
      if (regions.length === 0) continue;
      accounts.push({
        account: account.id,
        name: account.name,
        role: account.role,
        optedOut: this.optedOut.has(account.id),
        enrolled: this.enrolledList?.accounts.includes(account.id) ?? false,
        eventsNotEnrolled: reflector.notEnrolled.get(account.id) ?? 0,
        regions,
      });
    }
    const all = accounts.flatMap((a) => a.regions);
    const sum = (f: (r: RegionReport) => number) => all.reduce((n, r) => n + f(r), 0);
    const lost = sum((r) => r.lost);
    const forwardedWhileOptedOut = sum((r) => r.forwardedWhileOptedOut);
    const eventsExpected = sum((r) => r.eventsExpected);
    const eventsReceived = sum((r) => r.eventsReceived);
    const eventsWhileOptedOut = sum((r) => r.eventsWhileOptedOut);
    const eventsNotEnrolled = reflector.eventsNotEnrolled;
    const generation = this.enrolledList?.generation ?? 'none';
    const wallSeconds = Math.round((performance.now() - this.started) / 100) / 10;
    const disagreements = [
      ...(command.exitCode === 0
        ? []
        : [`log-reflector coverage exited ${command.exitCode}: ${command.stderr.trim()}`]),
      ...compareCoverage(cells, command.result),
    ];
    const totals = command.result.totals;
    const coveragePercent = totals?.coveragePercent;
    const coverageText = totals
      ? `org-wide coverage ${Number(totals.coveragePercent.toFixed(1))} % (${totals.groups.subscribed} of ${totals.groups.eligible} eligible log groups subscribed, ` +
        `${totals.groups.conflicts} conflict${totals.groups.conflicts === 1 ? '' : 's'}), ${disagreements.length === 0 ? 'as the demo counted' : `${disagreements.length} disagreement(s) with the demo's count`}`
      : 'org-wide coverage unknown (log-reflector coverage could not read the central side)';
    const ok = lost === 0 && forwardedWhileOptedOut === 0 && eventsExpected > 0 && disagreements.length === 0;
    const verdict =
      `${ok ? 'PASS' : 'FAIL'}: ${eventsReceived - forwardedWhileOptedOut} of ${eventsExpected} events ` +
      `written while enrolled reached the local Sumo source (${lost} lost, ${duplicates} duplicate lines); ` +
      `${forwardedWhileOptedOut} of ${eventsWhileOptedOut} written while not enrolled did; the reflector held back ` +
      `${eventsNotEnrolled} of accounts off the enrolled list (generation ${generation}); ${coverageText}; ${wallSeconds} s`;
    const esm = (this.esm as EventSourceMapping).stats;
    return {
      ok,
      verdict,
      accounts,
      eventsWritten: sum((r) => r.eventsWritten),
      eventsReceived,
      eventsExpected,
      lost,
      duplicates,
      eventsWhileOptedOut,
      forwardedWhileOptedOut,
      strayEvents: sum((r) => r.strayEvents),
      eventsNotEnrolled,
      enrolledList: this.enrolledList,
      enrollmentRuns: [...this.runLog],
      unsubscribed: sum((r) => r.unsubscribed),
      strayFilters: sum((r) => r.strayFilters),
      conflicts: sum((r) => r.conflicts),
      coveragePercent,
      coverage: {
        percent: coveragePercent,
        totals,
        command: `log-reflector ${command.args.join(' ')}`,
        exitCode: command.exitCode,
        table: command.table,
        rows: command.result.rows,
        aggregator: this.aggregatorRun ?? { totals: totals as CoverageTotals, metrics: {} },
        disagreements,
      },
      otherLines,
      wallSeconds,
      faults: this.options.faults === true,
      scale: { accounts: this.accounts, regions: this.regions.length, groups: this.groups },
      counters: {
        sumoRequests: this.sumo.requests.length,
        sumoRefused: this.sumo.requests.filter((r) => r.outcome !== 200).length,
        logsThrottled: this.proxy?.stats.throttled ?? 0,
        logsAborted: this.proxy?.stats.aborted ?? 0,
        esm: { ...esm },
        relayedRecords: (this.relay as DestinationRelay).records,
        reconcileRuns: (this.reconciler as Reconciler).runs,
        enrollmentListUnavailable: reflector.listUnavailable,
        reflectorCacheExpiries: reflector.cacheExpiries,
        createLogGroupEvents: (this.watcher as CloudTrailWatcher).delivered,
        subscriberEventsParked: this.lambda.parked.length,
        memberProblems: this.telemetry.problems.length,
        subscribedBy: {
          backfill: this.metric('backfill', 'Subscribed'),
          subscriber: this.metric('subscriber', 'Subscribed'),
          sweep: this.metric('sweep', 'Subscribed'),
        },
        removedBy: {
          backfill: this.metric('backfill', 'Removed'),
          sweep: this.metric('sweep', 'Removed'),
        },
      },
    };
  }

  /**
   * Keeps the emulation going after the run: new log groups reach the subscriber (CloudTrail
   * is looked at every second), and the relay and event source mapping keep forwarding, so
   * `log-reflector verify` (and other CLI commands) work against the emulator.
   *
   * Writes an AWS config file with one profile per account, the way an org admin reaches
   * member accounts: the management account's keys, and for every other account
   * `role_arn` = its OrganizationAccountAccessRole with the management profile as
   * `source_profile`; `endpoint_url` points every profile at moto. The SDK (and the AWS CLI)
   * assume the role themselves.
   */
  serve(): EmulatorAccess {
    this.startPump();
    this.serving ??= setInterval(() => {
      (this.watcher as CloudTrailWatcher).tick().catch(() => undefined);
    }, 1000);
    return this.writeConfig();
  }

  /** The AWS config file with one profile per account (see `serve`), and how to use it. */
  private writeConfig(): EmulatorAccess {
    const org = this.org as EmulatedOrg;
    const home = this.regions[0] as string;
    this.configDir ??= mkdtempSync(join(tmpdir(), 'log-reflector-demo-'));
    const configFile = join(this.configDir, 'config');
    const management = org.management;
    const profiles = org.accounts.map((a) =>
      [
        `[profile ${a.name}]`,
        `region = ${home}`,
        `endpoint_url = ${this.moto.endpoint}`,
        ...(a === management
          ? [
              `aws_access_key_id = ${MANAGEMENT_CREDENTIALS.accessKeyId}`,
              `aws_secret_access_key = ${MANAGEMENT_CREDENTIALS.secretAccessKey}`,
            ]
          : [
              `role_arn = arn:aws:iam::${a.id}:role/${ACCESS_ROLE_NAME}`,
              `source_profile = ${management.name}`,
            ]),
        '',
      ].join('\n'),
    );
    writeFileSync(configFile, profiles.join('\n'));
    return {
      endpoint: this.moto.endpoint,
      sumoUrl: this.sumo.base,
      homeRegion: home,
      configFile,
      accounts: org.accounts.map((a) => ({
        account: a.id,
        name: a.name,
        role: a.role,
        profile: a.name,
        env: {
          AWS_CONFIG_FILE: configFile,
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          AWS_PROFILE: a.name,
          AWS_REGION: home,
        },
      })),
    };
  }

  /** Lines the local Sumo source accepted (after `serve`, e.g. a verify marker). */
  acceptedLines(): Record<string, unknown>[] {
    return this.sumo.accepted();
  }

  /** Stops everything this session started; safe to call more than once and after a failure. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.pumping = false;
    if (this.serving) clearInterval(this.serving);
    await Promise.allSettled([
      this.moto.stop(),
      this.sumo.stop(),
      this.responses.close(),
      ...(this.proxy ? [this.proxy.stop()] : []),
    ]);
    await this.pumpLoop;
    this.reflector?.restore();
    if (this.configDir) rmSync(this.configDir, { recursive: true, force: true });
    for (const [k, v] of this.savedEnv) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    this.savedEnv.clear();
  }
}

/** Runs the demo once and stops everything. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const session = await DemoSession.start(options);
  try {
    return await session.run();
  } finally {
    await session.stop();
  }
}

/** The Enrollment the member functions of `instance` see (their ENROLLMENT variable). */
function effectiveEnrollment(instance: MemberStackInstance): string {
  return instance.view.env('sweep').ENROLLMENT ?? 'unknown';
}
