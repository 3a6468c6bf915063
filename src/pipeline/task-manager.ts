import { z } from 'zod';
import {
  APPROVAL_MODES,
  EXECUTION_MODES,
  MAX_TIMER_MS,
  type ApprovalMode,
  type Config,
  type ExecutionMode,
} from '../config/index.js';
import { validate, VivariumError } from '../errors/index.js';
import type { ChatMessage, CodeGenerator } from '../llm/generator-types.js';
import { checkFileExtension, normalizeWorkspacePath } from '../session/index.js';
import { assertSessionMode } from './engine-task-host.js';
import type { TaskEvent } from './task-events.js';
import { newTask, TaskRun, type PackageProbe, type TaskAnalyzer, type TaskHost } from './task-run.js';
import type { TaskStore } from './task-store.js';
import type { Approval, ApprovalState, StoredModelCall, TaskResult, TaskState } from './task-types.js';

/** Budget of a whole task (generation, analysis, runs; approval waits excluded), unless it says otherwise. */
export const DEFAULT_TASK_TIMEOUT_MS = 15 * 60 * 1000;
/** Longest objective, characters. */
export const MAX_OBJECTIVE_CHARS = 20_000;
/** Most expected results one task may name. */
export const MAX_EXPECTED_RESULTS = 100;
/** Most input files of one task. */
export const MAX_TASK_FILES = 50;

/** A file for a task: a path already in the session's workspace, or content to put there. */
export type TaskFileInput = string | { path: string; content: string | Uint8Array };

/** Options of {@link TaskManager.create}. */
export interface CreateTaskOptions {
  /** What the code must achieve, in plain language. */
  objective: string;
  /** Input files: workspace paths, or `{path, content}` written into the workspace first. @default [] */
  files?: TaskFileInput[];
  /** Context for the model: free text (a plan step) or a conversation. @default null */
  context?: string | ChatMessage[] | null;
  /** Run in this session (it keeps its variables); else a new session in `mode`. @default a new session */
  sessionId?: string;
  /** Names the code must leave in a `results` dict, JSON-serializable. @default [] */
  expectedResults?: string[];
  /** Attempts (generate/repair → run → verify) before the task fails. @default config `llm.maxAttempts` (3) */
  maxAttempts?: number;
  /** When to ask a human. @default config `policy.approvalMode` */
  approvalMode?: ApprovalMode;
  /** What the sandbox grants the code (a new session's mode). @default config `policy.mode` */
  mode?: ExecutionMode;
  /** Budget of the task, approval waits excluded. @default DEFAULT_TASK_TIMEOUT_MS */
  timeoutMs?: number;
  /** Ask the model whether the output answers the objective. @default config `llm.verify` */
  verify?: boolean;
  /** A generator for this task instead of the configured one (library only). @default the configured one */
  generator?: CodeGenerator;
  /** Receives every event of the task as it happens. @default undefined */
  onEvent?: (event: TaskEvent) => void;
  /** Aborting cancels the task. @default undefined */
  signal?: AbortSignal;
}

const chatMessage = z
  .object({ role: z.enum(['system', 'user', 'assistant']), content: z.string().max(200_000) })
  .strict();
const workspacePath = z.string().min(1).max(4096);

/** The serializable part of {@link CreateTaskOptions} (what HTTP and the CLI send). */
export const createTaskSchema = z
  .object({
    objective: z.string().trim().min(1).max(MAX_OBJECTIVE_CHARS),
    files: z
      .array(
        z.union([
          workspacePath,
          z
            .object({ path: workspacePath, content: z.union([z.string(), z.instanceof(Uint8Array)]) })
            .strict(),
        ]),
      )
      .max(MAX_TASK_FILES)
      .optional(),
    context: z
      .union([z.string().max(200_000), z.array(chatMessage).max(200)])
      .nullable()
      .optional(),
    sessionId: z.string().min(1).max(128).optional(),
    expectedResults: z.array(z.string().min(1).max(200)).max(MAX_EXPECTED_RESULTS).optional(),
    maxAttempts: z.number().int().min(1).max(20).optional(),
    approvalMode: z.enum(APPROVAL_MODES).optional(),
    mode: z.enum(EXECUTION_MODES).optional(),
    timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
    verify: z.boolean().optional(),
  })
  .strict();

const optionsSchema = createTaskSchema
  .extend({
    generator: z
      .custom<CodeGenerator>(
        (value) =>
          typeof value === 'object' &&
          value !== null &&
          typeof (value as { generate?: unknown }).generate === 'function' &&
          typeof (value as { name?: unknown }).name === 'string',
        { message: 'must be a code generator ({name, generate})' },
      )
      .optional(),
    onEvent: z
      .custom<(event: TaskEvent) => void>((value) => typeof value === 'function', {
        message: 'must be a function',
      })
      .optional(),
    signal: z.instanceof(AbortSignal).optional(),
  })
  .strict();

/** Who acts on a task or approval: the key (null without auth) and whether it sees everything. */
export interface TaskActor {
  keyId: string | null;
  admin: boolean;
}

/** A decision on an approval. */
export interface DecideApprovalInput {
  decision: 'approve' | 'reject';
  /** Why; stored and audited. @default null */
  comment?: string | null;
  /** The hash of the code the decider saw; a mismatch is `APPROVAL_CONFLICT`. @default not checked */
  codeHash?: string;
}

/** A started task: its id, its events, its result. */
export interface TaskHandle {
  readonly id: string;
  /** The task now (a copy). */
  snapshot(): TaskResult;
  /** Resolves when the task ended (succeeded, failed, rejected or cancelled); never rejects. */
  result(): Promise<TaskResult>;
  cancel(): void;
  /** Receives the task's events from now on; returns the unsubscribe function. */
  on(listener: (event: TaskEvent) => void): () => void;
}

/** Options of {@link TaskManager}. */
export interface TaskManagerOptions {
  config: Config;
  store: TaskStore;
  host: TaskHost;
  /** The configured generator; null when none is (tasks then need `generator` in their options). */
  generator: CodeGenerator | null;
  analyze: TaskAnalyzer;
  probePackages: PackageProbe;
}

const canSee = (actor: TaskActor, ownerKeyId: string | null): boolean =>
  actor.admin || actor.keyId === ownerKeyId;

/** Stands in for a missing generator: fails the generation step with the reason. */
function missingGenerator(name: string): CodeGenerator {
  return {
    name,
    generate: () =>
      Promise.reject(
        new VivariumError(
          'GENERATION_FAILED',
          `The generator \`${name}\` of this task is not configured in this process; configure \`llm.generator\``,
        ),
      ),
  };
}

/**
 * Tasks: objective → generate → analyze → approve → execute → verify → repair. Creates and runs
 * them, keeps them in its store (with events, model calls and approvals), delivers approval
 * decisions, resumes tasks that were waiting for a decision when the process stopped.
 */
export class TaskManager {
  private readonly options: TaskManagerOptions;
  private readonly runs = new Map<string, TaskRun>();
  private readonly listeners = new Map<string, Set<(event: TaskEvent) => void>>();
  private readonly deciding = new Set<string>();
  private stopped = false;

  constructor(options: TaskManagerOptions) {
    this.options = options;
  }

  /** The configured generator's name, or null when tasks cannot be created without one. */
  get generatorName(): string | null {
    return this.options.generator?.name ?? null;
  }

  /** Starts a task; it runs in the background (`handle.result()` waits for it). */
  async create(
    input: CreateTaskOptions,
    actor: TaskActor = { keyId: null, admin: true },
  ): Promise<TaskHandle> {
    if (this.stopped) throw new VivariumError('ENGINE_STOPPED', 'The task manager is stopped');
    const options = validate(optionsSchema, input, 'task');
    const generator = options.generator ?? this.options.generator;
    if (!generator) {
      throw new VivariumError(
        'CONFIG_INVALID',
        'No code generator is configured: set `llm.model` (and `llm.provider`, `llm.baseUrl`) or `llm.generator` (`VIVARIUM_LLM_MODEL`, …); see docs/llm.md',
      );
    }
    const { config } = this.options;
    const files = options.files ?? [];
    // Input files are checked by the host file API's rules now, not when the task first writes them.
    for (const file of files) {
      const path = normalizeWorkspacePath(typeof file === 'string' ? file : file.path);
      if (typeof file === 'string') continue;
      checkFileExtension(path, config.files.allowedExtensions);
      const sizeBytes =
        typeof file.content === 'string' ? Buffer.byteLength(file.content) : file.content.byteLength;
      if (sizeBytes > config.files.maxTransferBytes) {
        throw new VivariumError(
          'FILE_TOO_LARGE',
          `File too large: \`${path}\` is ${sizeBytes} bytes, the limit is ${config.files.maxTransferBytes} bytes (files.maxTransferBytes)`,
          { details: { path, sizeBytes, maxTransferBytes: config.files.maxTransferBytes } },
        );
      }
    }
    const spec: TaskResult['spec'] = {
      objective: options.objective,
      files: files.map((file) => (typeof file === 'string' ? file : file.path)),
      context: options.context ?? null,
      expectedResults: [...new Set(options.expectedResults ?? [])],
      maxAttempts: options.maxAttempts ?? config.llm.maxAttempts,
      approvalMode: options.approvalMode ?? config.policy.approvalMode,
      mode: await this.resolveMode(options.sessionId, options.mode, actor),
      timeoutMs: options.timeoutMs ?? DEFAULT_TASK_TIMEOUT_MS,
      verify: options.verify ?? config.llm.verify,
      generator: generator.name,
    };
    const task = newTask({ spec, sessionId: options.sessionId ?? null, ownerKeyId: actor.keyId });
    await this.options.store.saveTask(task);
    const inputFiles = files.flatMap((file) =>
      typeof file === 'string' ? [] : [{ path: file.path, content: file.content }],
    );
    const run = this.startRun(task, generator, 0, inputFiles);
    const handle = this.handle(run);
    if (options.onEvent) handle.on(options.onEvent);
    if (options.signal) {
      const signal = options.signal;
      if (signal.aborted) run.cancel('the caller aborted');
      else signal.addEventListener('abort', () => run.cancel('the caller aborted'), { once: true });
    }
    return handle;
  }

  /** A new session's mode is the task's (or the configured one); an existing session's must match. */
  private async resolveMode(
    sessionId: string | undefined,
    mode: ExecutionMode | undefined,
    actor: TaskActor,
  ): Promise<ExecutionMode> {
    if (sessionId === undefined) return mode ?? this.options.config.policy.mode;
    const sessionMode = await this.options.host.sessionMode(sessionId, actor.keyId);
    if (mode !== undefined) assertSessionMode(sessionId, sessionMode, mode);
    return sessionMode;
  }

  private startRun(
    task: TaskResult,
    generator: CodeGenerator,
    lastSeq: number,
    inputFiles: ReadonlyArray<{ path: string; content: string | Uint8Array }> = [],
  ): TaskRun {
    const run = new TaskRun(
      task,
      {
        store: this.options.store,
        host: this.options.host,
        generator,
        analyze: this.options.analyze,
        probePackages: this.options.probePackages,
        approvalTimeoutMs: this.options.config.policy.approvalTimeoutMs,
        inputFiles,
        onEvent: (event) => {
          for (const listener of this.listeners.get(event.taskId) ?? []) {
            try {
              listener(event);
            } catch {
              // A listener's failure never reaches the task.
            }
          }
        },
        onEnd: () => {
          this.runs.delete(task.id);
        },
      },
      lastSeq,
    );
    this.runs.set(task.id, run);
    void run.start().finally(() => {
      // Late listeners of an ended task are dropped after the end event was delivered.
      setTimeout(() => this.listeners.delete(task.id), 1_000).unref();
    });
    return run;
  }

  private handle(run: TaskRun): TaskHandle {
    return {
      id: run.task.id,
      snapshot: () => structuredClone(run.task),
      result: () => run.done.then((task) => structuredClone(task)),
      cancel: () => run.cancel(),
      on: (listener) => this.subscribe(run.task.id, listener),
    };
  }

  /** Live events of a task from now on; returns the unsubscribe function. */
  subscribe(taskId: string, listener: (event: TaskEvent) => void): () => void {
    const set = this.listeners.get(taskId) ?? new Set();
    set.add(listener);
    this.listeners.set(taskId, set);
    return () => {
      set.delete(listener);
    };
  }

  /** True while the task runs or waits in this process. */
  isActive(taskId: string): boolean {
    return this.runs.has(taskId);
  }

  /** A task `actor` may see; `TASK_NOT_FOUND` otherwise. */
  async get(id: string, actor: TaskActor = { keyId: null, admin: true }): Promise<TaskResult> {
    const run = this.runs.get(id);
    const task = run ? structuredClone(run.task) : await this.options.store.getTask(id);
    if (!task || !canSee(actor, task.ownerKeyId)) {
      throw new VivariumError('TASK_NOT_FOUND', `No task with id \`${id}\``, { details: { taskId: id } });
    }
    if (run) task.durationMs = Date.now() - Date.parse(task.createdAt);
    return task;
  }

  /** The tasks `actor` may see, newest first. */
  async list(
    actor: TaskActor = { keyId: null, admin: true },
    filter: { states?: TaskState[]; limit?: number } = {},
  ): Promise<TaskResult[]> {
    return this.options.store.listTasks({
      ...(actor.admin ? {} : { ownerKeyId: actor.keyId }),
      ...filter,
    });
  }

  /** A task's stored events in order (not the deltas and intermediate execution events: `TRANSIENT_TASK_EVENTS`). */
  async events(id: string, actor: TaskActor = { keyId: null, admin: true }): Promise<TaskEvent[]> {
    await this.get(id, actor);
    return this.options.store.listTaskEvents(id);
  }

  /** A task's model calls in order: prompt, response, tokens, latency. */
  async modelCalls(id: string, actor: TaskActor = { keyId: null, admin: true }): Promise<StoredModelCall[]> {
    await this.get(id, actor);
    return this.options.store.listModelCalls(id);
  }

  /** Cancels a running or waiting task; returns it as it ended. A finished task is returned as is. */
  async cancel(id: string, actor: TaskActor = { keyId: null, admin: true }): Promise<TaskResult> {
    const task = await this.get(id, actor);
    const run = this.runs.get(id);
    if (!run) return task;
    run.cancel(actor.keyId ? `cancelled by ${actor.keyId}` : 'cancelled by the caller');
    return structuredClone(await run.done);
  }

  /** Approvals `actor` may see, oldest first. */
  async listApprovals(
    actor: TaskActor = { keyId: null, admin: true },
    filter: { state?: ApprovalState; taskId?: string } = {},
  ): Promise<Approval[]> {
    return this.options.store.listApprovals({
      ...(actor.admin ? {} : { ownerKeyId: actor.keyId }),
      ...filter,
    });
  }

  async getApproval(id: string, actor: TaskActor = { keyId: null, admin: true }): Promise<Approval> {
    const approval = await this.options.store.getApproval(id);
    if (!approval || !canSee(actor, approval.ownerKeyId)) {
      throw new VivariumError('APPROVAL_NOT_FOUND', `No approval with id \`${id}\``, {
        details: { approvalId: id },
      });
    }
    return approval;
  }

  /**
   * Decides a pending approval: stored and audited (who, what, when, on which code hash) before
   * the task continues. `APPROVAL_CONFLICT` when it was decided already, or when `codeHash` is not
   * the hash of the code awaiting approval.
   */
  async decide(
    id: string,
    input: DecideApprovalInput,
    actor: TaskActor = { keyId: null, admin: true },
  ): Promise<Approval> {
    const parsed = validate(
      z
        .object({
          decision: z.enum(['approve', 'reject']),
          comment: z.string().max(10_000).nullable().optional(),
          codeHash: z
            .string()
            .regex(/^[0-9a-f]{64}$/, 'must be a sha256 hex digest')
            .optional(),
        })
        .strict(),
      input,
      'decision',
    );
    const approval = await this.getApproval(id, actor);
    if (approval.state !== 'pending' || this.deciding.has(id)) {
      throw new VivariumError(
        'APPROVAL_CONFLICT',
        `Approval ${id} is ${approval.state === 'pending' ? 'being decided' : `already ${approval.state}`}`,
        { details: { approvalId: id, state: approval.state, decision: approval.decision } },
      );
    }
    if (parsed.codeHash !== undefined && parsed.codeHash !== approval.codeHash) {
      throw new VivariumError(
        'APPROVAL_CONFLICT',
        `The code awaiting approval has sha256 ${approval.codeHash}, not ${parsed.codeHash}: review the current code`,
        { details: { approvalId: id, codeHash: approval.codeHash } },
      );
    }
    this.deciding.add(id);
    try {
      const decided: Approval = {
        ...approval,
        state: parsed.decision === 'approve' ? 'approved' : 'rejected',
        decision: {
          decision: parsed.decision,
          comment: parsed.comment ?? null,
          decidedBy: actor.keyId,
          decidedAt: new Date().toISOString(),
          timedOut: false,
        },
      };
      await this.options.store.saveApproval(decided);
      await this.options.store.auditTask?.({
        keyId: actor.keyId,
        action: 'approval.decide',
        target: id,
        status: decided.state,
        details: {
          taskId: decided.taskId,
          attempt: decided.attempt,
          codeHash: decided.codeHash,
          comment: decided.decision?.comment ?? null,
        },
      });
      this.runs.get(decided.taskId)?.decided(decided);
      return decided;
    } finally {
      this.deciding.delete(id);
    }
  }

  /**
   * After a restart: tasks that were waiting for a decision wait again (and continue once
   * decided); tasks that were running when the process stopped end `failed` (`interrupted`).
   * Returns how many of each.
   */
  async resume(): Promise<{ resumed: number; interrupted: number }> {
    const tasks = await this.options.store.listTasks({
      states: ['running', 'awaiting_approval'],
      limit: 100_000,
    });
    let resumed = 0;
    let interrupted = 0;
    for (const task of tasks) {
      if (this.runs.has(task.id)) continue;
      if (task.state === 'awaiting_approval' && task.pendingApproval) {
        const events = await this.options.store.listTaskEvents(task.id);
        const generator =
          this.options.generator && this.options.generator.name === task.spec.generator
            ? this.options.generator
            : missingGenerator(task.spec.generator);
        this.startRun(task, generator, events.at(-1)?.seq ?? 0);
        resumed += 1;
      } else {
        const now = new Date().toISOString();
        task.state = 'failed';
        task.status = 'failed';
        task.error = {
          kind: 'interrupted',
          message: 'The service stopped while the task was running; create it again',
        };
        task.updatedAt = now;
        await this.options.store.saveTask(task);
        interrupted += 1;
      }
    }
    return { resumed, interrupted };
  }

  /**
   * Stops: running tasks end `failed` (`interrupted`); tasks waiting for a decision stay pending
   * in the store (a persistent store resumes them on the next start).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    const runs = [...this.runs.values()];
    for (const run of runs) {
      if (run.pendingApproval) run.detach();
      else run.interrupt('The service stopped while the task was running; create it again');
    }
    await Promise.allSettled(runs.map((run) => run.done));
  }
}
