import type {
  Approval,
  ApprovalState,
  ExecutionMode,
  RemoteTaskFile,
  StoredModelCall,
  TaskEvent,
  TaskResult,
  TaskSpec,
  TaskState,
} from './client-types.js';
import { VivariumClientError } from './client-error.js';
import { ABORT_GRACE_MS } from './execution-call.js';
import {
  decodeStreamedEvent,
  parseJsonAnswer,
  validateAnswer,
  type HttpTransport,
} from './http-transport.js';
import {
  approvalListSchema,
  approvalSchema,
  modelCallListSchema,
  taskEventSchema,
  taskListSchema,
  taskResultSchema,
} from './response-schemas.js';

/** Options of {@link VivariumClient.createTask}: the task as the service takes it, and how to follow it. */
export interface RemoteCreateTaskOptions {
  /** What the code must achieve, in plain language. Required. */
  objective: string;
  /**
   * Input files: workspace paths (with `sessionId`), or `{path, content}` written into the
   * workspace first (text as is, bytes base64-encoded on the way). @default []
   */
  files?: RemoteTaskFile[];
  /** Context for the model: free text or a conversation. @default null */
  context?: TaskSpec['context'];
  /** Run in this session of the key (it keeps its variables). @default a new session */
  sessionId?: string;
  /** Names the code must leave in a `results` dict. @default [] */
  expectedResults?: string[];
  /** Attempts before the task fails. @default the service's `llm.maxAttempts` */
  maxAttempts?: number;
  /** When to ask a human: `never`, `on_risk`, `always`. @default the service's `policy.approvalMode` */
  approvalMode?: TaskSpec['approvalMode'];
  /** What the sandbox grants the code. @default the service's `policy.mode` */
  mode?: ExecutionMode;
  /** Budget of the task in ms, approval waits excluded. @default the service's (15 minutes) */
  timeoutMs?: number;
  /** Ask the model whether the output answers the objective. @default the service's `llm.verify` */
  verify?: boolean;
  /**
   * JSON calls only: wait for the end or an approval request (true), or answer at once with the
   * task just started (false). Ignored with `onEvent` (a stream follows the task to its end).
   * @default true
   */
  wait?: boolean;
  /**
   * Receives the task's events as they happen (the call then streams Server-Sent Events until
   * `task-end`, approval waits included). @default undefined (one JSON answer)
   */
  onEvent?: (event: TaskEvent) => void;
  /**
   * Streamed: aborting cancels the task (`POST /v1/tasks/:id/cancel`) and the call resolves with
   * the cancelled task. JSON: aborting drops the request; the task goes on on the service.
   * @default undefined
   */
  signal?: AbortSignal;
}

/** Options of {@link VivariumClient.taskEvents}. */
export interface RemoteTaskEventsOptions {
  /** Receives the stored events, then the live ones until `task-end`. Required. */
  onEvent: (event: TaskEvent) => void;
  /** Aborting stops following (`ABORTED`); the task is not touched. @default undefined */
  signal?: AbortSignal;
}

/** Options of {@link VivariumClient.listTasks}. */
export interface RemoteListTasksOptions {
  /** Only tasks in this state. @default every state */
  state?: TaskState;
  /** Most tasks returned (1 to 1000). @default the service's */
  limit?: number;
  /** Aborts the call (`ABORTED`). @default undefined */
  signal?: AbortSignal;
}

/** Options of {@link VivariumClient.listApprovals}. */
export interface RemoteListApprovalsOptions {
  /** Only approvals in this state. @default every state */
  state?: ApprovalState;
  /** Only the approvals of this task. @default every task */
  taskId?: string;
  /** Aborts the call (`ABORTED`). @default undefined */
  signal?: AbortSignal;
}

/** A decision of {@link VivariumClient.decideApproval}. */
export interface RemoteDecideApprovalOptions {
  decision: 'approve' | 'reject';
  /** Why; stored and audited. @default null */
  comment?: string | null;
  /**
   * The sha256 (hex) of the code you reviewed: when the pending code is another, the call fails
   * with `APPROVAL_CONFLICT` (409) and nothing is decided. @default not checked
   */
  codeHash?: string;
  /** Aborts the call (`ABORTED`). @default undefined */
  signal?: AbortSignal;
}

/** The task fields the service accepts on creation (callbacks and signals stay here). */
const TASK_FIELDS = [
  'objective',
  'context',
  'sessionId',
  'expectedResults',
  'maxAttempts',
  'approvalMode',
  'mode',
  'timeoutMs',
  'verify',
] as const;

/** Bytes as base64, without `Buffer` (browsers have none): 32 KiB at a time through `btoa`. */
export function bytesToBase64(bytes: Uint8Array): string {
  const chunkBytes = 0x8000;
  let binary = '';
  for (let offset = 0; offset < bytes.length; offset += chunkBytes)
    binary += String.fromCharCode(...bytes.subarray(offset, offset + chunkBytes));
  return btoa(binary);
}

/** The JSON body of `POST /v1/tasks`. */
export function createTaskBody(options: RemoteCreateTaskOptions): Record<string, unknown> {
  const fields = options as unknown as Record<string, unknown>;
  const body: Record<string, unknown> = {};
  for (const field of TASK_FIELDS) if (fields[field] !== undefined) body[field] = fields[field];
  if (options.files !== undefined) {
    body.files = options.files.map((file) => {
      if (typeof file === 'string' || typeof file.content === 'string') return file;
      if (file.content instanceof Uint8Array)
        return { path: file.path, contentBase64: bytesToBase64(file.content) };
      return file; // not a file the service takes: it answers INVALID_ARGUMENT naming it
    });
  }
  if (options.wait !== undefined && options.onEvent === undefined) body.wait = options.wait;
  return body;
}

/** One streamed task call: `POST /v1/tasks` or `GET /v1/tasks/:id/events`. */
interface TaskStreamCall {
  method: 'GET' | 'POST';
  path: string;
  body?: Record<string, unknown>;
  onEvent: (event: TaskEvent) => void;
  signal: AbortSignal | undefined;
  /** Aborting cancels the task (createTask) or only stops following (taskEvents). */
  cancelOnAbort: boolean;
  /** Cancels a task (`POST /v1/tasks/:id/cancel`). */
  cancel: (taskId: string) => Promise<unknown>;
  /** The stream ended without `task-end`: what the call resolves with (or throws). */
  endedEarly: (taskId: string | null) => Promise<TaskResult>;
}

/**
 * Follows a task's Server-Sent Events: each reaches `onEvent` in order; the `task-end` event's
 * result is what the call resolves with. Cancelling on abort mirrors the library: the task id is
 * learnt from the first event, the cancel is sent, and the call waits (at most
 * {@link ABORT_GRACE_MS}) for the `task-end` of the cancelled task.
 */
export async function followTask(transport: HttpTransport, call: TaskStreamCall): Promise<TaskResult> {
  const callerSignal = call.signal;
  if (callerSignal?.aborted)
    throw new VivariumClientError('ABORTED', 'The task call was aborted before it was sent', {
      details: { path: call.path },
    });
  const url = transport.url(call.path);
  const requestAbort = new AbortController();
  let taskId: string | null = null;
  let abortRequested = false;
  let cancelSent = false;
  let graceTimer: ReturnType<typeof setTimeout> | null = null;
  const sendCancel = (): void => {
    if (cancelSent || taskId === null) return;
    cancelSent = true;
    void call.cancel(taskId).catch(() => undefined);
  };
  const onCallerAbort = (): void => {
    abortRequested = true;
    if (!call.cancelOnAbort) {
      requestAbort.abort();
      return;
    }
    sendCancel();
    graceTimer = setTimeout(() => requestAbort.abort(), ABORT_GRACE_MS);
  };
  callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  let final: TaskResult | null = null;
  try {
    const streamed = await transport.stream<TaskResult | null>(
      {
        method: call.method,
        path: call.path,
        ...(call.body === undefined ? {} : { json: call.body }),
        signal: requestAbort.signal,
        timeoutMs: 0,
      },
      {
        onEvent: (message) => {
          const event = decodeStreamedEvent(
            url,
            message,
            taskEventSchema.partial({ type: true }),
          ) as unknown as TaskEvent;
          if (taskId === null) {
            taskId = event.taskId;
            if (abortRequested && call.cancelOnAbort) sendCancel();
          }
          if (event.type === 'task-end')
            final = validateAnswer(url, 200, event.result, taskResultSchema) as unknown as TaskResult;
          try {
            call.onEvent(event);
          } catch {
            // A failing listener must not break the task (as in the library).
          }
        },
        finish: () => final,
        fromJson: (bytes, context) =>
          parseJsonAnswer(context, bytes, taskResultSchema) as unknown as TaskResult,
      },
    );
    return streamed ?? (await call.endedEarly(taskId));
  } catch (error) {
    if (error instanceof VivariumClientError && error.code === 'ABORTED')
      throw new VivariumClientError(
        'ABORTED',
        cancelSent
          ? `The task was cancelled by the caller, and the service did not report its end within ${ABORT_GRACE_MS} ms`
          : `${call.method} ${url} was aborted by the caller${call.cancelOnAbort ? ' (the request was dropped before the task id was known)' : ''}`,
        { details: { path: call.path, taskId } },
      );
    throw error;
  } finally {
    callerSignal?.removeEventListener('abort', onCallerAbort);
    if (graceTimer !== null) clearTimeout(graceTimer);
  }
}

/** The tasks and approvals calls of {@link VivariumClient}, on its transport. */
export class RemoteTasks {
  readonly #transport: HttpTransport;

  constructor(transport: HttpTransport) {
    this.#transport = transport;
  }

  async create(options: RemoteCreateTaskOptions): Promise<TaskResult> {
    if (typeof options !== 'object' || options === null || typeof options.objective !== 'string')
      throw new VivariumClientError(
        'INVALID_ARGUMENT',
        `Expected the task options to have an \`objective\` (string), got ${options === null ? 'null' : typeof options}`,
      );
    const body = createTaskBody(options);
    if (options.onEvent === undefined) {
      return (await this.#transport.json(
        { method: 'POST', path: '/v1/tasks', json: body, signal: options.signal, timeoutMs: 0 },
        taskResultSchema,
      )) as unknown as TaskResult;
    }
    return followTask(this.#transport, {
      method: 'POST',
      path: '/v1/tasks',
      body,
      onEvent: options.onEvent,
      signal: options.signal,
      cancelOnAbort: true,
      cancel: (taskId) => this.cancel(taskId),
      endedEarly: () =>
        Promise.reject(
          new VivariumClientError(
            'INVALID_RESPONSE',
            `The event stream of ${this.#transport.url('/v1/tasks')} ended before its \`task-end\` event (the connection was cut, or the service stopped)`,
            { status: 200, details: { url: this.#transport.url('/v1/tasks') } },
          ),
        ),
    });
  }

  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<TaskResult> {
    return (await this.#transport.json(
      { method: 'GET', path: taskPath(id), signal: options.signal },
      taskResultSchema,
    )) as unknown as TaskResult;
  }

  async list(options: RemoteListTasksOptions = {}): Promise<TaskResult[]> {
    const answer = await this.#transport.json(
      {
        method: 'GET',
        path: '/v1/tasks',
        query: {
          state: options.state,
          limit: options.limit === undefined ? undefined : String(options.limit),
        },
        signal: options.signal,
      },
      taskListSchema,
    );
    return answer.tasks as unknown as TaskResult[];
  }

  async events(id: string, options: RemoteTaskEventsOptions): Promise<TaskResult> {
    const path = `${taskPath(id)}/events`;
    if (typeof options?.onEvent !== 'function')
      throw new VivariumClientError(
        'INVALID_ARGUMENT',
        `Expected \`onEvent\` to be a function, got ${typeof options?.onEvent}`,
      );
    return followTask(this.#transport, {
      method: 'GET',
      path,
      onEvent: options.onEvent,
      signal: options.signal,
      cancelOnAbort: false,
      cancel: (taskId) => this.cancel(taskId),
      // The service stops following a task it does not run (another process has it, or it waits
      // to be resumed): the task as it stands.
      endedEarly: () => this.get(id, options.signal ? { signal: options.signal } : {}),
    });
  }

  async modelCalls(id: string, options: { signal?: AbortSignal } = {}): Promise<StoredModelCall[]> {
    const answer = await this.#transport.json(
      { method: 'GET', path: `${taskPath(id)}/model-calls`, signal: options.signal },
      modelCallListSchema,
    );
    return answer.calls as unknown as StoredModelCall[];
  }

  async cancel(id: string, options: { signal?: AbortSignal } = {}): Promise<TaskResult> {
    return (await this.#transport.json(
      { method: 'POST', path: `${taskPath(id)}/cancel`, signal: options.signal, timeoutMs: 0 },
      taskResultSchema,
    )) as unknown as TaskResult;
  }

  async listApprovals(options: RemoteListApprovalsOptions = {}): Promise<Approval[]> {
    const answer = await this.#transport.json(
      {
        method: 'GET',
        path: '/v1/approvals',
        query: { state: options.state, taskId: options.taskId },
        signal: options.signal,
      },
      approvalListSchema,
    );
    return answer.approvals as unknown as Approval[];
  }

  async getApproval(id: string, options: { signal?: AbortSignal } = {}): Promise<Approval> {
    return (await this.#transport.json(
      { method: 'GET', path: approvalPath(id), signal: options.signal },
      approvalSchema,
    )) as unknown as Approval;
  }

  async decideApproval(id: string, options: RemoteDecideApprovalOptions): Promise<Approval> {
    const decision: unknown = options?.decision;
    if (decision !== 'approve' && decision !== 'reject')
      throw new VivariumClientError(
        'INVALID_ARGUMENT',
        `Expected \`decision\` to be \`approve\` or \`reject\`, got ${typeof decision === 'string' ? `\`${decision}\` (string)` : typeof decision}`,
      );
    return (await this.#transport.json(
      {
        method: 'POST',
        path: approvalPath(id),
        json: {
          decision,
          ...(options.comment === undefined ? {} : { comment: options.comment }),
          ...(options.codeHash === undefined ? {} : { codeHash: options.codeHash }),
        },
        signal: options.signal,
      },
      approvalSchema,
    )) as unknown as Approval;
  }
}

function checkedId(id: unknown, what: string): string {
  if (typeof id !== 'string' || id === '')
    throw new VivariumClientError(
      'INVALID_ARGUMENT',
      `Expected \`id\` to be ${what}, got ${typeof id === 'string' ? '`` (string)' : typeof id}`,
    );
  return encodeURIComponent(id);
}

function taskPath(id: string): string {
  return `/v1/tasks/${checkedId(id, 'a task id (`tsk_…`)')}`;
}

function approvalPath(id: string): string {
  return `/v1/approvals/${checkedId(id, 'an approval id (`apr_…`)')}`;
}
