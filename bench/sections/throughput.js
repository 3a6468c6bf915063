/**
 * Figure 5: throughput — one-shot runs per second through the pool (vs `python3 -c`
 * subprocesses at the same concurrency), and executions per second across live sessions (vs the
 * same number of Jupyter kernels, each driven by its own client process).
 */
import { mapConcurrent, sleep, startEngine, waitForPool } from '../lib/engine.js';
import { jupyterLoop, PYTHON, runProcess } from '../lib/processes.js';
import { summarize } from '../lib/stats.js';
import { ONE_SHOT_CODE } from './one-shot.js';

async function oneShotThroughput(config, log) {
  const engine = await startEngine({ pool: { size: 2 } });
  const rows = [];
  try {
    const { vv } = engine;
    for (const concurrency of config.throughputConcurrency) {
      log(`throughput: vv.run × ${config.throughputRuns} at concurrency ${concurrency}`);
      await waitForPool(vv);
      const before = vv.poolStats();
      const startedAt = performance.now();
      const latencies = await mapConcurrent(
        Array.from({ length: config.throughputRuns }),
        concurrency,
        async () => {
          const runStartedAt = performance.now();
          const execution = await vv.run(ONE_SHOT_CODE);
          if (execution.status !== 'ok')
            throw new Error(`run failed: ${execution.status} ${execution.stderr}`);
          return performance.now() - runStartedAt;
        },
      );
      const elapsedMs = performance.now() - startedAt;
      const after = vv.poolStats();
      rows.push({
        concurrency,
        runs: config.throughputRuns,
        elapsedMs,
        perSecond: config.throughputRuns / (elapsedMs / 1000),
        latency: summarize(latencies),
        hits: after.hits - before.hits,
        misses: after.misses - before.misses,
        medianKernelStartMs: after.medianStartMs,
      });
    }
    await waitForPool(vv);
  } finally {
    await engine.stop();
  }
  for (const row of rows) {
    log(`throughput: python3 -c × ${config.throughputSubprocessRuns} at concurrency ${row.concurrency}`);
    const startedAt = performance.now();
    const latencies = await mapConcurrent(
      Array.from({ length: config.throughputSubprocessRuns }),
      row.concurrency,
      async () => {
        const run = await runProcess(PYTHON, ['-c', ONE_SHOT_CODE]);
        if (run.code !== 0) throw new Error(`python3 -c failed: ${run.stderr}`);
        return run.elapsedMs;
      },
    );
    const elapsedMs = performance.now() - startedAt;
    row.subprocess = {
      runs: config.throughputSubprocessRuns,
      elapsedMs,
      perSecond: config.throughputSubprocessRuns / (elapsedMs / 1000),
      latency: summarize(latencies),
    };
  }
  return rows;
}

/** Each session runs `1+1` back to back for `seconds`; all at once. */
async function sessionLoops(sessions, seconds) {
  const deadline = performance.now() + seconds * 1000;
  const startedAt = performance.now();
  const counts = await Promise.all(
    sessions.map(async (session) => {
      let count = 0;
      let cpuMs = 0;
      while (performance.now() < deadline) {
        const execution = await session.execute('1+1');
        if (execution.status !== 'ok') throw new Error(`1+1 failed: ${execution.status}`);
        count += 1;
        cpuMs += execution.cpuMs;
      }
      return { count, cpuMs };
    }),
  );
  const elapsedMs = performance.now() - startedAt;
  const total = counts.reduce((sum, item) => sum + item.count, 0);
  const kernelCpuMs = counts.reduce((sum, item) => sum + item.cpuMs, 0);
  return {
    sessions: sessions.length,
    total,
    elapsedMs,
    perSecond: total / (elapsedMs / 1000),
    perSession: counts.map((item) => item.count),
    kernelCpuPercent: (kernelCpuMs / elapsedMs) * 100,
  };
}

async function jupyterLoops(count, seconds) {
  const started = await Promise.allSettled(Array.from({ length: count }, () => jupyterLoop(seconds)));
  const loops = started.filter((item) => item.status === 'fulfilled').map((item) => item.value);
  const failed = started.find((item) => item.status === 'rejected');
  if (failed) {
    for (const loop of loops) loop.kill();
    throw failed.reason;
  }
  const startedAt = performance.now();
  const results = await Promise.all(loops.map((loop) => loop.go()));
  const elapsedMs = performance.now() - startedAt;
  const total = results.reduce((sum, item) => sum + item.count, 0);
  const kernelSeconds = results.reduce((max, item) => Math.max(max, item.elapsedMs), 0) / 1000;
  return {
    sessions: count,
    total,
    elapsedMs,
    perSecond: total / kernelSeconds,
    perSession: results.map((item) => item.count),
  };
}

async function executionThroughput(config, log) {
  const engine = await startEngine({ pool: { size: 2 } });
  const result = {};
  try {
    const { vv } = engine;
    await waitForPool(vv);
    const sessions = [];
    for (let index = 0; index < config.loopSessions; index += 1)
      sessions.push(await vv.createSession({ idleTimeoutMs: 0 }));
    await waitForPool(vv);
    for (const session of sessions) for (let index = 0; index < 20; index += 1) await session.execute('1+1');
    await sleep(200);
    log(`throughput: 1 session loop, ${config.loopSeconds} s`);
    const cpuBeforeOne = process.cpuUsage();
    result.vivariumOne = await sessionLoops(sessions.slice(0, 1), config.loopSeconds);
    const cpuOne = process.cpuUsage(cpuBeforeOne);
    result.vivariumOne.hostCpuPercent =
      ((cpuOne.user + cpuOne.system) / 1000 / result.vivariumOne.elapsedMs) * 100;
    log(`throughput: ${sessions.length} session loops, ${config.loopSeconds} s`);
    const cpuBefore = process.cpuUsage();
    result.vivariumMany = await sessionLoops(sessions, config.loopSeconds);
    const cpu = process.cpuUsage(cpuBefore);
    result.vivariumMany.hostCpuPercent =
      ((cpu.user + cpu.system) / 1000 / result.vivariumMany.elapsedMs) * 100;
    await Promise.all(sessions.map((session) => session.close()));
  } finally {
    await engine.stop();
  }
  log(`throughput: 1 jupyter loop, ${config.loopSeconds} s`);
  result.jupyterOne = await jupyterLoops(1, config.loopSeconds);
  log(`throughput: ${config.loopSessions} jupyter loops, ${config.loopSeconds} s`);
  result.jupyterMany = await jupyterLoops(config.loopSessions, config.loopSeconds);
  return result;
}

export async function runThroughput(config, log) {
  return {
    oneShot: await oneShotThroughput(config, log),
    executions: await executionThroughput(config, log),
  };
}
