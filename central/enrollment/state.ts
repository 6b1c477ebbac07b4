/**
 * What the reconciler remembers between runs (issue 15.1): one gzip'd JSON object in the
 * reconciler's state bucket in the management account (`enrollment/state.json.gz`, SSE-KMS,
 * TLS only, only this function's role may read or write it).
 *
 * Remembered: each account's opt-out tag and when it was read, and each stack instance's
 * status, last operation and the `Enrollment` value it runs with as far as the reconciler
 * knows it (from its own operations, or from the one DescribeStackInstance it spent on it);
 * the StackSet operations it has seen (id → action) and the ones it started and has not seen
 * end. So a run re-reads only what may have changed instead of every account and instance.
 *
 * Overlapping runs are harmless: every write is conditional on the ETag the run read (S3
 * conditional writes, https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html),
 * and a run only acts while it holds the lease recorded in the same object. A second run waits
 * for the lease (or gives up at its deadline); it never acts on a stale read.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { LogReflectorError, TransientError } from '../../shared/errors';
import type { Enrollment } from '../../shared/naming';
import * as z from '../../shared/zod';

export const STATE_KEY = 'enrollment/state.json.gz';

const InstanceMemorySchema = z.object({
  status: z.string(),
  detailed: z.optional(z.string()),
  lastOp: z.optional(z.string()),
  /** The Enrollment value this instance runs with (its override, else the StackSet's), if known. */
  enrollment: z.optional(z.string()),
  /** Other parameter keys overridden on it (kept with UsePreviousValue), if known. */
  otherKeys: z.optional(z.array(z.string())),
  /** When its overrides were last read with DescribeStackInstance. */
  verifiedAt: z.optional(z.number()),
  /** Consecutive failed re-sends of the override, and when the next one may go out. */
  attempts: z.optional(z.number()),
  retryAt: z.optional(z.number()),
  failedSince: z.optional(z.number()),
});
export type InstanceMemory = z.infer<typeof InstanceMemorySchema>;

const AccountMemorySchema = z.object({
  name: z.optional(z.string()),
  state: z.string(),
  /** The opt-out tag's value; null when absent; undefined when never read. */
  tag: z.optional(z.nullable(z.string())),
  tagsReadAt: z.optional(z.number()),
  /** When its instances were last listed (per account, or as part of a region listing). */
  instancesReadAt: z.optional(z.number()),
  instances: z.record(z.string(), InstanceMemorySchema),
});
export type AccountMemory = z.infer<typeof AccountMemorySchema>;

const OperationMemorySchema = z.object({
  action: z.string(),
  status: z.string(),
  /** Started by the reconciler: what it set, where. */
  ours: z.boolean(),
  enrollment: z.optional(z.string()),
  accounts: z.optional(z.array(z.string())),
  regions: z.optional(z.array(z.string())),
  otherKeys: z.optional(z.array(z.string())),
  startedAt: z.optional(z.number()),
  /** Ours, ended, and its results applied to the instances. */
  settled: z.optional(z.boolean()),
});
export type OperationMemory = z.infer<typeof OperationMemorySchema>;

const StackSetMemorySchema = z.object({
  /** Accounts under the target OUs at the last complete walk (and their instances). */
  accounts: z.record(z.string(), AccountMemorySchema),
  operations: z.record(z.string(), OperationMemorySchema),
  /** Per region: when every instance in it was last listed. */
  regionsListedAt: z.record(z.string(), z.number()),
  walkedAt: z.optional(z.number()),
  /** The last listing by region was cut short: list by account until nothing is due. */
  regionPassCut: z.optional(z.boolean()),
});
export type StackSetMemory = z.infer<typeof StackSetMemorySchema>;

export const ReconcilerStateSchema = z.object({
  version: z.literal(1),
  generation: z.number(),
  updatedAt: z.number(),
  lease: z.optional(z.object({ owner: z.string(), expiresAt: z.number() })),
  stackSets: z.record(z.string(), StackSetMemorySchema),
  /** The last enrolled list published to the central account. */
  published: z.optional(z.object({ generation: z.number(), at: z.number(), accounts: z.array(z.string()) })),
});
export type ReconcilerState = z.infer<typeof ReconcilerStateSchema>;

export function emptyState(): ReconcilerState {
  return { version: 1, generation: 0, updatedAt: 0, stackSets: {} };
}

export function emptyStackSetMemory(): StackSetMemory {
  return { accounts: {}, operations: {}, regionsListedAt: {} };
}

/** The state object changed since this run read it: another run holds or took the lease. Retryable. */
export class StateConflictError extends TransientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateConflictError';
  }
}

/** Another run holds the lease until `expiresAt`; this one did nothing. Retryable. */
export class LeaseHeldError extends TransientError {
  constructor(
    readonly owner: string,
    readonly expiresAt: number,
  ) {
    super(`another reconcile run (${owner}) holds the lease until ${new Date(expiresAt).toISOString()}`);
    this.name = 'LeaseHeldError';
  }
}

export interface StoredState {
  readonly state: ReconcilerState;
  /** Opaque version for the conditional write; undefined when nothing is stored yet. */
  readonly etag: string | undefined;
}

/** Where the state lives. `save` is conditional: it throws StateConflictError when `etag` is stale. */
export interface StateStore {
  load(): Promise<StoredState>;
  save(state: ReconcilerState, etag: string | undefined): Promise<string>;
}

export function encodeState(state: ReconcilerState): Buffer {
  return gzipSync(JSON.stringify(state));
}

export function decodeState(body: Uint8Array, where: string): ReconcilerState {
  let json: unknown;
  try {
    json = JSON.parse(gunzipSync(body).toString('utf8'));
  } catch (err) {
    throw new LogReflectorError(`reconciler state ${where} is not gzip'd JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const parsed = ReconcilerStateSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LogReflectorError(
      `reconciler state ${where} is not a version-1 state at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

/** A store in memory: the CLI without --state-bucket, and the tests. Conditional like S3. */
export function memoryStateStore(
  initial?: ReconcilerState,
): StateStore & { peek(): ReconcilerState | undefined } {
  let body: Buffer | undefined = initial ? encodeState(initial) : undefined;
  let version = initial ? 1 : 0;
  return {
    async load() {
      return body
        ? { state: decodeState(body, '(memory)'), etag: String(version) }
        : { state: emptyState(), etag: undefined };
    },
    async save(state, etag) {
      const current = body ? String(version) : undefined;
      if (etag !== current) throw new StateConflictError(`state changed (etag ${etag}, now ${current})`);
      body = encodeState(state);
      version += 1;
      return String(version);
    },
    peek() {
      return body ? decodeState(body, '(memory)') : undefined;
    },
  };
}

/** How long a lease outlives the holder's deadline: a crashed run frees the lease after this. */
export const LEASE_SLACK_MS = 60_000;

export function leaseFree(state: ReconcilerState, owner: string, now: number): boolean {
  return state.lease === undefined || state.lease.owner === owner || state.lease.expiresAt <= now;
}

/** Records `enrollment` as what an instance now runs with, after an operation of ours landed. */
export function landed(
  instance: InstanceMemory,
  enrollment: Enrollment,
  operationId: string,
  otherKeys: readonly string[] | undefined,
): InstanceMemory {
  return {
    status: 'CURRENT',
    detailed: 'SUCCEEDED',
    lastOp: operationId,
    enrollment,
    ...(otherKeys
      ? { otherKeys: [...otherKeys] }
      : instance.otherKeys
        ? { otherKeys: instance.otherKeys }
        : {}),
    ...(instance.verifiedAt !== undefined ? { verifiedAt: instance.verifiedAt } : {}),
  };
}
