/** Counting log groups for an account-scope coverage report (member/runtime/account-coverage.ts). */
import { describe, expect, it } from 'vitest';
import {
  accountPolicyReport,
  accountScopeTally,
  countAccountScopeGroups,
} from '../../../member/runtime/account-coverage';
import type { LogGroupPage } from '../../../member/runtime/logs-api';
import { emptyTally } from '../../../shared/coverage';

const clock = { now: () => 0, sleep: async () => {} };

function pages(...all: LogGroupPage['groups'][]) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    async listLogGroups(token?: string): Promise<LogGroupPage> {
      calls += 1;
      const i = token === undefined ? 0 : Number(token);
      return { groups: all[i] ?? [], ...(i + 1 < all.length ? { nextToken: String(i + 1) } : {}) };
    },
  };
}

describe('countAccountScopeGroups', () => {
  it('follows every page; names in the criteria and classes that take no subscription are left out', async () => {
    const api = pages(
      [{ logGroupName: '/app/a' }, { logGroupName: '/aws/lambda/log-reflector-backfill' }],
      [
        { logGroupName: '/app/b', logGroupClass: 'STANDARD' },
        { logGroupName: '/app/ia', logGroupClass: 'INFREQUENT_ACCESS' },
      ],
    );
    const count = await countAccountScopeGroups(api, ['/aws/lambda/log-reflector-backfill'], 1, clock);
    expect(count).toStrictEqual({ total: 4, applies: 2, excluded: 2, complete: true });
    expect(api.calls).toBe(2);
  });

  it('stops before a page past the deadline (not an error) and on a failed listing (with the reason)', async () => {
    expect(await countAccountScopeGroups(pages([{ logGroupName: '/a' }]), [], 0, clock)).toStrictEqual({
      total: 0,
      applies: 0,
      excluded: 0,
      complete: false,
    });
    const failing = {
      listLogGroups: async () => {
        throw new Error('AccessDenied');
      },
    };
    expect(await countAccountScopeGroups(failing, [], 1, clock)).toMatchObject({
      complete: false,
      error: 'listing failed: AccessDenied',
    });
  });
});

describe('accountScopeTally', () => {
  const count = { total: 10, applies: 8, excluded: 2, complete: true };
  it('counts what the policy applies to by its state; not enrolled: every group', () => {
    const base = { ...emptyTally(), total: 10, excluded: 2, eligible: 8 };
    expect(accountScopeTally(count, 'in-place', true)).toStrictEqual({ ...base, subscribed: 8 });
    expect(accountScopeTally(count, 'conflict', true)).toStrictEqual({ ...base, conflicts: 8 });
    expect(accountScopeTally(count, 'failed', true)).toStrictEqual({ ...base, failed: 8 });
    expect(accountScopeTally(count, 'removed', false)).toStrictEqual({
      ...emptyTally(),
      total: 10,
      notEnrolled: 10,
    });
  });

  it('reports the foreign policies and the error', () => {
    expect(
      accountPolicyReport({ scope: 'account', policyName: 'p', state: 'conflict', foreignPolicies: ['x'] }),
    ).toStrictEqual({ state: 'conflict', foreignPolicies: ['x'] });
    expect(
      accountPolicyReport({ scope: 'account', policyName: 'p', state: 'failed', error: new Error('boom') }),
    ).toStrictEqual({ state: 'failed', error: 'boom' });
  });
});
