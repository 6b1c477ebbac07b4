import { describe, expect, it } from 'vitest';
import {
  applyToState,
  createPlanner,
  type ExistingFilter,
  type LogGroupState,
  type PlanSettings,
  plan,
} from '../../shared/plan';

const DEST = 'arn:aws:logs:us-east-1:111122223333:destination:log-reflector';
const ROLE = 'arn:aws:iam::444455556666:role/log-reflector-sender';
const NAME = 'log-reflector-us-east-1';

function settings(overrides: Partial<PlanSettings> = {}): PlanSettings {
  return {
    destinationArn: DEST,
    roleArn: ROLE,
    filterName: NAME,
    filterPattern: '',
    include: [],
    exclude: [],
    enrollment: 'enabled',
    mode: 'reconcile',
    ...overrides,
  };
}

const ours = (overrides: Partial<ExistingFilter> = {}): ExistingFilter => ({
  filterName: NAME,
  destinationArn: DEST,
  filterPattern: '',
  roleArn: ROLE,
  ...overrides,
});
const foreign = (name: string): ExistingFilter => ({
  filterName: name,
  destinationArn: 'arn:aws:lambda:us-east-1:444455556666:function:datadog-forwarder',
  filterPattern: '',
});
const group = (
  logGroupName: string,
  filters: ExistingFilter[] = [],
  logGroupClass?: string,
): LogGroupState => ({
  logGroupName,
  filters,
  ...(logGroupClass ? { logGroupClass } : {}),
});

describe('planner', () => {
  const desired = { filterName: NAME, destinationArn: DEST, filterPattern: '', roleArn: ROLE };

  it('subscribes an eligible group without our filter', () => {
    expect(createPlanner(settings()).planGroup(group('app'))).toStrictEqual({
      kind: 'subscribe',
      logGroupName: 'app',
      filter: desired,
    });
  });

  it('subscribes beside one foreign filter', () => {
    expect(createPlanner(settings()).planGroup(group('app', [foreign('theirs')])).kind).toBe('subscribe');
  });

  it('reports a conflict when foreign filters hold every slot, naming them', () => {
    expect(createPlanner(settings()).planGroup(group('app', [foreign('a'), foreign('b')]))).toStrictEqual({
      kind: 'conflict',
      logGroupName: 'app',
      foreignFilters: ['a', 'b'],
    });
  });

  it('honours a configured number of slots', () => {
    const planner = createPlanner(settings({ filterSlots: 5 }));
    expect(planner.planGroup(group('app', [foreign('a'), foreign('b')])).kind).toBe('subscribe');
  });

  it('skips a group whose filter is already correct', () => {
    expect(createPlanner(settings()).planGroup(group('app', [ours(), foreign('x')]))).toStrictEqual({
      kind: 'skip',
      logGroupName: 'app',
      reason: 'already-correct',
    });
  });

  it('updates our filter when destination, pattern or role is stale, listing what', () => {
    const planner = createPlanner(settings({ filterPattern: '?ERROR' }));
    const stale = ours({ destinationArn: 'arn:aws:logs:us-east-1:1:destination:old', roleArn: undefined });
    expect(planner.planGroup(group('app', [stale]))).toStrictEqual({
      kind: 'update',
      logGroupName: 'app',
      filter: { ...desired, filterPattern: '?ERROR' },
      stale: ['destination', 'pattern', 'role'],
    });
  });

  it('updates ours even when a foreign filter fills the other slot (in-place update needs no slot)', () => {
    const planner = createPlanner(settings());
    const action = planner.planGroup(group('app', [ours({ filterPattern: 'old' }), foreign('x')]));
    expect(action.kind).toBe('update');
  });

  it('never subscribes our own log groups, whatever include says, and removes ours from them', () => {
    const planner = createPlanner(settings({ include: ['*'] }));
    expect(planner.planGroup(group('/aws/lambda/log-reflector-subscriber'))).toStrictEqual({
      kind: 'skip',
      logGroupName: '/aws/lambda/log-reflector-subscriber',
      reason: 'own-log-group',
    });
    expect(planner.planGroup(group('/aws/lambda/log-reflector-reflector', [ours()]))).toStrictEqual({
      kind: 'remove',
      logGroupName: '/aws/lambda/log-reflector-reflector',
      filterName: NAME,
      reason: 'own-log-group',
    });
    expect(planner.isSelected('/aws/lambda/log-reflector-sweep')).toBe(false);
  });

  it('applies include then exclude (exclude wins)', () => {
    const planner = createPlanner(
      settings({ include: ['/aws/lambda/*', 'app-*'], exclude: ['/aws/lambda/noisy-*'] }),
    );
    expect(planner.planGroup(group('/aws/lambda/fn')).kind).toBe('subscribe');
    expect(planner.planGroup(group('app-1')).kind).toBe('subscribe');
    expect(planner.planGroup(group('other'))).toStrictEqual({
      kind: 'skip',
      logGroupName: 'other',
      reason: 'excluded',
    });
    expect(planner.planGroup(group('/aws/lambda/noisy-1')).kind).toBe('skip');
    expect(planner.planGroup(group('/aws/lambda/noisy-1', [ours()]))).toStrictEqual({
      kind: 'remove',
      logGroupName: '/aws/lambda/noisy-1',
      filterName: NAME,
      reason: 'excluded',
    });
  });

  it('skips groups that are not STANDARD class', () => {
    const planner = createPlanner(settings());
    expect(planner.planGroup(group('ia', [], 'INFREQUENT_ACCESS'))).toStrictEqual({
      kind: 'skip',
      logGroupName: 'ia',
      reason: 'not-standard-class',
    });
    expect(planner.planGroup(group('std', [], 'STANDARD')).kind).toBe('subscribe');
  });

  it('removes ours when the account is not enrolled, and skips groups without it', () => {
    const planner = createPlanner(settings({ enrollment: 'disabled' }));
    expect(planner.planGroup(group('a', [ours(), foreign('x')]))).toStrictEqual({
      kind: 'remove',
      logGroupName: 'a',
      filterName: NAME,
      reason: 'not-enrolled',
    });
    expect(planner.planGroup(group('b', [foreign('x')]))).toStrictEqual({
      kind: 'skip',
      logGroupName: 'b',
      reason: 'not-enrolled',
    });
  });

  it('uninstall removes ours everywhere and nothing else', () => {
    const result = plan(
      [group('a', [ours()]), group('b', [foreign('x')]), group('c')],
      settings({ mode: 'uninstall' }),
    );
    expect(result.actions).toStrictEqual([
      { kind: 'remove', logGroupName: 'a', filterName: NAME, reason: 'uninstall' },
      { kind: 'skip', logGroupName: 'b', reason: 'nothing-to-remove' },
      { kind: 'skip', logGroupName: 'c', reason: 'nothing-to-remove' },
    ]);
    expect(result.counts).toStrictEqual({ subscribe: 0, update: 0, remove: 1, skip: 2, conflict: 0 });
  });

  it('treats a filter with our base name but another region as foreign', () => {
    const other = ours({ filterName: 'log-reflector-eu-west-1' });
    const action = createPlanner(settings()).planGroup(group('a', [other, foreign('x')]));
    expect(action).toStrictEqual({
      kind: 'conflict',
      logGroupName: 'a',
      foreignFilters: ['log-reflector-eu-west-1', 'x'],
    });
  });

  it('applyToState keeps foreign filters and makes the plan converge', () => {
    const g = group('a', [foreign('x')]);
    const after = applyToState(g, createPlanner(settings()).planGroup(g));
    expect(after.filters).toStrictEqual([
      foreign('x'),
      { filterName: NAME, destinationArn: DEST, filterPattern: '', roleArn: ROLE },
    ]);
    expect(createPlanner(settings()).planGroup(after).kind).toBe('skip');
  });
});
