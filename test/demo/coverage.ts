/**
 * Coverage in the demo (issue 12.1; docs/runbook.md, "Coverage"), as a deployed organization
 * has it:
 * - the member functions write their reports (member.ts) into the central state bucket;
 * - the **coverage aggregator** (`central/coverage/handler.ts`, `log-reflector-coverage`) runs
 *   in-process in the central account's home region with the central template's environment and
 *   the central account's keys, invoked with the event its hourly EventBridge schedule sends;
 *   it reads every report and the enrolled list, writes `coverage-index/latest.json.gz` and
 *   publishes its metrics (recorded here instead of CloudWatch);
 * - **`log-reflector coverage`** runs as the CLI (a child process, as an operator runs it, like
 *   `verify` in docs/demo.md) with the management account's profile of the demo's AWS config file;
 *   the demo prints its table with the command's own renderer and checks its numbers against what
 *   the demo counted itself (`compareCoverage`).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import type { S3Client } from '@aws-sdk/client-s3';
import { type CoverageResult, render } from '../../central/cli/coverage';
import { parseCoverageEnv } from '../../central/coverage/env';
import { aggregate, SERVICE_NAME } from '../../central/coverage/handler';
import { PROJECT_ROOT } from '../../shared/constructs/bundle';
import type { CoverageTotals } from '../../shared/coverage';
import type { InProcessLambda } from './lambda';

/** What the aggregator's scheduled run produced. */
export interface AggregatorRun {
  readonly totals: CoverageTotals;
  /** The metrics it published (name → value), as the dashboard and the alarms would see them. */
  readonly metrics: Readonly<Record<string, number>>;
}

/** The coverage aggregator, registered as a function of the central account (see the module comment). */
export class CoverageAggregator {
  readonly arn: string;
  private readonly published = new Map<string, number>();

  constructor(
    private readonly lambda: InProcessLambda,
    private readonly where: { readonly account: string; readonly region: string; readonly rule: string },
    env: Record<string, string>,
    s3: S3Client,
    timeoutSeconds: number,
    verbose: boolean,
  ) {
    this.arn = `arn:aws:lambda:${where.region}:${where.account}:function:log-reflector-coverage`;
    const stored = new Map<string, number>();
    const deps = {
      config: parseCoverageEnv(env),
      s3,
      now: Date.now,
      logger: new Logger({ serviceName: SERVICE_NAME, logLevel: verbose ? 'INFO' : 'SILENT' }),
      metrics: {
        addMetric: (name: string, _unit: unknown, value: number) => {
          stored.set(name, value);
        },
        publishStoredMetrics: () => {
          for (const [k, v] of stored) this.published.set(k, v);
          stored.clear();
        },
      },
    };
    // What the Lambda entry point does (`handler`), with the demo's dependencies.
    lambda.register(this.arn, timeoutSeconds, async () => ({ totals: (await aggregate(deps)).totals }));
  }

  /** One invocation with the event the hourly schedule sends. */
  async scheduled(): Promise<AggregatorRun> {
    const { account, region, rule } = this.where;
    const out = (await this.lambda.invoke(this.arn, {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account,
      time: new Date().toISOString(),
      region,
      resources: [`arn:aws:events:${region}:${account}:rule/${rule}`],
      detail: {},
    })) as { totals: CoverageTotals };
    return { totals: out.totals, metrics: Object.fromEntries(this.published) };
  }
}

/** What `log-reflector coverage --json` printed, and the table it prints without --json. */
export interface CoverageCommandRun {
  readonly args: readonly string[];
  readonly exitCode: number | null;
  readonly result: CoverageResult;
  readonly table: string;
  readonly stderr: string;
}

/**
 * Runs `log-reflector coverage --region <home> --json` as a child process with `env` (an AWS
 * profile of the management account); the table is the command's own rendering of that result.
 */
export async function runCoverageCommand(
  homeRegion: string,
  env: Readonly<Record<string, string>>,
): Promise<CoverageCommandRun> {
  const args = ['coverage', '--region', homeRegion, '--json'];
  const child = spawn(process.execPath, [join('central', 'cli', 'log-reflector.mjs'), ...args], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  let result: CoverageResult;
  try {
    result = JSON.parse(stdout) as CoverageResult;
  } catch {
    throw new Error(
      `log-reflector ${args.join(' ')} exited ${exitCode} without a JSON result: ${stderr.trim() || stdout.trim()}`,
    );
  }
  return { args, exitCode, result, table: render(result, {}), stderr };
}

/** What the demo counted itself in one account × region (demo.ts, report()). */
export interface DemoCell {
  readonly account: string;
  readonly region: string;
  /** The member stack runs Enrollment=enabled (what its functions see). */
  readonly enabled: boolean;
  readonly logGroups: number;
  /** Workload groups (not excluded) plus the conflict groups the demo planted. */
  readonly eligible: number;
  readonly subscribed: number;
  readonly conflicts: number;
}

/**
 * Where the command's rows disagree with the demo's own count (empty when they agree): every
 * account × region has a row; its log groups are eligible + excluded (excluded counts the groups
 * of an account that is not enrolled too); where the stack runs enabled the eligible, subscribed
 * and conflict counts are the demo's, elsewhere nothing is eligible or subscribed.
 */
export function compareCoverage(cells: readonly DemoCell[], result: CoverageResult): string[] {
  const out: string[] = [];
  const rows = new Map(result.rows.map((r) => [`${r.account}/${r.region}`, r]));
  for (const c of cells) {
    const where = `${c.account}/${c.region}`;
    const row = rows.get(where);
    if (!row) {
      out.push(`${where}: no row`);
      continue;
    }
    const want = {
      eligible: c.enabled ? c.eligible : 0,
      subscribed: c.subscribed,
      conflicts: c.enabled ? c.conflicts : 0,
      'eligible + excluded': c.logGroups,
    };
    const got = {
      eligible: row.eligible,
      subscribed: row.subscribed,
      conflicts: row.conflicts,
      'eligible + excluded':
        row.eligible === undefined || row.excluded === undefined ? undefined : row.eligible + row.excluded,
    };
    for (const [k, v] of Object.entries(want)) {
      const g = got[k as keyof typeof got];
      if (g !== v) out.push(`${where}: ${k} ${g ?? 'none'}, the demo counted ${v}`);
    }
  }
  const enabled = cells.filter((c) => c.enabled);
  const subscribed = enabled.reduce((n, c) => n + c.subscribed, 0);
  const eligible = enabled.reduce((n, c) => n + c.eligible, 0);
  const g = result.totals?.groups;
  if (g?.subscribed !== subscribed || g.eligible !== eligible)
    out.push(
      `org-wide: ${g?.subscribed ?? '?'} of ${g?.eligible ?? '?'} eligible groups subscribed, the demo counted ${subscribed} of ${eligible}`,
    );
  if (
    result.totals &&
    (result.totals.reporting !== enabled.length || result.totals.expected !== enabled.length)
  )
    out.push(
      `org-wide: ${result.totals.reporting} of ${result.totals.expected} enrolled account × regions reporting, the demo ran ${enabled.length} enabled`,
    );
  return out;
}
