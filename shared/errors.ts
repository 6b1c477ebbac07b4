/**
 * The project's error taxonomy, in one place (STYLE.md §4).
 *
 * Every error the project raises on purpose is a `LogReflectorError`. Each subclass sets
 * `name`, keeps `cause`, and decides whether the failure is `retryable`: callers branch on
 * that flag (retry, hand back to Kinesis, or park in the failure store), never on message
 * text. Messages name the field or thing that was wrong and the value received.
 */

export interface LogReflectorErrorOptions {
  readonly cause?: unknown;
}

/** Base class: everything we throw on purpose. */
export class LogReflectorError extends Error {
  /** True when the same call may succeed later (throttling, 5xx, timeouts). */
  readonly retryable: boolean = false;

  constructor(message: string, options?: LogReflectorErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LogReflectorError';
  }
}

/** Renders a received value for an error message: short, single line, never huge. */
export function describeValue(value: unknown, maxLength = 120): string {
  let text: string;
  if (value === undefined) text = 'undefined';
  else if (typeof value === 'string') text = JSON.stringify(value);
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > maxLength ? `${text.slice(0, maxLength)}… (${text.length} chars)` : text;
}

/** One bad field of a configuration (deployment config or a function's environment). */
export interface ConfigIssue {
  /** Dotted path of the field, e.g. `regions.2` or `DESTINATION_ARN`. */
  readonly path: string;
  /** What is wrong, in words. */
  readonly message: string;
  /** The value received (undefined when missing). */
  readonly received: unknown;
}

/**
 * A configuration is invalid: the deployment config at synth time, or a Lambda's
 * environment at cold start. Lists every bad field, not just the first.
 */
export class ConfigError extends LogReflectorError {
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: readonly ConfigIssue[], options?: LogReflectorErrorOptions) {
    const lines = issues.map(
      (i) => `  - ${i.path || '(root)'}: ${i.message} (received ${describeValue(i.received)})`,
    );
    super(`Invalid ${source}:\n${lines.join('\n')}`, options);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * An input record or event could not be decoded (bad base64, not gzip, not JSON, schema
 * mismatch). Never retryable: the same bytes fail the same way, so they go to the failure
 * store instead of being retried forever.
 */
export class DecodeError extends LogReflectorError {
  /** Short machine-readable reason, e.g. `not-gzip`, `not-json`, `schema`. */
  readonly reason: string;

  constructor(reason: string, message: string, options?: LogReflectorErrorOptions) {
    super(message, options);
    this.name = 'DecodeError';
    this.reason = reason;
  }
}

/** A downstream call failed in a way that may succeed later (429, 5xx, throttling, reset). */
export class TransientError extends LogReflectorError {
  override readonly retryable = true;
  /** Server-requested delay before the next attempt, when it gave one (Retry-After). */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options?: LogReflectorErrorOptions & { retryAfterMs?: number }) {
    super(message, options);
    this.name = 'TransientError';
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/**
 * The credential was refused (Sumo 401/403, AccessDenied). Not retried blindly, never a
 * reason to drop data: the records fail back to their source.
 */
export class AuthError extends LogReflectorError {
  constructor(message: string, options?: LogReflectorErrorOptions) {
    super(message, options);
    this.name = 'AuthError';
  }
}

/** The deadline (the invocation's remaining time) does not leave room for the work. */
export class DeadlineError extends LogReflectorError {
  override readonly retryable = true;

  constructor(message: string, options?: LogReflectorErrorOptions) {
    super(message, options);
    this.name = 'DeadlineError';
  }
}

/**
 * A log group cannot take our subscription filter because its slots are held by filters we
 * do not own (LimitExceededException). Reported, never resolved by taking a slot over.
 */
export class ConflictError extends LogReflectorError {
  constructor(message: string, options?: LogReflectorErrorOptions) {
    super(message, options);
    this.name = 'ConflictError';
  }
}

/**
 * The operator typed something the CLI cannot use: a flag's value of the wrong shape, a region
 * that does not exist. Names the flag and the value received; the CLI exits 2.
 */
export class UsageError extends LogReflectorError {
  /** The flag, e.g. `--concurrency`. */
  readonly flag: string;

  constructor(flag: string, message: string, options?: LogReflectorErrorOptions) {
    super(`${flag}: ${message}`, options);
    this.name = 'UsageError';
    this.flag = flag;
  }
}
