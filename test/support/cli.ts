/**
 * Runs `log-reflector` in-process: main() with stdout and stderr captured (spied, not printed),
 * the given environment set for the call only, and everything put back afterwards, whether the
 * command returned or threw.
 */
import { vi } from 'vitest';
import { main } from '../../central/cli/main';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `args` follow the program name (e.g. `['coverage', '--json']`). Each `env` entry is set for the
 * call, or removed when undefined; the previous values are restored after, as are all mocks and
 * `process.exitCode` (which main sets from the commands).
 */
export async function runCli(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const apply = (vars: Readonly<Record<string, string | undefined>>) => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(env);
  try {
    const code = await main(['node', 'log-reflector', ...args]);
    return { code, stdout, stderr };
  } finally {
    apply(saved);
    process.exitCode = undefined;
    vi.restoreAllMocks();
  }
}
