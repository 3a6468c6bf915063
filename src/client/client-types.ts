/*
 * The shapes the client shares with the library, imported as types only: the client bundle pulls
 * no engine or server code.
 */
import type { Execution, SessionInfo } from '../index.js';

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
} from '../index.js';

/** One entry of a session's history: the code and the Execution it gave. */
export interface StoredExecutionSummary {
  code: string;
  execution: Execution;
  /** ISO time the execution was stored. */
  createdAt: string;
}

/** A session as the service describes it: the library's `SessionInfo` plus what the service keeps. */
export interface RemoteSessionInfo extends SessionInfo {
  /** ISO time the session was closed, or null while it is open. */
  closedAt: string | null;
  /** Modules imported at kernel start. */
  preload: string[];
  /** Closed after this long without activity, in ms; 0 never. */
  idleTimeoutMs: number;
  /** The owning key's id (`key_…`); null when the service runs without auth. */
  ownerKeyId: string | null;
}

export type {
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
} from '../pipeline/index.js';

/** An input file of a remote task: a path already in the session's workspace, or content to put there. */
export type RemoteTaskFile =
  | string
  | {
      /** Where it goes in the workspace (relative). */
      path: string;
      /** Text (sent as UTF-8) or bytes (sent base64-encoded). */
      content: string | Uint8Array;
    };
