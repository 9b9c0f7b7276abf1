import { describe, expect, it } from 'vitest';
import { FailureThrottle } from '../../../src/auth/throttle.js';

describe('FailureThrottle', () => {
  let now = 0;
  const throttle = () => new FailureThrottle({ userThreshold: 3, addressThreshold: 5, baseLockoutMs: 1000, maxLockoutMs: 8000, resetAfterMs: 60_000 }, () => now);

  it('locks at the threshold and doubles each further failure, up to the ceiling', () => {
    now = 0;
    const t = throttle();
    expect(t.failure({ user: 'alice' })).toBeUndefined();
    expect(t.failure({ user: 'alice' })).toBeUndefined();
    expect(t.failure({ user: 'ALICE' })).toBe('user:alice locked for 1000 ms after 3 failures');
    expect(t.locked({ user: 'alice' })).toBe(true);
    now = 1001;
    expect(t.locked({ user: 'alice' })).toBe(false);
    expect(t.failure({ user: 'alice' })).toContain('2000 ms');
    for (let i = 0; i < 5; i++) t.failure({ user: 'alice' });
    expect(t.failure({ user: 'alice' })).toContain('8000 ms');
  });

  it('users and addresses have their own thresholds; a success clears the user only', () => {
    now = 0;
    const t = throttle();
    for (const u of ['a', 'b', 'c', 'd']) t.failure({ user: u, address: '10.0.0.1' });
    expect(t.locked({ address: '10.0.0.1' })).toBe(false);
    t.failure({ user: 'e', address: '10.0.0.1' });
    expect(t.locked({ address: '10.0.0.1' })).toBe(true);
    expect(t.locked({ address: '10.0.0.2' })).toBe(false);
    t.failure({ user: 'a' });
    t.failure({ user: 'a' });
    expect(t.locked({ user: 'a' })).toBe(true);
    t.success({ user: 'a' });
    expect(t.locked({ user: 'a' })).toBe(false);
  });

  it('forgets failures after resetAfterMs without another', () => {
    now = 0;
    const t = throttle();
    t.failure({ user: 'x' });
    t.failure({ user: 'x' });
    now = 60_001;
    expect(t.failure({ user: 'x' })).toBeUndefined();
  });
});
