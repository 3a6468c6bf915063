export { Session } from './session.js';
export type {
  SessionState,
  ExecuteOptions,
  RestartResult,
  SessionInfo,
  SessionParts,
  SessionRecord,
} from './session.js';
export { WorkspaceFiles, normalizeWorkspacePath } from './workspace-files.js';
export type { WorkspaceFilesOptions, WorkspaceEntry } from './workspace-files.js';
export { WorkspaceManager } from './workspace-manager.js';
export type { Workspace } from './workspace-manager.js';
export { KernelLauncher, addressSpaceHeadroomMb } from './kernel-launcher.js';
export type { KernelSource, KernelRequest, KernelAcquireRequest, KernelLease } from './kernel-launcher.js';
export { KernelPool, POOL_MIN_BACKOFF_MS, POOL_MAX_BACKOFF_MS } from './kernel-pool.js';
export type { KernelPoolOptions, PoolStats } from './kernel-pool.js';
export { newId } from './ids.js';
export { detectLoopVolumes, createVolume, destroyVolume } from './workspace-volume.js';
export type { QuotaMechanism, VolumeBounds } from './workspace-volume.js';
