/**
 * The apply loop against moto_server: paging, foreign filters, vanished groups, exclusions,
 * idempotent re-runs and uninstall. The destination is a Kinesis stream (moto cannot
 * subscribe to a `logs` Destination ARN).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { type GroupResult, reconcileAll } from '../../../member/runtime/apply';
import { createLogsRuntime } from '../../../member/runtime/clients';
import { type MemberSettings, planSettings } from '../../../member/runtime/env';
import type { LogsApi } from '../../../member/runtime/logs-api';
import { createPlanner } from '../../../shared/plan';
import { useMoto } from '../../support/moto';
import { FILTER_NAME, freshAccount, type MotoAccount, memberSettings, REGION, ROLE_ARN } from '../support';

const moto = useMoto(REGION);
let account: MotoAccount;
let destination: string;
let foreignDestination: string;
beforeEach(async () => {
  ({ account, destination, foreignDestination } = await freshAccount(moto));
});

function runtime() {
  return createLogsRuntime({
    requestsPerSecond: 2000,
    client: account.logs,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
  });
}

async function reconcile(
  settings: MemberSettings,
  mode: 'reconcile' | 'uninstall' = 'reconcile',
  wrap?: (api: LogsApi) => LogsApi,
) {
  const { api } = runtime();
  const results: GroupResult[] = [];
  const out = await reconcileAll({
    api: wrap ? wrap(api) : api,
    planner: createPlanner(planSettings(settings, mode)),
    onResult: (r) => results.push(r),
  });
  return { ...out, results };
}

const names = (n: number, prefix = '/app/group-') =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);

describe('reconcileAll on moto', () => {
  it('does nothing, successfully, in an account without log groups', async () => {
    const out = await reconcile(memberSettings({ destinationArn: destination }));
    expect(out.complete).toBe(true);
    expect(out.summary).toStrictEqual({
      subscribed: 0,
      updated: 0,
      removed: 0,
      skipped: 0,
      conflict: 0,
      failed: 0,
    });
    expect(out.groupsSeen).toBe(0);
  });

  it('subscribes a single group with our name, destination and role', async () => {
    await account.createGroups(['/app/one']);
    const out = await reconcile(memberSettings({ destinationArn: destination }));
    expect(out.summary.subscribed).toBe(1);
    expect(await account.filters('/app/one')).toStrictEqual({
      [FILTER_NAME]: { destinationArn: destination, filterPattern: '', roleArn: ROLE_ARN },
    });
  });

  it('pages through 120 groups (3 DescribeLogGroups pages) and a re-run changes nothing', async () => {
    const groups = names(120);
    await account.createGroups(groups);
    const settings = memberSettings({ destinationArn: destination });
    const first = await reconcile(settings);
    expect(first.complete).toBe(true);
    expect(first.summary.subscribed).toBe(120);
    expect(new Set(first.results.map((r) => r.logGroupName)).size).toBe(120);
    expect(await account.groupsWith(groups, FILTER_NAME)).toStrictEqual(groups);
    const second = await reconcile(settings);
    expect(second.summary).toStrictEqual({
      subscribed: 0,
      updated: 0,
      removed: 0,
      skipped: 120,
      conflict: 0,
      failed: 0,
    });
  });

  it('subscribes 1,000 groups, each exactly once, and a re-run changes nothing', async () => {
    const groups = names(1000);
    await account.createGroups(groups);
    const settings = memberSettings({ destinationArn: destination });
    const first = await reconcile(settings);
    expect(first.summary.subscribed).toBe(1000);
    const subscribed = first.results.filter((r) => r.outcome === 'subscribed').map((r) => r.logGroupName);
    expect(new Set(subscribed).size).toBe(1000);
    expect((await account.groupsWith(groups, FILTER_NAME)).length).toBe(1000);
    const second = await reconcile(settings);
    expect(second.summary.skipped).toBe(1000);
    expect(second.summary.subscribed + second.summary.updated + second.summary.removed).toBe(0);
  });

  it('subscribes beside one foreign filter, reports a conflict for two, and never touches them', async () => {
    await account.createGroups(['/app/one-foreign', '/app/two-foreign']);
    await account.putForeignFilter('/app/one-foreign', 'datadog', foreignDestination);
    await account.putForeignFilter('/app/two-foreign', 'datadog', foreignDestination);
    await account.putForeignFilter('/app/two-foreign', 'splunk', foreignDestination);
    const out = await reconcile(memberSettings({ destinationArn: destination }));
    expect(out.summary).toStrictEqual({
      subscribed: 1,
      updated: 0,
      removed: 0,
      skipped: 0,
      conflict: 1,
      failed: 0,
    });
    const conflict = out.results.find((r) => r.outcome === 'conflict');
    expect(conflict?.logGroupName).toBe('/app/two-foreign');
    expect(conflict?.detail).toBe('slots held by "datadog", "splunk"');
    expect(await account.filters('/app/one-foreign')).toStrictEqual({
      datadog: { destinationArn: foreignDestination, filterPattern: '' },
      [FILTER_NAME]: { destinationArn: destination, filterPattern: '', roleArn: ROLE_ARN },
    });
    expect(await account.filters('/app/two-foreign')).toStrictEqual({
      datadog: { destinationArn: foreignDestination, filterPattern: '' },
      splunk: { destinationArn: foreignDestination, filterPattern: '' },
    });
  });

  it('maps LimitExceededException at put time to a conflict (slots taken after we read them)', async () => {
    await account.createGroups(['/app/raced']);
    const out = await reconcile(memberSettings({ destinationArn: destination }), 'reconcile', (api) => ({
      ...api,
      describeFilters: async (name) => {
        const filters = await api.describeFilters(name);
        await account.putForeignFilter(name, 'late-1', foreignDestination);
        await account.putForeignFilter(name, 'late-2', foreignDestination);
        return filters;
      },
    }));
    expect(out.summary.conflict).toBe(1);
    expect(out.results[0]?.detail).toMatch(/LimitExceededException/);
    expect(Object.keys(await account.filters('/app/raced'))).toStrictEqual(['late-1', 'late-2']);
  });

  it('skips a group deleted between listing and reading it, and one deleted before the put', async () => {
    await account.createGroups(['/app/a-gone-early', '/app/b-gone-late', '/app/c-stays']);
    const out = await reconcile(memberSettings({ destinationArn: destination }), 'reconcile', (api) => ({
      ...api,
      listLogGroups: async (token) => {
        const page = await api.listLogGroups(token);
        await account.deleteGroup('/app/a-gone-early');
        return page;
      },
      describeFilters: async (name) => {
        const filters = await api.describeFilters(name);
        if (name === '/app/b-gone-late') await account.deleteGroup(name);
        return filters;
      },
    }));
    expect(out.summary).toStrictEqual({
      subscribed: 1,
      updated: 0,
      removed: 0,
      skipped: 2,
      conflict: 0,
      failed: 0,
    });
    const byName = Object.fromEntries(out.results.map((r) => [r.logGroupName, [r.outcome, r.detail]]));
    expect(byName).toStrictEqual({
      '/app/a-gone-early': ['skipped', 'log group no longer exists'],
      '/app/b-gone-late': ['skipped', 'log group no longer exists'],
      '/app/c-stays': ['subscribed', ''],
    });
  });

  it('leaves excluded and own log groups alone, and removes ours from a newly excluded group', async () => {
    await account.createGroups([
      '/app/in',
      '/aws/lambda/log-reflector-subscriber',
      '/noisy/x',
      '/app/later-excluded',
    ]);
    await reconcile(memberSettings({ destinationArn: destination, exclude: ['/noisy/*'] }));
    expect(
      await account.groupsWith(
        ['/app/in', '/aws/lambda/log-reflector-subscriber', '/noisy/x', '/app/later-excluded'],
        FILTER_NAME,
      ),
    ).toStrictEqual(['/app/in', '/app/later-excluded']);
    const out = await reconcile(
      memberSettings({ destinationArn: destination, exclude: ['/noisy/*', '/app/later-*'] }),
    );
    expect(out.summary.removed).toBe(1);
    expect(await account.filters('/app/later-excluded')).toStrictEqual({});
    const reasons = Object.fromEntries(out.results.map((r) => [r.logGroupName, r.detail]));
    expect(reasons['/aws/lambda/log-reflector-subscriber']).toBe('own-log-group');
    expect(reasons['/noisy/x']).toBe('excluded');
  });

  it('updates our stale filter in place', async () => {
    await account.createGroups(['/app/stale']);
    await account.putFilter('/app/stale', FILTER_NAME, foreignDestination, '?OLD', ROLE_ARN);
    const out = await reconcile(memberSettings({ destinationArn: destination }));
    expect(out.summary.updated).toBe(1);
    expect(out.results[0]?.detail).toBe('stale destination, pattern');
    expect(await account.filters('/app/stale')).toStrictEqual({
      [FILTER_NAME]: { destinationArn: destination, filterPattern: '', roleArn: ROLE_ARN },
    });
  });

  it('uninstall removes exactly our filters and leaves foreign ones', async () => {
    const groups = names(60);
    await account.createGroups(groups);
    await account.putForeignFilter(groups[0] as string, 'datadog', foreignDestination);
    await account.putForeignFilter(groups[1] as string, 'datadog', foreignDestination);
    await account.putForeignFilter(groups[1] as string, 'splunk', foreignDestination);
    const settings = memberSettings({ destinationArn: destination });
    await reconcile(settings);
    const out = await reconcile(settings, 'uninstall');
    expect(out.summary).toStrictEqual({
      subscribed: 0,
      updated: 0,
      removed: 59,
      skipped: 1,
      conflict: 0,
      failed: 0,
    });
    expect(await account.groupsWith(groups, FILTER_NAME)).toStrictEqual([]);
    expect(Object.keys(await account.filters(groups[0] as string))).toStrictEqual(['datadog']);
    expect(Object.keys(await account.filters(groups[1] as string))).toStrictEqual(['datadog', 'splunk']);
  });

  it('stops at the deadline with a cursor, and a resumed run finishes the job', async () => {
    const groups = names(130);
    await account.createGroups(groups);
    const settings = memberSettings({ destinationArn: destination });
    const { api } = runtime();
    const planner = createPlanner(planSettings(settings));
    // A clock that passes the deadline once 60 groups have been started.
    let started = 0;
    const clock = { now: () => (started >= 60 ? 2 : 0), sleep: async () => {} };
    const countingApi: LogsApi = {
      ...api,
      describeFilters: async (name) => {
        started += 1;
        return api.describeFilters(name);
      },
    };
    const first = await reconcileAll({ api: countingApi, planner, deadlineMs: 1, clock, concurrency: 1 });
    expect(first.complete).toBe(false);
    expect(first.cursor?.token).toBeTypeOf('string');
    expect(first.cursor?.offset).toBe(10);
    expect(first.summary.subscribed).toBe(60);
    const second = await reconcileAll({ api, planner, cursor: first.cursor });
    expect(second.complete).toBe(true);
    // Resumes inside the interrupted page: no group is read twice.
    expect(second.summary).toStrictEqual({
      subscribed: 70,
      updated: 0,
      removed: 0,
      skipped: 0,
      conflict: 0,
      failed: 0,
    });
    expect((await account.groupsWith(groups, FILTER_NAME)).length).toBe(130);
  });
});
