import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyOperations,
  desiredEnrollment,
  type InstanceState,
  type OrgAccount,
  type PlanInput,
  planEnrollment,
} from '../../shared/enrollment';

const OPT_OUT = { key: 'log-reflector:opt-out', value: 'true' };
const MANAGEMENT = '999999999999';
const POOL = ['100000000001', '100000000002', '100000000003', '100000000004', '100000000005', MANAGEMENT];
const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2'];

const tagsArb = fc.option(
  fc.oneof(
    fc.constant({}),
    fc.record({ [OPT_OUT.key]: fc.constantFrom('true', 'false', 'True', '') }),
    fc.record({ [OPT_OUT.key]: fc.constant('true'), team: fc.constantFrom('a', 'b') }),
    fc.record({ team: fc.constantFrom('a', 'b') }),
  ),
  { nil: undefined, freq: 20 },
);

const accountArb = (id: string) =>
  fc.record({
    id: fc.constant(id),
    state: fc.constantFrom('ACTIVE', 'ACTIVE', 'ACTIVE', 'ACTIVE', 'ACTIVE', 'SUSPENDED', 'PENDING_CLOSURE'),
    tags: tagsArb,
  }) as fc.Arbitrary<OrgAccount>;

const overridesArb = fc.option(
  fc.oneof(
    fc.constant({}),
    fc.record({ Enrollment: fc.constantFrom('enabled', 'disabled', 'bogus') }),
    fc.record({ Enrollment: fc.constantFrom('enabled', 'disabled'), Team: fc.constantFrom('a', 'b') }),
    fc.record({ Team: fc.constantFrom('a', 'b') }),
  ),
  { nil: undefined, freq: 20 },
);

const instanceArb = (account: string, region: string) =>
  fc.record({
    account: fc.constant(account),
    region: fc.constant(region),
    status: fc.constantFrom('CURRENT', 'CURRENT', 'CURRENT', 'OUTDATED', 'INOPERABLE'),
    detailedStatus: fc.constantFrom(
      'SUCCEEDED',
      'SUCCEEDED',
      'SUCCEEDED',
      'SUCCEEDED',
      'SUCCEEDED',
      'SUCCEEDED',
      'FAILED',
      'RUNNING',
      'PENDING',
      'SKIPPED_SUSPENDED_ACCOUNT',
      undefined,
    ),
    overrides: overridesArb,
  }) as fc.Arbitrary<InstanceState>;

const inputArb: fc.Arbitrary<PlanInput> = fc
  .record({
    inScope: fc.subarray(POOL, { minLength: 3 }),
    withInstances: fc.subarray(POOL, { minLength: 4 }),
    regionsPerAccount: fc.array(fc.subarray(REGIONS, { minLength: 1 }), {
      minLength: POOL.length,
      maxLength: POOL.length,
    }),
    stackSetEnrollment: fc.constantFrom('enabled', 'disabled'),
    maxAccountsPerOperation: fc.integer({ min: 1, max: 4 }),
    seed: fc.integer(),
  })
  .chain((shape) =>
    fc.record({
      accounts: fc.tuple(...shape.inScope.map(accountArb)),
      instances: fc.tuple(
        ...shape.withInstances.flatMap((account) =>
          (shape.regionsPerAccount[POOL.indexOf(account)] ?? []).map((region) =>
            instanceArb(account, region),
          ),
        ),
      ),
      stackSetEnrollment: fc.constant(shape.stackSetEnrollment),
      optOut: fc.constant(OPT_OUT),
      managementAccountId: fc.constant(MANAGEMENT),
      regionOrder: fc.constant(REGIONS),
      maxAccountsPerOperation: fc.constant(shape.maxAccountsPerOperation),
    }),
  );

/** The state after a successful run: every planned write landed, and the instances settled. */
function reconciled(input: PlanInput): PlanInput {
  return { ...input, instances: applyOperations(input.instances, planEnrollment(input).operations) };
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const copy = [...items];
  let s = seed >>> 0 || 1;
  for (let i = copy.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) >>> 0;
    const j = s % (i + 1);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

describe('planEnrollment properties', () => {
  it('is idempotent: apply the plan, plan again → nothing to do', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        expect(planEnrollment(reconciled(input)).operations).toStrictEqual([]);
      }),
    );
  });

  it('never flips an account without a tag change (order and other overrides do not matter)', () => {
    fc.assert(
      fc.property(inputArb, fc.integer(), fc.constantFrom('a', 'b'), (input, seed, team) => {
        const settled = reconciled(input);
        const perturbed: PlanInput = {
          ...settled,
          accounts: shuffled(settled.accounts, seed),
          instances: shuffled(
            settled.instances.map((i) =>
              i.overrides ? { ...i, overrides: { ...i.overrides, Team: team } } : i,
            ),
            seed + 1,
          ),
        };
        expect(planEnrollment(perturbed).operations).toStrictEqual([]);
      }),
    );
  });

  it('writes only the tag-derived value, only to active in-scope member accounts with settled instances', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const plan = planEnrollment(input);
        const byId = new Map(input.accounts.map((a) => [a.id, a]));
        const seen = new Set<string>();
        for (const op of plan.operations) {
          expect(op.accounts.length).toBeGreaterThan(0);
          expect(op.accounts.length).toBeLessThanOrEqual(input.maxAccountsPerOperation ?? 500);
          for (const id of op.accounts) {
            const account = byId.get(id);
            expect(account).toBeDefined();
            expect(id).not.toBe(MANAGEMENT);
            expect(account?.state).toBe('ACTIVE');
            expect(account?.tags).toBeDefined();
            expect(op.enrollment).toBe(desiredEnrollment(account?.tags ?? {}, OPT_OUT));
            const own = input.instances.filter((i) => i.account === id);
            expect(own.some((i) => i.detailedStatus === 'RUNNING' || i.detailedStatus === 'PENDING')).toBe(
              false,
            );
            for (const region of op.regions) {
              const key = `${id}/${region}`;
              expect(seen.has(key)).toBe(false);
              seen.add(key);
              const instance = own.find((i) => i.region === region);
              expect(instance?.status).not.toBe('INOPERABLE');
              expect(instance?.detailedStatus).not.toBe('SKIPPED_SUSPENDED_ACCOUNT');
            }
          }
        }
      }),
    );
  });

  it('is deterministic: input order does not change the plan', () => {
    fc.assert(
      fc.property(inputArb, fc.integer(), (input, seed) => {
        const reordered = {
          ...input,
          accounts: shuffled(input.accounts, seed),
          instances: shuffled(input.instances, seed + 7),
        };
        expect(planEnrollment(reordered)).toStrictEqual(planEnrollment(input));
      }),
    );
  });

  it('a tag change on one account writes that account only', () => {
    fc.assert(
      fc.property(inputArb, fc.nat(), (input, pick) => {
        const settled = reconciled(input);
        const candidates = settled.accounts.filter((a) => a.tags !== undefined);
        fc.pre(candidates.length > 0);
        const target = candidates[pick % candidates.length] as OrgAccount;
        const flipped =
          desiredEnrollment(target.tags ?? {}, OPT_OUT) === 'disabled' ? {} : { [OPT_OUT.key]: 'true' };
        const changed = {
          ...settled,
          accounts: settled.accounts.map((a) => (a.id === target.id ? { ...a, tags: flipped } : a)),
        };
        const written = new Set(planEnrollment(changed).operations.flatMap((op) => op.accounts));
        expect([...written].every((id) => id === target.id)).toBe(true);
      }),
    );
  });
});
