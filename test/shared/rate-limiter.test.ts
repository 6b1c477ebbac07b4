import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/errors';
import { type Clock, RateLimiter } from '../../shared/rate-limiter';

/** A clock whose sleep advances time instantly (sequential callers only). */
function fakeClock(start = 1_000_000): Clock & { t: number } {
  const clock = {
    t: start,
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.t += Math.max(0, ms);
    },
  };
  return clock;
}

describe('RateLimiter', () => {
  it('spaces requests of one operation at the configured rate', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ requestsPerSecond: 5, clock });
    const start = clock.t;
    for (let i = 0; i < 51; i += 1) await limiter.acquire('PutSubscriptionFilter');
    // 51 requests = 50 intervals of 200 ms.
    expect(clock.t - start).toBe(10_000);
    expect(limiter.stats()).toStrictEqual({
      PutSubscriptionFilter: { requests: 51, throttled: 0, currentRps: 5 },
    });
  });

  it('keeps one schedule per operation (AWS quotas are per API)', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ requestsPerSecond: 10, clock });
    const start = clock.t;
    for (let i = 0; i < 10; i += 1) {
      await limiter.acquire('DescribeSubscriptionFilters');
      await limiter.acquire('PutSubscriptionFilter');
    }
    // Interleaving two operations costs no more than one alone: 9 intervals of 100 ms.
    expect(clock.t - start).toBe(900);
  });

  it('lets a burst through after idling, then paces', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ requestsPerSecond: 10, burst: 3, clock });
    const start = clock.t;
    for (let i = 0; i < 3; i += 1) await limiter.acquire('op');
    expect(clock.t).toBe(start);
    await limiter.acquire('op');
    expect(clock.t).toBe(start + 100);
  });

  it('orders concurrent callers without overlap', async () => {
    const t = 0;
    const sleeps: number[] = [];
    const clock: Clock = {
      now: () => t,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    };
    const limiter = new RateLimiter({ requestsPerSecond: 4, clock });
    await Promise.all([limiter.acquire('op'), limiter.acquire('op'), limiter.acquire('op')]);
    expect(sleeps).toStrictEqual([250, 500]);
  });

  it('slows down on throttling and recovers with successes', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ requestsPerSecond: 10, clock });
    await limiter.acquire('op');
    limiter.onThrottle('op');
    expect(limiter.stats().op?.currentRps).toBeCloseTo(8, 10);
    limiter.onThrottle('op');
    expect(limiter.stats().op?.currentRps).toBeCloseTo(6.4, 10);
    for (let i = 0; i < 2; i += 1) limiter.onSuccess('op');
    expect(limiter.stats().op?.currentRps).toBeCloseTo(7.4, 10);
    for (let i = 0; i < 20; i += 1) limiter.onSuccess('op');
    expect(limiter.stats().op?.currentRps).toBe(10);
    expect(limiter.stats().op?.throttled).toBe(2);
    expect(limiter.throttledTotal).toBe(2);
  });

  it('never slows below the floor', () => {
    const limiter = new RateLimiter({ requestsPerSecond: 10, minRequestsPerSecond: 2, clock: fakeClock() });
    for (let i = 0; i < 50; i += 1) limiter.onThrottle('op');
    expect(limiter.stats().op?.currentRps).toBe(2);
  });

  it('spaces the requests after a throttle at the decreased rate', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({
      requestsPerSecond: 10,
      decreaseFactor: 0.5,
      recoveryFraction: 0,
      clock,
    });
    await limiter.acquire('op');
    limiter.onThrottle('op');
    await limiter.acquire('op'); // already scheduled at the old spacing: +100 ms
    const before = clock.t;
    await limiter.acquire('op');
    expect(clock.t - before).toBe(200);
  });

  it('rejects a rate that is not a positive number, naming it', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      let thrown: unknown;
      try {
        new RateLimiter({ requestsPerSecond: bad });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      expect((thrown as ConfigError).issues).toStrictEqual([
        { path: 'requestsPerSecond', message: 'must be a positive number', received: bad },
      ]);
    }
  });
});
