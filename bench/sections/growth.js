/**
 * Figure 4: how cost grows — round trip vs output size (with Jupyter alongside), round trip and
 * memory vs the number of live idle sessions.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { assertOk, mapConcurrent, sleep, startEngine, waitForPool } from '../lib/engine.js';
import { kernelPids, memoryOfPids, processTable } from '../lib/memory.js';
import { jupyterBaseline } from '../lib/processes.js';
import { summarize } from '../lib/stats.js';
import { timeExecutions } from './roundtrip.js';

const outputCode = (size) => `print('x' * ${size - 1})`;

async function outputGrowth(config, log) {
  const engine = await startEngine({ pool: { size: 2 } });
  const rows = [];
  try {
    const { vv } = engine;
    await waitForPool(vv);
    const session = await vv.createSession();
    await waitForPool(vv);
    const largest = Math.max(...config.outputSizes);
    const maxOutputBytes = Math.max(2 * largest, 1024 * 1024);
    await timeExecutions(session, '1+1', 20);
    for (const [index, size] of config.outputSizes.entries()) {
      log(`growth: output ${size} B`);
      const check = assertOk(await session.execute(outputCode(size), { maxOutputBytes }), 'output');
      if (check.stdout.length !== size || check.truncated?.output) {
        throw new Error(
          `output of ${size} B came back as ${check.stdout.length} B (truncated: ${JSON.stringify(check.truncated)})`,
        );
      }
      const kernelCpu = [];
      const samples = [];
      const hostCpuBefore = process.cpuUsage();
      for (let sample = 0; sample < config.outputSamples[index]; sample += 1) {
        const startedAt = performance.now();
        const execution = await session.execute(outputCode(size), { maxOutputBytes });
        samples.push(performance.now() - startedAt);
        kernelCpu.push(execution.cpuMs);
        if (execution.stdout.length !== size) throw new Error(`lost output at ${size} B`);
      }
      const hostCpu = process.cpuUsage(hostCpuBefore);
      rows.push({
        sizeBytes: size,
        vivarium: summarize(samples),
        hostCpuMsPerCall: (hostCpu.user + hostCpu.system) / 1000 / samples.length,
        kernelCpuMs: summarize(kernelCpu),
      });
    }
    await session.close();
  } finally {
    await engine.stop();
  }
  log('growth: output, jupyter');
  const jupyter = await jupyterBaseline('output', [
    '--sizes',
    config.outputSizes.join(','),
    '--samples-list',
    config.outputSamples.join(','),
  ]);
  for (const row of rows) row.jupyter = summarize(jupyter.samplesMs[String(row.sizeBytes)] ?? []);
  return rows;
}

/** CPU ticks (utime + stime) of processes, summed. */
async function cpuTicks(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return total;
}

async function liveSessions(config, log) {
  const preload = process.env.BENCH_LIVE_SESSION_PRELOAD === 'none' ? [] : undefined;
  const engine = await startEngine({ pool: { size: 2 }, ...(preload ? { preload } : {}) });
  const rows = [];
  try {
    const { vv } = engine;
    await waitForPool(vv);
    const sessions = [];
    for (const count of config.liveSessionCounts) {
      log(`growth: ${count} live sessions`);
      const createdAt = performance.now();
      const created = await mapConcurrent(
        Array.from({ length: Math.max(0, count - sessions.length) }),
        4,
        () => vv.createSession({ idleTimeoutMs: 0 }),
      );
      sessions.push(...created);
      const createMs = performance.now() - createdAt;
      await waitForPool(vv);
      await sleep(500);
      const probe = sessions[0];
      await timeExecutions(probe, '1+1', 20);
      const timed = await timeExecutions(probe, '1+1', config.liveSessionRoundtrips);
      // Memory and idle CPU of every live session's kernel tree.
      const table = await processTable();
      const trees = sessions.map((session) => kernelPids(table, session.workspaceDir));
      const memory = [];
      for (const pids of trees) memory.push(await memoryOfPids(pids));
      const allPids = trees.flat();
      const ticksBefore = await cpuTicks(allPids);
      const idleWindowMs = 2_000;
      await sleep(idleWindowMs);
      const ticksAfter = await cpuTicks(allPids);
      const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
      rows.push({
        sessions: sessions.length,
        createMs,
        roundtrip: summarize(timed.samples),
        hostCpuMsPerCall: timed.hostCpuMsPerCall,
        processesPerSession: summarize(trees.map((pids) => pids.length)),
        pss: summarize(memory.map((item) => item.pssBytes)),
        uss: summarize(memory.map((item) => item.ussBytes)),
        rss: summarize(memory.map((item) => item.rssBytes)),
        pssTotalBytes: memory.reduce((sum, item) => sum + item.pssBytes, 0),
        idleCpuPercentAllKernels: (((ticksAfter - ticksBefore) / clockTicks) * 1000 * 100) / idleWindowMs,
      });
    }
    await Promise.all(sessions.map((session) => session.close()));
  } finally {
    await engine.stop();
  }
  return { preload: preload ?? 'default', rows };
}

export async function runGrowth(config, log) {
  const output = await outputGrowth(config, log);
  const live = await liveSessions(config, log);
  return { output, live };
}
