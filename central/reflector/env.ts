/**
 * The reflector's environment, validated once at cold start. The CDK stack sets these keys
 * (it references `ReflectorEnvSchema.shape` so a renamed key fails the build, not a deploy).
 * Numbers arrive as strings and are coerced; every tuning knob has a default.
 */

import { ConfigError, type ConfigIssue } from '../../shared/errors';
import {
  checkTemplate,
  DEFAULT_CATEGORY_TEMPLATE,
  DEFAULT_HOST_TEMPLATE,
  DEFAULT_NAME_TEMPLATE,
  parseStaticFields,
} from '../../shared/sumo/headers';
import * as z from '../../shared/zod';
import type { ForwardConfig } from './forward';
import type { SenderOptions } from './sender';

const int = (min: number, max: number, fallback: number) =>
  z._default(z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max)), fallback);

export const ReflectorEnvSchema = z.object({
  /** Secrets Manager secret whose SecretString is the Sumo HTTP source URL (deployed functions). */
  SUMO_ENDPOINT_SECRET_ARN: z.optional(z.string().check(z.minLength(1))),
  /** The Sumo URL itself: local runs and tests only, never set by the stacks (it is a credential). */
  SUMO_ENDPOINT: z.optional(z.url({ protocol: /^https?$/ })),
  /** S3 bucket for records that can never be forwarded (malformed); the ESM on-failure destination too. */
  FAILURE_BUCKET: z.string().check(z.minLength(3)),
  /** X-Sumo-Category template over {account}, {region}, {logGroup}, {logStream}. */
  SUMO_CATEGORY_TEMPLATE: z._default(z.string().check(z.minLength(1)), DEFAULT_CATEGORY_TEMPLATE),
  /** X-Sumo-Name template. */
  SUMO_NAME_TEMPLATE: z._default(z.string().check(z.minLength(1)), DEFAULT_NAME_TEMPLATE),
  /** X-Sumo-Host template. */
  SUMO_HOST_TEMPLATE: z._default(z.string().check(z.minLength(1)), DEFAULT_HOST_TEMPLATE),
  /**
   * What every line repeats about its stream: `full` (account, region, log group, log stream)
   * or `stream` (log stream only; the rest travels once per request in the headers).
   */
  SUMO_LINE_CONTEXT: z._default(z.enum(['full', 'stream']), 'full'),
  /** Extra static X-Sumo-Fields, `k=v,k2=v2`. */
  SUMO_FIELDS: z._default(z.string(), ''),
  /** HTTP client: `lean` (keep-alive HTTP/1.1 client of http1.ts, ~6× less CPU per request) or `node`. */
  SUMO_HTTP_CLIENT: z._default(z.enum(['lean', 'node']), 'lean'),
  /**
   * Most requests in flight at once: the ceiling of the send window (shared/sumo/window.ts),
   * which halves on Sumo's 429/503 and grows back by one per accepted request. Each is one
   * keep-alive socket; Lambda allows 1,024 file descriptors per execution environment.
   */
  SUMO_CONCURRENCY: int(1, 256, 128),
  /** Most uncompressed body bytes in flight at once (≥ one full request). */
  SUMO_MAX_BYTES_IN_FLIGHT: int(1_000_000, 64_000_000, 4_000_000),
  /** Upper bound of one request body, uncompressed (Sumo: ≤ 1 MB). */
  SUMO_MAX_REQUEST_BYTES: int(10_000, 1_000_000, 1_000_000),
  /** gzip level of request bodies (6 is zlib's default: the usual size/CPU balance). */
  SUMO_GZIP_LEVEL: int(1, 9, 6),
  /** Timeout of one HTTP attempt (Sumo answers 408 itself after 30 s). */
  SUMO_REQUEST_TIMEOUT_MS: int(1_000, 120_000, 25_000),
  /** Attempts per request before its records are handed back to Kinesis. */
  SUMO_MAX_ATTEMPTS: int(1, 20, 8),
  /** First backoff step and cap (full jitter). */
  SUMO_BACKOFF_BASE_MS: int(1, 10_000, 100),
  SUMO_BACKOFF_CAP_MS: int(10, 60_000, 5_000),
  /**
   * Central state bucket holding `enrollment/accounts.json`: only enrolled accounts' events are
   * forwarded (central/reflector/enrolled.ts). Unset only in local runs and tests.
   */
  ENROLLED_LIST_BUCKET: z.optional(z.string().check(z.minLength(3))),
  /** Time kept in reserve before the Lambda deadline to answer with batchItemFailures. */
  DEADLINE_GRACE_MS: int(100, 60_000, 3_000),
});
export type ReflectorEnv = z.infer<typeof ReflectorEnvSchema>;

/** Parses and checks the environment; throws ConfigError listing every bad key. */
export function loadReflectorEnv(env: Record<string, string | undefined> = process.env): ReflectorEnv {
  const parsed = ReflectorEnvSchema.safeParse(env);
  const issues: ConfigIssue[] = [];
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const path = i.path.join('.');
      // The endpoint is a credential: never echo it in an error.
      const received = path === 'SUMO_ENDPOINT' ? '(redacted)' : env[path];
      issues.push({ path, message: i.message, received });
    }
    throw new ConfigError('reflector environment', issues);
  }
  const value = parsed.data;
  if (!value.SUMO_ENDPOINT_SECRET_ARN && !value.SUMO_ENDPOINT) {
    issues.push({
      path: 'SUMO_ENDPOINT_SECRET_ARN',
      message: 'required (or SUMO_ENDPOINT for local runs)',
      received: undefined,
    });
  }
  if (value.SUMO_BACKOFF_CAP_MS < value.SUMO_BACKOFF_BASE_MS) {
    issues.push({
      path: 'SUMO_BACKOFF_CAP_MS',
      message: `must be ≥ SUMO_BACKOFF_BASE_MS (${value.SUMO_BACKOFF_BASE_MS})`,
      received: env.SUMO_BACKOFF_CAP_MS,
    });
  }
  for (const key of ['SUMO_CATEGORY_TEMPLATE', 'SUMO_NAME_TEMPLATE', 'SUMO_HOST_TEMPLATE'] as const) {
    try {
      checkTemplate(key, value[key]);
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else throw err;
    }
  }
  try {
    parseStaticFields(value.SUMO_FIELDS);
  } catch (err) {
    if (err instanceof ConfigError) issues.push(...err.issues);
    else throw err;
  }
  if (issues.length > 0) throw new ConfigError('reflector environment', issues);
  return value;
}

/** The forwarder core's settings (the handler and `log-reflector replay` share them). */
export function forwardConfigFrom(env: ReflectorEnv): ForwardConfig {
  return {
    templates: {
      category: env.SUMO_CATEGORY_TEMPLATE,
      name: env.SUMO_NAME_TEMPLATE,
      host: env.SUMO_HOST_TEMPLATE,
      staticFields: parseStaticFields(env.SUMO_FIELDS),
    },
    maxBytes: env.SUMO_MAX_REQUEST_BYTES,
    concurrency: env.SUMO_CONCURRENCY,
    maxBytesInFlight: env.SUMO_MAX_BYTES_IN_FLIGHT,
    lineContext: env.SUMO_LINE_CONTEXT,
  };
}

/** The Sumo sender's settings. */
export function senderOptionsFrom(env: ReflectorEnv): SenderOptions {
  return {
    gzipLevel: env.SUMO_GZIP_LEVEL,
    requestTimeoutMs: env.SUMO_REQUEST_TIMEOUT_MS,
    maxAttempts: env.SUMO_MAX_ATTEMPTS,
    backoff: { baseMs: env.SUMO_BACKOFF_BASE_MS, capMs: env.SUMO_BACKOFF_CAP_MS },
    maxSockets: env.SUMO_CONCURRENCY,
    maxBytesInFlight: env.SUMO_MAX_BYTES_IN_FLIGHT,
    client: env.SUMO_HTTP_CLIENT,
  };
}
