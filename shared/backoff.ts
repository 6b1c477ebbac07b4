/**
 * Exponential backoff with full jitter, the scheme AWS recommends for retrying throttled and
 * transient calls (https://aws.amazon.com/builders-library/timeouts-retries-and-backoff-with-jitter/):
 * delay = random(0, min(cap, base × 2^attempt)). Pure: the random source is injectable.
 */

export interface BackoffOptions {
  /** Delay scale of the first retry, in milliseconds. */
  readonly baseMs: number;
  /** No single delay exceeds this, in milliseconds. */
  readonly capMs: number;
}

/** Delay before retry number `attempt` (0 = first retry). `random` returns [0, 1). */
export function backoffDelayMs(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

/** Resolves after `ms` milliseconds (0 or less resolves on the next tick). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
