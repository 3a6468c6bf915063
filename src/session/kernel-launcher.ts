import type { Config, Limits } from '../config/index.js';
import { KernelProcess } from '../kernel/index.js';
import type { Sandbox } from '../sandbox/index.js';
import type { Workspace } from './workspace-manager.js';

/** What a session needs from a kernel source. */
export interface KernelRequest {
  workspace: Workspace;
  limits: Limits;
  preload: readonly string[];
  env: Readonly<Record<string, string>>;
  signal?: AbortSignal | undefined;
}

/**
 * Starts kernels. The one path by which every session gets its kernel, so a warm pool can stand
 * in front of it: binding a kernel to a session is the session's business, not the launcher's.
 */
export interface KernelSource {
  start(request: KernelRequest): Promise<KernelProcess>;
}

/** Starts a fresh sandboxed kernel per request. */
export class KernelLauncher implements KernelSource {
  constructor(
    private readonly config: Config,
    private readonly sandbox: Sandbox,
  ) {}

  start(request: KernelRequest): Promise<KernelProcess> {
    const spec = this.sandbox.launchSpec({
      workspaceDir: request.workspace.dir,
      env: request.env,
      ...(request.workspace.uid === undefined ? {} : { uid: request.workspace.uid }),
    });
    return KernelProcess.start({
      spec,
      preload: request.preload,
      limits: request.limits,
      startTimeoutMs: this.config.session.startTimeoutMs,
      ...(request.signal ? { signal: request.signal } : {}),
    });
  }
}
