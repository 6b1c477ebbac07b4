/**
 * The org stack's StackSets in moto, and CloudFormation's part of them, played.
 *
 * The members StackSet (service-managed, auto-deployment) and the management StackSet
 * (self-managed, when the configuration covers the management account) are created as the
 * org template declares them: name, permission model, auto-deployment, StackSet parameters and
 * instance groups (OUs or accounts × regions). moto keeps StackSets, instances and their
 * parameter overrides but runs no stack: its TemplateBody is the member template's Parameters
 * section only (moto would otherwise create the template's resources and call the custom
 * resource's Lambda, which needs Docker). What the member stack does is played by
 * `MemberStacks` (member.ts): `sync()` reads every instance back from moto (ListStackInstances,
 * DescribeStackInstance → ParameterOverrides), resolves its effective parameters (template
 * default ← StackSet value ← override) and creates, updates or deletes the member stack when
 * they changed — what a StackSet operation does in each account and region.
 *
 * Also played: auto-deployment (moto does not deploy to an account that joins a target OU).
 *
 * moto adapter: moto 5.2 reads the accounts of UpdateStackInstances from `Accounts` only
 * (moto/cloudformation/responses.py, update_stack_instances), while a service-managed StackSet
 * takes them in `DeploymentTargets.Accounts`, which is what the reconciler sends
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html).
 * A middleware on the reconciler's client copies them into `Accounts` so moto records the
 * overrides; the request is otherwise unchanged.
 */
import {
  CloudFormationClient,
  CreateStackInstancesCommand,
  CreateStackSetCommand,
  DescribeStackInstanceCommand,
  DescribeStackSetCommand,
  ListStackInstancesCommand,
  type UpdateStackInstancesCommandInput,
} from '@aws-sdk/client-cloudformation';
import { CLIENT_RETRY } from '../../central/enrollment/aws';
import { clientConfig, MANAGEMENT_CREDENTIALS } from './aws';
import { effectiveParameters } from './cfn-template';
import type { Deployment, StackSetDefinition } from './deployment';
import type { CloudTrailWatcher, MemberStacks } from './member';
import { instanceKey } from './member';
import type { EmulatedOrg } from './org';

/** Adds the moto adapter described in the module comment to `client`. */
export function adaptStackSetsForMoto(client: CloudFormationClient): CloudFormationClient {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'UpdateStackInstancesCommand') {
        const input = args.input as UpdateStackInstancesCommandInput;
        const accounts = input.DeploymentTargets?.Accounts;
        if (accounts && !input.Accounts) return next({ ...args, input: { ...input, Accounts: accounts } });
      }
      return next(args);
    },
    { step: 'initialize', name: 'demoMotoStackSetAdapter' },
  );
  return client;
}

export interface SyncResult {
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
}

export class StackSetsPlayer {
  /** The management account's CloudFormation client in the home region (what the org stack uses). */
  readonly cfn: CloudFormationClient;

  constructor(
    private readonly deployment: Deployment,
    private readonly org: EmulatedOrg,
    private readonly stacks: MemberStacks,
    private readonly watcher: CloudTrailWatcher,
    endpoint: string,
  ) {
    this.cfn = adaptStackSetsForMoto(
      new CloudFormationClient({
        ...clientConfig({
          endpoint,
          region: deployment.config.homeRegion,
          credentials: MANAGEMENT_CREDENTIALS,
        }),
        ...CLIENT_RETRY,
      }),
    );
  }

  private get definitions(): StackSetDefinition[] {
    const { members, management } = this.deployment.stackSets;
    return management ? [members, management] : [members];
  }

  /**
   * CreateStackSet for each StackSet, as the org template declares it. Every template
   * parameter is given its value (the StackSet's, else the template default): DescribeStackSet
   * reports them all in AWS, while moto reports only those passed here.
   */
  async createStackSets(): Promise<void> {
    const declared = this.deployment.member.Parameters ?? {};
    const body = JSON.stringify({ Parameters: declared, Resources: {} });
    for (const def of this.definitions) {
      const values = effectiveParameters(this.deployment.member, def.parameters, {});
      await this.cfn.send(
        new CreateStackSetCommand({
          StackSetName: def.name,
          TemplateBody: body,
          PermissionModel: def.permissionModel,
          ...(def.autoDeployment ? { AutoDeployment: def.autoDeployment } : {}),
          Parameters: Object.entries(values).map(([ParameterKey, ParameterValue]) => ({
            ParameterKey,
            ParameterValue,
          })),
          Capabilities: ['CAPABILITY_NAMED_IAM'],
        }),
      );
    }
  }

  /** The StackSet resources' StackInstancesGroup: the first deploy of each StackSet. */
  async deployInstanceGroups(): Promise<SyncResult> {
    for (const def of this.definitions) {
      for (const group of def.instanceGroups) {
        await this.cfn.send(
          new CreateStackInstancesCommand({
            StackSetName: def.name,
            Regions: [...group.regions],
            ...(def.permissionModel === 'SERVICE_MANAGED'
              ? { DeploymentTargets: { OrganizationalUnitIds: [...group.organizationalUnitIds] } }
              : { Accounts: [...group.accounts] }),
          }),
        );
      }
    }
    return this.sync();
  }

  /** Auto-deployment to the accounts of a newly targeted OU (an account that joined). */
  async autoDeploy(ou: string): Promise<SyncResult> {
    const members = this.deployment.stackSets.members;
    const regions = [...new Set(members.instanceGroups.flatMap((g) => g.regions))];
    await this.cfn.send(
      new CreateStackInstancesCommand({
        StackSetName: members.name,
        Regions: regions,
        DeploymentTargets: { OrganizationalUnitIds: [ou] },
      }),
    );
    return this.sync();
  }

  /** Brings every member stack in line with its StackSet instance (see the module comment). */
  async sync(): Promise<SyncResult> {
    const tasks: Promise<'created' | 'updated' | 'unchanged'>[] = [];
    const present = new Set<string>();
    for (const def of this.definitions) {
      const set = (await this.cfn.send(new DescribeStackSetCommand({ StackSetName: def.name }))).StackSet;
      const setValues: Record<string, string> = {};
      for (const p of set?.Parameters ?? [])
        if (p.ParameterKey) setValues[p.ParameterKey] = p.ParameterValue ?? '';
      let nextToken: string | undefined;
      do {
        const page = await this.cfn.send(
          new ListStackInstancesCommand({ StackSetName: def.name, NextToken: nextToken }),
        );
        for (const summary of page.Summaries ?? []) {
          const accountId = summary.Account ?? '';
          const region = summary.Region ?? '';
          const account = this.org.accounts.find((a) => a.id === accountId);
          if (!account)
            throw new Error(`StackSet ${def.name} has an instance in unknown account ${accountId}`);
          present.add(instanceKey(accountId, region));
          tasks.push(
            (async () => {
              const described = await this.cfn.send(
                new DescribeStackInstanceCommand({
                  StackSetName: def.name,
                  StackInstanceAccount: accountId,
                  StackInstanceRegion: region,
                }),
              );
              const overrides: Record<string, string> = {};
              for (const p of described.StackInstance?.ParameterOverrides ?? []) {
                if (p.ParameterKey && p.ParameterValue !== undefined)
                  overrides[p.ParameterKey] = p.ParameterValue;
              }
              const parameters = effectiveParameters(this.deployment.member, setValues, overrides);
              const existing = this.stacks.instances.get(instanceKey(accountId, region));
              if (!existing) {
                const created = await this.stacks.create(account, region, def.name, parameters);
                await this.watcher.baseline(created);
                return 'created';
              }
              if (JSON.stringify(existing.parameters) === JSON.stringify(parameters)) return 'unchanged';
              await this.stacks.update(existing, parameters);
              return 'updated';
            })(),
          );
        }
        nextToken = page.NextToken;
      } while (nextToken);
    }
    const outcomes = await Promise.all(tasks);
    const gone = [...this.stacks.instances.values()].filter((i) => !present.has(i.key));
    await Promise.all(gone.map((i) => this.stacks.delete(i)));
    return {
      created: outcomes.filter((o) => o === 'created').length,
      updated: outcomes.filter((o) => o === 'updated').length,
      deleted: gone.length,
    };
  }
}
