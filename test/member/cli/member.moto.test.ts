/** `log-reflector plan | apply | remove` against moto through AWS_ENDPOINT_URL. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// moto refuses the account policy calls: the account's policy (none here) is in memory.
vi.mock('../../../member/runtime/clients', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../member/runtime/clients')>();
  const { withFakePolicies } = await import('./account-policies');
  return { ...original, createLogsRuntime: (o: never) => withFakePolicies(original.createLogsRuntime(o)) };
});

import { type CliRun, runCli } from '../../support/cli';
import { useMoto } from '../../support/moto';
import { FILTER_NAME, freshAccount, type MotoAccount, REGION, ROLE_ARN } from '../support';

const moto = useMoto(REGION);
let account: MotoAccount;
let destination: string;
let foreignDestination: string;
beforeEach(async () => {
  ({ account, destination, foreignDestination } = await freshAccount(moto));
  await account.createGroups([
    '/app/a',
    '/app/b',
    '/app/full',
    '/aws/lambda/log-reflector-reflector',
    '/skip/me',
  ]);
  await account.putForeignFilter('/app/full', 'x', foreignDestination);
  await account.putForeignFilter('/app/full', 'y', foreignDestination);
});
afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

function cli(...args: string[]): Promise<CliRun> {
  return runCli(args);
}

const target = () => [
  '--destination-arn',
  destination,
  '--role-arn',
  ROLE_ARN,
  '--rate',
  '50',
  '--exclude',
  '/skip/*',
];

describe('log-reflector CLI', () => {
  it('plan lists the actions and counts, changes nothing, and exits 1 on a conflict', async () => {
    const { code, stdout } = await cli('plan', ...target(), '--json');
    expect(code).toBe(1);
    const out = JSON.parse(stdout) as {
      counts: Record<string, number>;
      actions: { kind: string; logGroupName: string }[];
    };
    expect(out.counts).toStrictEqual({ subscribe: 2, update: 0, remove: 0, skip: 2, conflict: 1 });
    expect(out.actions.map((a) => [a.kind, a.logGroupName])).toStrictEqual([
      ['subscribe', '/app/a'],
      ['subscribe', '/app/b'],
      ['conflict', '/app/full'],
    ]);
    expect(await account.filters('/app/a')).toStrictEqual({});
  });

  it('plan prints a table', async () => {
    const { stdout } = await cli('plan', ...target(), '--all');
    expect(stdout).toContain('action     logGroup');
    expect(stdout).toContain('skip       /aws/lambda/log-reflector-reflector  own-log-group');
    expect(stdout).toContain('conflict   /app/full                            slots held by: x, y');
    expect(stdout.trim().split('\n').at(-1)).toBe('subscribe 2, update 0, remove 0, skip 2, conflict 1');
  });

  it('apply subscribes, reports the conflict with exit 1, and a re-run plans nothing to do', async () => {
    const applied = await cli('apply', ...target(), '--json');
    expect(applied.code).toBe(1);
    const out = JSON.parse(applied.stdout) as { summary: Record<string, number>; problems: unknown[] };
    expect(out.summary).toStrictEqual({
      subscribed: 2,
      updated: 0,
      removed: 0,
      skipped: 2,
      conflict: 1,
      failed: 0,
    });
    expect(out.problems).toStrictEqual([
      { outcome: 'conflict', logGroup: '/app/full', detail: 'slots held by: x, y' },
    ]);
    expect(Object.keys(await account.filters('/app/a'))).toStrictEqual([FILTER_NAME]);
    expect(await account.filters('/aws/lambda/log-reflector-reflector')).toStrictEqual({});
    const again = await cli('plan', ...target(), '--json', '--exclude', '/skip/*,/app/full');
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { counts: Record<string, number> }).counts).toStrictEqual({
      subscribe: 0,
      update: 0,
      remove: 0,
      skip: 5,
      conflict: 0,
    });
  });

  it('remove takes our filters off and leaves foreign ones, exit 0', async () => {
    await cli('apply', ...target());
    const removed = await cli('remove', '--rate', '50', '--json');
    expect(removed.code).toBe(0);
    expect((JSON.parse(removed.stdout) as { summary: Record<string, number> }).summary).toMatchObject({
      removed: 2,
      failed: 0,
    });
    expect(await account.filters('/app/a')).toStrictEqual({});
    expect(Object.keys(await account.filters('/app/full'))).toStrictEqual(['x', 'y']);
  });

  it('--concurrency abc exits 2 naming the flag, and changes nothing (it used to run nothing and exit 0)', async () => {
    const { code, stdout, stderr } = await cli('apply', ...target(), '--concurrency', 'abc');
    expect(code).toBe(2);
    expect(stderr).toBe("log-reflector: --concurrency: expected a positive integer, received 'abc'\n");
    expect(stdout).toBe('');
    expect(await account.filters('/app/a')).toStrictEqual({});
  });

  it('--concurrency 1 works through every group one at a time', async () => {
    const { code, stdout } = await cli('apply', ...target(), '--concurrency', '1', '--json');
    expect(code).toBe(1);
    expect((JSON.parse(stdout) as { summary: Record<string, number> }).summary.subscribed).toBe(2);
  });

  it('shows reading progress on a terminal, and none with --json', async () => {
    const tty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    try {
      const shown = await cli('plan', ...target());
      expect(shown.stderr).toContain('\rreading log groups in us-east-1: 5 so far…');
      // Erased before the table is printed.
      expect(shown.stderr.endsWith('\r\x1b[K')).toBe(true);
      const quiet = await cli('plan', ...target(), '--json');
      expect(quiet.stderr).toBe('');
    } finally {
      if (tty) Object.defineProperty(process.stderr, 'isTTY', tty);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
    }
  });

  it('names the bad flag and exits 2', async () => {
    const { code, stderr } = await cli('plan', '--destination-arn', 'nope', '--role-arn', ROLE_ARN);
    expect(code).toBe(2);
    expect(stderr).toContain(
      '--destination-arn: must be a logs destination, Kinesis, Firehose or Lambda ARN (received "nope")',
    );
  });
});
