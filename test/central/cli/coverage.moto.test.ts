/**
 * `log-reflector coverage` against an organization in moto (test/central/coverage/scenario.ts):
 * real sweeps wrote the reports with their own accounts' credentials, the real aggregator built
 * the index; the command reads with management credentials only, or every report with the
 * central account's profile, and says which side it could not read.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { type CoverageResult, collectCoverage } from '../../../central/cli/coverage';
import { type CleanupReport, cleanupReportKey } from '../../../shared/coverage';
import { type Credentials, clientConfig } from '../../demo/aws';
import { type CliRun, runCli } from '../../support/cli';
import { useMoto } from '../../support/moto';
import {
  buildScenario,
  CENTRAL,
  CENTRAL_BUCKET,
  HOME,
  MANAGEMENT,
  MEMBER_A,
  MEMBER_B,
  MEMBER_C,
  type Scenario,
} from '../coverage/scenario';

const moto = useMoto(HOME);
let scenario: Scenario;
let files: { config: string; credentials: string };

/** A shared credentials file: `default` = the management account, `central` = the central account. */
function credentialsFiles(s: Scenario): { config: string; credentials: string } {
  const dir = mkdtempSync(join(tmpdir(), 'coverage-cli-'));
  const entry = (name: string, c: Credentials) =>
    `[${name}]\naws_access_key_id = ${c.accessKeyId}\naws_secret_access_key = ${c.secretAccessKey}\n${c.sessionToken ? `aws_session_token = ${c.sessionToken}\n` : ''}`;
  const credentials = join(dir, 'credentials');
  writeFileSync(
    credentials,
    `${entry('default', s.credentials[MANAGEMENT] as Credentials)}\n${entry('central', s.credentials[CENTRAL] as Credentials)}`,
  );
  const config = join(dir, 'config');
  writeFileSync(config, '');
  return { config, credentials };
}

beforeAll(async () => {
  scenario = await buildScenario(moto.endpoint, Date.now());
  files = credentialsFiles(scenario);
}, 120_000);

function cli(...args: string[]): Promise<CliRun> {
  return runCli(['coverage', ...args], {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: HOME,
    AWS_CONFIG_FILE: files.config,
    AWS_SHARED_CREDENTIALS_FILE: files.credentials,
    AWS_ACCESS_KEY_ID: undefined,
    AWS_SECRET_ACCESS_KEY: undefined,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
  });
}

const rowOf = (result: CoverageResult, account: string, region: string) =>
  result.rows.find((r) => r.account === account && r.region === region);

describe('log-reflector coverage (moto)', () => {
  it('prints every account × region of the target OUs from management credentials alone', async () => {
    const { code, stdout, stderr } = await cli();
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(
      /^account\s+name\s+region\s+enrollment\s+instance\s+eligible\s+subscribed\s+conflicts\s+excluded\s+failed\s+coverage\s+last run\s+note$/,
    );
    const row = (account: string, region: string) =>
      lines.find((l) => l.startsWith(account) && l.includes(` ${region} `))?.split(/\s{2,}/);
    expect(row(MEMBER_A, 'us-east-1')?.slice(0, 11)).toStrictEqual([
      MEMBER_A,
      'member-a',
      'us-east-1',
      'enrolled',
      'CURRENT/SUCCEEDED',
      '9',
      '8',
      '1',
      '0',
      '0',
      '88.9 %',
    ]);
    expect(row(MEMBER_B, 'eu-west-1')?.slice(3, 4)).toStrictEqual(['opted out']);
    expect(row(CENTRAL, 'us-east-1')?.join(' ')).toContain('not covered');
    expect(row(CENTRAL, 'us-east-1')?.join(' ')).toContain('decision 10');
    expect(row(MEMBER_C, 'eu-west-1')?.join(' ')).toContain('pending');
    expect(row(MEMBER_C, 'eu-west-1')?.join(' ')).toContain('no coverage report yet');
    expect(stdout).toContain(
      'org-wide coverage: 96.3 % (26 of 27 eligible log groups subscribed); in 3 of 3 enrolled account × regions reporting (0 missing, 0 stale); 1 conflicts, 0 failed',
    );
    expect(stdout).toContain('log groups: coverage index of ');
  });

  it('--json and --csv carry the same rows', async () => {
    const json = await cli('--json');
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout) as CoverageResult;
    expect(result.rows).toHaveLength(8);
    expect(result.totals?.coveragePercent).toBeCloseTo((26 / 27) * 100, 5);
    expect(rowOf(result, MEMBER_A, 'eu-west-1')).toMatchObject({ eligible: 12, subscribed: 12, excluded: 2 });
    const csv = await cli('--csv');
    const lines = csv.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'account,name,region,enrollment,instance,eligible,subscribed,conflicts,excluded,failed,coverage_percent,last_run_at,last_run_source,dead_letter_messages,note,scope,account_policy,removal',
    );
    expect(lines).toHaveLength(9);
    expect(lines.find((l) => l.startsWith(`${MEMBER_A},member-a,us-east-1,`))).toMatch(
      /^333333333333,member-a,us-east-1,enrolled,CURRENT\/SUCCEEDED,9,8,1,0,0,88\.89,\d{4}-.+Z,sweep,,,log-group,,$/,
    );
  });

  it('--direct with the central profile reads every report and agrees with the index', async () => {
    const { code, stdout } = await cli('--direct', '--central-profile', 'central', '--json');
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as CoverageResult;
    expect(result.central.detail).toMatch(/^6 reports read from s3:\/\/log-reflector-state-/);
    expect(result.totals?.groups).toStrictEqual({
      total: 30,
      eligible: 27,
      subscribed: 26,
      conflicts: 1,
      failed: 0,
      excluded: 3,
      notEnrolled: 0,
    });
  });

  it('draws its progress on stderr when stderr is a terminal, and none with --json', async () => {
    const wasTTY = process.stderr.isTTY;
    process.stderr.isTTY = true;
    try {
      const table = await cli('--direct', '--central-profile', 'central');
      expect(table.code).toBe(0);
      expect(table.stderr).toContain('listing coverage reports: 6');
      expect(table.stderr).toContain('reading coverage reports [');
      expect(table.stderr).toContain('6/6 100%');
      expect(table.stdout).not.toContain('reading coverage reports');
      const json = await cli('--direct', '--central-profile', 'central', '--json');
      expect(json.code).toBe(0);
      expect(json.stderr).not.toContain('coverage reports');
      expect(() => JSON.parse(json.stdout)).not.toThrow();
    } finally {
      process.stderr.isTTY = wasTTY;
    }
  });

  it('shows ? for the side it cannot read, says why, and exits 1', async () => {
    const noManagement = await cli(
      '--management-profile',
      'nobody',
      '--central-bucket',
      CENTRAL_BUCKET,
      '--json',
    );
    expect(noManagement.code).toBe(1);
    expect(noManagement.stderr).toMatch(
      /^management side unreadable with profile nobody \(CredentialsProviderError: .*\): enrollment and stack instance columns show \?/m,
    );
    const a = JSON.parse(noManagement.stdout) as CoverageResult;
    // Central side only: enrolled accounts from the published list, instance unknown.
    expect(rowOf(a, MEMBER_A, 'eu-west-1')).toMatchObject({
      enrollment: 'enrolled',
      instance: '?',
      subscribed: 12,
    });
    expect(rowOf(a, MEMBER_B, 'eu-west-1')).toMatchObject({ enrollment: 'not enrolled' });

    const noCentral = await cli('--central-bucket', 'log-reflector-state-missing');
    expect(noCentral.code).toBe(1);
    expect(noCentral.stderr).toMatch(/^central side unreadable \(NoSuchBucket: /m);
    expect(noCentral.stdout).toContain('org-wide coverage: ? (central side unreadable)');
    const line = noCentral.stdout.split('\n').find((l) => l.startsWith(MEMBER_A) && l.includes('eu-west-1'));
    expect(line?.split(/\s{2,}/).slice(3, 10)).toStrictEqual([
      'enrolled',
      'CURRENT/SUCCEEDED',
      '?',
      '?',
      '?',
      '?',
      '?',
    ]);
  });

  it('reads every report when the index is older than two hours, and says so', async () => {
    let stderr = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    const as = (account: string) =>
      clientConfig({
        endpoint: moto.endpoint,
        region: HOME,
        credentials: scenario.credentials[account] as Credentials,
      });
    try {
      const result = await collectCoverage(
        { concurrency: 4, json: true },
        {
          managementS3: new S3Client(as(MANAGEMENT)),
          centralS3: new S3Client(as(CENTRAL)),
          lambda: new LambdaClient(as(MANAGEMENT)),
        },
        HOME,
        () => Date.now() + 3 * 60 * 60_000,
      );
      expect(stderr).toMatch(
        /^coverage index is 1\d\d minutes old \(is log-reflector-coverage running\?\): reading every report\n$/,
      );
      expect(result.central.detail).toMatch(/^6 reports read/);
      // Three hours on, reports are not stale yet (13 hours), and the figures are the same.
      expect(result.totals?.coveragePercent).toBeCloseTo((26 / 27) * 100, 5);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("shows a departed account's removal under way (and in --problems), then done (not a problem) (issue 15.3)", async () => {
    const central = new S3Client(
      clientConfig({
        endpoint: moto.endpoint,
        region: HOME,
        credentials: scenario.credentials[CENTRAL] as Credentials,
      }),
    );
    const GONE = '666666666666';
    const key = cleanupReportKey(GONE, 'eu-west-1');
    const write = (state: CleanupReport['state']) =>
      central.send(
        new PutObjectCommand({
          Bucket: CENTRAL_BUCKET,
          Key: key,
          Body: JSON.stringify({
            version: 1,
            account: GONE,
            region: 'eu-west-1',
            installId: '271845b0',
            kind: 'uninstall',
            filterName: 'log-reflector-eu-west-1',
            state,
            pass: state === 'done' ? 2 : 1,
            requestedAt: '2026-06-02T06:00:00.000Z',
            generatedAt: '2026-06-02T08:15:00.000Z',
            runs: 9,
            removed: 41_230,
            failed: 0,
            checked: 45_310,
          } satisfies CleanupReport),
        }),
      );
    try {
      await write('removing');
      const running = await cli('--direct', '--central-profile', 'central', '--problems');
      expect(running.code).toBe(0);
      const line = running.stdout.split('\n').find((l) => l.startsWith(GONE));
      expect(line).toContain('not in scope');
      expect(line).toContain(
        'removing our filters: 41,230 removed, 45,310 log groups checked, last run 2026-06-02 08:15Z',
      );
      await write('done');
      const done = await cli('--direct', '--central-profile', 'central', '--json');
      expect(rowOf(JSON.parse(done.stdout) as CoverageResult, GONE, 'eu-west-1')).toMatchObject({
        removal: 'our filters removed: done 2026-06-02 08:15Z (41,230 removed)',
        note: '',
        lastRunSource: 'cleanup',
      });
      const problems = await cli('--direct', '--central-profile', 'central', '--problems');
      expect(problems.stdout).not.toContain(GONE);
    } finally {
      await central.send(new DeleteObjectCommand({ Bucket: CENTRAL_BUCKET, Key: key }));
    }
  });
});
