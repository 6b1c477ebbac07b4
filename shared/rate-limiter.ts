/**
 * One client-side rate limiter for every CloudWatch Logs control-plane call we make.
 *
 * CloudWatch Logs throttles each control-plane API per account and region ("Rate exceeded",
 * ThrottlingException); the defaults are a few transactions per second per API
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html, e.g.
 * PutSubscriptionFilter and DescribeSubscriptionFilters 5 TPS). Because quotas are per API,
 * the limiter keeps one schedule per operation name, each at the configured rate.
 *
 * Scheduling is GCRA (a token bucket expressed as a "theoretical arrival time"), computed
 * synchronously in `acquire`, so concurrent callers queue in call order without a mutex.
 *
 * Adaptive: a throttle answer multiplies that operation's rate by `decreaseFactor` (never
 * below `minRequestsPerSecond`), which widens the spacing of its next requests (the retried
 * call itself also waits its own backoff); every success gives back
 * `recoveryFraction` of the configured rate. Under sustained throttling the rate settles
 * where throttles and successes balance (a quarter of the configured rate when every other
 * call is throttled, with the defaults), leaving room to the other tenants of the same quota (the
 * subscriber, another tool); a lone throttle costs a fraction of one request slot.
 */
import { ConfigError } from './errors';

/** Time source, injectable so tests can run on a fake clock. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

export interface RateLimiterOptions {
  /** Target requests per second for each operation. */
  readonly requestsPerSecond: number;
  /** Requests allowed back to back after an idle period. @default 1 */
  readonly burst?: number;
  /** Floor of the adaptive slow-down. @default requestsPerSecond / 10 */
  readonly minRequestsPerSecond?: number;
  /** Rate multiplier on each throttle. @default 0.8 */
  readonly decreaseFactor?: number;
  /** Share of the configured rate restored by each success. @default 0.05 */
  readonly recoveryFraction?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

export interface OperationStats {
  /** Requests let through. */
  readonly requests: number;
  /** Throttle answers reported back. */
  readonly throttled: number;
  /** Current (adapted) rate. */
  readonly currentRps: number;
}

interface Lane {
  rps: number;
  /** Theoretical arrival time of the next request, ms. */
  tat: number;
  requests: number;
  throttled: number;
}

export class RateLimiter {
  readonly requestsPerSecond: number;
  private readonly burst: number;
  private readonly minRps: number;
  private readonly decreaseFactor: number;
  private readonly recoveryFraction: number;
  private readonly clock: Clock;
  private readonly lanes = new Map<string, Lane>();

  constructor(options: RateLimiterOptions) {
    if (!(options.requestsPerSecond > 0) || !Number.isFinite(options.requestsPerSecond)) {
      throw new ConfigError('rate limiter options', [
        {
          path: 'requestsPerSecond',
          message: 'must be a positive number',
          received: options.requestsPerSecond,
        },
      ]);
    }
    this.requestsPerSecond = options.requestsPerSecond;
    this.burst = Math.max(1, Math.floor(options.burst ?? 1));
    this.minRps = Math.min(
      options.minRequestsPerSecond ?? options.requestsPerSecond / 10,
      this.requestsPerSecond,
    );
    this.decreaseFactor = options.decreaseFactor ?? 0.8;
    this.recoveryFraction = options.recoveryFraction ?? 0.05;
    this.clock = options.clock ?? systemClock;
  }

  private lane(operation: string): Lane {
    let lane = this.lanes.get(operation);
    if (!lane) {
      lane = { rps: this.requestsPerSecond, tat: 0, requests: 0, throttled: 0 };
      this.lanes.set(operation, lane);
    }
    return lane;
  }

  /** Resolves when `operation` may send its next request. */
  async acquire(operation: string): Promise<void> {
    const lane = this.lane(operation);
    const now = this.clock.now();
    const interval = 1000 / lane.rps;
    const tat = Math.max(lane.tat, now);
    const allowedAt = tat - (this.burst - 1) * interval;
    lane.tat = tat + interval;
    lane.requests += 1;
    const wait = allowedAt - now;
    if (wait > 0) await this.clock.sleep(wait);
  }

  /** The service answered `operation` with a throttle: slow that operation down. */
  onThrottle(operation: string): void {
    const lane = this.lane(operation);
    lane.throttled += 1;
    lane.rps = Math.max(this.minRps, lane.rps * this.decreaseFactor);
  }

  /** `operation` succeeded: recover toward the configured rate. */
  onSuccess(operation: string): void {
    const lane = this.lane(operation);
    if (lane.rps < this.requestsPerSecond) {
      lane.rps = Math.min(this.requestsPerSecond, lane.rps + this.requestsPerSecond * this.recoveryFraction);
    }
  }

  stats(): Record<string, OperationStats> {
    const out: Record<string, OperationStats> = {};
    for (const [op, lane] of [...this.lanes.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      out[op] = { requests: lane.requests, throttled: lane.throttled, currentRps: lane.rps };
    }
    return out;
  }

  /** Throttle answers across all operations. */
  get throttledTotal(): number {
    let total = 0;
    for (const lane of this.lanes.values()) total += lane.throttled;
    return total;
  }
}
