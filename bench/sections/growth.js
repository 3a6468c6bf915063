/**
 * Figure 4: how cost grows — round trip vs output size (with Jupyter alongside), round trip and
 * memory vs the number of live idle sessions.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { assertOk, mapConcurrent, sleep, startEngine, waitForPool } from '../lib/engine.js';
import { kernelPids, memoryOfPids, processTable } from '../lib/memory.js';
import { KERNEL_OUTPUT_PROFILE_SETUP, KernelProcess, Patches } from '../lib/instrument.js';
import { jupyterBaseline } from '../lib/processes.js';
import { summarize } from '../lib/stats.js';
import { timeExecutions } from './roundtrip.js';

const outputCode = (size) => `print('x' * ${size - 1})`;

/**
 * One large print, profiled: time the host spends inside `onData` (decode, validate, collect) and
 * the chunks it gets; in the kernel, time in frame sends, in writes blocked on the pipe to the
 * host, and in the pump's reads of fd 1.
 */
async function profileOutput(vv, size, maxOutputBytes, count) {
  const session = await vv.createSession();
  const patches = new Patches();
  const host = { busyNs: 0n, chunks: 0, bytes: 0 };
  patches.add(
    'KernelProcess.onData',
    KernelProcess.prototype,
    'onData',
    (original) =>
      function onData(chunk) {
        const started = process.hrtime.bigint();
        try {
          return original.call(this, chunk);
        } finally {
          host.busyNs += process.hrtime.bigint() - started;
          host.chunks += 1;
          host.bytes += chunk.length;
        }
      },
  );
  try {
    await waitForPool(vv);
    assertOk(await session.execute(KERNEL_OUTPUT_PROFILE_SETUP), 'output profile setup');
    await session.execute(outputCode(size), { maxOutputBytes });
    const runs = [];
    for (let index = 0; index < count; index += 1) {
      host.busyNs = 0n;
      host.chunks = 0;
      host.bytes = 0;
      const startedAt = performance.now();
      const execution = await session.execute(outputCode(size), { maxOutputBytes });
      const wallMs = performance.now() - startedAt;
      runs.push({
        wallMs,
        hostBusyMs: Number(host.busyNs) / 1e6,
        chunks: host.chunks,
        bytes: host.bytes,
        kernelCpuMs: execution.cpuMs,
      });
    }
    patches.restore();
    const dump = assertOk(
      await session.execute(
        'import builtins as __b, json as __j\nprint(__j.dumps(__b.__vv_out__["runs"][-' + count + ':]))',
      ),
      'output profile dump',
    );
    const kernel = JSON.parse(dump.stdout);
    return {
      sizeBytes: size,
      wall: summarize(runs.map((run) => run.wallMs)),
      hostBusy: summarize(runs.map((run) => run.hostBusyMs)),
      hostChunks: summarize(runs.map((run) => run.chunks)),
      frameBytes: summarize(runs.map((run) => run.bytes)),
      kernelCpu: summarize(runs.map((run) => run.kernelCpuMs)),
      kernelExecute: summarize(kernel.map((run) => (run.executeNs ?? NaN) / 1e6)),
      kernelSends: summarize(kernel.map((run) => run.sends ?? NaN)),
      kernelSend: summarize(kernel.map((run) => (run.sendNs ?? NaN) / 1e6)),
      kernelBlockedWrite: summarize(kernel.map((run) => (run.writeNs ?? NaN) / 1e6)),
      kernelPump: summarize(kernel.map((run) => (run.pumpNs ?? NaN) / 1e6)),
      hookMissing: patches.missing,
    };
  } finally {
    patches.restore();
    await session.close();
  }
}

async function outputGrowth(config, log) {
  const engine = await startEngine({ pool: { size: 2 } });
  const rows = [];
  let profile;
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
    log(`growth: output ${largest} B, profiled`);
    profile = await profileOutput(vv, largest, maxOutputBytes, Math.min(5, config.outputSamples.at(-1) + 1));
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
  return { rows, profile };
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
  const { rows: output, profile: outputProfile } = await outputGrowth(config, log);
  const live = await liveSessions(config, log);
  return { output, outputProfile, live };
}
