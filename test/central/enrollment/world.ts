/**
 * A small AWS Organization and members StackSet inside moto, for the enrollment tests.
 *
 * moto emulates Organizations (accounts, OUs, tags, MoveAccount, CloseAccount) and
 * service-managed StackSets (instances by OU), but keeps no parameter overrides for
 * service-managed instances updated through DeploymentTargets, ignores ListStackInstances'
 * StackInstanceAccount/StackInstanceRegion/Filters and reports no LastOperationId. So the tests:
 * - record every UpdateStackInstances request the reconciler sends (a client middleware),
 * - keep the "current" overrides in `overrides`, fed to the reconciler through the injectable
 *   `readOverrides`; `landWrites()` applies the recorded requests to it, as AWS would,
 * - apply ListStackInstances' filters to moto's answer, as AWS would,
 * - keep the reconciler's memory in a conditional in-memory store and capture what it publishes.
 *
 * The StackSet is created with the StackSet-level parameters the org stack declares (Enrollment
 * disabled: fail-closed); `stackset.test.ts` creates it from the synthesized template itself.
 */
import {
  CloudFormationClient,
  CreateStackInstancesCommand,
  CreateStackSetCommand,
  OperationInProgressException,
  type UpdateStackInstancesCommandInput,
} from '@aws-sdk/client-cloudformation';
import {
  CreateAccountCommand,
  CreateOrganizationalUnitCommand,
  CreateOrganizationCommand,
  ListRootsCommand,
  MoveAccountCommand,
  OrganizationsClient,
} from '@aws-sdk/client-organizations';
import {
  awsOrganizations,
  awsStackSets,
  type EnrolledPublisher,
  type StackSetPort,
} from '../../../central/enrollment/aws';
import type { EnrollmentConfig } from '../../../central/enrollment/env';
import type { ReconcileDeps } from '../../../central/enrollment/reconcile';
import { memoryStateStore, type StateStore } from '../../../central/enrollment/state';
import type { EnrolledList } from '../../../shared/enrollment';
import { DEFAULT_OPT_OUT_TAG_KEY, DEFAULT_OPT_OUT_TAG_VALUE } from '../../../shared/naming';

/** moto's account id: the organization's management account. */
export const MANAGEMENT_ACCOUNT_ID = '123456789012';
export const MEMBERS_STACK_SET = 'log-reflector-members';
export const MANAGEMENT_STACK_SET = 'log-reflector-management';
export const REGIONS = ['us-east-1', 'eu-west-1'];
export const OPT_OUT_TAG = { Key: DEFAULT_OPT_OUT_TAG_KEY, Value: DEFAULT_OPT_OUT_TAG_VALUE };

/** A member template with just the Enrollment parameter (`stackset.test.ts` uses the synthesized one). */
export const MEMBER_TEMPLATE = JSON.stringify({
  Parameters: { Enrollment: { Type: 'String', Default: 'enabled', AllowedValues: ['enabled', 'disabled'] } },
  Resources: { Marker: { Type: 'AWS::SNS::Topic', Properties: { TopicName: 'log-reflector-marker' } } },
});

/** How the org stack declares the members StackSet (org-stack.ts memberStackSetParameters). */
export interface StackSetSpec {
  readonly templateBody: string;
  readonly parameters: { ParameterKey: string; ParameterValue: string }[];
}

export const MINIMAL_STACK_SET: StackSetSpec = {
  templateBody: MEMBER_TEMPLATE,
  parameters: [{ ParameterKey: 'Enrollment', ParameterValue: 'disabled' }],
};

/** Commands that change something in AWS; "nothing changed" means none of these was sent. */
const WRITE_COMMANDS = new Set([
  'UpdateStackInstancesCommand',
  'UpdateStackSetCommand',
  'CreateStackInstancesCommand',
  'DeleteStackInstancesCommand',
  'TagResourceCommand',
  'UntagResourceCommand',
]);

export interface World {
  readonly org: OrganizationsClient;
  readonly cfn: CloudFormationClient;
  readonly rootId: string;
  /** Target OU, with child OU `teamA`; `sandbox` is outside the targets. */
  readonly workloads: string;
  readonly teamA: string;
  readonly sandbox: string;
  /** alpha (workloads, untagged), beta (teamA, opted out), gamma (workloads, other tag). */
  readonly accounts: { readonly alpha: string; readonly beta: string; readonly gamma: string };
  /** Current overrides per `account/region`, as AWS would report them. */
  readonly overrides: Map<string, Record<string, string>>;
  /** Every UpdateStackInstances input sent since the last `takeUpdates()`. */
  takeUpdates(): UpdateStackInstancesCommandInput[];
  /** Names of every command sent through either client (reads and writes). */
  readonly calls: string[];
  /** Write commands the reconciler sent (the test's own setup calls are excluded). */
  writesSince(mark: number): string[];
  /** Makes the next N UpdateStackInstances calls fail with OperationInProgressException. */
  failNextUpdatesAsBusy(n: number): void;
  /** Writes land in `overrides` when sent (moto's operations succeed at once); a no-op marker. */
  landWrites(updates: readonly UpdateStackInstancesCommandInput[]): void;
  /** The reconciler's memory, kept across runs of one test. */
  readonly store: StateStore;
  /** Every enrolled list published, in order; `events` interleaves publishes and writes. */
  readonly published: EnrolledList[];
  readonly events: string[];
  config(extra?: Partial<EnrollmentConfig>): EnrollmentConfig;
  deps(stackSets?: Partial<StackSetPort>, publisher?: EnrolledPublisher | null): ReconcileDeps;
  createAccount(name: string, parentId: string, tags?: { Key: string; Value: string }[]): Promise<string>;
  deployInstances(ouId: string): Promise<void>;
}

export async function buildWorld(spec: StackSetSpec = MINIMAL_STACK_SET): Promise<World> {
  const org = new OrganizationsClient({});
  const cfn = new CloudFormationClient({});
  const calls: string[] = [];
  let recording = true;
  let updates: UpdateStackInstancesCommandInput[] = [];
  let busyFailures = 0;
  const events: string[] = [];
  const overrides = new Map<string, Record<string, string>>();
  const landInto = (input: UpdateStackInstancesCommandInput) => {
    const accounts = input.DeploymentTargets?.Accounts ?? input.Accounts ?? [];
    for (const account of accounts) {
      for (const region of input.Regions ?? []) {
        const key = `${account}/${region}`;
        const before = overrides.get(key) ?? {};
        const after: Record<string, string> = {};
        for (const p of input.ParameterOverrides ?? []) {
          if (p.ParameterKey === undefined) continue;
          if (p.UsePreviousValue) {
            if (before[p.ParameterKey] !== undefined) after[p.ParameterKey] = before[p.ParameterKey];
          } else after[p.ParameterKey] = p.ParameterValue ?? '';
        }
        overrides.set(key, after);
      }
    }
  };

  for (const client of [org, cfn] as const) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const name = String(context.commandName);
        if (recording) calls.push(name);
        if (name === 'UpdateStackInstancesCommand') {
          if (busyFailures > 0) {
            busyFailures -= 1;
            throw new OperationInProgressException({
              message: 'Another Operation on StackSet is in progress',
              $metadata: {},
            });
          }
          const input = structuredClone(args.input as UpdateStackInstancesCommandInput);
          updates.push(input);
          // moto's operations succeed at once; AWS then reports the new overrides.
          landInto(input);
          const value = input.ParameterOverrides?.find(
            (p) => p.ParameterKey === 'Enrollment',
          )?.ParameterValue;
          events.push(
            `update ${value} ${(input.DeploymentTargets?.Accounts ?? input.Accounts ?? []).join(',')}`,
          );
        }
        return next(args);
      },
      { step: 'initialize', name: 'enrollmentTestRecorder' },
    );
  }

  recording = false;
  await org.send(new CreateOrganizationCommand({ FeatureSet: 'ALL' }));
  const rootId = (await org.send(new ListRootsCommand({}))).Roots?.[0]?.Id ?? '';
  const ou = async (parentId: string, name: string) =>
    (await org.send(new CreateOrganizationalUnitCommand({ ParentId: parentId, Name: name })))
      .OrganizationalUnit?.Id ?? '';
  const workloads = await ou(rootId, 'workloads');
  const teamA = await ou(workloads, 'team-a');
  const sandbox = await ou(rootId, 'sandbox');

  const createAccount = async (
    name: string,
    parentId: string,
    tags: { Key: string; Value: string }[] = [],
  ) => {
    const wasRecording = recording;
    recording = false;
    const created = await org.send(
      new CreateAccountCommand({ AccountName: name, Email: `${name}@example.com`, Tags: tags }),
    );
    const id = created.CreateAccountStatus?.AccountId ?? '';
    await org.send(
      new MoveAccountCommand({ AccountId: id, SourceParentId: rootId, DestinationParentId: parentId }),
    );
    recording = wasRecording;
    return id;
  };
  const alpha = await createAccount('alpha', workloads);
  const beta = await createAccount('beta', teamA, [OPT_OUT_TAG]);
  const gamma = await createAccount('gamma', workloads, [{ Key: 'team', Value: 'x' }]);

  await cfn.send(
    new CreateStackSetCommand({
      StackSetName: MEMBERS_STACK_SET,
      TemplateBody: spec.templateBody,
      PermissionModel: 'SERVICE_MANAGED',
      AutoDeployment: { Enabled: true, RetainStacksOnAccountRemoval: false },
      Capabilities: ['CAPABILITY_NAMED_IAM'],
      ManagedExecution: { Active: true },
      Parameters: spec.parameters,
    }),
  );
  const deployInstances = async (ouId: string) => {
    const wasRecording = recording;
    recording = false;
    // Plays auto-deployment: moto does not deploy to accounts joining an OU by itself.
    // Auto-deployed instances take the StackSet's values: no ParameterOverrides.
    await cfn.send(
      new CreateStackInstancesCommand({
        StackSetName: MEMBERS_STACK_SET,
        DeploymentTargets: { OrganizationalUnitIds: [ouId] },
        Regions: REGIONS,
      }),
    );
    recording = wasRecording;
  };
  await deployInstances(workloads); // moto includes the child OU team-a
  recording = true;

  const store = memoryStateStore();
  const published: EnrolledList[] = [];
  const publisher: EnrolledPublisher = {
    async publish(list) {
      published.push(structuredClone(list));
      events.push(`publish ${list.accounts.join(',')}`);
    },
  };
  const world: World = {
    org,
    cfn,
    rootId,
    workloads,
    teamA,
    sandbox,
    accounts: { alpha, beta, gamma },
    overrides,
    store,
    published,
    events,
    calls,
    takeUpdates() {
      const taken = updates;
      updates = [];
      return taken;
    },
    writesSince(mark) {
      return calls.slice(mark).filter((c) => WRITE_COMMANDS.has(c));
    },
    failNextUpdatesAsBusy(n) {
      busyFailures = n;
    },
    landWrites() {
      // Writes land when they are sent (see the recorder); kept for the tests' readability.
    },
    config(extra = {}) {
      return {
        stackSetName: MEMBERS_STACK_SET,
        callAs: 'SELF',
        targetOuIds: [workloads],
        regions: REGIONS,
        optOut: { key: OPT_OUT_TAG.Key, value: OPT_OUT_TAG.Value },
        managementAccountId: MANAGEMENT_ACCOUNT_ID,
        managementStackSetName: undefined,
        stateBucket: undefined,
        enrolledListBucket: undefined,
        ...extra,
      };
    },
    deps(stackSets = {}, withPublisher = publisher) {
      const base = awsStackSets(cfn);
      return {
        organizations: awsOrganizations(org),
        stackSets: {
          ...base,
          // The injectable read: moto keeps no overrides for service-managed instances.
          readOverrides: async (_name, _callAs, account, region) => ({
            ...(overrides.get(`${account}/${region}`) ?? {}),
          }),
          // moto ignores these filters; AWS applies them.
          listInstances: async (name, callAs, filter = {}) =>
            (await base.listInstances(name, callAs)).filter(
              (i) =>
                (filter.account === undefined || i.account === filter.account) &&
                (filter.region === undefined || i.region === filter.region) &&
                (filter.detailedStatus === undefined || i.detailedStatus === filter.detailedStatus),
            ),
          ...stackSets,
        },
        stateStore: store,
        publisher: withPublisher ?? undefined,
        sleep: async () => undefined,
      };
    },
    createAccount,
    deployInstances,
  };
  return world;
}
