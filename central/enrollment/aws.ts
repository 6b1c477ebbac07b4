/**
 * The reconciler's two ports, Organizations (read only) and CloudFormation StackSets, and
 * their AWS SDK implementations. Everything the reconciler does to AWS goes through these
 * objects, so tests swap one method (e.g. `readOverrides`, which moto does not emulate for
 * service-managed StackSets) and keep the rest talking to moto.
 *
 * Every CloudFormation call carries `CallAs` (SELF from the management account,
 * DELEGATED_ADMIN from a delegated administrator). Clients use the SDK's adaptive retry: the
 * Organizations and CloudFormation control planes throttle per account
 * (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html).
 */
import {
  CloudFormationClient,
  DescribeStackInstanceCommand,
  DescribeStackSetCommand,
  DescribeStackSetOperationCommand,
  ListStackInstancesCommand,
  ListStackSetOperationResultsCommand,
  ListStackSetOperationsCommand,
  type Parameter,
  type StackSetOperationPreferences,
  UpdateStackInstancesCommand,
  type UpdateStackInstancesCommandInput,
} from '@aws-sdk/client-cloudformation';
import {
  type Account,
  DescribeAccountCommand,
  ListAccountsForParentCommand,
  ListOrganizationalUnitsForParentCommand,
  ListTagsForResourceCommand,
  OrganizationsClient,
} from '@aws-sdk/client-organizations';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  ENROLLED_LIST_KEY,
  ENROLLMENT_PARAMETER_KEY,
  type EnrolledList,
  type UpdateOperation,
} from '../../shared/enrollment';
import type { CallAs } from './env';
import {
  decodeState,
  emptyState,
  encodeState,
  STATE_KEY,
  StateConflictError,
  type StateStore,
} from './state';

/** An account as listed by Organizations, before its tags are read. */
export interface OrgAccountSummary {
  readonly id: string;
  readonly name?: string | undefined;
  /** `State`, falling back to `Status` (retired 2026-09-09, per the Organizations API reference). */
  readonly state: string;
}

export interface OrganizationsPort {
  /** Every account under these roots/OUs, recursing into child OUs; each account once. */
  listAccounts(parentIds: readonly string[]): Promise<OrgAccountSummary[]>;
  describeAccount(accountId: string): Promise<OrgAccountSummary>;
  listTags(accountId: string): Promise<Record<string, string>>;
}

export type PermissionModel = 'SERVICE_MANAGED' | 'SELF_MANAGED';

export interface StackSetInfo {
  readonly name: string;
  readonly permissionModel: PermissionModel;
  readonly status: string;
  /** The StackSet's own parameter values (what an instance without an override runs with). */
  readonly parameters: Readonly<Record<string, string>>;
}

export interface InstanceSummary {
  readonly account: string;
  readonly region: string;
  readonly status: string;
  readonly detailedStatus?: string | undefined;
  /** The last StackSet operation on this instance (StackInstanceSummary.LastOperationId). */
  readonly lastOperationId?: string | undefined;
}

/** Narrows ListStackInstances: one account, one region, or one detailed status. */
export interface InstanceFilter {
  readonly account?: string;
  readonly region?: string;
  readonly detailedStatus?: string;
}

export interface OperationSummary {
  readonly operationId: string;
  readonly action: string;
  readonly status: string;
}

export interface OperationFailure {
  readonly account: string;
  readonly region: string;
  readonly reason: string;
}

export interface UpdateRequest {
  readonly stackSetName: string;
  readonly callAs: CallAs;
  readonly permissionModel: PermissionModel;
  readonly operation: UpdateOperation;
  readonly regionOrder: readonly string[];
}

export interface StackSetPort {
  describeStackSet(name: string, callAs: CallAs): Promise<StackSetInfo>;
  /**
   * Every instance matching `filter`. Pages until done, or until `stop()` says the deadline is
   * near: then what was read so far comes back with `complete: false` on the array.
   */
  listInstances(
    name: string,
    callAs: CallAs,
    filter?: InstanceFilter,
    stop?: () => boolean,
  ): Promise<InstanceSummary[] & { complete?: boolean }>;
  /**
   * The instance's parameter overrides (DescribeStackInstance `ParameterOverrides`; the
   * ListStackInstances summaries do not carry them).
   */
  readOverrides(
    name: string,
    callAs: CallAs,
    account: string,
    region: string,
  ): Promise<Record<string, string>>;
  /** The most recent operations (first page, newest first). */
  listOperations(name: string, callAs: CallAs): Promise<OperationSummary[]>;
  /** Starts one UpdateStackInstances operation; returns its id. */
  updateInstances(request: UpdateRequest): Promise<string>;
  operationStatus(name: string, callAs: CallAs, operationId: string): Promise<string>;
  failedResults(name: string, callAs: CallAs, operationId: string): Promise<OperationFailure[]>;
}

/** Retry settings for both clients: adaptive mode backs off on throttling across calls. */
export const CLIENT_RETRY = { maxAttempts: 8, retryMode: 'adaptive' } as const;

function accountSummary(account: Account): OrgAccountSummary {
  return {
    id: account.Id ?? '',
    name: account.Name,
    state: account.State ?? account.Status ?? 'UNKNOWN',
  };
}

export function awsOrganizations(client: OrganizationsClient): OrganizationsPort {
  async function childOus(parentId: string): Promise<string[]> {
    const ids: string[] = [];
    let NextToken: string | undefined;
    do {
      // MaxResults ≤ 20 for the Organizations list calls (API reference).
      const page = await client.send(
        new ListOrganizationalUnitsForParentCommand({ ParentId: parentId, NextToken, MaxResults: 20 }),
      );
      for (const ou of page.OrganizationalUnits ?? []) if (ou.Id) ids.push(ou.Id);
      NextToken = page.NextToken;
    } while (NextToken);
    return ids;
  }

  async function accountsOf(parentId: string): Promise<OrgAccountSummary[]> {
    const accounts: OrgAccountSummary[] = [];
    let NextToken: string | undefined;
    do {
      const page = await client.send(
        new ListAccountsForParentCommand({ ParentId: parentId, NextToken, MaxResults: 20 }),
      );
      for (const a of page.Accounts ?? []) if (a.Id) accounts.push(accountSummary(a));
      NextToken = page.NextToken;
    } while (NextToken);
    return accounts;
  }

  return {
    async listAccounts(parentIds) {
      const seenParents = new Set<string>();
      const byId = new Map<string, OrgAccountSummary>();
      const queue = [...parentIds];
      while (queue.length > 0) {
        const parent = queue.shift() as string;
        if (seenParents.has(parent)) continue; // a target OU nested under another target
        seenParents.add(parent);
        for (const account of await accountsOf(parent)) byId.set(account.id, account);
        queue.push(...(await childOus(parent)));
      }
      return [...byId.values()];
    },
    async describeAccount(accountId) {
      const out = await client.send(new DescribeAccountCommand({ AccountId: accountId }));
      return accountSummary(out.Account ?? { Id: accountId });
    },
    async listTags(accountId) {
      const tags: Record<string, string> = {};
      let NextToken: string | undefined;
      do {
        const page = await client.send(new ListTagsForResourceCommand({ ResourceId: accountId, NextToken }));
        for (const t of page.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
        NextToken = page.NextToken;
      } while (NextToken);
      return tags;
    },
  };
}

function parameterMap(parameters: readonly Parameter[] | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const p of parameters ?? []) {
    if (p.ParameterKey !== undefined) map[p.ParameterKey] = p.ParameterValue ?? '';
  }
  return map;
}

/**
 * How each operation runs. All regions at once and every account at once: each instance
 * update is a small parameter change in its own account, and one failing account must not stop
 * the others (they are retried on a later run only if their override did not land).
 * SOFT_FAILURE_TOLERANCE keeps the concurrency up despite failures
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperationPreferences.html).
 */
export function operationPreferences(regionOrder: readonly string[]): StackSetOperationPreferences {
  return {
    RegionConcurrencyType: 'PARALLEL',
    RegionOrder: [...regionOrder],
    FailureTolerancePercentage: 100,
    MaxConcurrentPercentage: 100,
    ConcurrencyMode: 'SOFT_FAILURE_TOLERANCE',
  };
}

/** The UpdateStackInstances request for one planned operation (exported for tests and the CLI). */
export function updateStackInstancesInput(request: UpdateRequest): UpdateStackInstancesCommandInput {
  const { operation } = request;
  const overrides: Parameter[] = [
    { ParameterKey: ENROLLMENT_PARAMETER_KEY, ParameterValue: operation.enrollment },
    // Left out, an existing override would be reset to the StackSet's value.
    ...operation.preservedKeys.map((key) => ({ ParameterKey: key, UsePreviousValue: true })),
  ];
  const regionOrder = request.regionOrder.filter((r) => operation.regions.includes(r));
  return {
    StackSetName: request.stackSetName,
    CallAs: request.callAs,
    // Service-managed StackSets take accounts through DeploymentTargets ("for update
    // operations, you can specify either Accounts or OrganizationalUnitIds",
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html);
    // self-managed ones through Accounts. Never both.
    ...(request.permissionModel === 'SERVICE_MANAGED'
      ? { DeploymentTargets: { Accounts: [...operation.accounts] } }
      : { Accounts: [...operation.accounts] }),
    Regions: [...operation.regions],
    ParameterOverrides: overrides,
    OperationPreferences: operationPreferences(regionOrder.length > 0 ? regionOrder : operation.regions),
    // OperationId is left to the SDK: it is an idempotency token the SDK fills once per call
    // and reuses on its own retries.
  };
}

export function awsStackSets(client: CloudFormationClient): StackSetPort {
  return {
    async describeStackSet(name, callAs) {
      const out = await client.send(new DescribeStackSetCommand({ StackSetName: name, CallAs: callAs }));
      const set = out.StackSet;
      return {
        name: set?.StackSetName ?? name,
        permissionModel: set?.PermissionModel === 'SERVICE_MANAGED' ? 'SERVICE_MANAGED' : 'SELF_MANAGED',
        status: set?.Status ?? 'UNKNOWN',
        parameters: parameterMap(set?.Parameters),
      };
    },
    async listInstances(name, callAs, filter = {}, stop = () => false) {
      const instances: InstanceSummary[] & { complete?: boolean } = [];
      let NextToken: string | undefined;
      do {
        if (instances.length > 0 && stop()) {
          instances.complete = false;
          return instances;
        }
        // MaxResults ≤ 100; StackInstanceAccount/StackInstanceRegion and a DETAILED_STATUS filter
        // narrow the listing (ListStackInstances API reference).
        const page = await client.send(
          new ListStackInstancesCommand({
            StackSetName: name,
            CallAs: callAs,
            NextToken,
            MaxResults: 100,
            ...(filter.account ? { StackInstanceAccount: filter.account } : {}),
            ...(filter.region ? { StackInstanceRegion: filter.region } : {}),
            ...(filter.detailedStatus
              ? { Filters: [{ Name: 'DETAILED_STATUS', Values: filter.detailedStatus }] }
              : {}),
          }),
        );
        for (const s of page.Summaries ?? []) {
          if (s.Account === undefined || s.Region === undefined) continue;
          instances.push({
            account: s.Account,
            region: s.Region,
            status: s.Status ?? 'UNKNOWN',
            detailedStatus: s.StackInstanceStatus?.DetailedStatus,
            lastOperationId: s.LastOperationId,
          });
        }
        NextToken = page.NextToken;
      } while (NextToken);
      return instances;
    },
    async readOverrides(name, callAs, account, region) {
      const out = await client.send(
        new DescribeStackInstanceCommand({
          StackSetName: name,
          CallAs: callAs,
          StackInstanceAccount: account,
          StackInstanceRegion: region,
        }),
      );
      return parameterMap(out.StackInstance?.ParameterOverrides);
    },
    async listOperations(name, callAs) {
      const out = await client.send(
        new ListStackSetOperationsCommand({ StackSetName: name, CallAs: callAs, MaxResults: 100 }),
      );
      return (out.Summaries ?? []).map((s) => ({
        operationId: s.OperationId ?? '',
        action: s.Action ?? 'UNKNOWN',
        status: s.Status ?? 'UNKNOWN',
      }));
    },
    async updateInstances(request) {
      const out = await client.send(new UpdateStackInstancesCommand(updateStackInstancesInput(request)));
      return out.OperationId ?? '';
    },
    async operationStatus(name, callAs, operationId) {
      const out = await client.send(
        new DescribeStackSetOperationCommand({
          StackSetName: name,
          CallAs: callAs,
          OperationId: operationId,
        }),
      );
      return out.StackSetOperation?.Status ?? 'UNKNOWN';
    },
    async failedResults(name, callAs, operationId) {
      const failures: OperationFailure[] = [];
      let NextToken: string | undefined;
      do {
        const page = await client.send(
          new ListStackSetOperationResultsCommand({
            StackSetName: name,
            CallAs: callAs,
            OperationId: operationId,
            NextToken,
            MaxResults: 100,
            Filters: [{ Name: 'OPERATION_RESULT_STATUS', Values: 'FAILED' }],
          }),
        );
        for (const r of page.Summaries ?? []) {
          if (r.Status !== 'FAILED') continue;
          failures.push({
            account: r.Account ?? '',
            region: r.Region ?? '',
            reason: r.StatusReason ?? '',
          });
        }
        NextToken = page.NextToken;
      } while (NextToken);
      return failures;
    },
  };
}

/** Clients as the Lambda and the CLI build them (the SDK honours AWS_ENDPOINT_URL). */
export function defaultClients(region?: string): {
  organizations: OrganizationsClient;
  cloudFormation: CloudFormationClient;
  s3: S3Client;
} {
  return {
    organizations: new OrganizationsClient({ ...CLIENT_RETRY, region }),
    cloudFormation: new CloudFormationClient({ ...CLIENT_RETRY, region }),
    // Path-style only against a local endpoint (tests: moto); deployed functions never set it.
    s3: new S3Client({ ...CLIENT_RETRY, region, forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL) }),
  };
}

/**
 * The reconciler's memory in its own bucket (central/enrollment/state.ts). Writes are
 * conditional on the ETag read (If-Match; If-None-Match: * for the first one), so two runs
 * can never both think they wrote last
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
 */
export function s3StateStore(client: S3Client, bucket: string, key = STATE_KEY): StateStore {
  return {
    async load() {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const body = await out.Body?.transformToByteArray();
        return { state: decodeState(body ?? new Uint8Array(), `s3://${bucket}/${key}`), etag: out.ETag };
      } catch (err) {
        if ((err as Error).name === 'NoSuchKey') return { state: emptyState(), etag: undefined };
        throw err;
      }
    },
    async save(state, etag) {
      try {
        const out = await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: encodeState(state),
            ContentType: 'application/json',
            ContentEncoding: 'gzip',
            ...(etag === undefined ? { IfNoneMatch: '*' } : { IfMatch: etag }),
          }),
        );
        return out.ETag ?? '';
      } catch (err) {
        const name = (err as Error).name;
        // 412: someone wrote since our read; 409: a concurrent conditional write won.
        if (name === 'PreconditionFailed' || name === 'ConditionalRequestConflict') {
          throw new StateConflictError(`s3://${bucket}/${key} changed since this run read it`, {
            cause: err,
          });
        }
        throw err;
      }
    },
  };
}

/** Writes the enrolled-accounts document (shared/enrollment.ts) where the reflector reads it. */
export interface EnrolledPublisher {
  publish(list: EnrolledList): Promise<void>;
}

/**
 * PutObject into the central state bucket, cross-account: the bucket policy admits this
 * function's role for `enrollment/accounts.json` only, and the bucket owner owns the object
 * (BucketOwnerEnforced, https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html).
 */
export function s3EnrolledPublisher(client: S3Client, bucket: string): EnrolledPublisher {
  return {
    async publish(list) {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: ENROLLED_LIST_KEY,
          Body: JSON.stringify(list),
          ContentType: 'application/json',
        }),
      );
    },
  };
}
