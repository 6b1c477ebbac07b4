/**
 * Where the Sumo HTTP source URL comes from. The URL embeds the source's token, so it is a
 * credential: it lives in Secrets Manager, is fetched once per container and cached, and is
 * fetched again after Sumo answers 401/403 (the token may have been rotated). It is never
 * logged and never appears in an error message.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { withDeadline } from '../../shared/deadline';
import { AuthError } from '../../shared/errors';

export interface EndpointSource {
  /**
   * The cached URL (fetched on first use). A fetch gives up at `deadline` (epoch ms) with a
   * DeadlineError, so the caller's records go back to Kinesis instead of waiting forever.
   */
  get(deadline?: number): Promise<URL>;
  /** Fetches the URL again (after a 401/403). Resolves to undefined when it cannot change. */
  refresh(deadline?: number): Promise<URL | undefined>;
  /**
   * The URL if it is already fetched, without waiting (undefined otherwise): lets the sender
   * write a request in the same turn as its gzip (sender.ts). Optional: `get` alone suffices.
   */
  peek?(): URL | undefined;
}

/** Parses a secret string into the source URL: the URL itself, or JSON `{"url": "…"}`. */
export function parseEndpoint(text: string, origin: string): URL {
  let candidate = text.trim();
  if (candidate.startsWith('{')) {
    try {
      const parsed = JSON.parse(candidate) as { url?: unknown };
      candidate = typeof parsed.url === 'string' ? parsed.url : '';
    } catch {
      candidate = '';
    }
  }
  let url: URL | undefined;
  try {
    url = new URL(candidate);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    // Say what is wrong without echoing the value: it is (or contains) a credential.
    throw new AuthError(
      `${origin} does not hold an http(s) URL or {"url": …} (received ${candidate.length} characters)`,
    );
  }
  return url;
}

/** A fixed URL (SUMO_ENDPOINT: local runs and tests). */
export function staticEndpoint(url: string): EndpointSource {
  const parsed = parseEndpoint(url, 'SUMO_ENDPOINT');
  return { get: async () => parsed, refresh: async () => undefined, peek: () => parsed };
}

/**
 * The URL from a Secrets Manager secret, cached; concurrent refreshes share one call.
 * `client` may be a promise: the SDK module is then loaded on first use, not at cold start.
 * A fetch is bounded by the deadline of the call that started it (the callers sharing it
 * belong to the same invocation); a failed or abandoned fetch is not cached.
 */
export function secretEndpoint(
  secretId: string,
  client: SecretsManagerClient | Promise<SecretsManagerClient> | (() => Promise<SecretsManagerClient>),
): EndpointSource {
  let current: Promise<URL> | undefined;
  /** The URL `current` resolved to, once it has. */
  let known: URL | undefined;
  const fetchOnce = async (signal: AbortSignal | undefined): Promise<URL> => {
    const sm = await (typeof client === 'function' ? client() : client);
    const { GetSecretValueCommand } = await loadSecretsManager();
    const out = await sm.send(
      new GetSecretValueCommand({ SecretId: secretId }),
      signal === undefined ? {} : { abortSignal: signal },
    );
    if (typeof out.SecretString !== 'string') {
      throw new AuthError(`secret ${secretId} has no SecretString (binary secrets are not supported)`);
    }
    return parseEndpoint(out.SecretString, `secret ${secretId}`);
  };
  const fetchUrl = (deadline: number | undefined): Promise<URL> =>
    deadline === undefined
      ? fetchOnce(undefined)
      : withDeadline(`GetSecretValue of ${secretId}`, deadline, (signal) => fetchOnce(signal));
  let refreshing: Promise<URL> | undefined;
  return {
    get(deadline) {
      current ??= fetchUrl(deadline).then(
        (url) => {
          known = url;
          return url;
        },
        (err: unknown) => {
          current = undefined; // retry on the next call instead of caching the failure
          throw err;
        },
      );
      return current;
    },
    peek: () => known,
    async refresh(deadline) {
      refreshing ??= fetchUrl(deadline).finally(() => {
        refreshing = undefined;
      });
      const url = await refreshing;
      current = Promise.resolve(url);
      known = url;
      return url;
    },
  };
}

/**
 * Loads the SDK module on first use. `require` in the deployed CommonJS bundle (the Lambda
 * runtime resolves its bundled SDK through NODE_PATH, which ESM `import()` ignores);
 * `import()` when running as ESM source (tests, the CLI under tsx).
 */
async function loadSecretsManager(): Promise<typeof import('@aws-sdk/client-secrets-manager')> {
  return typeof require === 'function'
    ? require('@aws-sdk/client-secrets-manager')
    : import('@aws-sdk/client-secrets-manager');
}

/** A Secrets Manager client, its SDK module loaded on first call (≈ 80 ms kept out of cold start). */
export function defaultSecretsClient(): () => Promise<SecretsManagerClient> {
  let client: Promise<SecretsManagerClient> | undefined;
  return () => {
    client ??= loadSecretsManager().then((m) => new m.SecretsManagerClient({}));
    return client;
  };
}
