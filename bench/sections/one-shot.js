/**
 * Figure 3: one-shot `import pandas; print(pandas.__version__)` through `vv.run` on a warm pool vs
 * a fresh `python3 -c` subprocess; and where a one-shot's time goes (acquire, execute, close).
 */
import { rmdir } from 'node:fs/promises';
import { startEngine, waitForPool } from '../lib/engine.js';
import { KernelCgroup, KernelProcess, Patches, timeMethod, WorkspaceManager } from '../lib/instrument.js';
import { PYTHON, runProcess } from '../lib/processes.js';
import { summarize } from '../lib/stats.js';

export const ONE_SHOT_CODE = 'import pandas; print(pandas.__version__)';

function checkRun(execution) {
  if (execution.status !== 'ok' || !/^\d+\.\d+/.test(execution.stdout.trim())) {
    throw new Error(`one-shot failed: ${execution.status} ${execution.stdout} ${execution.stderr}`);
  }
}

/** vv.run samples, each on a pool refilled to its size. */
async function timeRuns(vv, count) {
  const samples = [];
  for (let index = 0; index < count; index += 1) {
    await waitForPool(vv);
    const startedAt = performance.now();
    const execution = await vv.run(ONE_SHOT_CODE);
    samples.push(performance.now() - startedAt);
    checkRun(execution);
  }
  return samples;
}

/**
 * `KernelCgroup.destroy` as a 1 ms poll instead of the engine's 50 ms retry step: what a one-shot
 * costs when the memory cgroup is removed as soon as the kernel allows (bench-only what-if).
 */
async function destroyPolling() {
  for (const dir of new Set(this.dirs.values())) {
    for (let attempt = 0; attempt < 2_000; attempt += 1) {
      try {
        await rmdir(dir);
        break;
      } catch (error) {
        if (error.code === 'ENOENT') break;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
  }
}

export async function runOneShot(config, log) {
  const engine = await startEngine({ pool: { size: 2 } });
  const result = {};
  try {
    const { vv } = engine;
    await waitForPool(vv);
    log('one-shot: vivarium vv.run');
    await timeRuns(vv, 2);
    const hitsBefore = vv.poolStats().hits;
    result.vivarium = summarize(await timeRuns(vv, config.oneShotSamples));
    result.poolHits = vv.poolStats().hits - hitsBefore;

    log('one-shot: breakdown');
    const phases = { acquire: [], execute: [], executeAgainPoolIdle: [], close: [], total: [] };
    const hooks = { kernelClose: [], cgroupDestroy: [], workspaceDispose: [] };
    const patches = new Patches();
    timeMethod(patches, 'KernelProcess.close', KernelProcess.prototype, 'close', hooks.kernelClose);
    timeMethod(patches, 'KernelCgroup.destroy', KernelCgroup.prototype, 'destroy', hooks.cgroupDestroy);
    timeMethod(
      patches,
      'WorkspaceManager.dispose',
      WorkspaceManager.prototype,
      'dispose',
      hooks.workspaceDispose,
    );
    const breakdownSamples = Math.max(3, Math.min(12, config.oneShotSamples));
    try {
      for (let index = 0; index < breakdownSamples; index += 1) {
        await waitForPool(vv);
        // vv.run, spelled out.
        const t0 = performance.now();
        const session = await vv.createSession();
        const t1 = performance.now();
        const execution = await session.execute(ONE_SHOT_CODE);
        const t2 = performance.now();
        await session.close();
        const t3 = performance.now();
        checkRun(execution);
        phases.acquire.push(t1 - t0);
        phases.execute.push(t2 - t1);
        phases.close.push(t3 - t2);
        phases.total.push(t3 - t0);
        // The same cell in a pooled session once the refill is over: the cell's own cost.
        await waitForPool(vv);
        const again = await vv.createSession();
        await waitForPool(vv);
        const t4 = performance.now();
        checkRun(await again.execute(ONE_SHOT_CODE));
        phases.executeAgainPoolIdle.push(performance.now() - t4);
        await again.close();
      }
    } finally {
      patches.restore();
    }
    result.breakdown = Object.fromEntries(
      Object.entries(phases).map(([name, values]) => [name, summarize(values)]),
    );
    result.closeParts = Object.fromEntries(
      Object.entries(hooks).map(([name, values]) => [name, summarize(values)]),
    );
    result.hookMissing = patches.missing;

    log('one-shot: what-if 1 ms cgroup removal poll');
    const whatIf = new Patches();
    whatIf.add('KernelCgroup.destroy', KernelCgroup.prototype, 'destroy', () => destroyPolling);
    try {
      await timeRuns(vv, 1);
      result.whatIfFastCgroupRemoval = summarize(
        await timeRuns(vv, Math.max(3, Math.min(15, config.oneShotSamples))),
      );
    } finally {
      whatIf.restore();
    }
    await waitForPool(vv);
  } finally {
    await engine.stop();
  }

  log('one-shot: python3 -c subprocess');
  const subprocess = [];
  const bare = [];
  for (let index = 0; index < config.subprocessSamples + 1; index += 1) {
    const run = await runProcess(PYTHON, ['-c', ONE_SHOT_CODE]);
    if (run.code !== 0) throw new Error(`python3 -c failed: ${run.stderr}`);
    if (index > 0) subprocess.push(run.elapsedMs);
  }
  for (let index = 0; index < Math.max(3, Math.min(10, config.subprocessSamples)) + 1; index += 1) {
    const run = await runProcess(PYTHON, ['-c', 'pass']);
    if (index > 0) bare.push(run.elapsedMs);
  }
  result.subprocess = summarize(subprocess);
  result.pythonBare = summarize(bare);
  return result;
}
