/**
 * `log-reflector enrollment plan | apply`: the enrollment reconciler from an operator's shell,
 * with the same code the `log-reflector-enrollment` Lambda runs (`central/enrollment/reconcile.ts`).
 * `plan` reads and prints; `apply` also starts the UpdateStackInstances operations and waits for
 * them. Honours AWS_ENDPOINT_URL (the SDK reads it), so it also runs against moto.
 *
 *   log-reflector enrollment plan --stack-set log-reflector-members --ou ou-ab12-cdef3456
 *   log-reflector enrollment apply --stack-set log-reflector-members --call-as DELEGATED_ADMIN --json
 */
import {
  DescribeOrganizationCommand,
  ListRootsCommand,
  type OrganizationsClient,
} from '@aws-sdk/client-organizations';
import { type Command, Option } from 'commander';
import { jsonOption, knownRegions } from '../../shared/cli/options';
import { formatTable, printJson } from '../../shared/cli/output';
import { ConfigError } from '../../shared/errors';
import { DEFAULT_OPT_OUT_TAG_KEY, DEFAULT_OPT_OUT_TAG_VALUE } from '../../shared/naming';
import {
  awsOrganizations,
  awsStackSets,
  defaultClients,
  s3EnrolledPublisher,
  s3StateStore,
} from '../enrollment/aws';
import { type EnrollmentConfig, parseEnrollmentEnv } from '../enrollment/env';
import { type ReconcileResult, reconcile, summarize } from '../enrollment/reconcile';

export interface EnrollmentOptions {
  readonly stackSet: string;
  readonly tag: string;
  readonly ou?: readonly string[];
  readonly callAs: string;
  readonly region?: readonly string[];
  readonly managementStackSet?: string;
  readonly managementAccount?: string;
  readonly stateBucket?: string;
  readonly listBucket?: string;
  readonly json?: boolean;
}

/** Environment variable → the flag that sets it, so errors name what the operator typed. */
const FLAG_OF: Readonly<Record<string, string>> = {
  STACK_SET_NAME: '--stack-set',
  CALL_AS: '--call-as',
  TARGET_OU_IDS: '--ou',
  REGIONS: '--region',
  OPT_OUT_TAG_KEY: '--tag',
  OPT_OUT_TAG_VALUE: '--tag',
  MANAGEMENT_ACCOUNT_ID: '--management-account',
  MANAGEMENT_STACK_SET_NAME: '--management-stack-set',
  STATE_BUCKET: '--state-bucket',
  ENROLLED_LIST_BUCKET: '--list-bucket',
};

/** Splits `KEY=VALUE` at the first `=` (tag keys may not contain `=`, values may). */
export function parseTag(text: string): { key: string; value: string } {
  const at = text.indexOf('=');
  if (at <= 0) {
    throw new ConfigError('--tag', [{ path: '--tag', message: 'must be KEY=VALUE', received: text }]);
  }
  return { key: text.slice(0, at), value: text.slice(at + 1) };
}

/**
 * Builds the reconciler config from the flags through the Lambda's own schema. Missing OUs
 * default to the organization root; a missing management account id is read from Organizations.
 */
export async function configFromOptions(
  options: EnrollmentOptions,
  organizations: OrganizationsClient,
): Promise<EnrollmentConfig> {
  const tag = parseTag(options.tag);
  let ous = options.ou ?? [];
  if (ous.length === 0) {
    const roots = await organizations.send(new ListRootsCommand({}));
    ous = (roots.Roots ?? []).flatMap((r) => (r.Id ? [r.Id] : []));
  }
  const managementAccount =
    options.managementAccount ??
    (await organizations.send(new DescribeOrganizationCommand({}))).Organization?.MasterAccountId;
  const regions = options.region ?? [];
  try {
    const config = parseEnrollmentEnv({
      STACK_SET_NAME: options.stackSet,
      CALL_AS: options.callAs,
      TARGET_OU_IDS: ous.join(','),
      // Only orders regions in the operations; the schema wants one, the CLI allows none.
      REGIONS: regions.length > 0 ? regions.join(',') : 'us-east-1',
      OPT_OUT_TAG_KEY: tag.key,
      OPT_OUT_TAG_VALUE: tag.value,
      MANAGEMENT_ACCOUNT_ID: managementAccount,
      MANAGEMENT_STACK_SET_NAME: options.managementStackSet,
      STATE_BUCKET: options.stateBucket,
      ENROLLED_LIST_BUCKET: options.listBucket,
    });
    return { ...config, regions: regions.length > 0 ? config.regions : [] };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(
      'enrollment options',
      err.issues.map((i) => {
        const variable = i.path.split('.')[0] ?? '';
        return { ...i, path: FLAG_OF[variable] ?? i.path };
      }),
    );
  }
}

/** The table the operator reads: one row per account and StackSet. */
export function renderResult(result: ReconcileResult): string {
  const sections: string[] = [];
  for (const outcome of result.outcomes) {
    const rows = outcome.plan.decisions.map((d) => ({
      account: d.account,
      name: d.name,
      tag: d.tag ?? '-',
      desired: d.desired ?? '-',
      current: d.current,
      action: d.action,
      regions: d.regions.join(','),
      reason: d.reason,
    }));
    const header = `${outcome.kind} StackSet ${outcome.stackSetName}: ${outcome.status}`;
    const ops = outcome.operations.map(
      (o) =>
        `  operation ${o.operationId ?? '-'} ${o.status}: ${o.operation.enrollment} for ${o.operation.accounts.length} account(s) in ${o.operation.regions.join(',')}${o.failures.length > 0 ? `, ${o.failures.length} failed instance(s)` : ''}`,
    );
    const deferred =
      outcome.deferred.length > 0
        ? [
            `  ${outcome.deferred.length} operation(s) ${outcome.status === 'planned' ? 'to run with apply' : 'left for the next run'}`,
          ]
        : [];
    sections.push(
      [
        header,
        formatTable(rows, ['account', 'name', 'tag', 'desired', 'current', 'action', 'regions', 'reason']),
        ...ops,
        ...deferred,
      ].join('\n'),
    );
  }
  return sections.join('\n\n');
}

async function run(apply: boolean, options: EnrollmentOptions): Promise<void> {
  const clients = defaultClients();
  const config = await configFromOptions(options, clients.organizations);
  // Progress (operations started, waits) on stderr, so stdout stays the table or the JSON.
  const log = {
    info: (message: string, data?: Record<string, unknown>) =>
      process.stderr.write(`${message}${data ? ` ${JSON.stringify(data)}` : ''}\n`),
  };
  const result = await reconcile(
    config,
    {
      organizations: awsOrganizations(clients.organizations),
      stackSets: awsStackSets(clients.cloudFormation),
      // The Lambda's own memory and lease: an apply from a shell never races a scheduled run.
      ...(config.stateBucket ? { stateStore: s3StateStore(clients.s3, config.stateBucket) } : {}),
      publisher: config.enrolledListBucket
        ? s3EnrolledPublisher(clients.s3, config.enrolledListBucket)
        : undefined,
      log: { info: log.info, warn: log.info },
    },
    { apply },
  );
  if (apply && result.publishProblem) process.stderr.write(`${result.publishProblem}\n`);
  if (options.json) {
    printJson({ summary: summarize(result), stackSets: result.outcomes });
  } else {
    process.stdout.write(`${renderResult(result)}\n`);
  }
  const unsettled = result.outcomes.some(
    (o) =>
      o.status === 'busy' ||
      o.status === 'partial' ||
      o.operations.some((op) => op.status !== 'SUCCEEDED' || op.failures.length > 0),
  );
  if (apply && unsettled) process.exitCode = 1;
}

function addOptions(command: Command): Command {
  return command
    .requiredOption('--stack-set <name>', 'the members StackSet (service-managed)')
    .option('--tag <key=value>', 'the opt-out tag', `${DEFAULT_OPT_OUT_TAG_KEY}=${DEFAULT_OPT_OUT_TAG_VALUE}`)
    .option('--ou <id...>', 'target OU or root ids (default: the organization root)')
    .addOption(
      new Option(
        '--call-as <who>',
        'SELF from the management account, DELEGATED_ADMIN from a delegated admin',
      )
        .choices(['SELF', 'DELEGATED_ADMIN'])
        .default('SELF'),
    )
    .option(
      '--region <name...>',
      'region order for the operations (default: as the instances are)',
      knownRegions('--region'),
    )
    .option('--management-stack-set <name>', 'the self-managed StackSet covering the management account')
    .option('--management-account <id>', 'management account id (default: from DescribeOrganization)')
    .option(
      '--state-bucket <name>',
      'the reconciler state bucket (org stack output): share the Lambda’s memory and lease',
    )
    .option(
      '--list-bucket <name>',
      'the central state bucket the enrolled list is published to; without it apply enables nobody',
    )
    .addOption(jsonOption());
}

/** Registers `enrollment plan` and `enrollment apply`. */
export function register(program: Command): void {
  const group = program
    .command('enrollment')
    .description('opt-out tag → per-account Enrollment overrides on the members StackSet');
  addOptions(
    group.command('plan').description('show what each account should be and what would change'),
  ).action((options: EnrollmentOptions) => run(false, options));
  addOptions(
    group
      .command('apply')
      .description('apply the plan: UpdateStackInstances, one operation at a time, waiting for each'),
  ).action((options: EnrollmentOptions) => run(true, options));
}
