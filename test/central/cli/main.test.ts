/**
 * The CLI entry: exit codes for help, usage errors and commands that throw; the flags every
 * command shares (numbers, --region, --json) checked across all commands, before any call.
 * Every SDK client is mocked, so a command that got past its checks could not reach AWS.
 */
import { readFileSync } from 'node:fs';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import type { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../../../central/cli/main';
import { type CliRun, runCli } from '../../support/cli';

const clients = [
  mockClient(CloudFormationClient),
  mockClient(CloudWatchLogsClient),
  mockClient(KinesisClient),
  mockClient(OrganizationsClient),
  mockClient(S3Client),
  mockClient(SecretsManagerClient),
  mockClient(STSClient),
];

const callsMade = () => clients.reduce((n, c) => n + c.calls().length, 0);

/** Runs the CLI with this environment (restored after), capturing stdout and stderr. */
function cli(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<CliRun> {
  return runCli(args, {
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    // Unreachable, should a mock ever be bypassed.
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: undefined,
    ...env,
  });
}

/** Every command that runs (not a group), with its path, e.g. ['enrollment', 'plan']. */
function leafCommands(): { path: string[]; command: Command }[] {
  const out: { path: string[]; command: Command }[] = [];
  const walk = (command: Command, path: string[]) => {
    if (command.commands.length === 0) out.push({ path, command });
    for (const sub of command.commands) walk(sub, [...path, sub.name()]);
  };
  walk(buildProgram(), []);
  return out;
}

/** The flags a command requires, with values that pass, so only the flag under test is wrong. */
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  plan: [
    '--destination-arn',
    'arn:aws:logs:us-east-1:123456789012:destination:x',
    '--role-arn',
    'arn:aws:iam::123456789012:role/x',
  ],
  apply: [
    '--destination-arn',
    'arn:aws:logs:us-east-1:123456789012:destination:x',
    '--role-arn',
    'arn:aws:iam::123456789012:role/x',
  ],
  replay: ['--bucket', 'log-reflector-failures', '--dry-run'],
  'enrollment plan': ['--stack-set', 'log-reflector-members'],
  'enrollment apply': ['--stack-set', 'log-reflector-members'],
};

beforeEach(() => {
  for (const c of clients) c.reset();
  process.exitCode = undefined;
});
afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

describe('log-reflector CLI', () => {
  it('lists every command group', () => {
    const names = buildProgram().commands.map((c) => c.name());
    expect(names.sort()).toStrictEqual([
      'apply',
      'coverage',
      'enrollment',
      'plan',
      'remove',
      'replay',
      'verify',
    ]);
  });

  it('exits 0 for --help, which states the exit codes', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Exit codes: 0 done; 1 the command ran and something failed or conflicted; 2');
  });

  it('prints the version from package.json for --version and -V', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const { code, stdout } = await cli([flag]);
      expect(code).toBe(0);
      expect(stdout).toBe(`${version}\n`);
    }
  });

  it('exits 2 for an unknown command, naming it', async () => {
    const { code, stderr } = await cli(['sumbit']);
    expect(code).toBe(2);
    expect(stderr).toContain("unknown command 'sumbit'");
  });

  it('exits 2 naming --region when there is no region anywhere, before any call', async () => {
    const { code, stderr } = await cli(['verify'], { AWS_REGION: undefined });
    expect(code).toBe(2);
    expect(stderr).toBe(
      'log-reflector: --region: required: none given and none in AWS_REGION or the profile\n',
    );
    expect(callsMade()).toBe(0);
  });
});

describe('numeric flags', () => {
  const numeric = leafCommands().flatMap(({ path, command }) =>
    command.options
      .filter((o) => /<(n|rps|seconds)>/.test(o.flags))
      .map((o) => ({ path, flag: o.long as string, hasParser: o.parseArg !== undefined })),
  );

  it('are the ones this test knows, each with a parser', () => {
    expect(numeric.map((n) => `${n.path.join(' ')} ${n.flag}`).sort()).toStrictEqual([
      'apply --concurrency',
      'apply --filter-slots',
      'apply --rate',
      'coverage --concurrency',
      'coverage --stale-after-minutes',
      'plan --concurrency',
      'plan --filter-slots',
      'plan --rate',
      'remove --concurrency',
      'remove --rate',
      'verify --timeout-seconds',
    ]);
    expect(numeric.every((n) => n.hasParser)).toBe(true);
  });

  it.each(['abc', '0', '-3', ''])(
    'refuse %j in every command: exit 2 naming the flag, no call made',
    async (value) => {
      for (const { path, flag } of numeric) {
        const { code, stderr, stdout } = await cli([
          ...path,
          ...(REQUIRED[path.join(' ')] ?? []),
          flag,
          value,
        ]);
        expect({ command: path.join(' '), flag, code }).toStrictEqual({
          command: path.join(' '),
          flag,
          code: 2,
        });
        expect(stderr).toMatch(
          new RegExp(`^log-reflector: ${flag}: expected (a positive|an integer).*, received '${value}'\\n$`),
        );
        expect(stdout).toBe('');
      }
      expect(callsMade()).toBe(0);
    },
  );

  it('--concurrency abc: exit 2 with "--concurrency: expected a positive integer, received \'abc\'"', async () => {
    const { code, stderr } = await cli(['remove', '--concurrency', 'abc']);
    expect(code).toBe(2);
    expect(stderr).toBe("log-reflector: --concurrency: expected a positive integer, received 'abc'\n");
  });
});

describe('--region', () => {
  const withRegion = leafCommands().filter(({ command }) =>
    command.options.some((o) => o.long === '--region'),
  );

  it('is on every command that calls AWS', () => {
    expect(withRegion.map(({ path }) => path.join(' ')).sort()).toStrictEqual([
      'apply',
      'coverage',
      'enrollment apply',
      'enrollment plan',
      'plan',
      'remove',
      'replay',
      'verify',
    ]);
  });

  it('refuses an unknown region in every command, naming the flag, before any call', async () => {
    for (const { path } of withRegion) {
      const { code, stderr } = await cli([
        ...path,
        ...(REQUIRED[path.join(' ')] ?? []),
        '--region',
        'eu-wset-1',
      ]);
      expect({ command: path.join(' '), code }).toStrictEqual({ command: path.join(' '), code: 2 });
      expect(stderr).toBe(
        "log-reflector: --region: expected a known AWS region (commercial partition, e.g. eu-west-1; shared/regions.ts), received 'eu-wset-1'\n",
      );
    }
    expect(callsMade()).toBe(0);
  });

  it('checks the region from AWS_REGION too, in every one-region command, before any call', async () => {
    for (const path of [['plan'], ['apply'], ['remove'], ['verify'], ['replay'], ['coverage']]) {
      const { code, stderr } = await cli([...path, ...(REQUIRED[path.join(' ')] ?? [])], {
        AWS_REGION: 'mars-1',
      });
      expect({ command: path.join(' '), code }).toStrictEqual({ command: path.join(' '), code: 2 });
      expect(stderr).toContain(
        '--region: none given, and the one from AWS_REGION or the profile is not a known AWS region',
      );
      expect(stderr).toContain("received 'mars-1'");
    }
    expect(callsMade()).toBe(0);
  });
});

describe('help text', () => {
  it('describes --json and --region the same way everywhere; every command has --json', () => {
    const json = new Set<string>();
    const region = new Set<string>();
    for (const { command } of leafCommands()) {
      const option = (long: string) => command.options.find((o) => o.long === long);
      json.add(option('--json')?.description ?? `${command.name()} has no --json`);
      const r = option('--region');
      if (r && !r.variadic) region.add(r.description);
    }
    expect([...json]).toStrictEqual(['print JSON on stdout instead of a table']);
    expect([...region]).toStrictEqual(['AWS region (default: AWS_REGION or the profile)']);
  });

  it('command descriptions start in lower case, like commander’s own', () => {
    const walk = (command: Command): string[] => [
      command.description(),
      ...command.commands.flatMap((c) => walk(c)),
    ];
    for (const text of walk(buildProgram())) expect(text.charAt(0)).toBe(text.charAt(0).toLowerCase());
  });

  it('remove lists only the flags it uses (it removes our filter everywhere)', async () => {
    const remove = buildProgram().commands.find((c) => c.name() === 'remove');
    expect(remove?.options.map((o) => o.long)).toStrictEqual([
      '--region',
      '--scope',
      '--filter-name',
      '--rate',
      '--concurrency',
      '--json',
    ]);
    const { code, stderr } = await cli(['remove', '--include', '/app/*']);
    expect(code).toBe(2);
    expect(stderr).toContain("error: unknown option '--include'");
  });
});
