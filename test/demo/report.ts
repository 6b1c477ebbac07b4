/** The demo's table: one row per account × region, then the verdict. */
import { formatTable } from '../../shared/cli/output';
import type { DemoReport, EmulatorAccess } from './demo';

export function formatReport(report: DemoReport): string {
  const rows = report.accounts.flatMap((a) =>
    a.regions.map((r) => ({
      account: a.account,
      name: a.name,
      region: r.region,
      'opt-out tag': a.optedOut ? 'yes' : '',
      enrollment: r.enrollment,
      'log groups': r.logGroups,
      subscribed: r.subscribed,
      'events written': r.eventsWritten,
      'events received': r.eventsReceived,
    })),
  );
  const c = report.counters;
  const lines = [
    formatTable(rows, [
      'account',
      'name',
      'region',
      'opt-out tag',
      'enrollment',
      'log groups',
      'subscribed',
      'events written',
      'events received',
    ]),
    '',
    'log groups: the workload groups, one /aws/lambda/*-canary* group the example config excludes and the member stack’s',
    'own /aws/lambda/log-reflector-* groups (never subscribed). Opted-out accounts write events too; none may arrive.',
  ];
  const list = report.enrolledList;
  const names = new Map(report.accounts.map((a) => [a.account, a.name]));
  const held = report.accounts.filter((a) => a.eventsNotEnrolled > 0);
  lines.push(
    list
      ? `enrolled list: generation ${list.generation}, ${list.accounts.length} accounts (${list.accounts.map((a) => names.get(a) ?? a).join(', ')}) in s3://${list.bucket}/${list.key};`
      : 'enrolled list: never published;',
    `  the reflector held back ${report.eventsNotEnrolled} events of accounts not on it` +
      (held.length > 0
        ? ` (${held.map((a) => `${a.name} ${a.eventsNotEnrolled}`).join(', ')}): written through filters of ours that outlived the account's enrollment.`
        : '.'),
  );
  if (report.accounts.some((a) => a.regions.some((r) => r.enrollment.endsWith('†'))))
    lines.push(
      '† the central account outside its home region: a destination serves cross-account delivery only, so the member',
      '  stack runs disabled there and those groups are not forwarded (docs/architecture.md, decision 10).',
    );
  if (report.faults) {
    lines.push(
      `faults: Sumo refused ${c.sumoRefused} of ${c.sumoRequests} requests (503/429); CloudWatch Logs throttled ${c.logsThrottled} ` +
        `and aborted ${c.logsAborted} member calls; the event source mapping re-delivered after ${c.esm.partialFailures} partial batch failure(s).`,
    );
  }
  if (
    c.subscriberEventsParked > 0 ||
    c.memberProblems > 0 ||
    report.unsubscribed > 0 ||
    report.strayFilters > 0 ||
    c.enrollmentListUnavailable > 0 ||
    report.eventsNotEnrolled < report.strayEvents
  ) {
    lines.push(
      `attention: ${c.subscriberEventsParked} subscriber event(s) parked, ${c.memberProblems} warning/error line(s) from member functions, ` +
        `${report.unsubscribed} eligible group(s) of enrolled accounts unsubscribed, ${report.strayFilters} filter(s) left in opted-out accounts, ` +
        `${c.enrollmentListUnavailable} batch(es) sent back to Kinesis for want of an enrolled list, ` +
        `${report.strayEvents} event(s) written through stray filters of which the reflector held back ${report.eventsNotEnrolled}.`,
    );
  }
  const cov = report.coverage;
  lines.push(
    '',
    `$ ${cov.command}   # the management account's profile, after the hourly coverage aggregator ran`,
    cov.table,
  );
  if (cov.disagreements.length > 0)
    lines.push(
      `attention: the coverage table disagrees with the demo's count: ${cov.disagreements.join('; ')}`,
    );
  lines.push('', report.verdict);
  return lines.join('\n');
}

/** How to point the CLI at the emulator (printed by --keep-running). */
export function formatAccess(access: EmulatorAccess): string {
  const central = access.accounts.find((a) => a.role === 'central');
  const member = access.accounts.find((a) => a.role === 'member');
  const lines = [
    '',
    `The emulator keeps running until Ctrl-C: moto_server at ${access.endpoint}, local Sumo source at ${access.sumoUrl}.`,
    'New log groups reach the subscriber within a second; the stream keeps flowing to the reflector.',
    `Every account has a profile in ${access.configFile} (role_arn + source_profile, endpoint_url = moto):`,
    `  ${access.accounts.map((a) => `${a.profile} (${a.account})`).join(', ')}`,
    'In another shell (docs/demo.md):',
    `  export AWS_CONFIG_FILE=${access.configFile} AWS_SHARED_CREDENTIALS_FILE=/dev/null`,
  ];
  if (central)
    lines.push(
      `  AWS_PROFILE=${central.profile} npm run cli -- verify --region ${access.homeRegion} --timeout-seconds 30   # central account: the marker reaches the stream`,
    );
  if (member)
    lines.push(
      `  AWS_PROFILE=${member.profile} npm run cli -- verify --region ${access.homeRegion} --timeout-seconds 30`,
    );
  return lines.join('\n');
}
