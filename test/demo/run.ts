/**
 * `npm run demo [-- --accounts N --regions M --groups G --faults --json --keep-running --verbose]`
 *
 * Runs the emulated organization (demo.ts, docs/demo.md): progress on stderr, the table and
 * the verdict on stdout (with --json, one JSON document as the last line of stdout instead).
 * Exit code 0 when nothing was lost and no opted-out account forwarded anything, 1 when the
 * verdict fails or the run broke, 2 for bad flags, 130 after Ctrl-C. The servers it started
 * (moto_server, the local Sumo source, the ResponseURL server) are stopped in every case.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { DemoError, type DemoReport, DemoSession, DemoUsageError } from './demo';
import { formatAccess, formatReport } from './report';

function int(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n))
      throw new InvalidArgumentError(`${flag} takes an integer (received "${value}")`);
    return n;
  };
}

interface Flags {
  accounts: number;
  regions: number;
  groups: number;
  events: number;
  faults?: boolean;
  json?: boolean;
  keepRunning?: boolean;
  verbose?: boolean;
}

export async function main(argv: readonly string[]): Promise<number> {
  // The SDK's notice that releases after January 2027 need Node 22 (the lockfile pins ones
  // that support Node 20) would be the first thing a newcomer reads.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const program = new Command('demo')
    .description('The whole log-reflector organization on one machine (docs/demo.md)')
    .option(
      '--accounts <n>',
      'member accounts besides management and central; the last one opts out',
      int('--accounts'),
      3,
    )
    .option('--regions <n>', 'regions (the first is the home region)', int('--regions'), 2)
    .option(
      '--groups <n>',
      'log groups per account × region before the deployment (half as many come after)',
      int('--groups'),
      4,
    )
    .option('--events <n>', 'events per log group per write round', int('--events'), 20)
    .option(
      '--faults',
      'Sumo 503/429, throttled CloudWatch Logs API, an account joining and one opting out mid-run',
    )
    .option('--json', 'print one JSON document (last line of stdout) instead of the table')
    .option(
      '--keep-running',
      'keep the emulator running after the verdict, for the CLI (verify), until Ctrl-C',
    )
    .option('--verbose', 'print the functions’ log lines')
    .exitOverride()
    .showHelpAfterError();
  try {
    program.parse([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  const flags = program.opts<Flags>();
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130); // a second Ctrl-C: leave now
    interrupted = true;
    progress('interrupted: stopping the emulator…');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Last resort if the process ends without the finally below (an uncaught error): no
  // moto_server is left behind.
  let motoPid: number | undefined;
  const killMoto = () => {
    if (motoPid !== undefined) {
      try {
        process.kill(motoPid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.on('exit', killMoto);

  let session: DemoSession | undefined;
  try {
    session = await DemoSession.start({
      accounts: flags.accounts,
      regions: flags.regions,
      groups: flags.groups,
      eventsPerGroup: flags.events,
      faults: flags.faults === true,
      verbose: flags.verbose === true,
      progress,
      signal: controller.signal,
      // The wall time counts from the process start (imports and synthesis included).
      startedAt: 0,
    });
    motoPid = session.moto.pid;
    progress(
      `${(performance.now() / 1000).toFixed(1).padStart(5)}s  servers: moto_server pid ${session.moto.pid ?? '?'} at ${session.moto.endpoint}, local Sumo source at ${session.sumo.base}`,
    );
    const report: DemoReport = await session.run();
    let output: Record<string, unknown> = { ...report };
    if (flags.keepRunning) {
      const access = session.serve();
      output = { ...output, emulator: access };
      if (!flags.json) process.stdout.write(`${formatReport(report)}\n${formatAccess(access)}\n`);
      else process.stdout.write(`${JSON.stringify(output)}\n`);
      // Ctrl-C ends serving: 130, as after any Ctrl-C (the verdict was printed above).
      await new Promise<void>((resolve) =>
        controller.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      return 130;
    }
    if (flags.json) process.stdout.write(`${JSON.stringify(output)}\n`);
    else process.stdout.write(`${formatReport(report)}\n`);
    progress(
      'To point log-reflector verify (or the AWS CLI) at the emulator: npm run demo -- --keep-running (docs/demo.md)',
    );
    return report.ok ? 0 : 1;
  } catch (err) {
    if (interrupted) return 130;
    if (err instanceof DemoError) {
      process.stderr.write(`demo: ${err.message}\n`);
      return err instanceof DemoUsageError ? 2 : 1;
    }
    const detail =
      err instanceof Error ? (flags.verbose ? (err.stack ?? err.message) : err.message) : String(err);
    process.stderr.write(`demo failed: ${detail}\n`);
    return 1;
  } finally {
    await session?.stop();
    motoPid = undefined;
    process.off('exit', killMoto);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[1]?.endsWith('run.ts')) {
  main(process.argv).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`demo failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
