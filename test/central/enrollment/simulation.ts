/**
 * A generated AWS Organization and members StackSet behind fake Organizations and StackSets
 * ports, on a virtual clock, with every API served no faster than the rates below. Used by
 * `scale.test.ts` (convergence in runs) and `test/bench/enrollment-scale.ts` (the figures).
 *
 * Rates (requests per second, per API, no burst), and where they come from:
 * - Organizations: 5/s for ListAccountsForParent, ListOrganizationalUnitsForParent,
 *   ListTagsForResource and DescribeAccount. Organizations throttles every API per account
 *   ("Quotas and service limits for AWS Organizations", throttling section,
 *   https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html) and
 *   answers TooManyRequestsException past it; 5/s is a conservative figure for read calls.
 * - CloudFormation StackSets: 2/s for every StackSets API. CloudFormation publishes no per-API
 *   rate ("Understand CloudFormation quotas",
 *   https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html);
 *   2/s is the default the StackSets team named for its Describe calls
 *   (aws-cloudformation/aws-cloudformation-resource-providers-cloudformation pull request 37).
 * - An operation on N accounts × R regions (regions in parallel, every account at once, as
 *   `operationPreferences` asks) takes 60 s plus 120 s per instance update, and at most 10,000
 *   instances per Region are in operations at once ("StackSets instance operations", quotas
 *   page above); operations run one after another per StackSet (managed execution queues them).
 * - Auto-deployment creates a joining account's instances 180 s after it joins.
 * - Every call takes 100 ms on top of its rate slot.
 */
import type {
  InstanceFilter,
  InstanceSummary,
  OperationFailure,
  OrgAccountSummary,
  OrganizationsPort,
  StackSetPort,
  UpdateRequest,
} from '../../../central/enrollment/aws';
import type { StateStore } from '../../../central/enrollment/state';
import { StateConflictError } from '../../../central/enrollment/state';
import type { EnrolledList } from '../../../shared/enrollment';

export const RATES = {
  organizations: 5,
  stackSets: 2,
} as const;
export const CALL_LATENCY_MS = 100;
export const OPERATION_OVERHEAD_MS = 60_000;
export const INSTANCE_UPDATE_MS = 120_000;
export const AUTO_DEPLOY_DELAY_MS = 180_000;

/** A clock that only moves when every pending promise waits on it. */
export class VirtualClock {
  now = 0;
  private seq = 0;
  private timers: { at: number; seq: number; fire: () => void }[] = [];

  sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      this.timers.push({ at: this.now + Math.max(0, ms), seq: this.seq++, fire: resolve });
    });

  at(time: number, fire: () => void): void {
    this.timers.push({ at: time, seq: this.seq++, fire });
  }

  /** Runs `work` to its end, advancing time whenever nothing else can happen. */
  async drive<T>(work: Promise<T>): Promise<T> {
    let done = false;
    let value: T | undefined;
    let error: unknown;
    work.then(
      (v) => {
        done = true;
        value = v;
      },
      (e) => {
        done = true;
        error = e;
      },
    );
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (done) break;
      this.step();
    }
    if (error !== undefined) throw error;
    return value as T;
  }

  /** Fires the earliest timer (and everything due with it). */
  step(): void {
    if (this.timers.length === 0) throw new Error('simulation deadlock: nothing scheduled');
    this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = this.timers.shift() as { at: number; fire: () => void };
    this.now = Math.max(this.now, next.at);
    next.fire();
  }

  /** Advances to `time`, firing every timer due before it. */
  advanceTo(time: number): void {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > time) break;
      this.step();
    }
    this.now = Math.max(this.now, time);
  }
}

class Rate {
  private next = 0;
  constructor(
    private readonly clock: VirtualClock,
    private readonly perSecond: number,
  ) {}
  async take(calls = 1): Promise<void> {
    const start = Math.max(this.clock.now, this.next);
    this.next = start + (1000 * calls) / this.perSecond;
    await this.clock.sleep(this.next - this.clock.now - 1000 / this.perSecond + CALL_LATENCY_MS);
  }
}

interface SimInstance {
  status: string;
  detailed: string;
  lastOp: string;
  overrides: Record<string, string>;
}

interface SimOperation {
  id: string;
  action: string;
  status: string;
  enrollment?: string;
  accounts?: string[];
  regions?: string[];
}

export interface OrgShape {
  readonly accounts: number;
  readonly regions: number;
  /** Every `optOutEvery`-th account carries the opt-out tag. */
  readonly optOutEvery: number;
  /** OUs under the root target; accounts spread evenly. */
  readonly ous: number;
}

export const OPT_OUT = { key: 'log-reflector:opt-out', value: 'true' };
export const ROOT = 'r-sim1';

export class SimulatedOrg {
  readonly regions: string[];
  readonly accounts = new Map<string, { ou: string; tags: Record<string, string>; state: string }>();
  readonly ous: string[] = [];
  readonly instances = new Map<string, SimInstance>();
  readonly operations: SimOperation[] = [];
  readonly published: EnrolledList[] = [];
  readonly calls: Record<string, number> = {};
  private readonly org: Record<string, Rate> = {};
  private readonly cfn: Record<string, Rate> = {};
  private opSeq = 0;
  private queueFreeAt = 0;
  private accountSeq = 0;

  constructor(
    readonly clock: VirtualClock,
    shape: OrgShape,
  ) {
    this.regions = Array.from({ length: shape.regions }, (_, i) => `region-${String(i).padStart(2, '0')}-1`);
    for (let i = 0; i < shape.ous; i++) this.ous.push(`ou-sim1-${String(i).padStart(8, '0')}`);
    for (let i = 0; i < shape.accounts; i++) {
      this.addAccount(i % shape.optOutEvery === 0);
    }
    // The StackSet's CREATE operation (cdk deploy): every account, every region, StackSet values.
    const create = this.newOperation('CREATE', 'SUCCEEDED');
    for (const id of this.accounts.keys()) this.createInstances(id, create.id);
  }

  private rate(group: 'org' | 'cfn', api: string): Rate {
    const table = group === 'org' ? this.org : this.cfn;
    table[api] ??= new Rate(this.clock, group === 'org' ? RATES.organizations : RATES.stackSets);
    return table[api];
  }

  private async call(group: 'org' | 'cfn', api: string, pages = 1): Promise<void> {
    this.calls[api] = (this.calls[api] ?? 0) + pages;
    await this.rate(group, api).take(pages);
  }

  addAccount(optedOut: boolean): string {
    const id = String(100_000_000_000 + this.accountSeq);
    const ou = this.ous[this.accountSeq % this.ous.length] as string;
    this.accountSeq += 1;
    this.accounts.set(id, { ou, tags: optedOut ? { [OPT_OUT.key]: OPT_OUT.value } : {}, state: 'ACTIVE' });
    return id;
  }

  /** An account joins after the StackSet exists: auto-deployment follows. */
  join(optedOut: boolean): string {
    const id = this.addAccount(optedOut);
    this.clock.at(this.clock.now + AUTO_DEPLOY_DELAY_MS, () => {
      const op = this.newOperation('CREATE', 'SUCCEEDED');
      this.createInstances(id, op.id);
    });
    return id;
  }

  private newOperation(action: string, status: string): SimOperation {
    const op = { id: `op-${String(++this.opSeq).padStart(6, '0')}`, action, status };
    this.operations.unshift(op);
    return op;
  }

  private createInstances(account: string, opId: string): void {
    for (const region of this.regions) {
      this.instances.set(`${account}/${region}`, {
        status: 'CURRENT',
        detailed: 'SUCCEEDED',
        lastOp: opId,
        overrides: {},
      });
    }
  }

  /** The Enrollment value an instance runs with. */
  effective(account: string, region: string): string | undefined {
    const instance = this.instances.get(`${account}/${region}`);
    if (instance?.detailed !== 'SUCCEEDED') return undefined;
    return instance.overrides.Enrollment ?? 'disabled';
  }

  optedOut(account: string): boolean {
    return this.accounts.get(account)?.tags[OPT_OUT.key] === OPT_OUT.value;
  }

  /** Every account runs what its tag asks for, and the last list names exactly the untagged ones. */
  converged(): { converged: boolean; enabled: number; wrong: number; listed: number } {
    let enabled = 0;
    let wrong = 0;
    for (const id of this.accounts.keys()) {
      const want = this.optedOut(id) ? 'disabled' : 'enabled';
      const values = this.regions.map((r) => this.effective(id, r));
      if (values.every((v) => v === want)) {
        if (want === 'enabled') enabled += 1;
      } else wrong += 1;
    }
    const list = new Set(this.published.at(-1)?.accounts ?? []);
    const listOk = [...this.accounts.keys()].every((id) => list.has(id) === !this.optedOut(id));
    return { converged: wrong === 0 && listOk, enabled, wrong, listed: list.size };
  }

  organizationsPort(): OrganizationsPort {
    return {
      listAccounts: async (parents) => {
        const out: OrgAccountSummary[] = [];
        for (const parent of parents) {
          if (parent !== ROOT) continue;
          await this.call('org', 'ListOrganizationalUnitsForParent', Math.ceil(this.ous.length / 20));
          for (const ou of this.ous) {
            const members = [...this.accounts].filter(([, a]) => a.ou === ou);
            await this.call('org', 'ListAccountsForParent', Math.max(1, Math.ceil(members.length / 20)));
            await this.call('org', 'ListOrganizationalUnitsForParent');
            for (const [id, a] of members) out.push({ id, name: id, state: a.state });
          }
        }
        return out;
      },
      describeAccount: async (id) => {
        await this.call('org', 'DescribeAccount');
        return { id, name: id, state: this.accounts.get(id)?.state ?? 'ACTIVE' };
      },
      listTags: async (id) => {
        await this.call('org', 'ListTagsForResource');
        return { ...(this.accounts.get(id)?.tags ?? {}) };
      },
    };
  }

  private summary(key: string, instance: SimInstance): InstanceSummary {
    const [account, region] = key.split('/') as [string, string];
    return {
      account,
      region,
      status: instance.detailed === 'SUCCEEDED' ? 'CURRENT' : 'OUTDATED',
      detailedStatus: instance.detailed,
      lastOperationId: instance.lastOp,
    };
  }

  stackSetPort(): StackSetPort {
    return {
      describeStackSet: async (name) => {
        await this.call('cfn', 'DescribeStackSet');
        return {
          name,
          permissionModel: 'SERVICE_MANAGED',
          status: 'ACTIVE',
          parameters: { Enrollment: 'disabled' },
        };
      },
      listInstances: async (_name, _callAs, filter: InstanceFilter = {}, stop = () => false) => {
        const found: InstanceSummary[] & { complete?: boolean } = [];
        for (const [key, instance] of this.instances) {
          const [account, region] = key.split('/');
          if (filter.account !== undefined && account !== filter.account) continue;
          if (filter.region !== undefined && region !== filter.region) continue;
          if (filter.detailedStatus !== undefined && instance.detailed !== filter.detailedStatus) continue;
          found.push(this.summary(key, instance));
        }
        const pages = Math.max(1, Math.ceil(found.length / 100));
        for (let page = 0; page < pages; page++) {
          if (page > 0 && stop()) {
            const partial: InstanceSummary[] & { complete?: boolean } = found.slice(0, page * 100);
            partial.complete = false;
            return partial;
          }
          await this.call('cfn', 'ListStackInstances');
        }
        return found;
      },
      readOverrides: async (_name, _callAs, account, region) => {
        await this.call('cfn', 'DescribeStackInstance');
        return { ...(this.instances.get(`${account}/${region}`)?.overrides ?? {}) };
      },
      listOperations: async () => {
        await this.call('cfn', 'ListStackSetOperations');
        return this.operations
          .slice(0, 100)
          .map((o) => ({ operationId: o.id, action: o.action, status: o.status }));
      },
      updateInstances: async (request: UpdateRequest) => {
        await this.call('cfn', 'UpdateStackInstances');
        const { operation } = request;
        for (const account of operation.accounts) {
          for (const region of operation.regions) {
            if (!this.instances.has(`${account}/${region}`)) {
              throw Object.assign(new Error(`no stack instance ${account}/${region}`), {
                name: 'StackInstanceNotFoundException',
              });
            }
          }
        }
        const op = this.newOperation('UPDATE', 'QUEUED');
        op.enrollment = operation.enrollment;
        op.accounts = [...operation.accounts];
        op.regions = [...operation.regions];
        const perRegion = operation.accounts.length;
        if (perRegion > 10_000) throw Object.assign(new Error('quota'), { name: 'LimitExceededException' });
        const start = Math.max(this.clock.now, this.queueFreeAt);
        const end = start + OPERATION_OVERHEAD_MS + INSTANCE_UPDATE_MS;
        this.queueFreeAt = end;
        for (const account of operation.accounts) {
          for (const region of operation.regions) {
            const instance = this.instances.get(`${account}/${region}`) as SimInstance;
            instance.detailed = 'PENDING';
          }
        }
        this.clock.at(start, () => {
          op.status = 'RUNNING';
        });
        this.clock.at(end, () => {
          op.status = 'SUCCEEDED';
          for (const account of operation.accounts) {
            for (const region of operation.regions) {
              const instance = this.instances.get(`${account}/${region}`);
              if (!instance) continue;
              instance.detailed = 'SUCCEEDED';
              instance.lastOp = op.id;
              instance.overrides = { ...instance.overrides, Enrollment: operation.enrollment };
            }
          }
        });
        return op.id;
      },
      operationStatus: async (_name, _callAs, id) => {
        await this.call('cfn', 'DescribeStackSetOperation');
        return this.operations.find((o) => o.id === id)?.status ?? 'UNKNOWN';
      },
      failedResults: async (): Promise<OperationFailure[]> => {
        await this.call('cfn', 'ListStackSetOperationResults');
        return [];
      },
    };
  }

  publisher() {
    return {
      publish: async (list: EnrolledList) => {
        await this.clock.sleep(CALL_LATENCY_MS);
        this.published.push(list);
      },
    };
  }
}

/** The state store of the simulation: conditional, kept by reference (no copy of 85,000 instances). */
export function simulatedStore(clock: VirtualClock): StateStore & { bytes(): number } {
  let state: Parameters<StateStore['save']>[0] | undefined;
  let version = 0;
  return {
    async load() {
      await clock.sleep(CALL_LATENCY_MS);
      return state
        ? { state, etag: String(version) }
        : { state: { version: 1, generation: 0, updatedAt: 0, stackSets: {} }, etag: undefined };
    },
    async save(next, etag) {
      await clock.sleep(CALL_LATENCY_MS);
      if (etag !== (state ? String(version) : undefined)) throw new StateConflictError('changed');
      state = next;
      version += 1;
      return String(version);
    },
    bytes() {
      return state ? Buffer.byteLength(JSON.stringify(state)) : 0;
    },
  };
}

/** The reconciler's Lambda: 900 s timeout, 30 s grace (org-stack.ts, handler.ts). */
export const RUN_TIMEOUT_MS = 900_000;
export const RUN_GRACE_MS = 30_000;
/** The schedule (docs/enrollment.md): one run every 15 minutes. */
export const SCHEDULE_MS = 15 * 60_000;

export interface RunFigures {
  readonly run: number;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly operationsStarted: number;
  readonly enabled: number;
  readonly wrong: number;
  readonly listed: number;
  readonly converged: boolean;
  /** Tags and instance pages read in this run. */
  readonly reads: number;
}

/** Drives `reconcile` like the Lambda: one run, its deadline, the simulated AWS behind it. */
export async function simulateRun(
  sim: SimulatedOrg,
  store: StateStore,
  reconcile: typeof import('../../../central/enrollment/reconcile').reconcile,
  options: { priorityAccounts?: string[]; timeoutMs?: number } = {},
): Promise<{ durationMs: number; operationsStarted: number }> {
  const clock = sim.clock;
  const started = clock.now;
  const result = await clock.drive(
    reconcile(
      {
        stackSetName: 'log-reflector-members',
        callAs: 'SELF',
        targetOuIds: [ROOT],
        regions: sim.regions,
        optOut: OPT_OUT,
        managementAccountId: '999999999999',
        managementStackSetName: undefined,
        stateBucket: undefined,
        enrolledListBucket: undefined,
      },
      {
        organizations: sim.organizationsPort(),
        stackSets: sim.stackSetPort(),
        stateStore: store,
        publisher: sim.publisher(),
        now: () => clock.now,
        sleep: clock.sleep,
        runId: `run-${started}`,
      },
      {
        apply: true,
        deadline: started + (options.timeoutMs ?? RUN_TIMEOUT_MS) - RUN_GRACE_MS,
        priorityAccounts: options.priorityAccounts ?? [],
      },
    ),
  );
  return {
    durationMs: clock.now - started,
    operationsStarted: result.outcomes.reduce(
      (n, o) => n + o.operations.filter((op) => op.operationId).length,
      0,
    ),
  };
}

/** Scheduled runs from t=0 (the after-deploy run) until converged or `maxRuns`. */
export async function simulateSchedule(
  shape: OrgShape,
  reconcile: typeof import('../../../central/enrollment/reconcile').reconcile,
  maxRuns: number,
  timeoutMs = RUN_TIMEOUT_MS,
): Promise<{ sim: SimulatedOrg; store: ReturnType<typeof simulatedStore>; runs: RunFigures[] }> {
  const clock = new VirtualClock();
  const sim = new SimulatedOrg(clock, shape);
  const store = simulatedStore(clock);
  const runs: RunFigures[] = [];
  for (let run = 1; run <= maxRuns; run++) {
    const startedAt = (run - 1) * SCHEDULE_MS;
    clock.advanceTo(startedAt);
    const before = (sim.calls.ListTagsForResource ?? 0) + (sim.calls.ListStackInstances ?? 0);
    const figures = await simulateRun(sim, store, reconcile, { timeoutMs });
    const reads = (sim.calls.ListTagsForResource ?? 0) + (sim.calls.ListStackInstances ?? 0) - before;
    // What AWS looks like when the next run starts (operations started so far have ended).
    clock.advanceTo(run * SCHEDULE_MS - 1);
    const state = sim.converged();
    runs.push({ run, startedAt, ...figures, ...state, reads });
    if (state.converged) break;
  }
  return { sim, store, runs };
}
