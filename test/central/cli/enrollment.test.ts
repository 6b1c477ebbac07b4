/**
 * `log-reflector enrollment plan | apply` against moto through AWS_ENDPOINT_URL: the CLI builds
 * its own clients, exactly as on an operator's machine.
 */
import { ListStackSetOperationsCommand } from '@aws-sdk/client-cloudformation';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../central/cli/main';
import { ENROLLED_LIST_KEY } from '../../../shared/enrollment';
import { useMoto } from '../../support/moto';
import { buildWorld, MANAGEMENT_ACCOUNT_ID, MEMBERS_STACK_SET, type World } from '../enrollment/world';

const moto = useMoto();
let world: World;
let stdout: string;
let stderr: string;

beforeEach(async () => {
  await moto.reset();
  world = await buildWorld();
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

const cli = (...args: string[]) => main(['node', 'log-reflector', 'enrollment', ...args]);

async function updateOperations(): Promise<number> {
  const ops = await world.cfn.send(new ListStackSetOperationsCommand({ StackSetName: MEMBERS_STACK_SET }));
  return (ops.Summaries ?? []).filter((o) => o.Action === 'UPDATE').length;
}

describe('log-reflector enrollment', () => {
  it('plan prints the table and changes nothing', async () => {
    expect(await cli('plan', '--stack-set', MEMBERS_STACK_SET, '--ou', world.workloads)).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`members StackSet ${MEMBERS_STACK_SET}: planned`);
    expect(lines[1]?.split(/\s+/)).toStrictEqual([
      'account',
      'name',
      'tag',
      'desired',
      'current',
      'action',
      'regions',
      'reason',
    ]);
    const beta = lines.find((l) => l.startsWith(world.accounts.beta));
    expect(beta?.split(/\s{2,}/).slice(0, 6)).toStrictEqual([
      world.accounts.beta,
      'beta',
      'true',
      'disabled',
      // Fail-closed: the StackSet's own value is disabled, nothing to write.
      'disabled',
      'none',
    ]);
    const alpha = lines.find((l) => l.startsWith(world.accounts.alpha));
    expect(alpha?.split(/\s{2,}/).slice(0, 7)).toStrictEqual([
      world.accounts.alpha,
      'alpha',
      '-',
      'enabled',
      'disabled',
      'enable',
      // No --region: alphabetical.
      'eu-west-1,us-east-1',
    ]);
    expect(lines.at(-1)).toBe('  1 operation(s) to run with apply');
    expect(await updateOperations()).toBe(0);
  });

  it('plan --json with the defaults: the root as target, the management account from Organizations', async () => {
    expect(await cli('plan', '--stack-set', MEMBERS_STACK_SET, '--json')).toBe(0);
    const out = JSON.parse(stdout) as {
      summary: Record<string, number>;
      stackSets: { plan: { decisions: { account: string; action: string; reason: string }[] } }[];
    };
    const decisions = out.stackSets[0]?.plan.decisions ?? [];
    expect(decisions.find((d) => d.account === MANAGEMENT_ACCOUNT_ID)).toStrictEqual({
      account: MANAGEMENT_ACCOUNT_ID,
      name: 'master',
      // JSON drops the absent tag.
      desired: 'enabled',
      current: 'none',
      action: 'skip',
      regions: [],
      reason: 'management account: service-managed StackSets never deploy to it',
    });
    expect(decisions.find((d) => d.account === world.accounts.beta)?.action).toBe('none');
    expect(out.summary.AccountsToEnable).toBe(2);
  });

  it('apply publishes the enrolled list, then starts the operation and waits for it', async () => {
    const s3 = new S3Client({ forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'log-reflector-state-test' }));
    await s3.send(new CreateBucketCommand({ Bucket: 'log-reflector-reconciler-test' }));
    const args = ['--stack-set', MEMBERS_STACK_SET, '--ou', world.workloads];
    const buckets = [
      '--list-bucket',
      'log-reflector-state-test',
      '--state-bucket',
      'log-reflector-reconciler-test',
    ];
    expect(await cli('apply', ...args, ...buckets)).toBe(0);
    expect(stdout).toContain(`members StackSet ${MEMBERS_STACK_SET}: applied`);
    expect(stdout).toMatch(
      / {2}operation [0-9a-f-]{36} SUCCEEDED: enabled for 2 account\(s\) in eu-west-1,us-east-1/,
    );
    expect(stderr).toContain('enrollment operation started');
    expect(await updateOperations()).toBe(1);
    const list = await s3.send(
      new GetObjectCommand({ Bucket: 'log-reflector-state-test', Key: ENROLLED_LIST_KEY }),
    );
    expect(JSON.parse((await list.Body?.transformToString()) ?? '')).toMatchObject({
      version: 1,
      generation: 1,
      accounts: [world.accounts.alpha, world.accounts.gamma].sort(),
    });
    // The memory is in the state bucket: a second apply writes nothing.
    stdout = '';
    expect(await cli('apply', ...args, ...buckets)).toBe(0);
    expect(stdout).toContain(`members StackSet ${MEMBERS_STACK_SET}: in-sync`);
    expect(await updateOperations()).toBe(1);
  });

  it('apply without --list-bucket enables nobody and says why (exit 1)', async () => {
    expect(await cli('apply', '--stack-set', MEMBERS_STACK_SET, '--ou', world.workloads)).toBe(1);
    expect(stderr).toContain('no enrolled-list bucket configured: accounts are not enabled');
    expect(await updateOperations()).toBe(0);
  });

  it('honours --tag KEY=VALUE', async () => {
    expect(
      await cli(
        'plan',
        '--stack-set',
        MEMBERS_STACK_SET,
        '--ou',
        world.workloads,
        '--tag',
        'team=x',
        '--json',
      ),
    ).toBe(0);
    const out = JSON.parse(stdout) as { stackSets: { plan: { operations: unknown[] } }[] };
    // gamma carries team=x: opted out under this tag (already disabled); alpha and beta enabled.
    expect(out.stackSets[0]?.plan.operations).toStrictEqual([
      {
        enrollment: 'enabled',
        accounts: [world.accounts.alpha, world.accounts.beta].sort(),
        regions: ['eu-west-1', 'us-east-1'],
        preservedKeys: [],
      },
    ]);
  });

  it('rejects bad flags naming the flag and the value', async () => {
    expect(await cli('plan', '--stack-set', MEMBERS_STACK_SET, '--tag', 'novalue')).toBe(2);
    expect(stderr).toBe('log-reflector: Invalid --tag:\n  - --tag: must be KEY=VALUE (received "novalue")\n');
    stderr = '';
    expect(await cli('plan', '--stack-set', MEMBERS_STACK_SET, '--ou', 'ou-bad')).toBe(2);
    expect(stderr).toBe(
      'log-reflector: Invalid enrollment options:\n  - --ou: "ou-bad" is not an OU id (ou-…) or root id (r-…) (received "ou-bad")\n',
    );
  });
});
