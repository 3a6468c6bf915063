export { VivariumClient, DEFAULT_CLIENT_TIMEOUT_MS, DEFAULT_MAX_RESPONSE_BYTES } from './vivarium-client.js';
export type {
  VivariumClientOptions,
  RemoteCreateSessionOptions,
  RemoteRunOptions,
} from './vivarium-client.js';
export { RemoteSession } from './remote-session.js';
export type { RemoteExecuteOptions, RemoteCallOptions, RemoteHistoryOptions } from './remote-session.js';
export { RemoteTasks, bytesToBase64 } from './remote-tasks.js';
export type {
  RemoteCreateTaskOptions,
  RemoteTaskEventsOptions,
  RemoteListTasksOptions,
  RemoteListApprovalsOptions,
  RemoteDecideApprovalOptions,
} from './remote-tasks.js';
export { RemoteFiles } from './remote-files.js';
export type {
  FileData,
  RemoteFileCallOptions,
  RemoteFileListing,
  RemoteWriteResult,
} from './remote-files.js';
export { VivariumClientError, isVivariumClientError, CLIENT_ERROR_CODES } from './client-error.js';
export type { ClientErrorCode, VivariumClientErrorOptions } from './client-error.js';
export { ABORT_GRACE_MS } from './execution-call.js';
export { SseParser } from './sse-parser.js';
export type { ServerSentEvent, SseParserOptions } from './sse-parser.js';
export type {
  Execution,
  ExecutionEvent,
  ExecutionStatus,
  ExecutionErrorInfo,
  Output,
  MimeBundle,
  VariableSummary,
  FileChange,
  SessionInfo,
  SessionState,
  RestartResult,
  WorkspaceEntry,
  Limits,
  ExecutionMode,
  StoredExecutionSummary,
  RemoteSessionInfo,
  RemoteTaskFile,
  TaskResult,
  TaskEvent,
  TaskState,
  TaskOutcome,
  TaskStep,
  TaskAttempt,
  TaskSpec,
  Approval,
  ApprovalState,
  ApprovalDecision,
  AttemptError,
  Verification,
  StoredModelCall,
} from './client-types.js';
