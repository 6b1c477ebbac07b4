import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isOwnLogGroup } from '../../shared/naming';
import {
  applyToState,
  type ExistingFilter,
  isMutation,
  type LogGroupState,
  type PlanSettings,
  plan,
} from '../../shared/plan';

const NAME = 'log-reflector-us-east-1';
const DESTS = [
  'arn:aws:logs:us-east-1:111122223333:destination:a',
  'arn:aws:logs:us-east-1:111122223333:destination:b',
];
const ROLES = ['arn:aws:iam::444455556666:role/sender', 'arn:aws:iam::444455556666:role/other'];

const nameArb = fc.oneof(
  fc.constantFrom(
    '/aws/lambda/log-reflector-reflector',
    '/aws/lambda/log-reflector-subscriber',
    '/aws/lambda/app',
  ),
  fc
    .tuple(fc.constantFrom('/aws/lambda/', '/ecs/', 'app-', ''), fc.stringMatching(/^[a-z0-9-]{1,8}$/))
    .map(([p, s]) => p + s),
);

const oursArb: fc.Arbitrary<ExistingFilter> = fc.record({
  filterName: fc.constant(NAME),
  destinationArn: fc.constantFrom(...DESTS),
  filterPattern: fc.constantFrom('', '?ERROR'),
  roleArn: fc.option(fc.constantFrom(...ROLES), { nil: undefined }),
});

const foreignArb: fc.Arbitrary<ExistingFilter> = fc.record({
  filterName: fc.constantFrom('datadog', 'splunk', 'log-reflector-eu-west-1', 'log-reflector'),
  destinationArn: fc.constant('arn:aws:lambda:us-east-1:444455556666:function:other'),
  filterPattern: fc.constant(''),
});

const groupArb: fc.Arbitrary<LogGroupState> = fc
  .record({
    logGroupName: nameArb,
    logGroupClass: fc.option(fc.constantFrom('STANDARD', 'INFREQUENT_ACCESS', 'DELIVERY'), {
      nil: undefined,
    }),
    ours: fc.option(oursArb, { nil: undefined }),
    foreign: fc.uniqueArray(foreignArb, { maxLength: 2, selector: (f) => f.filterName }),
  })
  .map(({ logGroupName, logGroupClass, ours, foreign }) => ({
    logGroupName,
    logGroupClass,
    // Only STANDARD groups can carry filters at all.
    filters:
      logGroupClass === undefined || logGroupClass === 'STANDARD'
        ? [...foreign, ...(ours ? [ours] : [])].slice(0, 2)
        : [],
  }));

const groupsArb = fc.uniqueArray(groupArb, { maxLength: 40, selector: (g) => g.logGroupName });

const settingsArb: fc.Arbitrary<PlanSettings> = fc.record({
  destinationArn: fc.constantFrom(...DESTS),
  roleArn: fc.constantFrom(...ROLES),
  filterName: fc.constant(NAME),
  filterPattern: fc.constantFrom('', '?ERROR'),
  include: fc.subarray(['/aws/lambda/*', 'app-*', '*']),
  exclude: fc.subarray(['/ecs/*', 'app-?', '/aws/lambda/log-reflector-*']),
  enrollment: fc.constantFrom('enabled', 'disabled'),
  mode: fc.constantFrom('reconcile', 'uninstall'),
  filterSlots: fc.constantFrom(1, 2, 3),
});

function applyPlan(groups: readonly LogGroupState[], settings: PlanSettings): LogGroupState[] {
  const { actions } = plan(groups, settings);
  return groups.map((g, i) => {
    const action = actions[i];
    if (!action) throw new Error('plan lost a group');
    return applyToState(g, action);
  });
}

describe('planner properties', () => {
  it('is deterministic and plans each group independently of the others', () => {
    fc.assert(
      fc.property(groupsArb, settingsArb, (groups, settings) => {
        const a = plan(groups, settings);
        expect(plan(groups, settings)).toStrictEqual(a);
        const oneByOne = groups.map((g) => plan([g], settings).actions[0]);
        expect(oneByOne).toStrictEqual(a.actions);
      }),
    );
  });

  it('is idempotent: apply the plan, plan again → no more changes, same conflicts', () => {
    fc.assert(
      fc.property(groupsArb, settingsArb, (groups, settings) => {
        const first = plan(groups, settings);
        const second = plan(applyPlan(groups, settings), settings);
        expect(second.actions.filter(isMutation)).toStrictEqual([]);
        expect(second.counts.conflict).toBe(first.counts.conflict);
      }),
    );
  });

  it('never acts on a filter we do not own, and keeps every foreign filter', () => {
    fc.assert(
      fc.property(groupsArb, settingsArb, (groups, settings) => {
        for (const action of plan(groups, settings).actions) {
          if (action.kind === 'remove') expect(action.filterName).toBe(settings.filterName);
          if (action.kind === 'subscribe' || action.kind === 'update') {
            expect(action.filter.filterName).toBe(settings.filterName);
          }
        }
        const after = applyPlan(groups, settings);
        groups.forEach((g, i) => {
          const foreignBefore = g.filters.filter((f) => f.filterName !== settings.filterName);
          const foreignAfter = after[i]?.filters.filter((f) => f.filterName !== settings.filterName);
          expect(foreignAfter).toStrictEqual(foreignBefore);
        });
      }),
    );
  });

  it('never subscribes our own log groups, and leaves none of ours on them', () => {
    fc.assert(
      fc.property(groupsArb, settingsArb, (groups, settings) => {
        const { actions } = plan(groups, settings);
        for (const action of actions) {
          if (isOwnLogGroup(action.logGroupName)) {
            expect(['skip', 'remove']).toContain(action.kind);
          }
        }
        for (const g of applyPlan(groups, settings)) {
          if (isOwnLogGroup(g.logGroupName)) {
            expect(g.filters.some((f) => f.filterName === settings.filterName)).toBe(false);
          }
        }
      }),
    );
  });

  it('uninstall and disabled enrollment leave none of our filters anywhere', () => {
    fc.assert(
      fc.property(groupsArb, settingsArb, (groups, base) => {
        for (const settings of [
          { ...base, mode: 'uninstall' as const },
          { ...base, enrollment: 'disabled' as const },
        ]) {
          for (const g of applyPlan(groups, settings)) {
            expect(g.filters.some((f) => f.filterName === settings.filterName)).toBe(false);
          }
        }
      }),
    );
  });
});
