export { Session } from './session.js';
export type { SessionState, ExecuteOptions, RestartResult, SessionInfo, SessionParts } from './session.js';
export { WorkspaceFiles, normalizeWorkspacePath } from './workspace-files.js';
export type { WorkspaceFilesOptions, WorkspaceEntry } from './workspace-files.js';
export { WorkspaceManager } from './workspace-manager.js';
export type { Workspace } from './workspace-manager.js';
export { KernelLauncher } from './kernel-launcher.js';
export type { KernelSource, KernelRequest } from './kernel-launcher.js';
export { newId } from './ids.js';
