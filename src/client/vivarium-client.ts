import type {
  Approval,
  Execution,
  ExecutionMode,
  Limits,
  RemoteSessionInfo,
  StoredModelCall,
  TaskResult,
} from './client-types.js';
import { VivariumClientError } from './client-error.js';
import { callExecution } from './execution-call.js';
import { HttpTransport } from './http-transport.js';
import { executionBody, RemoteSession, type RemoteExecuteOptions } from './remote-session.js';
import { sessionInfoSchema, sessionListSchema } from './response-schemas.js';
import {
  RemoteTasks,
  type RemoteCreateTaskOptions,
  type RemoteDecideApprovalOptions,
  type RemoteListApprovalsOptions,
  type RemoteListTasksOptions,
  type RemoteTaskEventsOptions,
} from './remote-tasks.js';

/** Default deadline of one call (except executions, which the service's limits end), in ms. */
export const DEFAULT_CLIENT_TIMEOUT_MS = 120_000;
/** Default bound on one answer (a JSON body, a download, one streamed event), in bytes. */
export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/** Options of {@link VivariumClient}. */
export interface VivariumClientOptions {
  /** Where the service is: `http://127.0.0.1:8420`, or a prefix (`https://host/vivarium`). Required. */
  baseUrl: string;
  /** API key, sent as `Authorization: Bearer <key>`. @default undefined (a service run with `--no-auth`) */
  apiKey?: string;
  /** The fetch to use (a proxy-aware one, a test double). @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Deadline of each call, in ms; past it the call rejects with `TIMEOUT`. Executions are not bound
   * by it: the service's wall-clock limit ends them (pass a `signal` to give up sooner). 0 = none.
   * @default 120_000
   */
  timeoutMs?: number;
  /** Largest answer accepted (JSON body, download, one streamed event), in bytes. @default 268_435_456 */
  maxResponseBytes?: number;
}

/** Options of {@link VivariumClient.createSession}: the library's, minus what only the host can give. */
export interface RemoteCreateSessionOptions {
  /** Limits over the service's configured ones. @default the service's `limits` */
  limits?: Partial<Limits>;
  /**
   * What the session's kernels may touch, enforced by the sandbox: `read_only`, `workspace_write`
   * or `network`. Keys that are not admin may not ask for more than the service's `policy.mode`.
   * @default the service's `policy.mode`
   */
  mode?: ExecutionMode;
  /** Environment variables added inside the sandbox. @default {} */
  env?: Record<string, string>;
  /** Modules imported at kernel start. @default the service's `preload` */
  preload?: string[];
  /** Close after this long without activity, in ms; 0 never. @default the service's `session.idleTimeoutMs` */
  idleTimeoutMs?: number;
  /** Aborts the call (`ABORTED`). @default undefined */
  signal?: AbortSignal;
}

/** Options of {@link VivariumClient.run}: a session's and an execution's. */
export type RemoteRunOptions = Omit<RemoteCreateSessionOptions, 'idleTimeoutMs'> & RemoteExecuteOptions;

/** The session fields the service accepts on creation. */
const CREATE_FIELDS = ['limits', 'mode', 'env', 'preload', 'idleTimeoutMs'] as const;

function pick(options: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const field of fields) if (options[field] !== undefined) body[field] = options[field];
  return body;
}

function expectation(name: string, expected: string, value: unknown): VivariumClientError {
  const shown =
    typeof value === 'string' ? `\`${value}\` (string)` : `\`${String(value)}\` (${typeof value})`;
  return new VivariumClientError('INVALID_ARGUMENT', `Expected \`${name}\` to be ${expected}, got ${shown}`);
}

/**
 * A typed client of a Vivarium service (`vivarium serve`), with the library's shapes: sessions,
 * executions (streamed with `onEvent`), files, variables, interrupt, restart, close. Runs in Node
 * ≥ 20 and in browsers: it needs only `fetch`, streams and `TextDecoder`.
 *
 * ```ts
 * const client = new VivariumClient({ baseUrl: 'http://127.0.0.1:8420', apiKey: process.env.VIVARIUM_KEY });
 * const session = await client.createSession({ preload: [] });
 * const execution = await session.execute('print("hi")\n6 * 7', { onEvent: (e) => console.log(e.type) });
 * await session.close();
 * ```
 */
export class VivariumClient {
  readonly #transport: HttpTransport;
  readonly #tasks: RemoteTasks;

  constructor(options: VivariumClientOptions) {
    const { baseUrl, apiKey, timeoutMs, maxResponseBytes } = options;
    if (typeof baseUrl !== 'string' || baseUrl.trim() === '')
      throw expectation('baseUrl', 'the URL of a Vivarium service (`http://127.0.0.1:8420`)', baseUrl);
    if (apiKey !== undefined && (typeof apiKey !== 'string' || apiKey === '' || /[\r\n]/.test(apiKey)))
      throw expectation(
        'apiKey',
        'a non-empty API key on one line',
        apiKey === undefined ? apiKey : '<redacted>',
      );
    if (timeoutMs !== undefined && !(Number.isSafeInteger(timeoutMs) && timeoutMs >= 0))
      throw expectation('timeoutMs', 'a whole number of ms >= 0 (0 = no deadline)', timeoutMs);
    if (maxResponseBytes !== undefined && !(Number.isSafeInteger(maxResponseBytes) && maxResponseBytes > 0))
      throw expectation('maxResponseBytes', 'a positive whole number of bytes', maxResponseBytes);
    const fetchFunction = options.fetch ?? globalThis.fetch;
    if (typeof fetchFunction !== 'function')
      throw expectation('fetch', 'a fetch function (this runtime has no global fetch)', fetchFunction);
    this.#transport = new HttpTransport({
      baseUrl: baseUrl.trim().replace(/\/+$/, ''),
      apiKey,
      // Called bare: some runtimes refuse a fetch called with another `this`.
      fetch: (input, init) => fetchFunction(input, init),
      timeoutMs: timeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS,
      maxResponseBytes: maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    });
    this.#tasks = new RemoteTasks(this.#transport);
  }

  /** The service's base URL, without trailing slash. */
  get baseUrl(): string {
    return this.#transport.baseUrl;
  }

  /** Starts a session: a fresh kernel on its own workspace, owned by this client's key. */
  async createSession(options: RemoteCreateSessionOptions = {}): Promise<RemoteSession> {
    const info = (await this.#transport.json(
      {
        method: 'POST',
        path: '/v1/sessions',
        json: pick(options as Record<string, unknown>, CREATE_FIELDS),
        signal: options.signal,
      },
      sessionInfoSchema,
    )) as unknown as RemoteSessionInfo;
    return new RemoteSession(this.#transport, info.id, info);
  }

  /**
   * A session by id (checked: `SESSION_NOT_FOUND` when it does not exist or belongs to another key).
   */
  async getSession(id: string, options: { signal?: AbortSignal } = {}): Promise<RemoteSession> {
    if (typeof id !== 'string' || id === '') throw expectation('id', 'a session id (`ses_…`)', id);
    const session = new RemoteSession(this.#transport, id);
    await session.info(options);
    return session;
  }

  /** A handle on a session by id, without asking the service (for a session known to exist). */
  session(id: string): RemoteSession {
    if (typeof id !== 'string' || id === '') throw expectation('id', 'a session id (`ses_…`)', id);
    return new RemoteSession(this.#transport, id);
  }

  /** This key's sessions, newest first (every key's, for an admin key). */
  async listSessions(
    options: {
      /** List closed sessions too (their history stays readable). @default false */
      includeClosed?: boolean;
      /** Aborts the call (`ABORTED`). @default undefined */
      signal?: AbortSignal;
    } = {},
  ): Promise<RemoteSession[]> {
    const answer = await this.#transport.json(
      {
        method: 'GET',
        path: '/v1/sessions',
        query: { includeClosed: options.includeClosed ? 'true' : undefined },
        signal: options.signal,
      },
      sessionListSchema,
    );
    const infos = answer.sessions as unknown as RemoteSessionInfo[];
    return infos.map((info) => new RemoteSession(this.#transport, info.id, info));
  }

  /**
   * One execution in a fresh sandbox, closed afterwards (`POST /v1/run`). With `onEvent` the events
   * stream as they happen, and aborting interrupts the cell (resolving with status `interrupted`);
   * without it aborting drops the request (the service still finishes and stores the run).
   */
  run(code: string, options: RemoteRunOptions = {}): Promise<Execution> {
    return callExecution(this.#transport, {
      path: '/v1/run',
      body: {
        ...pick(options as Record<string, unknown>, ['limits', 'mode', 'env', 'preload']),
        ...executionBody(code, options as Record<string, unknown>),
      },
      onEvent: options.onEvent,
      signal: options.signal,
      sessionId: null,
      interrupt: async (sessionId) => {
        await this.session(sessionId).interrupt();
      },
    });
  }

  /**
   * Starts a task: a model writes code for the objective; the service analyzes it, asks for an
   * approval when its policy says so, runs it, checks it and repairs it. With `onEvent` the events
   * stream until `task-end` (approval waits included) and the call resolves with the final
   * TaskResult; without it one JSON call resolves with the result when the task ended, or with the
   * task in state `awaiting_approval` when it waits for a decision (decide it with
   * {@link decideApproval}, follow it with {@link taskEvents}), or at once with `wait: false`.
   */
  createTask(options: RemoteCreateTaskOptions): Promise<TaskResult> {
    return this.#tasks.create(options);
  }

  /** A task: state, attempts (code, analysis, approval, execution, error, verification), results, usage. */
  getTask(id: string, options: { signal?: AbortSignal } = {}): Promise<TaskResult> {
    return this.#tasks.get(id, options);
  }

  /** This key's tasks, newest first (every key's, for an admin key). */
  listTasks(options: RemoteListTasksOptions = {}): Promise<TaskResult[]> {
    return this.#tasks.list(options);
  }

  /**
   * Follows a task: its stored events, then live ones until `task-end`; resolves with the final
   * TaskResult (or, when the service stops following a task it does not run, with the task as it
   * stands). Aborting stops following; the task goes on.
   */
  taskEvents(id: string, options: RemoteTaskEventsOptions): Promise<TaskResult> {
    return this.#tasks.events(id, options);
  }

  /** A task's model calls in order: the prompt as sent, the response, tokens, latency. */
  taskModelCalls(id: string, options: { signal?: AbortSignal } = {}): Promise<StoredModelCall[]> {
    return this.#tasks.modelCalls(id, options);
  }

  /** Cancels a running or waiting task; resolves with it as it ended (a finished task as is). */
  cancelTask(id: string, options: { signal?: AbortSignal } = {}): Promise<TaskResult> {
    return this.#tasks.cancel(id, options);
  }

  /** Approvals this key may decide, oldest first (`{state: 'pending'}` for the waiting ones). */
  listApprovals(options: RemoteListApprovalsOptions = {}): Promise<Approval[]> {
    return this.#tasks.listApprovals(options);
  }

  /** An approval: objective, code and its hash, findings, reasons, mode, expected results, decision. */
  getApproval(id: string, options: { signal?: AbortSignal } = {}): Promise<Approval> {
    return this.#tasks.getApproval(id, options);
  }

  /**
   * Approves or rejects a pending approval (stored and audited before the task goes on); resolves
   * with the decided approval. `APPROVAL_CONFLICT` (409) when it was decided already, or when
   * `codeHash` is not the pending code's.
   */
  decideApproval(id: string, options: RemoteDecideApprovalOptions): Promise<Approval> {
    return this.#tasks.decideApproval(id, options);
  }
}
