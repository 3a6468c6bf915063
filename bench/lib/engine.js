import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vivarium } from '../../dist/index.js';
import { KernelLauncher } from '../../dist/session/index.js';

/** Kernel starts that failed during the run (the pool swallows them): `{ atMs, message }`. */
export const startFailures = [];
/** Times the bench had to re-arm a stalled pool (see {@link waitForPool}). */
export const poolNudges = [];

// Diagnostic only: records why a kernel start failed; behaviour is unchanged.
const originalAcquire = KernelLauncher.prototype.acquire;
KernelLauncher.prototype.acquire = async function acquire(request) {
  try {
    return await originalAcquire.call(this, request);
  } catch (error) {
    if (!request.signal?.aborted)
      startFailures.push({ atMs: performance.now(), message: String(error?.message ?? error).slice(0, 500) });
    throw error;
  }
};

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A Vivarium on a throwaway data directory, configured only by `options` (no `VIVARIUM_*`
 * variables), so every run measures the same thing.
 * @returns {Promise<{ vv: Vivarium, dataDir: string, stop: () => Promise<void> }>}
 */
export async function startEngine(options = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'vivarium-bench-'));
  const vv = await Vivarium.start({ dataDir, processEnv: {}, ...options });
  return {
    vv,
    dataDir,
    async stop() {
      try {
        await vv.stop();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** Waits until the pool holds its full size and nothing is starting. */
export async function waitForPool(vv, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = vv.poolStats();
    if (stats.ready >= stats.size && stats.starting === 0) return stats;
    if (Date.now() > deadline)
      throw new Error(`The pool did not fill within ${timeoutMs} ms: ${JSON.stringify(stats)}`);
    await sleep(5);
  }
}

/** Runs `fn` over `items` with at most `concurrency` in flight; resolves with results in order. */
export async function mapConcurrent(items, concurrency, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/** Throws when an execution did not end `ok`, with what the kernel said. */
export function assertOk(execution, what) {
  if (execution.status !== 'ok') {
    throw new Error(
      `${what}: status ${execution.status}: ${execution.error ? `${execution.error.ename}: ${execution.error.evalue}` : execution.stderr}`,
    );
  }
  return execution;
}
