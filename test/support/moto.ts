/**
 * Starts a private `moto_server` (moto 5.2, on PATH in the image) on 127.0.0.1 with a free
 * port, for integration tests. Each test file gets its own server, so files can run in
 * parallel without sharing state. Nothing here ever talks to real AWS: the clients the tests
 * build point at the returned endpoint and use dummy credentials.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll } from 'vitest';

export interface MotoServer {
  /** e.g. `http://127.0.0.1:41234` */
  readonly endpoint: string;
  /** The moto_server process id (the demo prints it; its tests check the process is gone). */
  readonly pid: number | undefined;
  /** Clears all moto state (POST /moto-api/reset). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/** Environment that points the AWS SDK at a local endpoint with dummy credentials. */
export function localAwsEnv(endpoint: string, region = 'us-east-1'): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_SESSION_TOKEN: 'testing',
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    // Never read ~/.aws of whoever runs the tests.
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/** Applies `localAwsEnv` to process.env and returns a function that restores it. */
export function useLocalAwsEnv(endpoint: string, region = 'us-east-1'): () => void {
  const env = localAwsEnv(endpoint, region);
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitUntilUp(endpoint: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null = null;
  child.once('exit', (code) => {
    exited = code ?? -1;
  });
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(`moto_server exited with code ${exited} before it was up`);
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`moto_server did not answer on ${endpoint} within ${timeoutMs} ms`);
}

/**
 * Starts moto. `extraEnv` is passed to the server process (e.g. `MOTO_ENABLE_RECORDING`).
 * Fails with a clear message when moto_server is not on PATH.
 */
export async function startMoto(extraEnv: Record<string, string> = {}): Promise<MotoServer> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...extraEnv },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(new Error(`cannot start moto_server (is it on PATH?): ${err.message}`)),
    ),
  );
  try {
    await Promise.race([waitUntilUp(endpoint, child, 30_000), spawnError]);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  return {
    endpoint,
    pid: child.pid,
    async reset() {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
    },
    async stop() {
      if (child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      });
    },
  };
}

/**
 * One moto server for the calling test file, started before its tests and stopped after,
 * with the AWS SDK environment pointed at it. Returns a handle whose `endpoint` and `reset()`
 * are usable inside tests and hooks (not at module load, before the server is up).
 */
export function useMoto(region = 'us-east-1', extraEnv: Record<string, string> = {}): MotoServer {
  let server: MotoServer | undefined;
  let restoreEnv: (() => void) | undefined;
  const started = (): MotoServer => {
    if (!server) throw new Error('moto is not started yet: use the handle inside tests and hooks');
    return server;
  };
  beforeAll(async () => {
    server = await startMoto(extraEnv);
    restoreEnv = useLocalAwsEnv(server.endpoint, region);
  });
  afterAll(async () => {
    restoreEnv?.();
    await server?.stop();
  });
  return {
    get endpoint() {
      return started().endpoint;
    },
    get pid() {
      return started().pid;
    },
    reset: () => started().reset(),
    stop: () => started().stop(),
  };
}
