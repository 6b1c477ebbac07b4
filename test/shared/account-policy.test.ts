/**
 * Account scope (issue 14), the pure parts: the selection criteria we render and read back,
 * what account scope cannot express, and the account policy planner's ownership rules (ours by
 * name; a foreign policy is a conflict, never touched), with properties over random states.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  accountScopeProblems,
  ownLogGroupNames,
  parsePolicyDocument,
  parseSelectionCriteria,
  renderPolicyDocument,
  renderSelectionCriteria,
  SELECTION_CRITERIA_MAX_BYTES,
  utf8Bytes,
} from '../../shared/account-policy';
import { FUNCTION_NAMES } from '../../shared/naming';
import {
  type AccountPolicySettings,
  createPlanner,
  type DesiredAccountPolicy,
  type ExistingAccountPolicy,
  planAccountPolicy,
} from '../../shared/plan';

const NAME = 'log-reflector-eu-west-1';
const DEST = 'arn:aws:logs:eu-west-1:222222222222:destination:log-reflector';
const ROLE = 'arn:aws:iam::333333333333:role/log-reflector-sender-eu-west-1';

const desired = (overrides: Partial<DesiredAccountPolicy> = {}): DesiredAccountPolicy => ({
  policyName: NAME,
  destinationArn: DEST,
  roleArn: ROLE,
  filterPattern: '',
  selectionCriteria: renderSelectionCriteria(ownLogGroupNames('0a1b2c3d')),
  ...overrides,
});

/** A stored policy as DescribeAccountPolicies would return ours. */
const stored = (d: DesiredAccountPolicy = desired()): ExistingAccountPolicy => ({
  policyName: d.policyName,
  policyDocument: renderPolicyDocument(d),
  selectionCriteria: d.selectionCriteria,
});
const foreign: ExistingAccountPolicy = {
  policyName: 'lza-central-logs',
  policyDocument: '{"DestinationArn":"arn:aws:logs:eu-west-1:999999999999:destination:other"}',
};

const settings = (overrides: Partial<AccountPolicySettings> = {}): AccountPolicySettings => ({
  scope: 'account',
  enrollment: 'enabled',
  mode: 'reconcile',
  desired: desired(),
  ...overrides,
});

describe('selection criteria and policy document', () => {
  it('renders LogGroupName NOT IN with exact names, deduplicated, and reads it back', () => {
    const text = renderSelectionCriteria(['/a', '/b', '/a']);
    expect(text).toBe('LogGroupName NOT IN ["/a","/b"]');
    expect(parseSelectionCriteria(text)).toStrictEqual(['/a', '/b']);
    expect(parseSelectionCriteria('LogGroupName NOT IN [ "/a" , "/b" ]')).toStrictEqual(['/a', '/b']);
    expect(parseSelectionCriteria(undefined)).toStrictEqual([]);
    expect(parseSelectionCriteria('LogGroupNamePrefix IN ["/a"]')).toBeUndefined();
  });

  it('lists the log group of every function we name, and the cleanup worker of this install', () => {
    const names = ownLogGroupNames('0a1b2c3d');
    for (const fn of Object.values(FUNCTION_NAMES)) expect(names).toContain(`/aws/lambda/${fn}`);
    expect(names).toContain('/aws/lambda/log-reflector-cleanup-0a1b2c3d');
    expect(ownLogGroupNames()).toHaveLength(Object.keys(FUNCTION_NAMES).length);
  });

  it('writes the sender role, the pattern and by-log-stream distribution into the document', () => {
    const doc = renderPolicyDocument({ destinationArn: DEST, roleArn: ROLE, filterPattern: '?ERROR' });
    expect(JSON.parse(doc)).toStrictEqual({
      DestinationArn: DEST,
      RoleArn: ROLE,
      FilterPattern: '?ERROR',
      Distribution: 'ByLogStream',
    });
    expect(parsePolicyDocument('not json')).toStrictEqual({});
  });

  it('says why include, wildcards or too many names cannot be expressed', () => {
    expect(accountScopeProblems([], ['/exact/name'])).toStrictEqual([]);
    expect(accountScopeProblems(['/app/*'], []).map((p) => [p.field, p.index])).toStrictEqual([
      ['include', 0],
    ]);
    expect(accountScopeProblems([], ['/ok', '/a/*', 'b?']).map((p) => [p.field, p.index])).toStrictEqual([
      ['exclude', 1],
      ['exclude', 2],
    ]);
    // The boundary: the rendered criteria may be exactly the limit, not one byte more.
    const own = ownLogGroupNames('00000000');
    const base = utf8Bytes(renderSelectionCriteria([...own, '']));
    const exact = `/${'x'.repeat(SELECTION_CRITERIA_MAX_BYTES - base - 1)}`;
    expect(utf8Bytes(renderSelectionCriteria([...own, exact]))).toBe(SELECTION_CRITERIA_MAX_BYTES);
    expect(accountScopeProblems([], [exact])).toStrictEqual([]);
    expect(accountScopeProblems([], [`${exact}y`])).toHaveLength(1);
    // Multi-byte characters count as their UTF-8 bytes (not a valid log group name, but counted).
    expect(utf8Bytes('é')).toBe(2);
  });
});

describe('planAccountPolicy', () => {
  it('creates ours when none exists, keeps it when correct, updates what is stale', () => {
    expect(planAccountPolicy([], settings())).toStrictEqual({ kind: 'create', policy: desired() });
    expect(planAccountPolicy([stored()], settings())).toStrictEqual({
      kind: 'skip',
      reason: 'already-correct',
    });
    const old = stored(
      desired({ filterPattern: '?ERROR', selectionCriteria: renderSelectionCriteria(['/x']) }),
    );
    expect(planAccountPolicy([old], settings())).toStrictEqual({
      kind: 'update',
      policy: desired(),
      stale: ['pattern', 'selection'],
    });
  });

  it('compares the criteria as a set of names, so a reordered list is not stale', () => {
    const names = ownLogGroupNames('0a1b2c3d');
    const reordered = {
      ...stored(),
      selectionCriteria: `LogGroupName NOT IN ${JSON.stringify([...names].reverse())}`,
    };
    expect(planAccountPolicy([reordered], settings())).toStrictEqual({
      kind: 'skip',
      reason: 'already-correct',
    });
  });

  it('reports a foreign policy as a conflict and never plans an action on it', () => {
    expect(planAccountPolicy([foreign], settings())).toStrictEqual({
      kind: 'conflict',
      foreignPolicies: ['lza-central-logs'],
    });
    expect(planAccountPolicy([foreign], settings({ enrollment: 'disabled' }))).toStrictEqual({
      kind: 'skip',
      reason: 'nothing-to-remove',
    });
    expect(planAccountPolicy([foreign], settings({ mode: 'uninstall' }))).toStrictEqual({
      kind: 'skip',
      reason: 'nothing-to-remove',
    });
  });

  it('deletes ours when not enrolled or on uninstall, and in log-group scope only after a complete pass', () => {
    expect(planAccountPolicy([stored()], settings({ enrollment: 'disabled' }))).toMatchObject({
      kind: 'delete',
      reason: 'not-enrolled',
    });
    expect(planAccountPolicy([stored()], settings({ mode: 'uninstall' }))).toMatchObject({
      kind: 'delete',
      reason: 'uninstall',
    });
    expect(planAccountPolicy([stored()], settings({ scope: 'log-group' }))).toStrictEqual({
      kind: 'skip',
      reason: 'awaiting-log-group-pass',
    });
    expect(
      planAccountPolicy([stored()], settings({ scope: 'log-group', logGroupPassComplete: true })),
    ).toStrictEqual({
      kind: 'delete',
      policyName: NAME,
      reason: 'log-group-scope',
    });
    // Opt-out in log-group scope does not wait for a pass.
    expect(
      planAccountPolicy([stored()], settings({ scope: 'log-group', enrollment: 'disabled' })),
    ).toMatchObject({
      kind: 'delete',
      reason: 'not-enrolled',
    });
  });

  it('replaces ours under its former name after a rename, and still refuses a foreign one', () => {
    const former = stored(desired({ policyName: 'old-eu-west-1' }));
    expect(planAccountPolicy([former], settings({ formerPolicyNames: ['old-eu-west-1'] }))).toStrictEqual({
      kind: 'replace',
      formerName: 'old-eu-west-1',
      policy: desired(),
    });
    expect(planAccountPolicy([former], settings())).toMatchObject({ kind: 'conflict' });
    expect(planAccountPolicy([foreign], settings({ formerPolicyNames: ['old-eu-west-1'] }))).toMatchObject({
      kind: 'conflict',
    });
  });

  describe('properties', () => {
    const policyArb: fc.Arbitrary<ExistingAccountPolicy> = fc.oneof(
      fc.constant(stored()),
      fc.constant(stored(desired({ filterPattern: '?ERROR' }))),
      fc.constant(stored(desired({ destinationArn: `${DEST}-old` }))),
      fc.constant(foreign),
    );
    const stateArb = fc.option(policyArb, { nil: undefined }).map((p) => (p ? [p] : []));
    const settingsArb = fc.record({
      scope: fc.constantFrom('log-group' as const, 'account' as const),
      enrollment: fc.constantFrom('enabled' as const, 'disabled' as const),
      mode: fc.constantFrom('reconcile' as const, 'uninstall' as const),
      logGroupPassComplete: fc.boolean(),
    });

    /** The account after the action, as AWS would leave it (one policy per account and region). */
    const apply = (state: ExistingAccountPolicy[], s: AccountPolicySettings): ExistingAccountPolicy[] => {
      const a = planAccountPolicy(state, s);
      if (a.kind === 'create' || a.kind === 'update' || a.kind === 'replace') return [stored(a.policy)];
      if (a.kind === 'delete') return state.filter((p) => p.policyName !== a.policyName);
      return state;
    };

    it('never creates, updates or deletes a policy that is not ours', () => {
      fc.assert(
        fc.property(stateArb, settingsArb, (state, partial) => {
          const s = settings(partial);
          const a = planAccountPolicy(state, s);
          if (a.kind === 'delete') expect(a.policyName).toBe(NAME);
          if (state.some((p) => p.policyName !== NAME))
            expect(['create', 'update', 'replace']).not.toContain(a.kind);
          // The foreign policy is still there, unchanged, whatever we did.
          for (const p of state.filter((x) => x.policyName !== NAME))
            expect(apply(state, s)).toContainEqual(p);
        }),
      );
    });

    it('is idempotent: applying the plan, then planning again, changes nothing', () => {
      fc.assert(
        fc.property(stateArb, settingsArb, (state, partial) => {
          const s = settings(partial);
          const after = apply(state, s);
          expect(['skip', 'conflict']).toContain(planAccountPolicy(after, s).kind);
        }),
      );
    });
  });
});

describe('the per-group planner in account scope', () => {
  const planner = createPlanner({
    destinationArn: DEST,
    roleArn: ROLE,
    filterName: NAME,
    filterPattern: '',
    include: [],
    exclude: [],
    enrollment: 'enabled',
    mode: 'reconcile',
    scope: 'account',
  });
  const filter = (filterName: string) => ({
    filterName,
    destinationArn: DEST,
    filterPattern: '',
    roleArn: ROLE,
  });

  it('removes our per-group filter (the policy carries the subscription) and subscribes nothing', () => {
    expect(
      planner.planGroup({ logGroupName: '/app/a', filters: [filter(NAME), filter('datadog')] }),
    ).toStrictEqual({
      kind: 'remove',
      logGroupName: '/app/a',
      filterName: NAME,
      reason: 'account-scope',
    });
    expect(
      planner.planGroup({ logGroupName: '/app/b', filters: [filter('datadog'), filter('splunk')] }),
    ).toStrictEqual({ kind: 'skip', logGroupName: '/app/b', reason: 'account-scope' });
    expect(planner.planGroup({ logGroupName: '/app/c', filters: [] })).toStrictEqual({
      kind: 'skip',
      logGroupName: '/app/c',
      reason: 'account-scope',
    });
  });
});
