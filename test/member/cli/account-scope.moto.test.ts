/**
 * `log-reflector plan | apply | remove --scope account` (issue 14): log groups and filters on
 * moto through AWS_ENDPOINT_URL, the account's subscription filter policy in memory (moto
 * refuses those calls; account-policies.ts). The policy comes first; our per-group filters go
 * only at an apply that finds it already in place; a foreign policy is a conflict (exit 1),
 * never overwritten; foreign filters are never touched.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('../../../member/runtime/clients', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../member/runtime/clients')>();
  const { withFakePolicies } = await import('./account-policies');
  return { ...original, createLogsRuntime: (o: never) => withFakePolicies(original.createLogsRuntime(o)) };
});

import { parseSelectionCriteria } from '../../../shared/account-policy';
import { type CliRun, runCli } from '../../support/cli';
import { useMoto } from '../../support/moto';
import { FakeLogs } from '../fake-logs';
import { FILTER_NAME, freshAccount, type MotoAccount, REGION, ROLE_ARN } from '../support';
import { policyStore } from './account-policies';

const moto = useMoto(REGION);
let account: MotoAccount;
let destination: string;
let foreignDestination: string;
beforeEach(async () => {
  ({ account, destination, foreignDestination } = await freshAccount(moto));
  policyStore.logs = new FakeLogs();
  await account.createGroups(['/app/a', '/app/b', '/aws/lambda/log-reflector-reflector', '/skip/me']);
  // The account ran in log-group scope: our filter on the eligible groups, a foreign one too.
  await account.putFilter('/app/a', FILTER_NAME, destination, '', ROLE_ARN);
  await account.putFilter('/app/b', FILTER_NAME, destination, '', ROLE_ARN);
  await account.putForeignFilter('/app/b', 'datadog', foreignDestination);
});
afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

function cli(...args: string[]): Promise<CliRun> {
  return runCli(args);
}

const target = (...extra: string[]) => [
  '--destination-arn',
  destination,
  '--role-arn',
  ROLE_ARN,
  '--rate',
  '50',
  '--install-id',
  '0a1b2c3d',
  '--exclude',
  '/skip/me',
  ...extra,
];

describe('log-reflector CLI, account scope', () => {
  it('plan shows the policy it would create and our per-group filters it would then remove; changes nothing', async () => {
    const { code, stdout } = await cli('plan', '--scope', 'account', ...target(), '--json');
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as {
      scope: string;
      policy: { kind: string; policy: { policyName: string; selectionCriteria: string } };
      actions: { kind: string; logGroupName: string; reason?: string }[];
    };
    expect(out.scope).toBe('account');
    expect(out.policy.kind).toBe('create');
    expect(parseSelectionCriteria(out.policy.policy.selectionCriteria)).toStrictEqual(
      expect.arrayContaining([
        '/aws/lambda/log-reflector-reflector',
        '/aws/lambda/log-reflector-cleanup-0a1b2c3d',
        '/skip/me',
      ]),
    );
    expect(out.actions.map((a) => [a.kind, a.logGroupName, a.reason])).toStrictEqual([
      ['remove', '/app/a', 'account-scope'],
      ['remove', '/app/b', 'account-scope'],
    ]);
    expect(policyStore.logs.accountPolicy).toBeUndefined();
    expect(Object.keys(await account.filters('/app/a'))).toStrictEqual([FILTER_NAME]);
  });

  it('apply puts the policy and keeps our filters; the next apply, with the policy in place, removes them', async () => {
    const first = await cli('apply', '--scope', 'account', ...target());
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`account policy "${FILTER_NAME}" created`);
    expect(first.stdout).toContain('run apply again in 15 minutes');
    expect(policyStore.logs.accountPolicy?.policyName).toBe(FILTER_NAME);
    expect(Object.keys(await account.filters('/app/a'))).toStrictEqual([FILTER_NAME]);

    const second = await cli('apply', '--scope', 'account', ...target(), '--json');
    expect(second.code).toBe(0);
    const out = JSON.parse(second.stdout) as { policy: { state: string }; summary: Record<string, number> };
    expect(out.policy.state).toBe('in-place');
    expect(out.summary).toMatchObject({ removed: 2, failed: 0, conflict: 0 });
    expect(await account.filters('/app/a')).toStrictEqual({});
    expect(Object.keys(await account.filters('/app/b'))).toStrictEqual(['datadog']);
  });

  it('a foreign account policy: plan and apply report the conflict with exit 1, overwrite nothing, remove nothing', async () => {
    policyStore.logs.accountPolicy = { policyName: 'central-logging' };
    const planned = await cli('plan', '--scope', 'account', ...target());
    expect(planned.code).toBe(1);
    expect(planned.stdout).toContain('"central-logging" is not ours');
    const applied = await cli('apply', '--scope', 'account', ...target());
    expect(applied.code).toBe(1);
    expect(policyStore.logs.accountPolicy).toStrictEqual({ policyName: 'central-logging' });
    expect(Object.keys(await account.filters('/app/a'))).toStrictEqual([FILTER_NAME]);
  });

  it('apply in log-group scope subscribes every group, then removes a policy of ours left from account scope', async () => {
    await cli('apply', '--scope', 'account', ...target());
    await cli('apply', '--scope', 'account', ...target());
    expect(await account.filters('/app/a')).toStrictEqual({});
    const back = await cli('apply', ...target());
    expect(back.code).toBe(0);
    expect(back.stdout).toContain(`account policy "${FILTER_NAME}" removed`);
    expect(Object.keys(await account.filters('/app/a'))).toStrictEqual([FILTER_NAME]);
    expect(policyStore.logs.accountPolicy).toBeUndefined();
  });

  it('remove --scope account takes off the policy and our filters, never a foreign one', async () => {
    await cli('apply', '--scope', 'account', ...target());
    const removed = await cli('remove', '--scope', 'account', '--rate', '50');
    expect(removed.code).toBe(0);
    expect(policyStore.logs.accountPolicy).toBeUndefined();
    expect(await account.filters('/app/a')).toStrictEqual({});
    expect(Object.keys(await account.filters('/app/b'))).toStrictEqual(['datadog']);
    policyStore.logs.accountPolicy = { policyName: 'central-logging' };
    expect((await cli('remove', '--scope', 'account', '--rate', '50')).code).toBe(0);
    expect(policyStore.logs.accountPolicy).toStrictEqual({ policyName: 'central-logging' });
  });

  it('names what account scope cannot express, and a bad --scope, with exit 2', async () => {
    const glob = await cli('plan', '--scope', 'account', ...target('--exclude', '/skip/*'));
    expect(glob.code).toBe(2);
    expect(glob.stderr).toContain('--exclude: account scope takes exact log group names');
    const bad = await cli('plan', '--scope', 'org', ...target());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--scope: expected one of log-group, account, received 'org'");
  });
});
