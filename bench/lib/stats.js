/** Summary statistics of benchmark samples (milliseconds unless a name says otherwise). */

/**
 * Nearest-rank percentile of sorted samples: the smallest sample with at least `p`% of the
 * samples at or below it. With fewer than 100 samples, p99 is the maximum.
 * @param {number[]} sorted ascending
 * @param {number} p 0–100
 */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/**
 * Median (mean of the two middle samples when the count is even), p99, mean, min, max.
 * @param {number[]} samples
 * @returns {{ n: number, median: number, p90: number, p99: number, mean: number, min: number, max: number }}
 */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { n: 0, median: NaN, p90: NaN, p99: NaN, mean: NaN, min: NaN, max: NaN };
  const middle = Math.floor(n / 2);
  const median = n % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  const mean = sorted.reduce((sum, value) => sum + value, 0) / n;
  return {
    n,
    median,
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean,
    min: sorted[0],
    max: sorted[n - 1],
  };
}

/** `baseline / subject`: how many times faster (or bigger) the baseline is than the subject. */
export function ratio(baseline, subject) {
  return subject > 0 ? baseline / subject : NaN;
}

/** A duration in ms with sensible precision: 0.412 ms, 4.12 ms, 41.2 ms, 412 ms, 4.12 s. */
export function formatMs(ms) {
  if (!Number.isFinite(ms)) return 'n/a';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(3)} ms`;
}

/** A ratio as `12.3×` (or `0.41×`). */
export function formatRatio(value) {
  if (!Number.isFinite(value)) return 'n/a';
  if (value >= 100) return `${value.toFixed(0)}×`;
  if (value >= 10) return `${value.toFixed(1)}×`;
  return `${value.toFixed(2)}×`;
}

/** Bytes as KiB / MiB. */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return 'n/a';
  if (bytes >= 1024 * 1024 * 1024) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** A rate with two significant decimals below 10. */
export function formatRate(perSecond, unit = '/s') {
  if (!Number.isFinite(perSecond)) return 'n/a';
  return `${perSecond >= 100 ? perSecond.toFixed(0) : perSecond >= 10 ? perSecond.toFixed(1) : perSecond.toFixed(2)}${unit}`;
}
