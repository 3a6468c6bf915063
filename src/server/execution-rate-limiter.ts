import { VivariumError } from '../errors/index.js';

/** The window of `maxExecutionsPerMinute`. */
export const RATE_WINDOW_MS = 60_000;

/**
 * Counts executions per key over a rolling minute. `take` either records one execution or throws
 * `RATE_LIMITED` with `retryAfterSec` (the service answers 429 with `Retry-After`). Memory is
 * bounded by the limit: at most `limit` timestamps are kept per key.
 */
export class ExecutionRateLimiter {
  private readonly starts = new Map<string, number[]>();

  /** Records one execution for `bucket`, or throws `RATE_LIMITED`. */
  take(bucket: string, limitPerMinute: number, nowMs: number = Date.now()): void {
    const cutoff = nowMs - RATE_WINDOW_MS;
    const times = (this.starts.get(bucket) ?? []).filter((time) => time > cutoff);
    if (times.length >= limitPerMinute) {
      const oldest = times[0] ?? nowMs;
      const retryAfterSec = Math.max(1, Math.ceil((oldest + RATE_WINDOW_MS - nowMs) / 1000));
      this.starts.set(bucket, times);
      throw new VivariumError(
        'RATE_LIMITED',
        `This key may start ${limitPerMinute} executions per minute; retry in ${retryAfterSec} s`,
        { details: { limitPerMinute, retryAfterSec } },
      );
    }
    times.push(nowMs);
    this.starts.set(bucket, times);
  }

  /** Drops keys with no execution in the window (called now and then to bound memory). */
  prune(nowMs: number = Date.now()): void {
    for (const [bucket, times] of this.starts) {
      if ((times[times.length - 1] ?? 0) <= nowMs - RATE_WINDOW_MS) this.starts.delete(bucket);
    }
  }
}
