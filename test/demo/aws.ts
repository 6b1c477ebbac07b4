/**
 * The emulated accounts: credentials per account and SDK clients pointed at moto.
 *
 * moto serves many accounts from one endpoint. It picks the account of a request from the
 * MOTO_ACCOUNT_ID environment variable of the server, an `x-moto-account-id` header, or the
 * access key (moto/core/responses.py, get_current_account, moto 5.2); keys handed out by STS
 * AssumeRole belong to the account of the role. The demo does what an org admin does: it works
 * as the management account (moto's default account, 123456789012, with any key) and assumes
 * `OrganizationAccountAccessRole` into every other account, the role Organizations creates in
 * accounts it creates (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access.html).
 * moto does not check that the role exists or what it allows (no IAM evaluation).
 */
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** moto's default account: whoever calls with unknown keys is this account. */
export const MOTO_DEFAULT_ACCOUNT = '123456789012';
export const MANAGEMENT_CREDENTIALS: Credentials = {
  accessKeyId: 'testing',
  secretAccessKey: 'testing',
  sessionToken: 'testing',
};
export const ACCESS_ROLE_NAME = 'OrganizationAccountAccessRole';

/** The configuration every demo client shares: the endpoint, the region, the account's keys. */
export interface ClientTarget {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: Credentials;
}

/** Config for `new XxxClient(...)`: plain HTTP/1.1 (moto speaks no HTTP/2), path-style S3. */
export function clientConfig(t: ClientTarget) {
  return {
    endpoint: t.endpoint,
    region: t.region,
    credentials: t.credentials,
    requestHandler: new NodeHttpHandler({ requestTimeout: 30_000 }),
    forcePathStyle: true,
  };
}

export class EmulatedAccount {
  constructor(
    readonly id: string,
    readonly name: string,
    readonly credentials: Credentials,
    private readonly endpoint: string,
  ) {}

  target(region: string, endpoint = this.endpoint): ClientTarget {
    return { endpoint, region, credentials: this.credentials };
  }

  /** A client of this account in `region` (`new Ctor(config)`). */
  client<C>(Ctor: new (config: ReturnType<typeof clientConfig>) => C, region: string): C {
    return new Ctor(clientConfig(this.target(region)));
  }
}

/** AssumeRole from the management account into `accountId` (moto maps the keys to it). */
export async function assumeInto(endpoint: string, region: string, accountId: string): Promise<Credentials> {
  const sts = new STSClient(clientConfig({ endpoint, region, credentials: MANAGEMENT_CREDENTIALS }));
  const out = await sts.send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${accountId}:role/${ACCESS_ROLE_NAME}`,
      RoleSessionName: 'log-reflector-demo',
    }),
  );
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey)
    throw new Error(`AssumeRole into ${accountId} returned no credentials`);
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
}
