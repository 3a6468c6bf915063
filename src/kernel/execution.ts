import type { FileChange } from './kernel-messages.js';

/** How an execution ended. */
export type ExecutionStatus = 'ok' | 'error' | 'timeout' | 'interrupted' | 'memory_exceeded' | 'killed';

export const EXECUTION_STATUSES: readonly ExecutionStatus[] = [
  'ok',
  'error',
  'timeout',
  'interrupted',
  'memory_exceeded',
  'killed',
];

/** A MIME bundle: `{"text/plain": "...", "image/png": "<base64>"}`. */
export type MimeBundle = Record<string, unknown>;

export interface StreamOutput {
  output_type: 'stream';
  name: 'stdout' | 'stderr';
  text: string;
}
export interface DisplayDataOutput {
  output_type: 'display_data';
  data: MimeBundle;
  metadata: Record<string, unknown>;
  transient?: { display_id?: string };
}
export interface ExecuteResultOutput {
  output_type: 'execute_result';
  execution_count: number;
  data: MimeBundle;
  metadata: Record<string, unknown>;
}
export interface ExecutionErrorInfo {
  ename: string;
  evalue: string;
  traceback: string[];
  /** For SyntaxError: 1-based line and column in the cell. */
  line?: number | null;
  column?: number | null;
}
export interface ErrorOutput extends ExecutionErrorInfo {
  output_type: 'error';
}
/** Outputs, shaped as nbformat's `output_type` entries, so a notebook export is a direct map. */
export type Output = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput;

/** Which bounded parts of an execution were cut. */
export interface ExecutionTruncation {
  /** stdout/stderr went past `maxOutputBytes`; the rest was dropped. */
  output: boolean;
  /** Rich outputs went past `maxDisplayBytes`; the rest was dropped. */
  display: boolean;
  /** The workspace had more entries than the change tracker scans. */
  files: boolean;
}

/** One cell run: the same shape in the library, `--json` output and HTTP bodies. */
export interface Execution {
  id: string;
  sessionId: string;
  executionCount: number;
  status: ExecutionStatus;
  outputs: Output[];
  /** All stdout text, capped. */
  stdout: string;
  /** All stderr text, capped. */
  stderr: string;
  truncated: ExecutionTruncation;
  /** The final expression's MIME bundle, or null. */
  result: MimeBundle | null;
  error: ExecutionErrorInfo | null;
  /** Wall time measured by the host. */
  durationMs: number;
  /** CPU time of the kernel and its children during the cell. */
  cpuMs: number;
  /** Peak resident memory of the kernel during the cell. */
  peakMemoryBytes: number;
  files: FileChange[];
  /** ISO time the execution started running (after any queue wait). */
  startedAt: string;
  /** Host-side explanation for `timeout`, `memory_exceeded` and `killed`; null otherwise. */
  reason: string | null;
  /**
   * True when a fresh kernel was started for this execution (the session's kernel was gone, e.g.
   * after a service restart): variables of earlier cells are lost, workspace files are kept.
   */
  namespaceReset: boolean;
}

/** Events streamed while an execution runs (noun-verb). */
export type ExecutionEvent =
  | { type: 'execution-start'; executionId: string; sessionId: string; executionCount: number }
  | { type: 'stream-delta'; executionId: string; name: 'stdout' | 'stderr'; text: string }
  | {
      type: 'display-data';
      executionId: string;
      data: MimeBundle;
      metadata: Record<string, unknown>;
      displayId: string | null;
      update: boolean;
    }
  | { type: 'clear-output'; executionId: string; wait: boolean }
  | {
      type: 'execute-result';
      executionId: string;
      executionCount: number;
      data: MimeBundle;
      metadata: Record<string, unknown>;
    }
  | ({ type: 'execution-error'; executionId: string } & ExecutionErrorInfo)
  | { type: 'input-request'; executionId: string; prompt: string; password: boolean }
  | { type: 'execution-end'; executionId: string; execution: Execution };

/** A prompt from `input()` / `getpass()` relayed to the caller. */
export interface InputRequest {
  prompt: string;
  password: boolean;
}

/** Answers `input()`; throwing makes `input()` raise EOFError in the cell. */
export type InputHandler = (request: InputRequest) => string | Promise<string>;
