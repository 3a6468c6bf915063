import { VivariumError } from '../errors/index.js';
import { closeSync, constants as fsConstants, openSync, readFileSync, writeFileSync } from 'node:fs';
import { access, mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';

/** This engine's own group under `vivarium/`: `e<pid>-<random>`, so stale groups can be told apart. */
function engineGroupName(): string {
  return `e${process.pid}-${randomBytes(4).toString('hex')}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Which cgroup mechanism is in force. */
export type CgroupMode = 'v2' | 'v1' | 'none';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** Folder under the engine's own cgroup that holds one child per kernel. */
export const CGROUP_GROUP_NAME = 'vivarium';

/** Limits a kernel's cgroup enforces. */
export interface CgroupLimits {
  memoryLimitMb: number;
  maxProcesses: number;
  /** CPU share in cores (1.5 = one and a half cores). */
  cpuCores: number;
}

/** What `doctor` shows about cgroups. */
export interface CgroupReport {
  mode: CgroupMode;
  /** Controllers in force: memory, pids, cpu. */
  controllers: string[];
  /** Why cgroups are not used, when they are not. */
  problem: string | null;
}

interface Hierarchy {
  /** Controller names this directory serves (`memory`, `pids`, `cpu`, `cpuacct`). */
  controllers: string[];
  /** The engine's own cgroup directory in this hierarchy + `/vivarium`. */
  base: string;
}

async function writable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

// Counter files are tiny and served from kernel memory: reading them synchronously costs a few
// microseconds, far less than a trip through the libuv thread pool, and they sit on the hot path
// of every execution.
function readNumber(path: string): number | null {
  try {
    const value = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

function readKeyed(path: string, key: string): number | null {
  try {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const [name, value] = line.trim().split(/\s+/);
      if (name === key && value !== undefined) return Number(value);
    }
  } catch {
    // absent
  }
  return null;
}

/** `/proc/self/cgroup` as {controller list → path}. */
async function ownCgroups(): Promise<Array<{ controllers: string[]; path: string }>> {
  const text = await readFile('/proc/self/cgroup', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [, controllers = '', path = '/'] = line.split(':');
      return { controllers: controllers ? controllers.split(',') : [], path };
    });
}

/**
 * Per-kernel cgroups for memory (no swap; OOM kills stay inside), processes and CPU share.
 * v1 (separate `memory`, `pids`, `cpu`, `cpuacct` hierarchies) and v2 (a delegated subtree with
 * those controllers enabled) are both supported; without either, limits fall back to rlimits.
 */
export class CgroupManager {
  private constructor(
    readonly mode: CgroupMode,
    private readonly hierarchies: Hierarchy[],
    readonly problem: string | null,
  ) {}

  /** Finds a writable cgroup tree. Never throws: `mode: 'none'` with the reason instead. */
  static async detect(): Promise<CgroupManager> {
    try {
      const own = await ownCgroups();
      const unified = own.find((entry) => entry.controllers.length === 0 && entry.path !== undefined);
      // v2: a unified hierarchy whose controllers include memory and pids.
      if (unified) {
        const dir = join(CGROUP_ROOT, unified.path);
        const available = await readFile(join(dir, 'cgroup.controllers'), 'utf8').catch(() => '');
        const names = available.trim().split(/\s+/);
        if (names.includes('memory') && names.includes('pids') && (await writable(dir))) {
          const wanted = ['memory', 'pids', ...(names.includes('cpu') ? ['cpu'] : [])];
          const shared = join(dir, CGROUP_GROUP_NAME);
          await mkdir(shared, { recursive: true });
          // No process sits in these folders ("no internal processes"); kernels live at the leaves.
          const control = wanted.map((n) => `+${n}`).join(' ');
          await writeFile(join(shared, 'cgroup.subtree_control'), control);
          const base = join(shared, engineGroupName());
          await mkdir(base);
          await writeFile(join(base, 'cgroup.subtree_control'), control);
          return new CgroupManager('v2', [{ controllers: wanted, base }], null);
        }
      }
      const hierarchies: Hierarchy[] = [];
      for (const controller of ['memory', 'pids', 'cpu', 'cpuacct']) {
        const entry = own.find((item) => item.controllers.includes(controller));
        if (!entry) continue;
        const mount = join(CGROUP_ROOT, controller);
        const dir = join(mount, entry.path);
        if (!(await writable(dir))) continue;
        const base = join(dir, CGROUP_GROUP_NAME, engineGroupName());
        await mkdir(base, { recursive: true });
        hierarchies.push({ controllers: [controller], base });
      }
      const names = hierarchies.flatMap((h) => h.controllers);
      if (names.includes('memory') && names.includes('pids'))
        return new CgroupManager('v1', hierarchies, null);
      return new CgroupManager(
        'none',
        [],
        "no writable cgroup tree with the memory and pids controllers (run as root, or delegate a cgroup v2 subtree to the engine's user, e.g. systemd Delegate=yes)",
      );
    } catch (error) {
      return new CgroupManager('none', [], `cgroups unavailable: ${(error as Error).message}`);
    }
  }

  /** This engine's group directories (one per hierarchy); kernels' groups live inside. */
  get engineDirs(): string[] {
    return this.hierarchies.map((hierarchy) => hierarchy.base);
  }

  report(): CgroupReport {
    return {
      mode: this.mode,
      controllers: this.hierarchies.flatMap((h) => h.controllers).filter((c) => c !== 'cpuacct'),
      problem: this.problem,
    };
  }

  get enabled(): boolean {
    return this.mode !== 'none';
  }

  /** Creates the cgroup of one kernel with its limits. */
  async create(name: string, limits: CgroupLimits): Promise<KernelCgroup> {
    const dirs = new Map<string, string>();
    try {
      for (const hierarchy of this.hierarchies) {
        const dir = join(hierarchy.base, name);
        await mkdir(dir);
        for (const controller of hierarchy.controllers) dirs.set(controller, dir);
      }
    } catch (error) {
      await new KernelCgroup('v1', dirs).destroy();
      throw new VivariumError(
        'KERNEL_START_FAILED',
        `Could not create the kernel's cgroup: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (this.mode === 'none') throw new Error('cgroups are not available: ' + (this.problem ?? 'unknown'));
    const group = new KernelCgroup(this.mode, dirs);
    try {
      await group.applyLimits(limits);
    } catch (error) {
      await group.destroy();
      throw new VivariumError(
        'KERNEL_START_FAILED',
        `Could not set the kernel's cgroup limits: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return group;
  }

  /**
   * Removes the cgroups of engines that are gone (an earlier run that was killed): only groups
   * whose owning engine pid no longer exists, so engines sharing a host never race each other.
   */
  async sweepStale(): Promise<number> {
    let removed = 0;
    for (const hierarchy of this.hierarchies) {
      const shared = dirname(hierarchy.base);
      for (const engine of await readdir(shared, { withFileTypes: true }).catch(() => [])) {
        const owner = /^e(\d+)-/.exec(engine.name);
        if (!engine.isDirectory() || !owner || processAlive(Number(owner[1]))) continue;
        const engineDir = join(shared, engine.name);
        for (const kernel of await readdir(engineDir, { withFileTypes: true }).catch(() => [])) {
          if (kernel.isDirectory()) await rmdir(join(engineDir, kernel.name)).catch(() => undefined);
        }
        await rmdir(engineDir).then(
          () => (removed += 1),
          () => undefined,
        );
      }
    }
    return removed;
  }

  /** Removes this engine's own group once its kernels are gone. */
  async dispose(): Promise<void> {
    for (const hierarchy of this.hierarchies) await rmdir(hierarchy.base).catch(() => undefined);
  }
}

/** The cgroup of one kernel: limits, figures, OOM events, teardown. */
export class KernelCgroup {
  constructor(
    readonly mode: Exclude<CgroupMode, 'none'>,
    /** controller → directory */
    readonly dirs: ReadonlyMap<string, string>,
  ) {}

  private dir(controller: string): string | undefined {
    return this.dirs.get(controller);
  }

  /** Distinct directories, each with its `cgroup.procs` the kernel joins. */
  get procsFiles(): string[] {
    return [...new Set(this.dirs.values())].map((dir) => join(dir, 'cgroup.procs'));
  }

  async applyLimits(limits: CgroupLimits): Promise<void> {
    const bytes = limits.memoryLimitMb * 1024 * 1024;
    const memory = this.dir('memory');
    const pids = this.dir('pids');
    const cpu = this.dir('cpu');
    const periodUs = 100_000;
    const quotaUs = Math.max(1_000, Math.round(limits.cpuCores * periodUs));
    if (this.mode === 'v2') {
      if (memory) {
        await writeFile(join(memory, 'memory.max'), String(bytes));
        await writeFile(join(memory, 'memory.swap.max'), '0').catch(() => undefined);
        await writeFile(join(memory, 'memory.oom.group'), '1').catch(() => undefined);
      }
      if (pids) await writeFile(join(pids, 'pids.max'), String(limits.maxProcesses));
      if (cpu) await writeFile(join(cpu, 'cpu.max'), `${quotaUs} ${periodUs}`).catch(() => undefined);
      return;
    }
    if (memory) {
      // memsw must stay >= the memory limit: lower it last when shrinking, raise it first when growing.
      const memsw = join(memory, 'memory.memsw.limit_in_bytes');
      const hasMemsw = await access(memsw).then(
        () => true,
        () => false,
      );
      const current = readNumber(join(memory, 'memory.limit_in_bytes'));
      if (hasMemsw && current !== null && bytes > current) await writeFile(memsw, String(bytes));
      await writeFile(join(memory, 'memory.limit_in_bytes'), String(bytes));
      if (hasMemsw) await writeFile(memsw, String(bytes));
      else await writeFile(join(memory, 'memory.swappiness'), '0').catch(() => undefined);
    }
    if (pids) await writeFile(join(pids, 'pids.max'), String(limits.maxProcesses));
    if (cpu) {
      await writeFile(join(cpu, 'cpu.cfs_period_us'), String(periodUs)).catch(() => undefined);
      await writeFile(join(cpu, 'cpu.cfs_quota_us'), String(quotaUs));
    }
  }

  /**
   * Opens every `cgroup.procs` for writing. The kernel inherits these descriptors and writes `0`
   * to each as its first act (joining before any user code), then closes them. The caller closes
   * its copies after spawn.
   */
  openProcsFiles(): number[] {
    const fds: number[] = [];
    try {
      for (const path of this.procsFiles) fds.push(openSync(path, 'w'));
      return fds;
    } catch (error) {
      for (const fd of fds) closeSync(fd);
      throw error;
    }
  }

  /** OOM kills recorded in this cgroup so far. */
  oomKills(): number {
    const memory = this.dir('memory');
    if (!memory) return 0;
    const file = this.mode === 'v2' ? join(memory, 'memory.events') : join(memory, 'memory.oom_control');
    return readKeyed(file, 'oom_kill') ?? 0;
  }

  /** Starts a new peak-memory window (v1: resets `max_usage_in_bytes`; v2: resets `memory.peak` where supported). */
  resetPeakMemory(): void {
    const memory = this.dir('memory');
    if (!memory) return;
    const file = this.mode === 'v2' ? join(memory, 'memory.peak') : join(memory, 'memory.max_usage_in_bytes');
    try {
      writeFileSync(file, this.mode === 'v2' ? 'reset' : '0');
    } catch {
      // v2 kernels before 6.12 cannot reset memory.peak: the figure is then the kernel's lifetime peak
    }
  }

  /** Peak memory of the whole kernel tree since the last reset, bytes; null when unknown. */
  peakMemoryBytes(): number | null {
    const memory = this.dir('memory');
    if (!memory) return null;
    return readNumber(
      this.mode === 'v2' ? join(memory, 'memory.peak') : join(memory, 'memory.max_usage_in_bytes'),
    );
  }

  /** CPU time of the whole kernel tree, nanoseconds; null when unknown. */
  cpuUsageNs(): number | null {
    if (this.mode === 'v2') {
      const cpu = this.dir('cpu') ?? this.dir('memory');
      if (!cpu) return null;
      const usec = readKeyed(join(cpu, 'cpu.stat'), 'usage_usec');
      return usec === null ? null : usec * 1000;
    }
    const cpuacct = this.dir('cpuacct');
    return cpuacct ? readNumber(join(cpuacct, 'cpuacct.usage')) : null;
  }

  /** Raises or lowers limits of a live kernel (pool kernels adjusted to a session's profile). */
  async update(limits: CgroupLimits): Promise<void> {
    await this.applyLimits(limits);
  }

  /**
   * Removes the cgroup once its processes are gone. The kernel releases a group a few ms after
   * its last process exits (EBUSY until then), so retries back off from 1 ms, for up to ~2 s.
   */
  async destroy(): Promise<void> {
    for (const dir of new Set(this.dirs.values())) {
      let waitMs = 1;
      for (let waitedMs = 0; ; waitedMs += waitMs, waitMs = Math.min(waitMs * 2, 100)) {
        try {
          await rmdir(dir);
          break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT' || waitedMs > 2_000) break;
          await new Promise((resolve) => setTimeout(resolve, waitMs));
        }
      }
    }
  }
}
