import type { Config, ExecutionMode, Limits } from '../config/index.js';
import { KernelProcess } from '../kernel/index.js';
import type { Sandbox } from '../sandbox/index.js';
import { newId } from './ids.js';
import type { Workspace, WorkspaceManager } from './workspace-manager.js';

/** What a session needs from a kernel source. */
export interface KernelRequest {
  workspace: Workspace;
  limits: Limits;
  /** What the kernel may touch, enforced by its sandbox (read-only workspace, network). */
  mode: ExecutionMode;
  preload: readonly string[];
  env: Readonly<Record<string, string>>;
  signal?: AbortSignal | undefined;
}

/** What a new session asks for: a kernel on a fresh (or adopted) workspace. */
export interface KernelAcquireRequest {
  limits: Limits;
  /** What the kernel may touch; a pooled kernel is handed out only for the pool's own mode. */
  mode: ExecutionMode;
  preload: readonly string[];
  env: Readonly<Record<string, string>>;
  /** An existing directory to use as the workspace. @default a fresh one */
  workspaceDir?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** A kernel with its workspace, ready to be bound to a session. */
export interface KernelLease {
  kernel: KernelProcess;
  workspace: Workspace;
}

/**
 * Where kernels come from: the one path for every session, so a warm pool can stand in front of
 * it. Binding a kernel to a session is the session's business, not the source's.
 */
export interface KernelSource {
  /** A kernel on a new workspace, for a new session. */
  acquire(request: KernelAcquireRequest): Promise<KernelLease>;
  /** A fresh kernel on an existing workspace (restart). */
  start(request: KernelRequest): Promise<KernelProcess>;
}

/**
 * The address-space rlimit kept beside a memory cgroup: the cgroup bounds what is used, the
 * rlimit only stops absurd reservations early (numpy+pandas+scipy+matplotlib reserve ~450 MiB of
 * address space beyond what they touch, so it needs generous headroom).
 */
export function addressSpaceHeadroomMb(memoryLimitMb: number): number {
  return memoryLimitMb + Math.max(memoryLimitMb, 1024);
}

/** Starts a fresh sandboxed kernel per request. */
export class KernelLauncher implements KernelSource {
  constructor(
    private readonly config: Config,
    private readonly sandbox: Sandbox,
    private readonly workspaces: WorkspaceManager,
  ) {}

  async acquire(request: KernelAcquireRequest): Promise<KernelLease> {
    const workspace = request.workspaceDir
      ? await this.workspaces.adopt(request.workspaceDir)
      : await this.workspaces.create();
    try {
      const kernel = await this.start({ ...request, workspace });
      return { kernel, workspace };
    } catch (error) {
      await this.workspaces.dispose(workspace);
      throw error;
    }
  }

  async start(request: KernelRequest): Promise<KernelProcess> {
    const cgroups = this.sandbox.cgroups;
    const cgroup = cgroups.enabled
      ? await cgroups.create(newId('krn'), {
          memoryLimitMb: request.limits.memoryLimitMb,
          maxProcesses: request.limits.maxProcesses,
          cpuCores: request.limits.cpuCores,
        })
      : undefined;
    const spec = this.sandbox.launchSpec({
      workspaceDir: request.workspace.dir,
      env: request.env,
      mode: request.mode,
      cgroupFdCount: cgroup ? cgroup.procsFiles.length : 0,
      ...(request.workspace.uid === undefined ? {} : { uid: request.workspace.uid }),
    });
    return KernelProcess.start({
      spec,
      preload: request.preload,
      limits: {
        ...request.limits,
        ...(cgroup ? { addressSpaceMb: addressSpaceHeadroomMb(request.limits.memoryLimitMb) } : {}),
      },
      startTimeoutMs: this.config.session.startTimeoutMs,
      cgroup,
      ...(request.signal ? { signal: request.signal } : {}),
    });
  }
}
