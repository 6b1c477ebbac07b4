import { describe, expect, it } from 'vitest';
import {
  applyOperations,
  desiredEnrollment,
  effectiveEnrollment,
  type InstanceState,
  instancesToRead,
  nextRetryAt,
  type OrgAccount,
  type PlanInput,
  planEnrollment,
  RETRY_BASE_MS,
  RETRY_CAP_MS,
} from '../../shared/enrollment';
import { DEFAULT_OPT_OUT_TAG_KEY, DEFAULT_OPT_OUT_TAG_VALUE } from '../../shared/naming';

const OPT_OUT = { key: DEFAULT_OPT_OUT_TAG_KEY, value: DEFAULT_OPT_OUT_TAG_VALUE };
const MANAGEMENT = '999999999999';
const REGIONS = ['us-east-1', 'eu-west-1'];

function account(id: string, tags: Record<string, string> | undefined = {}, state = 'ACTIVE'): OrgAccount {
  return { id, name: `acct-${id}`, state, tags };
}

function optedOut(id: string): OrgAccount {
  return account(id, { [OPT_OUT.key]: OPT_OUT.value });
}

function instances(
  id: string,
  overrides: Record<string, string> | undefined = {},
  extra: Partial<InstanceState> = {},
  regions = REGIONS,
): InstanceState[] {
  return regions.map((region) => ({
    account: id,
    region,
    status: 'CURRENT',
    detailedStatus: 'SUCCEEDED',
    overrides,
    ...extra,
  }));
}

function input(accounts: OrgAccount[], all: InstanceState[], extra: Partial<PlanInput> = {}): PlanInput {
  return {
    accounts,
    instances: all,
    stackSetEnrollment: 'enabled',
    optOut: OPT_OUT,
    managementAccountId: MANAGEMENT,
    regionOrder: REGIONS,
    ...extra,
  };
}

describe('desiredEnrollment', () => {
  it('is disabled only for the exact key and value', () => {
    expect(desiredEnrollment({ [OPT_OUT.key]: 'true' }, OPT_OUT)).toBe('disabled');
    expect(desiredEnrollment({ [OPT_OUT.key]: 'True' }, OPT_OUT)).toBe('enabled');
    expect(desiredEnrollment({ [OPT_OUT.key]: 'false' }, OPT_OUT)).toBe('enabled');
    expect(desiredEnrollment({ other: 'true' }, OPT_OUT)).toBe('enabled');
    expect(desiredEnrollment({}, OPT_OUT)).toBe('enabled');
  });

  it('does not read inherited properties as tags', () => {
    expect(desiredEnrollment({}, { key: 'toString', value: 'true' })).toBe('enabled');
  });
});

describe('effectiveEnrollment', () => {
  const base = { account: '111111111111', region: 'us-east-1', status: 'CURRENT' };
  it('prefers the override, else the StackSet value, else unknown', () => {
    expect(effectiveEnrollment({ ...base, overrides: { Enrollment: 'disabled' } }, 'enabled')).toBe(
      'disabled',
    );
    expect(effectiveEnrollment({ ...base, overrides: { Other: 'x' } }, 'enabled')).toBe('enabled');
    expect(effectiveEnrollment({ ...base, overrides: undefined }, 'enabled')).toBeUndefined();
  });
});

describe('planEnrollment', () => {
  it('disables a newly tagged account in every region, keeping other overrides', () => {
    const plan = planEnrollment(input([optedOut('111111111111')], instances('111111111111', { Team: 'a' })));
    expect(plan.operations).toStrictEqual([
      {
        enrollment: 'disabled',
        accounts: ['111111111111'],
        regions: ['us-east-1', 'eu-west-1'],
        preservedKeys: ['Team'],
      },
    ]);
    expect(plan.decisions).toStrictEqual([
      {
        account: '111111111111',
        name: 'acct-111111111111',
        tag: 'true',
        desired: 'disabled',
        current: 'enabled',
        action: 'disable',
        regions: ['us-east-1', 'eu-west-1'],
        reason: 'opt-out tag set: set Enrollment=disabled in 2 region(s)',
      },
    ]);
  });

  it('re-enables an account whose tag was removed', () => {
    const plan = planEnrollment(
      input([account('111111111111')], instances('111111111111', { Enrollment: 'disabled' })),
    );
    expect(plan.operations).toStrictEqual([
      {
        enrollment: 'enabled',
        accounts: ['111111111111'],
        regions: ['us-east-1', 'eu-west-1'],
        preservedKeys: [],
      },
    ]);
    expect(plan.decisions[0]?.action).toBe('enable');
    expect(plan.decisions[0]?.reason).toBe('no opt-out tag: set Enrollment=enabled in 2 region(s)');
  });

  it('writes nothing when every account already matches its tag', () => {
    const plan = planEnrollment(
      input(
        [optedOut('111111111111'), account('222222222222')],
        [...instances('111111111111', { Enrollment: 'disabled' }), ...instances('222222222222', {})],
      ),
    );
    expect(plan.operations).toStrictEqual([]);
    expect(plan.decisions.map((d) => [d.account, d.action, d.current])).toStrictEqual([
      ['111111111111', 'none', 'disabled'],
      ['222222222222', 'none', 'enabled'],
    ]);
  });

  it('waits for an account with no instances yet, or one still deploying', () => {
    const plan = planEnrollment(
      input(
        [optedOut('111111111111'), optedOut('222222222222')],
        instances('222222222222', {}, { status: 'OUTDATED', detailedStatus: 'RUNNING' }),
      ),
    );
    expect(plan.operations).toStrictEqual([]);
    expect(plan.decisions.map((d) => [d.account, d.action, d.reason])).toStrictEqual([
      ['111111111111', 'wait', 'no stack instances yet (auto-deployment pending)'],
      ['222222222222', 'wait', '2 stack instance(s) RUNNING: an operation is under way'],
    ]);
  });

  it('waits when tags or overrides were not read this run', () => {
    const plan = planEnrollment(
      input(
        [{ ...account('111111111111'), tags: undefined }, optedOut('222222222222')],
        [
          ...instances('111111111111', {}),
          ...instances('222222222222').map((i) => ({ ...i, overrides: undefined })),
        ],
      ),
    );
    expect(plan.operations).toStrictEqual([]);
    expect(plan.decisions.map((d) => [d.action, d.desired, d.reason])).toStrictEqual([
      ['wait', undefined, 'tags not read this run'],
      ['wait', 'disabled', 'parameter overrides not read this run'],
    ]);
  });

  it('never writes to suspended or closing accounts', () => {
    const accounts = [
      { ...optedOut('111111111111'), state: 'SUSPENDED' },
      { ...optedOut('222222222222'), state: 'PENDING_CLOSURE' },
      { ...optedOut('333333333333'), state: 'CLOSED' },
    ];
    const plan = planEnrollment(
      input(accounts, [
        ...instances('111111111111', {}),
        ...instances('222222222222', {}),
        ...instances('333333333333', {}),
      ]),
    );
    expect(plan.operations).toStrictEqual([]);
    expect(plan.decisions.map((d) => [d.action, d.reason])).toStrictEqual([
      ['skip', 'account is SUSPENDED: StackSets cannot update it, left as it is'],
      ['skip', 'account is PENDING_CLOSURE: StackSets cannot update it, left as it is'],
      ['skip', 'account is CLOSED: StackSets cannot update it, left as it is'],
    ]);
  });

  it('never writes the management account through the members StackSet', () => {
    const plan = planEnrollment(input([optedOut(MANAGEMENT)], instances(MANAGEMENT, {})));
    expect(plan.operations).toStrictEqual([]);
    expect(plan.decisions).toStrictEqual([
      {
        account: MANAGEMENT,
        name: `acct-${MANAGEMENT}`,
        tag: 'true',
        desired: 'disabled',
        current: 'enabled',
        action: 'skip',
        regions: [],
        reason: 'management account: service-managed StackSets never deploy to it',
      },
    ]);
  });

  it('plans the management account like any other when it is the target (management StackSet)', () => {
    const plan = planEnrollment(
      input([optedOut(MANAGEMENT)], instances(MANAGEMENT, {}), { managementAccountId: undefined }),
    );
    expect(plan.operations).toStrictEqual([
      { enrollment: 'disabled', accounts: [MANAGEMENT], regions: REGIONS, preservedKeys: [] },
    ]);
  });

  it('reports, and never writes, an account moved out of the target OUs', () => {
    const plan = planEnrollment(input([], instances('444444444444', { Enrollment: 'disabled' })));
    expect(plan.operations).toStrictEqual([]);
    expect(plan.decisions).toStrictEqual([
      {
        account: '444444444444',
        tag: undefined,
        desired: undefined,
        current: 'disabled',
        action: 'skip',
        regions: [],
        reason: 'not under the target OUs (moved out): auto-deployment removes its instances',
      },
    ]);
  });

  it('writes only the regions that differ and skips inoperable instances', () => {
    const all: InstanceState[] = [
      {
        account: '111111111111',
        region: 'us-east-1',
        status: 'CURRENT',
        overrides: { Enrollment: 'disabled' },
      },
      { account: '111111111111', region: 'eu-west-1', status: 'CURRENT', overrides: {} },
      { account: '111111111111', region: 'ap-south-1', status: 'INOPERABLE', overrides: {} },
    ];
    const plan = planEnrollment(input([optedOut('111111111111')], all));
    expect(plan.decisions[0]?.current).toBe('mixed');
    expect(plan.operations).toStrictEqual([
      { enrollment: 'disabled', accounts: ['111111111111'], regions: ['eu-west-1'], preservedKeys: [] },
    ]);
  });

  it('counts the StackSet value when there is no override', () => {
    const plan = planEnrollment(
      input([account('111111111111')], instances('111111111111', {}), { stackSetEnrollment: 'disabled' }),
    );
    expect(plan.operations).toStrictEqual([
      { enrollment: 'enabled', accounts: ['111111111111'], regions: REGIONS, preservedKeys: [] },
    ]);
  });

  it('groups accounts by value, regions and preserved keys; opt-outs first; batches by the limit', () => {
    const ids = ['100000000001', '100000000002', '100000000003', '100000000004', '100000000005'];
    const accounts = [...ids.map(optedOut), account('200000000001'), optedOut('300000000001')];
    const all = [
      ...ids.flatMap((id) => instances(id, {})),
      ...instances('200000000001', { Enrollment: 'disabled' }),
      ...instances('300000000001', { Team: 'x' }, {}, ['us-east-1']),
    ];
    const plan = planEnrollment(input(accounts, all, { maxAccountsPerOperation: 2 }));
    expect(plan.operations).toStrictEqual([
      {
        enrollment: 'disabled',
        accounts: ['100000000001', '100000000002'],
        regions: REGIONS,
        preservedKeys: [],
      },
      {
        enrollment: 'disabled',
        accounts: ['100000000003', '100000000004'],
        regions: REGIONS,
        preservedKeys: [],
      },
      { enrollment: 'disabled', accounts: ['100000000005'], regions: REGIONS, preservedKeys: [] },
      { enrollment: 'disabled', accounts: ['300000000001'], regions: ['us-east-1'], preservedKeys: ['Team'] },
      { enrollment: 'enabled', accounts: ['200000000001'], regions: REGIONS, preservedKeys: [] },
    ]);
  });

  it('re-sends the override to FAILED or OUTDATED instances whose override is already right (issue 15.6)', () => {
    // A failed update rolled the stacks back to enabled while the override says disabled.
    const plan = planEnrollment(
      input(
        [optedOut('111111111111')],
        instances(
          '111111111111',
          { Enrollment: 'disabled' },
          { status: 'OUTDATED', detailedStatus: 'FAILED' },
        ),
      ),
    );
    expect(plan.operations).toStrictEqual([
      { enrollment: 'disabled', accounts: ['111111111111'], regions: REGIONS, preservedKeys: [] },
    ]);
    expect(plan.decisions[0]?.reason).toBe(
      'opt-out tag set: set Enrollment=disabled in 2 region(s); re-send to 2 of 2 FAILED/OUTDATED instance(s)',
    );
  });

  it('backs off: an instance that failed is re-sent no earlier than its retryAt', () => {
    const failing = instances(
      '111111111111',
      { Enrollment: 'disabled' },
      { status: 'OUTDATED', detailedStatus: 'FAILED' },
    ).map((i) => ({ ...i, retryAt: nextRetryAt(1_000, 2) }));
    const early = planEnrollment({ ...input([optedOut('111111111111')], failing), now: 1_000 });
    expect(early.operations).toStrictEqual([]);
    expect(early.decisions[0]?.action).toBe('wait');
    expect(early.decisions[0]?.reason).toBe(
      `2 instance(s) FAILED/OUTDATED with Enrollment=disabled: re-sent after ${new Date(1_000 + 2 * RETRY_BASE_MS).toISOString()} (backoff)`,
    );
    const due = planEnrollment({
      ...input([optedOut('111111111111')], failing),
      now: 1_000 + 2 * RETRY_BASE_MS,
    });
    expect(due.operations.map((o) => o.accounts)).toStrictEqual([['111111111111']]);
  });

  it('backoff doubles per attempt up to a day', () => {
    expect([1, 2, 3, 10, 20].map((n) => nextRetryAt(0, n) / RETRY_BASE_MS)).toStrictEqual([
      1,
      2,
      4,
      RETRY_CAP_MS / RETRY_BASE_MS,
      RETRY_CAP_MS / RETRY_BASE_MS,
    ]);
  });

  it('lists an account once when overlapping target OUs report it twice', () => {
    const plan = planEnrollment(
      input([optedOut('111111111111'), optedOut('111111111111')], instances('111111111111')),
    );
    expect(plan.decisions).toHaveLength(1);
    expect(plan.operations).toHaveLength(1);
  });

  it('rejects a batch limit below 1', () => {
    expect(() => planEnrollment(input([], [], { maxAccountsPerOperation: 0 }))).toThrow(
      new RangeError('maxAccountsPerOperation must be a positive integer (received 0)'),
    );
  });
});

describe('applyOperations', () => {
  it('sets Enrollment on exactly the written instances and keeps their other overrides', () => {
    const before = [
      ...instances('111111111111', { Team: 'a' }),
      ...instances('222222222222', { Enrollment: 'disabled' }),
    ];
    const after = applyOperations(before, [
      { enrollment: 'disabled', accounts: ['111111111111'], regions: ['eu-west-1'], preservedKeys: ['Team'] },
    ]);
    expect(after.map((i) => [i.account, i.region, i.overrides])).toStrictEqual([
      ['111111111111', 'us-east-1', { Team: 'a' }],
      ['111111111111', 'eu-west-1', { Team: 'a', Enrollment: 'disabled' }],
      ['222222222222', 'us-east-1', { Enrollment: 'disabled' }],
      ['222222222222', 'eu-west-1', { Enrollment: 'disabled' }],
    ]);
  });
});

describe('instancesToRead', () => {
  it('reads only updatable instances of active, settled, in-scope member accounts', () => {
    const accounts = [
      account('111111111111'),
      { ...account('222222222222'), state: 'SUSPENDED' },
      account('333333333333'),
      account(MANAGEMENT),
      { ...account('555555555555'), tags: undefined },
    ];
    const all: InstanceState[] = [
      ...instances('111111111111', undefined),
      { account: '111111111111', region: 'ap-south-1', status: 'INOPERABLE', overrides: undefined },
      ...instances('222222222222', undefined),
      ...instances('333333333333', undefined, { detailedStatus: 'PENDING' }, ['us-east-1']),
      ...instances('333333333333', undefined, {}, ['eu-west-1']),
      ...instances(MANAGEMENT, undefined),
      ...instances('555555555555', undefined),
      ...instances('666666666666', undefined),
    ];
    expect(instancesToRead(accounts, all, MANAGEMENT).map((i) => `${i.account}/${i.region}`)).toStrictEqual([
      '111111111111/us-east-1',
      '111111111111/eu-west-1',
    ]);
  });
});
