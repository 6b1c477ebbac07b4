/**
 * The emulated AWS Organization in moto: the management account (moto's default account)
 * creates the organization, two OUs and the accounts, and tags one member with the opt-out
 * tag. Layout:
 *
 *   root
 *   ├─ management account (stays at the root; covered by the self-managed StackSet)
 *   ├─ security   ─ central account ("log-archive": stream, reflector, destinations)
 *   └─ workloads  ─ member-1 … member-N (the last one opted out)
 *                 └─ joined-K ─ accounts that join mid-run (one OU each, see `joinAccount`)
 *
 * Both OUs are the members StackSet's targets, so the central account forwards its own log
 * groups too, as it would under an org-wide target.
 */
import {
  CreateAccountCommand,
  CreateOrganizationalUnitCommand,
  CreateOrganizationCommand,
  DescribeOrganizationCommand,
  ListRootsCommand,
  MoveAccountCommand,
  OrganizationsClient,
  TagResourceCommand,
} from '@aws-sdk/client-organizations';
import {
  assumeInto,
  clientConfig,
  EmulatedAccount,
  MANAGEMENT_CREDENTIALS,
  MOTO_DEFAULT_ACCOUNT,
} from './aws';

export type AccountRole = 'management' | 'central' | 'member';

export interface OptOutTag {
  readonly key: string;
  readonly value: string;
}

export class EmulatedOrg {
  readonly accounts: (EmulatedAccount & { role: AccountRole })[] = [];
  private joined = 0;

  private constructor(
    readonly endpoint: string,
    readonly region: string,
    readonly client: OrganizationsClient,
    readonly organizationId: string,
    readonly rootId: string,
    readonly securityOu: string,
    readonly workloadsOu: string,
  ) {}

  static async create(endpoint: string, region: string): Promise<EmulatedOrg> {
    const client = new OrganizationsClient(
      clientConfig({ endpoint, region, credentials: MANAGEMENT_CREDENTIALS }),
    );
    await client.send(new CreateOrganizationCommand({ FeatureSet: 'ALL' }));
    const organizationId = (await client.send(new DescribeOrganizationCommand({}))).Organization?.Id ?? '';
    const rootId = (await client.send(new ListRootsCommand({}))).Roots?.[0]?.Id ?? '';
    const ou = async (name: string, parent = rootId) =>
      (await client.send(new CreateOrganizationalUnitCommand({ ParentId: parent, Name: name })))
        .OrganizationalUnit?.Id ?? '';
    const org = new EmulatedOrg(
      endpoint,
      region,
      client,
      organizationId,
      rootId,
      await ou('security'),
      await ou('workloads'),
    );
    org.accounts.push(
      Object.assign(
        new EmulatedAccount(MOTO_DEFAULT_ACCOUNT, 'management', MANAGEMENT_CREDENTIALS, endpoint),
        {
          role: 'management' as const,
        },
      ),
    );
    return org;
  }

  get management(): EmulatedAccount & { role: AccountRole } {
    return this.accounts[0] as EmulatedAccount & { role: AccountRole };
  }

  get central(): EmulatedAccount & { role: AccountRole } {
    const c = this.accounts.find((a) => a.role === 'central');
    if (!c) throw new Error('the central account is not created yet');
    return c;
  }

  /** Creates an account under `parentId` (CreateAccount lands it at the root; then MoveAccount). */
  async createAccount(
    name: string,
    role: AccountRole,
    parentId: string,
    tags: readonly OptOutTag[] = [],
  ): Promise<EmulatedAccount & { role: AccountRole }> {
    const account = await this.createAtRoot(name, role, tags);
    await this.move(account.id, parentId);
    return account;
  }

  /** CreateAccount: the account lands at the root. */
  private async createAtRoot(
    name: string,
    role: AccountRole,
    tags: readonly OptOutTag[] = [],
  ): Promise<EmulatedAccount & { role: AccountRole }> {
    const created = await this.client.send(
      new CreateAccountCommand({
        AccountName: name,
        Email: `${name}@example.com`,
        Tags: tags.map((t) => ({ Key: t.key, Value: t.value })),
      }),
    );
    const id = created.CreateAccountStatus?.AccountId;
    if (!id) throw new Error(`CreateAccount ${name} returned no account id`);
    const account = Object.assign(
      new EmulatedAccount(id, name, await assumeInto(this.endpoint, this.region, id), this.endpoint),
      { role },
    );
    this.accounts.push(account);
    return account;
  }

  /** MoveAccount from the root into `parentId`. */
  async move(accountId: string, parentId: string): Promise<void> {
    await this.client.send(
      new MoveAccountCommand({
        AccountId: accountId,
        SourceParentId: this.rootId,
        DestinationParentId: parentId,
      }),
    );
  }

  /**
   * An account joining mid-run: created at the root now; `ou` is an OU of its own under
   * workloads, where the caller moves it (`move`). moto deploys a service-managed StackSet to
   * every account of the OUs named, so a fresh OU lets the demo play auto-deployment for just
   * this account.
   */
  async joinAccount(name: string): Promise<{ account: EmulatedAccount & { role: AccountRole }; ou: string }> {
    this.joined += 1;
    const ou =
      (
        await this.client.send(
          new CreateOrganizationalUnitCommand({ ParentId: this.workloadsOu, Name: `joined-${this.joined}` }),
        )
      ).OrganizationalUnit?.Id ?? '';
    return { account: await this.createAtRoot(name, 'member'), ou };
  }

  async tag(accountId: string, tag: OptOutTag): Promise<void> {
    await this.client.send(
      new TagResourceCommand({ ResourceId: accountId, Tags: [{ Key: tag.key, Value: tag.value }] }),
    );
  }
}
