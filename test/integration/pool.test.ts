import { afterEach, describe, expect, it } from 'vitest';
import { isVivariumError } from '../../src/index.js';
import { kernelProcesses, startEngine, waitFor, type EngineFixture } from '../helpers/engine.js';

describe('warm pool', () => {
  let fixture: EngineFixture | null = null;
  afterEach(async () => {
    await fixture?.stop();
    fixture = null;
  });

  it('hands pooled kernels to new sessions and refills in the background', async () => {
    fixture = await startEngine({ pool: { size: 2, maxConcurrentStarts: 1 } });
    const { vv } = fixture;
    await waitFor(() => vv.poolStats().ready === 2, 'the pool to fill', 30_000);
    const session = await vv.createSession();
    expect(vv.poolStats()).toMatchObject({ hits: 1, misses: 0 });
    expect((await session.execute('1+1')).result).toEqual({ 'text/plain': '2' });
    await waitFor(() => vv.poolStats().ready === 2, 'the pool to refill', 30_000);
    const stats = vv.poolStats();
    expect(stats.startFailures).toBe(0);
    expect(stats.medianStartMs).toBeGreaterThan(0);
    // One-shot runs are served by the pool too.
    expect((await vv.run('print("pooled")')).stdout).toBe('pooled\n');
    expect(vv.poolStats().hits).toBe(2);
  });

  it('never hands out a kernel with other limits: more memory than the pool profile is a miss', async () => {
    fixture = await startEngine({ pool: { size: 1 }, limits: { memoryLimitMb: 512 } });
    const { vv } = fixture;
    await waitFor(() => vv.poolStats().ready === 1, 'the pool to fill', 30_000);
    const bigger = await vv.createSession({ limits: { memoryLimitMb: 1536 } });
    expect(vv.poolStats()).toMatchObject({ hits: 0, misses: 1 });
    // 900 MB touched fits the session's 1536 MB, though not the pool's 512 MB.
    const big = await bigger.execute(
      'b = bytearray(900 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\nlen(b)',
    );
    expect(big.status).toBe('ok');
  });

  it('adjusts a pooled kernel down to a smaller memory limit (cgroups) instead of ignoring it', async () => {
    fixture = await startEngine({ pool: { size: 1 }, limits: { memoryLimitMb: 2048 } });
    const { vv } = fixture;
    expect(vv.sandbox.cgroups.enabled).toBe(process.getuid?.() === 0);
    await waitFor(() => vv.poolStats().ready === 1, 'the pool to fill', 30_000);
    const small = await vv.createSession({ limits: { memoryLimitMb: 256 } });
    const stats = vv.poolStats();
    if (vv.sandbox.cgroups.enabled) expect(stats.hits).toBe(1);
    else expect(stats.misses).toBe(1);
    const bomb = await small.execute('chunks = []\nwhile True: chunks.append(b"x" * (32 * 1024 * 1024))', {
      timeoutMs: 30_000,
    });
    expect(bomb.status).toBe('memory_exceeded');
  });

  it('discards a pooled kernel that died while waiting', async () => {
    fixture = await startEngine({ pool: { size: 1 } });
    const { vv, dataDir } = fixture;
    await waitFor(() => vv.poolStats().ready === 1, 'the pool to fill', 30_000);
    const before = await kernelProcesses(dataDir);
    expect(before.length).toBeGreaterThan(0);
    for (const { pid } of before) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitFor(
      () => vv.poolStats().ready === 0 || vv.poolStats().starting === 1,
      'the dead kernel to be discarded',
      10_000,
    );
    const session = await vv.createSession();
    expect(session.state).toBe('idle');
    expect((await session.execute('21 * 2')).result).toEqual({ 'text/plain': '42' });
  });

  it('works with size 0 and counts misses', async () => {
    fixture = await startEngine({ pool: { size: 0 } });
    const { vv } = fixture;
    const session = await vv.createSession();
    expect((await session.execute('"ok"')).result).toEqual({ 'text/plain': "'ok'" });
    expect(vv.poolStats()).toMatchObject({ size: 0, ready: 0, hits: 0, misses: 1 });
  });

  it('backs off when kernel starts fail, and reports the failures', async () => {
    fixture = await startEngine({ pool: { size: 1 }, session: { startTimeoutMs: 1, idleTimeoutMs: 0 } });
    const { vv } = fixture;
    await waitFor(() => vv.poolStats().startFailures >= 1, 'a failed pool start', 10_000);
    expect(vv.poolStats().backoffMs).toBeGreaterThanOrEqual(1000);
    const error = await vv.createSession().catch((caught: unknown) => caught);
    expect(isVivariumError(error, 'KERNEL_START_FAILED')).toBe(true);
  });
});
