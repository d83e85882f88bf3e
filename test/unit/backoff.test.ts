import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../agent/backoff.js';

describe('reconnect backoff', () => {
  const policy = { baseMs: 100, capMs: 5_000 };
  it('grows exponentially between half and all of the ceiling', () => {
    expect(backoffDelay(0, policy, () => 0)).toBe(50);
    expect(backoffDelay(0, policy, () => 1)).toBe(100);
    expect(backoffDelay(3, policy, () => 0)).toBe(400);
    expect(backoffDelay(3, policy, () => 1)).toBe(800);
  });
  it('never exceeds the cap, even after many attempts', () => {
    for (const attempt of [10, 50, 1000]) expect(backoffDelay(attempt, policy, () => 1)).toBe(5_000);
  });
  it('spreads a fleet: different random draws give different delays', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(4, policy)));
    expect(delays.size).toBeGreaterThan(10);
  });
});
