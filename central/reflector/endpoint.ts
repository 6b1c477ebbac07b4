/**
 * Where the Sumo HTTP source URL comes from. The URL embeds the source's token, so it is a
 * credential: it lives in Secrets Manager, is fetched once per container and cached, and is
 * fetched again after Sumo answers 401/403 (the token may have been rotated). It is never
 * logged and never appears in an error message.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AuthError } from '../../shared/errors';

export interface EndpointSource {
  /** The cached URL (fetched on first use). */
  get(): Promise<URL>;
  /** Fetches the URL again (after a 401/403). Resolves to undefined when it cannot change. */
  refresh(): Promise<URL | undefined>;
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
  return { get: async () => parsed, refresh: async () => undefined };
}

/**
 * The URL from a Secrets Manager secret, cached; concurrent refreshes share one call.
 * `client` may be a promise: the SDK module is then loaded on first use, not at cold start.
 */
export function secretEndpoint(
  secretId: string,
  client: SecretsManagerClient | Promise<SecretsManagerClient> | (() => Promise<SecretsManagerClient>),
): EndpointSource {
  let current: Promise<URL> | undefined;
  const fetchUrl = async (): Promise<URL> => {
    const sm = await (typeof client === 'function' ? client() : client);
    const { GetSecretValueCommand } = await loadSecretsManager();
    const out = await sm.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (typeof out.SecretString !== 'string') {
      throw new AuthError(`secret ${secretId} has no SecretString (binary secrets are not supported)`);
    }
    return parseEndpoint(out.SecretString, `secret ${secretId}`);
  };
  let refreshing: Promise<URL> | undefined;
  return {
    get() {
      current ??= fetchUrl().catch((err: unknown) => {
        current = undefined; // retry on the next call instead of caching the failure
        throw err;
      });
      return current;
    },
    async refresh() {
      refreshing ??= fetchUrl().finally(() => {
        refreshing = undefined;
      });
      const url = await refreshing;
      current = Promise.resolve(url);
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
