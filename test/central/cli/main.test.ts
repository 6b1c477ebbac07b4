/** The CLI entry: exit codes for help, usage errors and commands that throw. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildProgram, main } from '../../../central/cli/main';

describe('log-reflector CLI', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('lists every command group', () => {
    const names = buildProgram().commands.map((c) => c.name());
    expect(names.sort()).toStrictEqual(['apply', 'enrollment', 'plan', 'remove', 'replay', 'verify']);
  });

  it('exits 0 for --help', async () => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    expect(await main(['node', 'log-reflector', '--help'])).toBe(0);
  });

  it('exits 2 for an unknown command, naming it', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await main(['node', 'log-reflector', 'sumbit'])).toBe(2);
    expect(err.mock.calls.map((c) => String(c[0])).join('')).toContain("unknown command 'sumbit'");
  });

  it('exits 2 with the message when a command fails before it can run', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const saved = { r: process.env.AWS_REGION, d: process.env.AWS_DEFAULT_REGION };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      expect(await main(['node', 'log-reflector', 'verify'])).toBe(2);
    } finally {
      if (saved.r !== undefined) process.env.AWS_REGION = saved.r;
      if (saved.d !== undefined) process.env.AWS_DEFAULT_REGION = saved.d;
    }
    expect(err.mock.calls.map((c) => String(c[0])).join('')).toContain(
      'no region: pass --region or set AWS_REGION (received nothing)',
    );
  });
});
