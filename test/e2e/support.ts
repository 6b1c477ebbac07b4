/** Helpers the end-to-end tests share: child processes and "is this server gone" checks. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../shared/constructs/bundle';

/** The environment for a child process: the test's, without any AWS_* setting, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('AWS_')) env[k] = v;
  }
  return {
    ...env,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Child {
  readonly process: ChildProcess;
  /** Resolves with the first match of `pattern` in stderr (rejects if the child exits first). */
  waitForStderr(pattern: RegExp): Promise<RegExpMatchArray>;
  /** The same for stdout. */
  waitForStdout(pattern: RegExp): Promise<RegExpMatchArray>;
  readonly finished: Promise<Finished>;
}

/** Starts `node <args>` in the project root with `env`. */
export function startNode(args: readonly string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, [...args], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const text = { stdout: '', stderr: '' };
  type Stream = keyof typeof text;
  interface Waiter {
    readonly stream: Stream;
    readonly pattern: RegExp;
    readonly resolve: (m: RegExpMatchArray) => void;
    readonly reject: (e: Error) => void;
  }
  const waiters: Waiter[] = [];
  const onData = (stream: Stream) => (d: Buffer) => {
    text[stream] += d.toString();
    for (const w of waiters.filter((x) => x.stream === stream)) {
      const m = w.pattern.exec(text[stream]);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout?.on('data', onData('stdout'));
  child.stderr?.on('data', onData('stderr'));
  const waitFor = (stream: Stream) => (pattern: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const m = pattern.exec(text[stream]);
      if (m) resolve(m);
      else waiters.push({ stream, pattern, resolve, reject });
    });
  const finished = new Promise<Finished>((resolve) => {
    child.once('close', (code, signal) => {
      for (const w of waiters.splice(0))
        w.reject(new Error(`child exited (${code ?? signal}) before printing ${w.pattern}:\n${text.stderr}`));
      resolve({ code, signal, stdout: text.stdout, stderr: text.stderr });
    });
  });
  return { process: child, finished, waitForStderr: waitFor('stderr'), waitForStdout: waitFor('stdout') };
}

export const CLI = join('central', 'cli', 'log-reflector.mjs');
export const DEMO = ['--import', 'tsx', join('test', 'demo', 'run.ts')];

/** True when no process has this id any more. */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** True when nothing accepts connections at `url` any more. */
export async function refusesConnections(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(5000) });
    return false;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return cause?.code === 'ECONNREFUSED';
  }
}
