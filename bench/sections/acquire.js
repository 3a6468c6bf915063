/**
 * Figure 1: a session from the warm pool vs a cold sandboxed kernel vs a Jupyter kernel start.
 */
import { readFile } from 'node:fs/promises';
import { assertOk, startEngine, waitForPool } from '../lib/engine.js';
import { KernelCgroup, KernelProcess, Patches, timeMethod, WorkspaceManager } from '../lib/instrument.js';
import { CgroupManager } from '../../dist/sandbox/index.js';
import { jupyterBaseline, PYTHON, runProcess } from '../lib/processes.js';
import { summarize } from '../lib/stats.js';

export const DEFAULT_PRELOAD = ['numpy', 'pandas', 'matplotlib.pyplot'];
const POOL_SIZE = 2;

/** createSession timings on a warm pool of `POOL_SIZE`, each sample after the pool refilled. */
async function poolAcquire(config, log) {
  const engine = await startEngine({ pool: { size: POOL_SIZE } });
  try {
    const { vv } = engine;
    await waitForPool(vv);
    const samples = [];
    const closeMs = [];
    const refillMs = [];
    const warmup = 2;
    for (let index = 0; index < warmup + config.acquireSamples; index += 1) {
      await waitForPool(vv);
      const startedAt = performance.now();
      const session = await vv.createSession();
      const elapsed = performance.now() - startedAt;
      if (index === warmup) assertOk(await session.execute('import numpy, pandas; 1+1'), 'pooled session');
      const closedAt = performance.now();
      await session.close();
      if (index >= warmup) {
        samples.push(elapsed);
        closeMs.push(performance.now() - closedAt);
        // From the acquire until the pool holds POOL_SIZE ready kernels again.
        await waitForPool(vv);
        refillMs.push(performance.now() - startedAt);
      }
    }
    const stats = vv.poolStats();
    // Where an acquire goes: cgroup limits written to the pooled kernel (bench-only hook). With the
    // pool's own limits nothing should be written; with a lower memory limit the hit rewrites them.
    const patches = new Patches();
    const sameUpdateMs = [];
    const updateMs = [];
    const tracedMs = [];
    const lowerMs = [];
    const sink = { push: (value) => current.push(value) };
    let current = sameUpdateMs;
    timeMethod(patches, 'KernelCgroup.update', KernelCgroup.prototype, 'update', sink);
    const traced = Math.min(10, config.acquireSamples);
    const hitsBefore = vv.poolStats().hits;
    try {
      for (let index = 0; index < traced; index += 1) {
        await waitForPool(vv);
        const startedAt = performance.now();
        const session = await vv.createSession();
        tracedMs.push(performance.now() - startedAt);
        await session.close();
      }
      current = updateMs;
      const lower = Math.max(256, Math.floor(vv.config?.limits?.memoryLimitMb ?? 2048) / 2);
      for (let index = 0; index < traced; index += 1) {
        await waitForPool(vv);
        const startedAt = performance.now();
        const session = await vv.createSession({ limits: { memoryLimitMb: lower } });
        lowerMs.push(performance.now() - startedAt);
        await session.close();
      }
    } finally {
      patches.restore();
    }
    const tracedHits = vv.poolStats().hits - hitsBefore;
    await waitForPool(vv);
    return {
      samples,
      closeMs,
      refillMs,
      poolStats: stats,
      sameLimitUpdateCalls: sameUpdateMs.length,
      cgroupUpdateMs: updateMs,
      tracedMs,
      lowerLimitMs: lowerMs,
      tracedHits,
      tracedAcquires: 2 * traced,
      hookMissing: patches.missing,
    };
  } finally {
    await engine.stop();
  }
}

/** Whether a directory is a mount point of its own (a per-workspace volume). */
async function isMountPoint(dir) {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[4] === dir);
}

/**
 * createSession timings with no pool, and the parts (bench-only hooks): workspace creation,
 * cgroup creation, `KernelProcess.start` (spawn of bwrap → interpreter → runtime → preload → ready);
 * then close, and its workspace disposal.
 */
async function coldStart(samplesCount, preload) {
  const engine = await startEngine({ pool: { size: 0 }, preload });
  const parts = { workspaceCreate: [], cgroupCreate: [], kernelStart: [], workspaceDispose: [] };
  const patches = new Patches();
  try {
    const { vv } = engine;
    const samples = [];
    const closeMs = [];
    let workspaceVolume = null;
    for (let index = 0; index < samplesCount + 1; index += 1) {
      if (index === 1) {
        timeMethod(
          patches,
          'WorkspaceManager.create',
          WorkspaceManager.prototype,
          'create',
          parts.workspaceCreate,
        );
        timeMethod(patches, 'CgroupManager.create', CgroupManager.prototype, 'create', parts.cgroupCreate);
        timeMethod(patches, 'KernelProcess.start', KernelProcess, 'start', parts.kernelStart);
        timeMethod(
          patches,
          'WorkspaceManager.dispose',
          WorkspaceManager.prototype,
          'dispose',
          parts.workspaceDispose,
        );
      }
      const startedAt = performance.now();
      const session = await vv.createSession();
      const elapsed = performance.now() - startedAt;
      if (index === 0) {
        assertOk(
          await session.execute(preload.length > 0 ? 'import numpy, pandas; 1+1' : '1+1'),
          'cold session',
        );
        workspaceVolume = await isMountPoint(session.workspaceDir);
      }
      const closedAt = performance.now();
      await session.close();
      if (index > 0) {
        samples.push(elapsed);
        closeMs.push(performance.now() - closedAt);
      }
    }
    return {
      samples,
      closeMs,
      workspaceVolume,
      parts: Object.fromEntries(Object.entries(parts).map(([name, values]) => [name, summarize(values)])),
      hookMissing: patches.missing,
    };
  } finally {
    patches.restore();
    await engine.stop();
  }
}

/** `python3 -c` outside any sandbox: the interpreter floor and the import share. */
async function importCost(samplesCount) {
  const timeCode = async (code) => {
    const samples = [];
    for (let index = 0; index < samplesCount + 1; index += 1) {
      const result = await runProcess(PYTHON, ['-c', code]);
      if (result.code !== 0) throw new Error(`python3 -c ${code} failed: ${result.stderr}`);
      if (index > 0) samples.push(result.elapsedMs);
    }
    return samples;
  };
  return {
    bare: await timeCode('pass'),
    imports: await timeCode(`import ${DEFAULT_PRELOAD.join(', ')}`),
  };
}

export async function runAcquire(config, log) {
  log('acquire: warm pool');
  const pool = await poolAcquire(config, log);
  log('acquire: cold start, default preload');
  const cold = await coldStart(config.coldSamples, DEFAULT_PRELOAD);
  log('acquire: cold start, preload []');
  const coldBare = await coldStart(config.coldBareSamples, []);
  log('acquire: python3 -c import cost');
  const imports = await importCost(config.importSamples);
  log('acquire: jupyter start_new_kernel');
  const jupyter = await jupyterBaseline('start', [
    '--samples',
    String(config.jupyterStartSamples),
    '--preload',
    DEFAULT_PRELOAD.join(','),
  ]);
  const jupyterWithImports = jupyter.startMs.map((value, index) => value + (jupyter.preloadMs[index] ?? NaN));
  return {
    pool: {
      acquire: summarize(pool.samples),
      close: summarize(pool.closeMs),
      refill: summarize(pool.refillMs),
      poolStats: pool.poolStats,
      cgroupUpdate: summarize(pool.cgroupUpdateMs),
      sameLimitUpdateCalls: pool.sameLimitUpdateCalls,
      traced: summarize(pool.tracedMs),
      lowerLimit: summarize(pool.lowerLimitMs),
      tracedHits: pool.tracedHits,
      tracedAcquires: pool.tracedAcquires,
      hookMissing: pool.hookMissing,
    },
    cold: {
      start: summarize(cold.samples),
      close: summarize(cold.closeMs),
      parts: cold.parts,
      workspaceVolume: cold.workspaceVolume,
      hookMissing: cold.hookMissing,
    },
    coldBare: {
      start: summarize(coldBare.samples),
      close: summarize(coldBare.closeMs),
      parts: coldBare.parts,
    },
    imports: {
      pythonBare: summarize(imports.bare),
      preloadImports: summarize(imports.imports),
    },
    jupyter: {
      start: summarize(jupyter.startMs),
      preload: summarize(jupyter.preloadMs),
      startWithImports: summarize(jupyterWithImports),
      kernelspec: jupyter.kernelspec,
    },
  };
}
