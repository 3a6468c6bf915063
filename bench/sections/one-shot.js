/**
 * Figure 3: one-shot `import pandas; print(pandas.__version__)` through `vv.run` on a warm pool vs
 * a fresh `python3 -c` subprocess; and where a one-shot's time goes (acquire, execute, close).
 */
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
    const phases = {
      acquire: [],
      execute: [],
      executeAgainPoolIdle: [],
      kernelGone: [],
      close: [],
      total: [],
      returned: [],
    };
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
        // vv.run, spelled out: it returns once the kernel's tree is gone (kernelExited); the
        // cgroup and workspace teardown (close() resolving) goes on in the background.
        const t0 = performance.now();
        const session = await vv.createSession();
        const t1 = performance.now();
        const execution = await session.execute(ONE_SHOT_CODE);
        const t2 = performance.now();
        const closing = session.close();
        await session.kernelExited;
        const t3 = performance.now();
        await closing;
        const t4 = performance.now();
        checkRun(execution);
        phases.acquire.push(t1 - t0);
        phases.execute.push(t2 - t1);
        phases.kernelGone.push(t3 - t2);
        phases.returned.push(t3 - t0);
        phases.close.push(t4 - t2);
        phases.total.push(t4 - t0);
        // The same cell in a pooled session once the refill is over: the cell's own cost.
        await waitForPool(vv);
        const again = await vv.createSession();
        await waitForPool(vv);
        const t5 = performance.now();
        checkRun(await again.execute(ONE_SHOT_CODE));
        phases.executeAgainPoolIdle.push(performance.now() - t5);
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
