import type { ExecutionMode, Limits } from '../config/index.js';
import type { KernelProcess } from '../kernel/index.js';
import type {
  KernelAcquireRequest,
  KernelLauncher,
  KernelLease,
  KernelRequest,
  KernelSource,
} from './kernel-launcher.js';
import type { WorkspaceManager } from './workspace-manager.js';

/** First wait after a failed start; doubles up to {@link POOL_MAX_BACKOFF_MS}. */
export const POOL_MIN_BACKOFF_MS = 1_000;
export const POOL_MAX_BACKOFF_MS = 30_000;
/** Start latencies kept for the median. */
const LATENCY_WINDOW = 50;

/** Options of {@link KernelPool}. */
export interface KernelPoolOptions {
  /** Kernels kept ready. 0 turns the pool into a pass-through. */
  size: number;
  /** Kernel starts in flight at once, so refills never starve running executions. */
  maxConcurrentStarts: number;
  /** The profile pooled kernels are started with (config limits and preload, no extra env). */
  limits: Limits;
  preload: readonly string[];
  /**
   * The execution mode of every pooled kernel (config `policy.mode`). It is fixed by the sandbox at
   * start, so a request for any other mode always gets a fresh kernel.
   */
  mode: ExecutionMode;
  /** Whether cgroups are in force: only then can memory, processes and CPU of a live kernel change. */
  adjustable: boolean;
  launcher: KernelLauncher;
  workspaces: WorkspaceManager;
}

/** Pool figures for metrics. */
export interface PoolStats {
  /** Target number of ready kernels. */
  size: number;
  ready: number;
  starting: number;
  hits: number;
  misses: number;
  startFailures: number;
  /** Median start-to-ready time of pooled kernels, ms (null before the first start). */
  medianStartMs: number | null;
  lastStartMs: number | null;
  /** Current wait before the next start after failures, ms. */
  backoffMs: number;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, index) => item === b[index]);
}

/**
 * Sandboxed kernels started ahead of demand, preload done, each on its own workspace with its own
 * uid, handed to new sessions in milliseconds. A request whose limits or execution mode a pooled
 * kernel cannot honour gets a fresh kernel (a miss) — never a kernel with other limits or of
 * another mode. With cgroups, memory (down),
 * processes (down) and CPU share (any) are adjusted on the live kernel.
 */
export class KernelPool implements KernelSource {
  private readonly options: KernelPoolOptions;
  private readonly ready: KernelLease[] = [];
  private inFlight = 0;
  private hits = 0;
  private misses = 0;
  private startFailures = 0;
  private backoffMs = 0;
  private nextAttemptAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly latencies: number[] = [];
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly starts = new Set<Promise<void>>();

  constructor(options: KernelPoolOptions) {
    this.options = options;
  }

  /** A fresh kernel on an existing workspace (restart): never from the pool. */
  start(request: KernelRequest): Promise<KernelProcess> {
    return this.options.launcher.start(request);
  }

  /** Begins filling in the background. */
  warm(): void {
    this.fill();
  }

  stats(): PoolStats {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return {
      size: this.options.size,
      ready: this.ready.length,
      starting: this.inFlight,
      hits: this.hits,
      misses: this.misses,
      startFailures: this.startFailures,
      medianStartMs: sorted.length > 0 ? sorted[Math.floor(sorted.length / 2)]! : null,
      lastStartMs: this.latencies[this.latencies.length - 1] ?? null,
      backoffMs: this.backoffMs,
    };
  }

  private fill(): void {
    const { size, maxConcurrentStarts } = this.options;
    if (this.stopped) return;
    const waitMs = this.nextAttemptAt - Date.now();
    if (waitMs > 0) {
      // Backing off. Timers may fire a millisecond early, so always re-arm rather than assume
      // the retry timer's callback will find the back-off over.
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = null;
        this.fill();
      }, waitMs + 1);
      this.retryTimer.unref();
      return;
    }
    while (this.ready.length + this.inFlight < size && this.inFlight < maxConcurrentStarts) {
      this.inFlight += 1;
      const started = this.startOne();
      this.starts.add(started);
      void started.finally(() => this.starts.delete(started));
    }
  }

  private async startOne(): Promise<void> {
    const startedAt = performance.now();
    try {
      const lease = await this.options.launcher.acquire({
        limits: this.options.limits,
        preload: this.options.preload,
        mode: this.options.mode,
        env: {},
        signal: this.abort.signal,
      });
      this.latencies.push(performance.now() - startedAt);
      if (this.latencies.length > LATENCY_WINDOW) this.latencies.shift();
      this.backoffMs = 0;
      if (this.stopped) {
        await this.release(lease);
        return;
      }
      // A kernel that dies while waiting is discarded, never handed out.
      lease.kernel.onDeath(() => {
        const index = this.ready.indexOf(lease);
        if (index >= 0) {
          this.ready.splice(index, 1);
          void this.release(lease).finally(() => this.fill());
        }
      });
      this.ready.push(lease);
    } catch {
      if (this.stopped) return;
      this.startFailures += 1;
      this.backoffMs = Math.min(Math.max(POOL_MIN_BACKOFF_MS, this.backoffMs * 2), POOL_MAX_BACKOFF_MS);
      this.nextAttemptAt = Date.now() + this.backoffMs;
    } finally {
      // Arms the retry timer while backing off.
      this.inFlight -= 1;
      this.fill();
    }
  }

  /** Whether a pooled kernel can serve this request, limits included. */
  private fits(request: KernelAcquireRequest): boolean {
    const pool = this.options.limits;
    const want = request.limits;
    if (request.workspaceDir !== undefined || Object.keys(request.env).length > 0) return false;
    // The sandbox fixed the workspace bind and the network at start: the mode must match exactly.
    if (request.mode !== this.options.mode) return false;
    if (!sameList(request.preload, this.options.preload)) return false;
    // Fixed at kernel start by rlimits: must match exactly.
    if (want.maxFileSizeMb !== pool.maxFileSizeMb || want.maxOpenFiles !== pool.maxOpenFiles) return false;
    if (this.options.adjustable) {
      return want.memoryLimitMb <= pool.memoryLimitMb && want.maxProcesses <= pool.maxProcesses;
    }
    return (
      want.memoryLimitMb === pool.memoryLimitMb &&
      want.maxProcesses === pool.maxProcesses &&
      want.cpuCores === pool.cpuCores
    );
  }

  async acquire(request: KernelAcquireRequest): Promise<KernelLease> {
    if (!this.stopped && this.fits(request)) {
      while (this.ready.length > 0) {
        const lease = this.ready.shift()!;
        if (lease.kernel.state !== 'idle') {
          await this.release(lease);
          continue;
        }
        try {
          const pool = this.options.limits;
          const same =
            request.limits.memoryLimitMb === pool.memoryLimitMb &&
            request.limits.maxProcesses === pool.maxProcesses &&
            request.limits.cpuCores === pool.cpuCores;
          if (lease.kernel.cgroup && !same) {
            await lease.kernel.cgroup.update({
              memoryLimitMb: request.limits.memoryLimitMb,
              maxProcesses: request.limits.maxProcesses,
              cpuCores: request.limits.cpuCores,
            });
          }
          lease.kernel.memoryLimitMb = request.limits.memoryLimitMb;
        } catch {
          await this.release(lease);
          continue;
        }
        this.hits += 1;
        this.fill();
        return lease;
      }
    }
    this.misses += 1;
    this.fill();
    return this.options.launcher.acquire(request);
  }

  private async release(lease: KernelLease): Promise<void> {
    await lease.kernel.close().catch(() => undefined);
    await this.options.workspaces.dispose(lease.workspace).catch(() => undefined);
  }

  /** Stops refilling and closes every pooled kernel. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.allSettled([...this.starts]);
    const leases = this.ready.splice(0);
    await Promise.allSettled(leases.map((lease) => this.release(lease)));
  }
}
