/**
 * The send window: how many requests may be in flight, by count and by bytes, and how Sumo's
 * throttling moves its ceiling (additive increase, multiplicative decrease).
 */
import { describe, expect, it } from 'vitest';
import { SendWindow } from '../../../shared/sumo/window';

describe('SendWindow', () => {
  it('admits requests while both the count and the bytes in flight stay within bounds', () => {
    const w = new SendWindow({ maxRequests: 3, maxBytes: 100 });
    expect(w.canStart(60)).toBe(true);
    w.started(60);
    expect(w.canStart(41)).toBe(false); // 101 bytes
    expect(w.canStart(40)).toBe(true);
    w.started(40);
    expect(w.bytesInFlight).toBe(100);
    expect(w.canStart(1)).toBe(false);
    w.finished(60);
    expect(w.canStart(30)).toBe(true);
    w.started(30);
    w.started(0);
    expect(w.requests).toBe(3);
    expect(w.canStart(0)).toBe(false); // the count is the ceiling even for empty bodies
  });

  it('always admits one request alone, however large', () => {
    const w = new SendWindow({ maxRequests: 4, maxBytes: 10 });
    expect(w.canStart(1_000_000)).toBe(true);
    w.started(1_000_000);
    expect(w.canStart(1)).toBe(false);
    w.finished(1_000_000);
    expect(w.requests).toBe(0);
    expect(w.bytesInFlight).toBe(0);
  });

  it('halves its ceiling on throttling down to one, and grows it back by one per accepted request', () => {
    const w = new SendWindow({ maxRequests: 10, maxBytes: Number.POSITIVE_INFINITY });
    expect(w.limit).toBe(10);
    w.throttled();
    expect(w.limit).toBe(5);
    w.throttled();
    w.throttled();
    w.throttled();
    w.throttled();
    expect(w.limit).toBe(1);
    w.started(1);
    expect(w.canStart(1)).toBe(false);
    for (let i = 0; i < 4; i++) w.accepted();
    expect(w.limit).toBe(5);
    expect(w.canStart(1)).toBe(true);
    for (let i = 0; i < 20; i++) w.accepted();
    expect(w.limit).toBe(10);
  });

  it('refuses bounds below one, naming the values received', () => {
    expect(() => new SendWindow({ maxRequests: 0, maxBytes: 10 })).toThrow(/received 0, 10/);
    expect(() => new SendWindow({ maxRequests: 2, maxBytes: Number.NaN })).toThrow(/received 2, NaN/);
  });
});
