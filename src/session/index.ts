export { Session } from './session.js';
export type {
  SessionState,
  ExecuteOptions,
  RestartResult,
  SessionInfo,
  SessionParts,
  SessionRecord,
  SessionFiles,
} from './session.js';
export { WorkspaceFiles, normalizeWorkspacePath, checkFileExtension } from './workspace-files.js';
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
export { SessionHistory, DEFAULT_HISTORY_MAX_ENTRIES, DEFAULT_HISTORY_MAX_BYTES } from './session-history.js';
export type { HistoryEntry, SessionHistoryOptions } from './session-history.js';
