/**
 * `log-reflector coverage` at 1,000 accounts × 17 regions (issue 12.1: read in ≤ 30 s), on moto.
 *
 * Default path (what an operator runs): the reconciler's configuration (one Lambda call), its
 * state object (1,000 accounts × 17 instances), the enrolled list and the aggregator's index of
 * 17,000 reports, then the 17,000-row table. The index is built from generated reports with the
 * aggregator's own core (`buildIndex`) and written with its own writer; the rest is the command's
 * code as it runs.
 *
 * `--direct` path (every report, one GET each): measured on a slice of 1,700 reports in moto, and
 * given as a rate. moto is one Python process; S3 serves at least 5,500 GET requests per second
 * per prefix (https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html),
 * so moto's rate is a floor, not S3's.
 */

import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { collectCoverage, render } from '../../central/cli/coverage';
import { writeIndex } from '../../central/coverage/store';
import { s3StateStore } from '../../central/enrollment/aws';
import { emptyState } from '../../central/enrollment/state';
import { buildIndex, type CoverageReport, coverageReportKey } from '../../shared/coverage';
import { ENROLLED_LIST_KEY } from '../../shared/enrollment';
import { KNOWN_REGIONS } from '../../shared/regions';
import { startMoto } from '../support/moto';

const ACCOUNTS = 1_000;
const REGIONS = KNOWN_REGIONS.slice(0, 17) as string[];
const HOME = REGIONS.includes('eu-west-1') ? 'eu-west-1' : (REGIONS[0] as string);
const CENTRAL = '200000000000';
const CENTRAL_BUCKET = 'log-reflector-state-bench';
const STATE_BUCKET = 'log-reflector-reconciler-state-bench';
const DIRECT_SLICE = 1_700;

const account = (i: number) => String(100_000_000_000 + i);

function reports(now: number): CoverageReport[] {
  const out: CoverageReport[] = [];
  for (let a = 0; a < ACCOUNTS; a += 1) {
    for (const region of REGIONS) {
      const eligible = 20 + ((a * 7 + region.length) % 180);
      const conflicts = a % 97 === 0 ? 1 : 0;
      out.push({
        version: 1,
        account: account(a),
        region,
        source: 'sweep',
        startedAt: new Date(now - 3_600_000).toISOString(),
        generatedAt: new Date(now - 3_000_000).toISOString(),
        complete: true,
        enrollment: 'enabled',
        filterName: `log-reflector-${region}`,
        hops: 1,
        groups: {
          total: eligible + 5,
          eligible,
          subscribed: eligible - conflicts,
          conflicts,
          failed: 0,
          excluded: 5,
          notEnrolled: 0,
        },
        deadLetterMessages: 0,
      });
    }
  }
  return out;
}

function reconcilerState(now: number) {
  const state = emptyState();
  state.generation = 42;
  state.updatedAt = now - 600_000;
  const accounts: Record<string, ReturnType<typeof emptyState>['stackSets'][string]['accounts'][string]> = {};
  for (let a = 0; a < ACCOUNTS; a += 1) {
    const instances: Record<
      string,
      { status: string; detailed: string; enrollment: string; lastOp: string }
    > = {};
    for (const region of REGIONS)
      instances[region] = { status: 'CURRENT', detailed: 'SUCCEEDED', enrollment: 'enabled', lastOp: 'op-1' };
    accounts[account(a)] = { name: `member-${a}`, state: 'ACTIVE', tag: null, tagsReadAt: now, instances };
  }
  state.stackSets['log-reflector-members'] = { accounts, operations: {}, regionsListedAt: {}, walkedAt: now };
  return state;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const moto = await startMoto();
try {
  const config = {
    endpoint: moto.endpoint,
    region: HOME,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    forcePathStyle: true,
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 64 } }),
  };
  const s3 = new S3Client(config);
  const now = Date.now();
  for (const Bucket of [CENTRAL_BUCKET, STATE_BUCKET]) {
    await s3.send(
      new CreateBucketCommand({
        Bucket,
        CreateBucketConfiguration: { LocationConstraint: HOME as 'eu-west-1' },
      }),
    );
  }
  const all = reports(now);
  const enrolled = Array.from({ length: ACCOUNTS }, (_, i) => account(i));
  await s3.send(
    new PutObjectCommand({
      Bucket: CENTRAL_BUCKET,
      Key: ENROLLED_LIST_KEY,
      Body: JSON.stringify({
        version: 1,
        generation: 42,
        updatedAt: new Date(now).toISOString(),
        accounts: enrolled,
      }),
    }),
  );
  let t = performance.now();
  const index = buildIndex({
    reports: all,
    unreadable: [],
    enrolled: new Set(enrolled),
    enrolledGeneration: 42,
    regions: REGIONS,
    centralAccountId: CENTRAL,
    homeRegion: HOME,
    now: now - 600_000,
    staleAfterMinutes: 780,
  });
  const buildMs = performance.now() - t;
  const indexBytes = await writeIndex(s3, CENTRAL_BUCKET, index);
  await s3StateStore(s3, STATE_BUCKET).save(reconcilerState(now), undefined);
  const role = await new IAMClient(config).send(
    new CreateRoleCommand({
      RoleName: 'log-reflector-enrollment-bench',
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      }),
    }),
  );
  const lambda = new LambdaClient(config);
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'log-reflector-enrollment',
      Runtime: 'nodejs22.x',
      Role: role.Role?.Arn,
      Handler: 'index.handler',
      Code: { ZipFile: new Uint8Array([80, 75, 5, 6, ...new Array(18).fill(0)]) },
      Environment: {
        Variables: {
          STATE_BUCKET,
          ENROLLED_LIST_BUCKET: CENTRAL_BUCKET,
          REGIONS: REGIONS.join(','),
          STACK_SET_NAME: 'log-reflector-members',
          OPT_OUT_TAG_VALUE: 'true',
        },
      },
    }),
  );

  // Default path, as `log-reflector coverage` runs it (management credentials).
  t = performance.now();
  const result = await collectCoverage(
    { concurrency: 32, json: true },
    { managementS3: s3, centralS3: s3, lambda },
    HOME,
  );
  const readMs = performance.now() - t;
  t = performance.now();
  const table = render(result, {});
  const renderMs = performance.now() - t;
  process.stdout.write(
    `default path: ${result.rows.length.toLocaleString('en-US')} rows (${ACCOUNTS} accounts × ${REGIONS.length} regions) read in ${seconds(readMs)} ` +
      `(reconciler configuration + state, enrolled list, index of ${Math.round(indexBytes / 1024)} KiB gzip'd), table rendered in ${seconds(renderMs)} ` +
      `(${Math.round(table.length / 1024)} KiB); total ${seconds(readMs + renderMs)} (target ≤ 30 s). ` +
      `Org-wide: ${result.totals?.coveragePercent.toFixed(2)} %; management ${result.management.ok ? 'ok' : result.management.detail}; central ${result.central.ok ? 'ok' : result.central.detail}\n`,
  );
  process.stdout.write(
    `aggregator core: index of ${all.length.toLocaleString('en-US')} reports built in ${buildMs.toFixed(0)} ms\n`,
  );

  // --direct: every report one GET, on a slice.
  const slice = all.slice(0, DIRECT_SLICE);
  let next = 0;
  const put = async () => {
    while (next < slice.length) {
      const r = slice[next] as CoverageReport;
      next += 1;
      await s3.send(
        new PutObjectCommand({
          Bucket: CENTRAL_BUCKET,
          Key: coverageReportKey(r.account, r.region),
          Body: JSON.stringify(r),
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: 16 }, put));
  t = performance.now();
  const direct = await collectCoverage(
    { concurrency: 32, json: true, direct: true },
    { managementS3: s3, centralS3: s3, lambda },
    HOME,
  );
  const directMs = performance.now() - t;
  const rate = DIRECT_SLICE / (directMs / 1000);
  process.stdout.write(
    `--direct on moto: ${DIRECT_SLICE.toLocaleString('en-US')} reports (${direct.central.detail.split(' at ')[0]}) in ${seconds(directMs)}, ${Math.round(rate)} reports/s ` +
      `(moto, one Python process): ${all.length.toLocaleString('en-US')} reports would take ${seconds((all.length / rate) * 1000)} here; ` +
      `S3 serves ≥ 5,500 GET/s per prefix, so against S3 the 32 reads in flight set the pace\n`,
  );
} finally {
  await moto.stop();
}
