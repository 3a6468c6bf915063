/**
 * The pipeline's persistence contract, for stores: the schemas and types of tasks, approvals,
 * events and model calls, and the `TaskStore` interface. Types and schemas only.
 */
export {
  approvalSchema,
  storedModelCallSchema,
  taskResultSchema,
  type Approval,
  type ApprovalState,
  type StoredModelCall,
  type TaskResult,
  type TaskState,
} from './task-types.js';
export type { TaskEvent } from './task-events.js';
export type { TaskStore } from './task-store.js';
