import { describe, expect, it } from 'vitest';
import { isVivariumError } from '../errors/index.js';
import { ExecutionRateLimiter, RATE_WINDOW_MS } from './execution-rate-limiter.js';

describe('ExecutionRateLimiter', () => {
  it('allows the limit per rolling minute, then throws RATE_LIMITED with the seconds to wait', () => {
    const limiter = new ExecutionRateLimiter();
    const start = 1_000_000;
    limiter.take('key_a', 2, start);
    limiter.take('key_a', 2, start + 10_000);
    let thrown: unknown;
    try {
      limiter.take('key_a', 2, start + 20_000);
    } catch (error) {
      thrown = error;
    }
    expect(isVivariumError(thrown, 'RATE_LIMITED')).toBe(true);
    // The oldest start leaves the window 40 s later.
    expect((thrown as { details: { retryAfterSec: number } }).details.retryAfterSec).toBe(40);
    // Other keys are counted apart; the window rolls.
    limiter.take('key_b', 2, start + 20_000);
    limiter.take('key_a', 2, start + RATE_WINDOW_MS + 1);
  });

  it('does not count refused attempts and prunes idle keys', () => {
    const limiter = new ExecutionRateLimiter();
    limiter.take('k', 1, 0);
    expect(() => limiter.take('k', 1, 1_000)).toThrow(/per minute/);
    expect(() => limiter.take('k', 1, 2_000)).toThrow(/per minute/);
    limiter.take('k', 1, RATE_WINDOW_MS + 1);
    limiter.prune(10 * RATE_WINDOW_MS);
    limiter.take('k', 1, 10 * RATE_WINDOW_MS);
  });
});
