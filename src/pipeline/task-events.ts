import type { AnalysisResult } from '../analysis/analysis-types.js';
import type { ExecutionEvent } from '../kernel/index.js';
import type { Approval, AttemptError, TaskResult, TaskSpec, TaskStep, Verification } from './task-types.js';

/** Fields every task event has: the task, the event's number within the task, when. */
interface TaskEventBase {
  taskId: string;
  /** 1, 2, 3, … in the order the task emitted them (replays keep the numbers). */
  seq: number;
  /** ISO time. */
  at: string;
}

/**
 * Events of a task, noun-verb like the execution events (which a task forwards with its id and
 * the attempt). Stored, except {@link TRANSIENT_TASK_EVENTS}, so `GET /v1/tasks/:id/events`
 * replays a task after the fact.
 */
export type TaskEvent = TaskEventBase &
  (
    | { type: 'task-start'; sessionId: string; spec: TaskSpec }
    | { type: 'task-step-start'; attempt: number; step: TaskStep }
    | { type: 'generation-delta'; attempt: number; text: string }
    | { type: 'code-generated'; attempt: number; code: string; codeHash: string; notes: string | null }
    | { type: 'analysis-end'; attempt: number; analysis: AnalysisResult }
    | { type: 'approval-request'; attempt: number; approval: Approval }
    | { type: 'approval-decided'; attempt: number; approval: Approval }
    | { type: 'verification-end'; attempt: number; verification: Verification }
    | { type: 'attempt-failed'; attempt: number; error: AttemptError; willRetry: boolean }
    | { type: 'task-end'; result: TaskResult }
    | (ExecutionEvent & { attempt: number })
  );

/** A task event before the task numbers and stamps it. */
export type TaskEventInput = TaskEvent extends infer E
  ? E extends TaskEvent
    ? Omit<E, 'taskId' | 'seq' | 'at'>
    : never
  : never;

/**
 * Events not stored: the deltas and the execution's intermediate events (a progress bar can send
 * thousands). What they carry is stored anyway: `code-generated` has the code, `execution-end` the
 * whole Execution with every output.
 */
export const TRANSIENT_TASK_EVENTS: ReadonlySet<string> = new Set([
  'generation-delta',
  'stream-delta',
  'display-data',
  'clear-output',
  'execute-result',
  'execution-error',
  'input-request',
]);
