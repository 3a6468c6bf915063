export {
  TaskManager,
  createTaskSchema,
  DEFAULT_TASK_TIMEOUT_MS,
  MAX_OBJECTIVE_CHARS,
  MAX_EXPECTED_RESULTS,
  MAX_TASK_FILES,
} from './task-manager.js';
export type {
  CreateTaskOptions,
  TaskFileInput,
  TaskActor,
  DecideApprovalInput,
  TaskHandle,
  TaskManagerOptions,
} from './task-manager.js';
export { TaskRun, newTask, MAX_RESULTS_BYTES, MAX_INFRASTRUCTURE_RERUNS } from './task-run.js';
export type { TaskHost, TaskAnalyzer, PackageProbe, TaskRunDependencies } from './task-run.js';
export { MemoryTaskStore } from './task-store.js';
export type { TaskStore } from './task-store.js';
export {
  ErrorChain,
  trimTraceback,
  attemptError,
  TRACEBACK_HEAD_LINES,
  TRACEBACK_TAIL_LINES,
  MAX_EVALUE_CHARS,
} from './error-chain.js';
export {
  engineTaskHost,
  sandboxPackageProbe,
  sandboxAnalyzer,
  assertSessionMode,
} from './engine-task-host.js';
export type { TaskSessionProvider } from './engine-task-host.js';
export { TRANSIENT_TASK_EVENTS } from './task-events.js';
export type { TaskEvent, TaskEventInput } from './task-events.js';
export {
  TASK_OUTCOMES,
  TASK_STATES,
  TASK_STEPS,
  APPROVAL_STATES,
  approvalSchema,
  approvalDecisionSchema,
  attemptErrorSchema,
  taskAttemptSchema,
  taskResultSchema,
  taskSpecSchema,
  verificationSchema,
  storedModelCallSchema,
  chatMessageSchema,
  tokenUsageSchema,
} from './task-types.js';
export type {
  TaskOutcome,
  TaskState,
  TaskStep,
  Approval,
  ApprovalState,
  ApprovalDecision,
  AttemptError,
  TaskAttempt,
  TaskResult,
  TaskSpec,
  Verification,
  StoredModelCall,
} from './task-types.js';
