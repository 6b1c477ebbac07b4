/**
 * The operator CLI, `log-reflector`. Runs on an operator's machine with their AWS
 * credentials (or against `AWS_ENDPOINT_URL`, e.g. moto), never inside a Lambda.
 * Each command lives next to the side it drives (member/cli/, central/cli/, shared/cli/)
 * and registers itself here.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { register as registerMember } from '../../member/cli/member';
import { register as registerVerify } from '../../shared/cli/verify';
import { register as registerCoverage } from './coverage';
import { register as registerEnrollment } from './enrollment';
import { register as registerReplay } from './replay';

/** The version in package.json, the one `npm ci` installed these sources as. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

const EXIT_CODES = `
Exit codes: 0 done; 1 the command ran and something failed or conflicted; 2 a bad flag, or an
error before the command could run. Progress bars and status lines go to stderr on a
terminal, never with --json.
Docs: README.md and docs/ of the checkout.`;

export function buildProgram(): Command {
  const program = new Command('log-reflector')
    .description('org-wide CloudWatch Logs forwarding to Sumo Logic: operator commands')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print help for the command')
    .helpCommand('help [command]', 'print help for a command')
    .addHelpText('after', EXIT_CODES)
    .exitOverride()
    .showHelpAfterError();
  registerMember(program);
  registerReplay(program);
  registerEnrollment(program);
  registerCoverage(program);
  registerVerify(program);
  return program;
}

/**
 * Runs the CLI. Returns the exit code: 0 success, 1 when the command ran but something
 * failed or conflicted (commands set `process.exitCode`), 2 for usage and unexpected errors.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  process.exitCode = undefined;
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`log-reflector: ${(err as Error).message}\n`);
    return 2;
  }
  const code = process.exitCode;
  return typeof code === 'number' ? code : 0;
}
