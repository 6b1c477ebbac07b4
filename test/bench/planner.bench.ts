/**
 * Planner benchmark: 100,000 log groups with a realistic mix (a third already ours, some
 * stale, foreign filters, full slots, our own groups, other classes), include/exclude globs.
 * Targets (issue 4): ≤ 2 s CPU and ≤ 256 MB. Prints CPU seconds, peak heap and peak RSS.
 * Building the input is not measured; planning it is.
 */
import {
  createPlanner,
  type ExistingFilter,
  type LogGroupState,
  type PlanSettings,
  plan,
} from '../../shared/plan';

const GROUPS = 100_000;
const DEST = 'arn:aws:logs:us-east-1:111122223333:destination:log-reflector';
const ROLE = 'arn:aws:iam::444455556666:role/log-reflector-sender';
const NAME = 'log-reflector-us-east-1';

const settings: PlanSettings = {
  destinationArn: DEST,
  roleArn: ROLE,
  filterName: NAME,
  filterPattern: '',
  include: ['/aws/*', '/ecs/*', 'app-*', '/custom/team-?/*'],
  exclude: ['/aws/vpc/*', '*-debug', '/aws/lambda/noisy-*'],
  enrollment: 'enabled',
  mode: 'reconcile',
};

const ours: ExistingFilter = { filterName: NAME, destinationArn: DEST, filterPattern: '', roleArn: ROLE };
const stale: ExistingFilter = {
  ...ours,
  destinationArn: 'arn:aws:logs:us-east-1:111122223333:destination:old',
};
const foreign = (n: string): ExistingFilter => ({
  filterName: n,
  destinationArn: 'arn:aws:lambda:us-east-1:444455556666:function:other',
  filterPattern: '',
});
const prefixes = [
  '/aws/lambda/fn-',
  '/aws/vpc/flow-',
  '/ecs/svc-',
  'app-',
  '/custom/team-a/',
  'misc-',
  '/aws/lambda/log-reflector-',
];

function buildGroups(): LogGroupState[] {
  const groups: LogGroupState[] = [];
  for (let i = 0; i < GROUPS; i += 1) {
    const name = `${prefixes[i % prefixes.length]}${i}${i % 97 === 0 ? '-debug' : ''}`;
    const mix = i % 10;
    const filters: ExistingFilter[] =
      mix < 3
        ? [ours]
        : mix === 3
          ? [stale]
          : mix === 4
            ? [foreign('dd')]
            : mix === 5
              ? [foreign('a'), foreign('b')]
              : [];
    groups.push({
      logGroupName: name,
      logGroupClass: i % 50 === 0 ? 'INFREQUENT_ACCESS' : 'STANDARD',
      filters,
    });
  }
  return groups;
}

const groups = buildGroups();
createPlanner(settings); // compile once outside the measurement (module warm-up)
const heapBefore = process.memoryUsage().heapUsed;
const cpuBefore = process.cpuUsage();
const wallBefore = performance.now();
const result = plan(groups, settings);
const wallMs = performance.now() - wallBefore;
const cpu = process.cpuUsage(cpuBefore);
const mem = process.memoryUsage();
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const peakRssMb = process.resourceUsage().maxRSS / 1024;
const heapMb = mem.heapUsed / 2 ** 20;

const lines = [
  `planner: ${GROUPS.toLocaleString('en-US')} log groups → ${result.actions.length.toLocaleString('en-US')} actions`,
  `  counts: ${JSON.stringify(result.counts)}`,
  `  CPU ${cpuSeconds.toFixed(3)} s (wall ${wallMs.toFixed(0)} ms), target ≤ 2 s`,
  `  heap ${heapMb.toFixed(1)} MB (plan added ${((mem.heapUsed - heapBefore) / 2 ** 20).toFixed(1)} MB), peak RSS ${peakRssMb.toFixed(1)} MB, target ≤ 256 MB`,
  `  ${cpuSeconds <= 2 && peakRssMb <= 256 ? 'within targets' : 'OVER TARGET'}`,
];
process.stdout.write(`${lines.join('\n')}\n`);
