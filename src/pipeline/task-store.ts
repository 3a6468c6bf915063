import type { TaskEvent } from './task-events.js';
import type { Approval, ApprovalState, StoredModelCall, TaskResult, TaskState } from './task-types.js';

/** What the pipeline keeps of a task beyond its result: what a resume after a restart needs. */
export interface StoredTask {
  task: TaskResult;
}

/**
 * Persistence of tasks, their events, model calls and approvals. The library keeps them in memory
 * ({@link MemoryTaskStore}); the service in its SQLite store, so a task waiting for approval
 * survives a restart. Every write is durable when its promise resolves.
 */
export interface TaskStore {
  /** Inserts or replaces a task (its id is the key). */
  saveTask(task: TaskResult): Promise<void>;
  getTask(id: string): Promise<TaskResult | null>;
  /** Newest first; `ownerKeyId` undefined = every owner. */
  listTasks(filter?: {
    ownerKeyId?: string | null;
    states?: readonly TaskState[];
    limit?: number;
  }): Promise<TaskResult[]>;
  appendTaskEvent(event: TaskEvent): Promise<void>;
  /** In `seq` order. */
  listTaskEvents(taskId: string): Promise<TaskEvent[]>;
  insertModelCall(call: StoredModelCall): Promise<void>;
  /** In call order. */
  listModelCalls(taskId: string): Promise<StoredModelCall[]>;
  /** Inserts or replaces an approval. */
  saveApproval(approval: Approval): Promise<void>;
  getApproval(id: string): Promise<Approval | null>;
  /** Oldest first; `ownerKeyId` undefined = every owner. */
  listApprovals(filter?: {
    ownerKeyId?: string | null;
    state?: ApprovalState;
    taskId?: string;
  }): Promise<Approval[]>;
  /** Who decided what, when, on which code hash (`approval.decide`), and the task outcomes. */
  auditTask?(entry: {
    keyId: string | null;
    action: string;
    target: string;
    status: string;
    details: Record<string, unknown>;
  }): Promise<void>;
}

const clone = <T>(value: T): T => structuredClone(value);

/** Tasks in memory: the library's default (lost when the process ends). */
export class MemoryTaskStore implements TaskStore {
  private readonly tasks = new Map<string, TaskResult>();
  private readonly events = new Map<string, TaskEvent[]>();
  private readonly calls = new Map<string, StoredModelCall[]>();
  private readonly approvals = new Map<string, Approval>();
  /** Audit entries, oldest first (the library has no audit log of its own). */
  readonly auditLog: Array<{
    keyId: string | null;
    action: string;
    target: string;
    status: string;
    details: Record<string, unknown>;
    at: string;
  }> = [];

  saveTask(task: TaskResult): Promise<void> {
    this.tasks.set(task.id, clone(task));
    return Promise.resolve();
  }
  getTask(id: string): Promise<TaskResult | null> {
    const task = this.tasks.get(id);
    return Promise.resolve(task ? clone(task) : null);
  }
  listTasks(
    filter: { ownerKeyId?: string | null; states?: readonly TaskState[]; limit?: number } = {},
  ): Promise<TaskResult[]> {
    const list = [...this.tasks.values()]
      .filter((task) => filter.ownerKeyId === undefined || task.ownerKeyId === filter.ownerKeyId)
      .filter((task) => !filter.states || filter.states.includes(task.state))
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
      .slice(0, filter.limit ?? 1000);
    return Promise.resolve(list.map(clone));
  }
  appendTaskEvent(event: TaskEvent): Promise<void> {
    const list = this.events.get(event.taskId) ?? [];
    list.push(clone(event));
    this.events.set(event.taskId, list);
    return Promise.resolve();
  }
  listTaskEvents(taskId: string): Promise<TaskEvent[]> {
    return Promise.resolve((this.events.get(taskId) ?? []).map(clone));
  }
  insertModelCall(call: StoredModelCall): Promise<void> {
    const list = this.calls.get(call.taskId) ?? [];
    list.push(clone(call));
    this.calls.set(call.taskId, list);
    return Promise.resolve();
  }
  listModelCalls(taskId: string): Promise<StoredModelCall[]> {
    return Promise.resolve((this.calls.get(taskId) ?? []).map(clone));
  }
  saveApproval(approval: Approval): Promise<void> {
    this.approvals.set(approval.id, clone(approval));
    return Promise.resolve();
  }
  getApproval(id: string): Promise<Approval | null> {
    const approval = this.approvals.get(id);
    return Promise.resolve(approval ? clone(approval) : null);
  }
  listApprovals(
    filter: { ownerKeyId?: string | null; state?: ApprovalState; taskId?: string } = {},
  ): Promise<Approval[]> {
    const list = [...this.approvals.values()]
      .filter((approval) => filter.ownerKeyId === undefined || approval.ownerKeyId === filter.ownerKeyId)
      .filter((approval) => !filter.state || approval.state === filter.state)
      .filter((approval) => !filter.taskId || approval.taskId === filter.taskId)
      .sort((a, b) => (a.requestedAt < b.requestedAt ? -1 : a.requestedAt > b.requestedAt ? 1 : 0));
    return Promise.resolve(list.map(clone));
  }
  auditTask(entry: {
    keyId: string | null;
    action: string;
    target: string;
    status: string;
    details: Record<string, unknown>;
  }): Promise<void> {
    this.auditLog.push({ ...clone(entry), at: new Date().toISOString() });
    return Promise.resolve();
  }
}
