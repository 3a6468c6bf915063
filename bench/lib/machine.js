import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { Vivarium } from '../../dist/index.js';

function run(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (error) {
    return `${(error.stderr ?? '').toString().trim() || error.message}`;
  }
}

function cpuModel() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((item) => item.startsWith('model name'));
    return line ? line.split(':')[1].trim() : (os.cpus()[0]?.model ?? 'unknown');
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

/** The 1-minute load average and MemAvailable now. */
export function loadNow() {
  const [one] = os.loadavg();
  return { loadAverage1m: one, memAvailableBytes: memInfo().MemAvailable ?? NaN };
}

/** Busy share of all CPUs (100% = every core) over `ms`, from /proc/stat: other work, when idle. */
export async function cpuBusyPercent(ms = 1000) {
  const read = () => {
    const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    const values = fields.map(Number);
    const idle = values[3] + (values[4] ?? 0);
    return { idle, total: values.reduce((sum, value) => sum + value, 0) };
  };
  const before = read();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = read();
  const total = after.total - before.total;
  return total > 0 ? ((total - (after.idle - before.idle)) / total) * 100 : NaN;
}

/** /proc/meminfo in bytes. */
export function memInfo() {
  const out = {};
  for (const line of readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const match = /^(\w+):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (match) out[match[1]] = Number(match[2]) * (line.includes('kB') ? 1024 : 1);
  }
  return out;
}

/** What the report states about the machine. */
export function machineFacts(pythonPath) {
  const pythonVersions = run(pythonPath, [
    '-c',
    'import sys, numpy, pandas, matplotlib, jupyter_client, ipykernel; print(sys.version.split()[0], numpy.__version__, pandas.__version__, matplotlib.__version__, jupyter_client.__version__, ipykernel.__version__)',
  ]).split(' ');
  return {
    date: new Date().toISOString(),
    nproc: run('nproc', []),
    cpuModel: cpuModel(),
    memoryTotalBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()} (${os.arch()})`,
    node: process.version,
    python: `${pythonPath} ${pythonVersions[0] ?? '?'}`,
    numpy: pythonVersions[1] ?? '?',
    pandas: pythonVersions[2] ?? '?',
    matplotlib: pythonVersions[3] ?? '?',
    jupyterClient: pythonVersions[4] ?? '?',
    ipykernel: pythonVersions[5] ?? '?',
    bwrap: run('bwrap', ['--version']),
    runningAsRoot: process.getuid?.() === 0,
  };
}

/** One line about the sandbox as `doctor` sees it (bubblewrap, cgroups, seccomp). */
export async function sandboxFacts(bwrapVersion) {
  const dataDir = await mkdtemp(join(os.tmpdir(), 'vivarium-bench-inspect-'));
  try {
    const report = await Vivarium.inspect({ dataDir, processEnv: {} });
    const cgroups = report.cgroups
      ? `cgroups ${report.cgroups.mode}${report.cgroups.controllers?.length ? ` (${report.cgroups.controllers.join(', ')})` : ''}`
      : 'cgroups n/a';
    const seccomp = 'seccomp' in report ? `seccomp ${report.seccomp ? 'filter on' : 'off'}` : null;
    return [
      `${bwrapVersion}, isolation ${report.isolation}`,
      report.runningAsRoot ? 'engine as root, one uid per kernel' : 'engine unprivileged',
      cgroups,
      seccomp,
    ]
      .filter(Boolean)
      .join('; ');
  } catch (error) {
    return `inspect failed: ${error.message}`;
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}
