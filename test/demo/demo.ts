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
 *  3. central side: stream, failure bucket, Sumo secret (holding the local source's URL),
 *     event source mapping → reflector; a stand-in destination per account × region;
 *  4. `G` log groups per account × region, before anything is deployed;
 *  5. the StackSets and their instances (backfill Create everywhere), then the reconciler's
 *     post-deploy run and the StackSet operations it starts (backfill Update);
 *  6. events into every group (round 1);
 *     faults only: an account joins (MoveAccount event, auto-deployment, scheduled reconcile)
 *     and an enrolled account gets the opt-out tag (TagResource event → reconcile → Update);
 *  7. new log groups everywhere (CloudTrail CreateLogGroup → EventBridge → subscriber);
 *  8. events into every group (round 2), then the scheduled sweep everywhere;
 *  9. drain: stand-ins → central stream → reflector until every record is acknowledged;
 * 10. tally: what the local source accepted against what was written.
 * The verdict passes when no event written while its account was enrolled is missing and no
 * event written while its account was opted out arrived.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { loadReflectorEnv, senderOptionsFrom } from '../../central/reflector/env';
import { FUNCTION_NAMES } from '../../shared/naming';
import { type CfnResponseServer, startCfnResponseServer } from '../support/cfn-response-server';
import { type MotoServer, startMoto } from '../support/moto';
import { type FaultPlan, type SumoServer, startSumoServer } from '../support/sumo-server';
import { ACCESS_ROLE_NAME, type EmulatedAccount, MANAGEMENT_CREDENTIALS } from './aws';
import { centralStack, type Deployment, demoConfig, exampleConfig } from './deployment';
import { Reconciler } from './enrollment';
import { InProcessLambda } from './lambda';
import { CloudTrailWatcher, type MemberStackInstance, MemberStacks, MemberTelemetry } from './member';
import { type AccountRole, EmulatedOrg, type OptOutTag } from './org';
import { createStream, DestinationRelay, type EsmStats, EventSourceMapping } from './pipeline';
import { StackSetsPlayer } from './stacksets';
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
  readonly lost: number;
  readonly duplicates: number;
  readonly unsubscribed: number;
  readonly strayFilters: number;
}

export interface AccountReport {
  readonly account: string;
  readonly name: string;
  readonly role: AccountRole;
  /** Carries the opt-out tag at the end of the run. */
  readonly optedOut: boolean;
  readonly regions: readonly RegionReport[];
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
  /** Eligible groups of enrolled accounts without our filter; our filters left in opted-out ones. */
  readonly unsubscribed: number;
  readonly strayFilters: number;
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
  private relay?: DestinationRelay;
  private esm?: EventSourceMapping;
  private optOut: OptOutTag;
  private readonly optedOut = new Set<string>();
  /** The event the Sumo fault plan refuses until its record fails back (faults only). */
  private poison: string | undefined;

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

    // 5. The StackSets, their instances, the post-deploy reconcile.
    const player = this.player as StackSetsPlayer;
    await player.createStackSets();
    const deployed = await player.deployInstanceGroups();
    this.progress(`StackSets deployed: ${deployed.created} member stacks (backfill Create in each)`);
    const afterDeploy = await (this.reconciler as Reconciler).afterDeploy();
    this.progress(`enrollment reconciled after deploy: ${describeRun(afterDeploy)}`);
    await this.options.afterDeploy?.(this);
    this.checkAborted();
    this.startPump();

    // 6. Round 1; the mid-run changes of the fault scenario.
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

    // 8. Round 2, then the scheduled sweep.
    await this.writeRound('r2');
    const sweeps = await (this.stacks as MemberStacks).sweepAll();
    await this.lambda.settled();
    this.progress(`round 2 written; scheduled sweep ran in ${sweeps} account × region pairs`);
    this.checkAborted();

    // 9. Drain.
    await this.drain();
    this.progress(`drained: ${this.esm?.stats.invocations ?? 0} reflector invocations`);
    return this.report();
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
    const s3 = central.client(S3Client, home);
    // CloudFormation names an unnamed bucket <stack>-<logical id>-<random>, lower case.
    const bucket = `stackset-log-reflector-central-failurebucket-${randomBytes(4).toString('hex')}`;
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        ...(home === 'us-east-1'
          ? {}
          : { CreateBucketConfiguration: { LocationConstraint: home as 'eu-west-1' } }),
      }),
    );
    // The operator puts the source URL into the secret after the first deploy (docs/deploy.md).
    const secret = await central
      .client(SecretsManagerClient, home)
      .send(new CreateSecretCommand({ Name: c.secretName, SecretString: this.sumo.url() }));
    const env = c.reflectorEnv({
      account: central.id,
      region: home,
      stackName: 'StackSet-log-reflector-central',
      parameters: {},
      physicalIds: { [c.secretLogicalId]: secret.ARN ?? '', [c.bucketLogicalId]: bucket },
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
    const reflector = await import('../../central/reflector/handler');
    reflector.resetRuntime();
    const reflectorArn = `arn:aws:lambda:${home}:${central.id}:function:${FUNCTION_NAMES.reflector}`;
    this.lambda.register(reflectorArn, c.reflectorTimeoutSeconds, (event, context) =>
      reflector.handler(event as KinesisStreamEvent, context),
    );
    this.relay = new DestinationRelay(stream);
    this.esm = new EventSourceMapping(
      stream,
      home,
      c.eventSourceMapping,
      async (event) => (await this.lambda.invoke(reflectorArn, event)) as KinesisStreamBatchResponse,
      { s3, bucket },
      `arn:aws:iam::${central.id}:role/${FUNCTION_NAMES.reflector}-${home}`,
    );
    await this.esm.init();
    this.stacks = new MemberStacks({
      deployment: d,
      lambda: this.lambda,
      responses: this.responses,
      relay: this.relay,
      telemetry: this.telemetry,
      logsEndpoint: this.proxy?.endpoint ?? this.moto.endpoint,
    });
    this.watcher = new CloudTrailWatcher(this.stacks, this.lambda);
    this.player = new StackSetsPlayer(
      d,
      this.org as EmulatedOrg,
      this.stacks,
      this.watcher,
      this.moto.endpoint,
    );
    this.reconciler = new Reconciler(
      d,
      this.lambda,
      this.player,
      this.moto.endpoint,
      this.options.verbose ? 'INFO' : 'SILENT',
    );
    if (this.options.faults) {
      const attempts = senderOptionsFrom(loadReflectorEnv(env)).maxAttempts;
      this.sumo.setPlan(sumoFaults(() => this.poison, attempts + 1));
    }
    this.progress(
      `central side in ${central.id}/${home}: stream ${c.streamName}, failure bucket, secret ${c.secretName}, reflector`,
    );
  }

  private async midRunChanges(early: readonly string[]): Promise<void> {
    const org = this.org as EmulatedOrg;
    const reconciler = this.reconciler as Reconciler;
    const player = this.player as StackSetsPlayer;
    // An account joins: created (at the root), given log groups, moved into a target OU.
    const { account, ou } = await org.joinAccount(`member-${this.accounts + 1}`);
    await Promise.all(this.regions.map((r) => this.workload.createGroups(account, r, early)));
    const moved = await reconciler.moved(account.id, org.rootId, ou);
    const deployed = await player.autoDeploy(ou);
    const scheduled = await reconciler.scheduled();
    this.progress(
      `joined: ${account.id} (MoveAccount → reconcile: ${describeRun(moved)}; auto-deployment: ${deployed.created} member stacks; scheduled reconcile: ${describeRun(scheduled)})`,
    );
    // An enrolled account opts out mid-run.
    const tagged = org.accounts.find((a) => a.role === 'member' && !this.optedOut.has(a.id));
    if (tagged) {
      await org.tag(tagged.id, this.optOut);
      this.optedOut.add(tagged.id);
      const run = await reconciler.tagged(tagged.id, this.optOut.key, this.optOut.value);
      this.progress(
        `tagged: ${tagged.id} ${this.optOut.key}=${this.optOut.value} (reconcile: ${describeRun(run)})`,
      );
    }
    await this.writeRound('r1b');
  }

  private async writeRound(round: string): Promise<void> {
    const instances = [...(this.stacks as MemberStacks).instances.values()];
    await Promise.all(
      instances.map((i) =>
        this.workload.write(i.account, i.region, round, effectiveEnrollment(i) === 'enabled'),
      ),
    );
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

  private async report(): Promise<DemoReport> {
    const stacks = this.stacks as MemberStacks;
    const { otherLines, duplicates } = this.workload.receive(this.sumo.accepted());
    const accounts: AccountReport[] = [];
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
        regions.push({ ...t, enrollment });
      }
      if (regions.length === 0) continue;
      accounts.push({
        account: account.id,
        name: account.name,
        role: account.role,
        optedOut: this.optedOut.has(account.id),
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
    const wallSeconds = Math.round((performance.now() - this.started) / 100) / 10;
    const ok = lost === 0 && forwardedWhileOptedOut === 0 && eventsExpected > 0;
    const verdict =
      `${ok ? 'PASS' : 'FAIL'}: ${eventsReceived - forwardedWhileOptedOut} of ${eventsExpected} events ` +
      `written while enrolled reached the local Sumo source (${lost} lost, ${duplicates} duplicate lines); ` +
      `groups not enrolled forwarded ${forwardedWhileOptedOut} of ${eventsWhileOptedOut}; ${wallSeconds} s`;
    const metric = (service: 'backfill' | 'subscriber' | 'sweep', name: string) =>
      this.telemetry.metric(service, name);
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
      unsubscribed: sum((r) => r.unsubscribed),
      strayFilters: sum((r) => r.strayFilters),
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
        createLogGroupEvents: (this.watcher as CloudTrailWatcher).delivered,
        subscriberEventsParked: this.lambda.parked.length,
        memberProblems: this.telemetry.problems.length,
        subscribedBy: {
          backfill: metric('backfill', 'Subscribed'),
          subscriber: metric('subscriber', 'Subscribed'),
          sweep: metric('sweep', 'Subscribed'),
        },
        removedBy: {
          backfill: metric('backfill', 'Removed'),
          sweep: metric('sweep', 'Removed'),
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
    const org = this.org as EmulatedOrg;
    const home = this.regions[0] as string;
    this.startPump();
    this.serving ??= setInterval(() => {
      (this.watcher as CloudTrailWatcher).tick().catch(() => undefined);
    }, 1000);
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
    if (this.configDir) rmSync(this.configDir, { recursive: true, force: true });
    for (const [k, v] of this.savedEnv) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    this.savedEnv.clear();
  }
}

function describeRun(outcome: Awaited<ReturnType<Reconciler['run']>>): string {
  const r = outcome.result;
  if (r.status === 'ignored') return `ignored (${r.reason})`;
  const changes = r.stackSets.flatMap((s) => s.changes.map((c) => `${c.action} ${c.account}`));
  const sync = outcome.sync;
  return `${changes.length > 0 ? changes.join(', ') : 'no change'}; stacks updated: ${sync.updated}`;
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
