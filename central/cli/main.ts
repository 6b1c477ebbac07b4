/**
 * The operator CLI, `log-reflector`. Runs on an operator's machine with their AWS
 * credentials (or against `AWS_ENDPOINT_URL`, e.g. moto), never inside a Lambda.
 * Each command group lives in its own file under ./commands and registers itself here.
 */
import { Command, CommanderError } from 'commander';
import { register as registerMember } from '../../member/cli/member';
import { register as registerVerify } from '../../shared/cli/verify';
import { register as registerEnrollment } from './enrollment';
import { register as registerReplay } from './replay';

export function buildProgram(): Command {
  const program = new Command('log-reflector')
    .description('Org-wide CloudWatch Logs forwarding to Sumo Logic: operator commands')
    .exitOverride()
    .showHelpAfterError();
  registerMember(program);
  registerReplay(program);
  registerEnrollment(program);
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
