/**
 * `npm run demo` stops the servers it started — moto_server, the local Sumo source — when a
 * run fails and on Ctrl-C (SIGINT), and rejects bad flags before starting anything.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runDemo } from '../demo/demo';
import { main } from '../demo/run';
import { childEnv, DEMO, processGone, refusesConnections, startNode } from './support';

describe('demo lifecycle', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('stops its servers when the run fails', async () => {
    let seen: { pid: number | undefined; moto: string; sumo: string } | undefined;
    await expect(
      runDemo({
        accounts: 2,
        regions: 1,
        groups: 1,
        eventsPerGroup: 1,
        afterDeploy: async (session) => {
          seen = { pid: session.moto.pid, moto: session.moto.endpoint, sumo: session.sumo.base };
          throw new Error('injected failure after the deployment');
        },
      }),
    ).rejects.toThrow('injected failure after the deployment');
    expect(seen?.pid).toBeGreaterThan(0);
    expect(processGone(seen?.pid ?? 0)).toBe(true);
    expect(await refusesConnections(seen?.moto ?? '')).toBe(true);
    expect(await refusesConnections(seen?.sumo ?? '')).toBe(true);
  }, 300_000);

  it('stops its servers on Ctrl-C (SIGINT) and exits 130', async () => {
    // --keep-running: whether the signal lands during the run or while serving, it must end it.
    const demo = startNode(
      [...DEMO, '--accounts', '2', '--regions', '1', '--groups', '1', '--keep-running'],
      childEnv(),
    );
    const [, pid, moto, sumo] = await demo.waitForStderr(
      /servers: moto_server pid (\d+) at (\S+), local Sumo source at (\S+)\n/,
    );
    expect(processGone(Number(pid))).toBe(false);
    demo.process.kill('SIGINT');
    const done = await demo.finished;
    expect(done.stderr).toContain('interrupted: stopping the emulator');
    expect(done.code).toBe(130);
    expect(processGone(Number(pid))).toBe(true);
    expect(await refusesConnections(moto ?? '')).toBe(true);
    expect(await refusesConnections(sumo ?? '')).toBe(true);
  }, 300_000);

  it('--keep-running serves until Ctrl-C, then stops everything and removes its config file', async () => {
    const demo = startNode(
      [...DEMO, '--accounts', '2', '--regions', '1', '--groups', '1', '--events', '1', '--keep-running'],
      childEnv(),
    );
    const [, pid, moto, sumo] = await demo.waitForStderr(
      /servers: moto_server pid (\d+) at (\S+), local Sumo source at (\S+)\n/,
    );
    const [, configFile] = await demo.waitForStdout(/export AWS_CONFIG_FILE=(\S+) /);
    // One profile per account; every account but the management one is reached by AssumeRole.
    expect(readFileSync(configFile ?? '', 'utf8')).toContain('role_arn = arn:aws:iam::');
    demo.process.kill('SIGINT');
    const done = await demo.finished;
    expect(done.stdout).toMatch(/^PASS: /m);
    expect(done.code).toBe(130);
    expect(processGone(Number(pid))).toBe(true);
    expect(await refusesConnections(moto ?? '')).toBe(true);
    expect(await refusesConnections(sumo ?? '')).toBe(true);
    expect(existsSync(configFile ?? '')).toBe(false);
  }, 300_000);

  it('rejects bad flags with exit code 2 before starting anything', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await main(['node', 'run.ts', '--accounts', '1'])).toBe(2);
    expect(await main(['node', 'run.ts', '--regions', 'two'])).toBe(2);
    const text = err.mock.calls.map((c) => String(c[0])).join('');
    expect(text).toContain('--accounts must be an integer from 2 to 200 (received 1)');
    expect(text).toContain('--regions takes an integer (received "two")');
  });
});
