/**
 * Figure 2: `1+1` in a live session vs Jupyter `execute_interactive('1+1')`, and a profile of one
 * round trip laid out on the host's and the kernel's common monotonic clock.
 */
import { assertOk, startEngine, waitForPool } from '../lib/engine.js';
import {
  instrumentHostRoundTrip,
  KERNEL_PROFILE_DUMP,
  KERNEL_PROFILE_SETUP,
  nsToMs,
  nowNs,
} from '../lib/instrument.js';
import { jupyterBaseline } from '../lib/processes.js';
import { summarize } from '../lib/stats.js';

/** Timed `execute(code)` calls; also the host process's CPU per call. */
export async function timeExecutions(session, code, count, options = {}) {
  const samples = [];
  const cpuBefore = process.cpuUsage();
  for (let index = 0; index < count; index += 1) {
    const startedAt = performance.now();
    const execution = await session.execute(code, options);
    samples.push(performance.now() - startedAt);
    if (execution.status !== 'ok') assertOk(execution, code);
  }
  const cpu = process.cpuUsage(cpuBefore);
  return { samples, hostCpuMsPerCall: (cpu.user + cpu.system) / 1000 / count };
}

/** Segments of one round trip, ms, from host and kernel stamps (null when a stamp is missing). */
const SEGMENTS = [
  ['host: validate, queue, collector', 'call', 'begin'],
  ['host: cgroup counters before (reset peak, read CPU)', 'begin', 'sendStart'],
  // Write → read spans are measured from the start of the write: a stamp taken after a write
  // returns can land after the reader already woke (two cores, the writer descheduled).
  ['host: encode + write the execute frame → kernel reader thread has it', 'sendStart', 'received'],
  ['kernel: reader → main thread (queue)', 'received', 'enter'],
  ['kernel: workspace snapshot before', 'snap1Start', 'snap1End'],
  ['kernel: other setup (rusage, clear_refs, rlimits)', 'enter', 'cellStart', ['snap1Start', 'snap1End']],
  ['kernel: compile + run the cell', 'cellStart', 'cellEnd'],
  ['kernel: result formatting, drain, sends', 'cellEnd', 'replySendStart', ['snap2Start', 'snap2End']],
  ['kernel: workspace snapshot after', 'snap2Start', 'snap2End'],
  ['kernel: encode + write the reply frame → host event loop has it', 'replySendStart', 'replyChunk'],
  ['host: decode + validate frames, dispatch', 'replyChunk', 'replyDispatched'],
  ['host: cgroup counters after (CPU, peak memory)', 'replyDispatched', 'finish'],
  ['host: finish Execution, resolve, await', 'finish', 'resolved'],
];

function segmentMs(stamps, [, from, to, minus]) {
  const a = stamps[from];
  const b = stamps[to];
  if (a === undefined || b === undefined) return null;
  let value = b - a;
  if (minus) {
    const [m0, m1] = minus;
    if (stamps[m0] !== undefined && stamps[m1] !== undefined) value -= stamps[m1] - stamps[m0];
  }
  return value;
}

/** One profiled session: host hooks on KernelProcess, kernel hooks patched in from a cell. */
async function profileRoundTrip(vv, count) {
  const session = await vv.createSession();
  const { records, patches } = instrumentHostRoundTrip();
  try {
    const setup = assertOk(await session.execute(KERNEL_PROFILE_SETUP), 'profile setup');
    const kernelMissing = setup.result ? String(setup.result['text/plain'] ?? '') : '';
    for (let index = 0; index < 30; index += 1) await session.execute('1+1');
    records.clear();
    const host = [];
    for (let index = 0; index < count; index += 1) {
      const call = nowNs();
      const execution = await session.execute('1+1');
      const resolved = nowNs();
      host.push({ id: execution.id, call, resolved });
    }
    const dump = assertOk(await session.execute(KERNEL_PROFILE_DUMP), 'profile dump');
    const kernelRecords = JSON.parse(dump.stdout);
    const rows = [];
    let clockViolations = 0;
    for (const { id, call, resolved } of host) {
      const h = records.get(id) ?? {};
      const k = kernelRecords[id] ?? {};
      const base = call;
      const stamps = {};
      const put = (name, ns) => {
        if (ns !== undefined && ns !== null) stamps[name] = nsToMs(BigInt(ns) - base);
      };
      put('call', call);
      put('resolved', resolved);
      for (const name of ['begin', 'sendStart', 'sendEnd', 'replyChunk', 'replyDispatched', 'finish'])
        put(name, h[name]);
      for (const name of [
        'received',
        'enter',
        'snap1Start',
        'snap1End',
        'cellStart',
        'cellEnd',
        'snap2Start',
        'snap2End',
        'replySendStart',
        'replySendEnd',
      ]) {
        put(name, k[name]);
      }
      if (
        stamps.received !== undefined &&
        stamps.sendStart !== undefined &&
        stamps.received < stamps.sendStart
      )
        clockViolations += 1;
      rows.push(stamps);
    }
    const segments = SEGMENTS.map((segment) => {
      const values = rows.map((stamps) => segmentMs(stamps, segment)).filter((value) => value !== null);
      return { label: segment[0], stats: summarize(values) };
    });
    const total = summarize(rows.map((stamps) => stamps.resolved - stamps.call));
    const hostSide = summarize(
      rows
        .filter((s) => s.sendStart !== undefined && s.replyChunk !== undefined)
        .map((s) => s.sendStart - s.call + (s.resolved - s.replyChunk)),
    );
    const kernelSide = summarize(
      rows
        .filter((s) => s.received !== undefined && s.replySendStart !== undefined)
        .map((s) => s.replySendStart - s.received),
    );
    const pipes = summarize(
      rows
        .filter((s) => s.received !== undefined && s.replyChunk !== undefined)
        .map((s) => s.received - s.sendStart + (s.replyChunk - s.replySendStart)),
    );
    return {
      total,
      hostSide,
      kernelSide,
      pipes,
      segments,
      clockViolations,
      hookMissing: [...patches.missing, ...(kernelMissing && kernelMissing !== '[]' ? [kernelMissing] : [])],
    };
  } finally {
    patches.restore();
    await session.close();
  }
}

export async function runRoundTrip(config, log) {
  const engine = await startEngine({ pool: { size: 2 } });
  let vivarium;
  let profile;
  let tail;
  let blockMedians;
  let jupyter;
  try {
    const { vv } = engine;
    await waitForPool(vv);
    const session = await vv.createSession();
    await waitForPool(vv);
    const check = assertOk(await session.execute('1+1'), '1+1');
    if (check.result?.['text/plain'] !== '2') throw new Error(`1+1 gave ${JSON.stringify(check.result)}`);
    // Two blocks each, alternating with Jupyter's, so load drift on a shared machine hits both.
    const half = Math.ceil(config.roundtripSamples / 2);
    const jupyterSamples = [];
    blockMedians = { vivarium: [], jupyter: [] };
    const jupyterBlock = async () => {
      log('roundtrip: jupyter block');
      const block = await jupyterBaseline('roundtrip', [
        '--samples',
        String(half),
        '--warmup',
        String(config.roundtripWarmup),
      ]);
      jupyterSamples.push(...block.samplesMs);
      blockMedians.jupyter.push(summarize(block.samplesMs).median);
    };
    const vivariumSamples = [];
    let hostCpuMs = 0;
    for (let block = 0; block < 2; block += 1) {
      log('roundtrip: vivarium block');
      await timeExecutions(session, '1+1', config.roundtripWarmup);
      const timed = await timeExecutions(session, '1+1', half);
      vivariumSamples.push(...timed.samples);
      blockMedians.vivarium.push(summarize(timed.samples).median);
      hostCpuMs += timed.hostCpuMsPerCall * half;
      await jupyterBlock();
    }
    vivarium = { samples: vivariumSamples, hostCpuMsPerCall: hostCpuMs / vivariumSamples.length };
    jupyter = { samplesMs: jupyterSamples };
    // The slowest samples, in order, to see whether the tail is periodic or isolated.
    tail = vivarium.samples
      .map((value, index) => ({ index, value }))
      .sort((a, b) => b.value - a.value)
      .slice(0, 5)
      .sort((a, b) => a.index - b.index);
    await session.close();
    await waitForPool(vv);
    log('roundtrip: profile');
    profile = await profileRoundTrip(vv, config.profileSamples);
    await waitForPool(vv);
  } finally {
    await engine.stop();
  }
  return {
    vivarium: { ...summarize(vivarium.samples), hostCpuMsPerCall: vivarium.hostCpuMsPerCall, slowest: tail },
    blockMedians,
    jupyter: summarize(jupyter.samplesMs),
    profile,
  };
}
