/**
 * `log-reflector replay`'s flags: errors name the flag the operator typed (not the reflector's
 * variable behind it), and the listing shows progress on a terminal only. S3 is mocked (the
 * replay itself runs against moto in test/central/reflector/replay.test.ts).
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CliRun, runCli } from '../../support/cli';

const s3 = mockClient(S3Client);
const ENV_KEYS = [
  'AWS_REGION',
  'AWS_CONFIG_FILE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_ENDPOINT_URL',
  'SUMO_ENDPOINT',
  'SUMO_ENDPOINT_SECRET_ARN',
] as const;
let saved: Record<string, string | undefined>;

beforeEach(() => {
  s3.reset();
  saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) delete process.env[k];
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
  });
});
afterEach(() => {
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

function replay(...args: string[]): Promise<CliRun> {
  return runCli(['replay', ...args]);
}

describe('log-reflector replay flags', () => {
  it('--bucket: a name S3 would refuse is named with the flag, before any call', async () => {
    const { code, stderr } = await replay('--bucket', 'Not_A_Bucket', '--dry-run');
    expect(code).toBe(2);
    expect(stderr).toBe(
      "log-reflector: --bucket: expected an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens), received 'Not_A_Bucket'\n",
    );
    expect(s3.calls()).toHaveLength(0);
  });

  it('names --endpoint-secret-arn, not the variable, when no Sumo URL is given', async () => {
    const { code, stderr } = await replay('--bucket', 'log-reflector-failures');
    expect(code).toBe(2);
    expect(stderr).toBe(
      'log-reflector: Invalid replay options:\n' +
        '  - --endpoint-secret-arn: required: the secret holding the Sumo URL (or SUMO_ENDPOINT_SECRET_ARN in the environment; --dry-run needs none) (received undefined)\n',
    );
    expect(s3.calls()).toHaveLength(0);
  });

  it('shows the listing on a terminal and nothing with --json', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [], IsTruncated: false });
    const tty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    try {
      const shown = await replay('--bucket', 'log-reflector-failures', '--prefix', 'malformed/', '--dry-run');
      expect(shown.code).toBe(0);
      expect(shown.stderr).toContain('\rreplay: listing s3://log-reflector-failures/malformed/…');
      expect(shown.stdout).toContain('dry run: 0 object(s)');
      const quiet = await replay('--bucket', 'log-reflector-failures', '--dry-run', '--json');
      expect(quiet.code).toBe(0);
      expect(quiet.stderr).toBe('');
    } finally {
      if (tty) Object.defineProperty(process.stderr, 'isTTY', tty);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
    }
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input.Prefix)).toStrictEqual([
      'malformed/',
      '',
    ]);
  });
});
