import type {
  Execution,
  ExecutionEvent,
  RemoteSessionInfo,
  RestartResult,
  StoredExecutionSummary,
  VariableSummary,
} from './client-types.js';
import { callExecution } from './execution-call.js';
import type { HttpTransport } from './http-transport.js';
import { RemoteFiles } from './remote-files.js';
import {
  historySchema,
  interruptResultSchema,
  restartResultSchema,
  sessionInfoSchema,
  variablesSchema,
} from './response-schemas.js';

/** Options of {@link RemoteSession.execute}. */
export interface RemoteExecuteOptions {
  /**
   * Wall-clock limit of the cell in ms, enforced by the service (status `timeout`); at most the
   * session's. @default the session's `limits.timeoutMs`
   */
  timeoutMs?: number;
  /**
   * Receives the events as they happen (the call then streams Server-Sent Events); the last one is
   * `execution-end`, carrying the Execution the call resolves with. @default undefined (one JSON answer)
   */
  onEvent?: (event: ExecutionEvent) => void;
  /**
   * Aborting a running cell interrupts it (the call resolves with status `interrupted`); a cell not
   * started yet is dropped (`ABORTED`). @default undefined
   */
  signal?: AbortSignal;
}

/** Options of the plain session calls. */
export interface RemoteCallOptions {
  /** Aborts the call (`ABORTED`). @default undefined */
  signal?: AbortSignal;
}

/** Options of {@link RemoteSession.history}. */
export interface RemoteHistoryOptions extends RemoteCallOptions {
  /** Most recent executions returned. @default the service's default */
  limit?: number;
}

/** The execution fields the service accepts besides `code`. */
const EXECUTE_FIELDS = ['timeoutMs'] as const;

/** `{code, …limits}`: the JSON body of an execution (callbacks and signals stay here). */
export function executionBody(code: string, options: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = { code };
  for (const field of EXECUTE_FIELDS) if (options[field] !== undefined) body[field] = options[field];
  return body;
}

/**
 * A session of a Vivarium service: the library's `Session` over HTTP. One execution runs at a time;
 * concurrent calls queue on the service in order. A Python exception is data (status `error`);
 * service faults reject with `VivariumClientError`.
 */
export class RemoteSession {
  /** The session id (`ses_…`). */
  readonly id: string;
  /** The workspace: write, read, list, remove. */
  readonly files: RemoteFiles;
  readonly #transport: HttpTransport;
  readonly #path: string;
  #lastInfo: RemoteSessionInfo | null;
  #closing: Promise<void> | null = null;

  /** @internal Made by {@link VivariumClient}. */
  constructor(transport: HttpTransport, id: string, info: RemoteSessionInfo | null = null) {
    this.id = id;
    this.#transport = transport;
    this.#path = `/v1/sessions/${encodeURIComponent(id)}`;
    this.files = new RemoteFiles(transport, this.#path);
    this.#lastInfo = info;
  }

  /** The description the service gave last (creation, listing or {@link info}); null before any. */
  get lastInfo(): RemoteSessionInfo | null {
    return this.#lastInfo;
  }

  /** The session as the service sees it now: state, death reason, counts, limits. */
  async info(options: RemoteCallOptions = {}): Promise<RemoteSessionInfo> {
    const info = (await this.#transport.json(
      { method: 'GET', path: this.#path, signal: options.signal },
      sessionInfoSchema,
    )) as unknown as RemoteSessionInfo;
    this.#lastInfo = info;
    return info;
  }

  /**
   * Runs one cell. Without `onEvent` the service answers one JSON Execution; with it the call
   * streams the events and resolves with the Execution of `execution-end`.
   */
  execute(code: string, options: RemoteExecuteOptions = {}): Promise<Execution> {
    return callExecution(this.#transport, {
      path: `${this.#path}/executions`,
      body: executionBody(code, options as Record<string, unknown>),
      onEvent: options.onEvent,
      signal: options.signal,
      sessionId: this.id,
      interrupt: async () => {
        await this.interrupt();
      },
    });
  }

  /**
   * Interrupts the running cell (KeyboardInterrupt in Python); variables survive. No-op when idle.
   * Resolves with whether a cell was running.
   */
  async interrupt(options: RemoteCallOptions = {}): Promise<{ interrupted: boolean }> {
    const answer = await this.#transport.json(
      { method: 'POST', path: `${this.#path}/interrupt`, signal: options.signal },
      interruptResultSchema,
    );
    this.#lastInfo = answer.session as unknown as RemoteSessionInfo;
    return { interrupted: answer.interrupted };
  }

  /** A fresh kernel on the same workspace: files kept, variables gone; a running cell is killed. */
  async restart(options: RemoteCallOptions = {}): Promise<RestartResult> {
    const answer = await this.#transport.json(
      { method: 'POST', path: `${this.#path}/restart`, signal: options.signal },
      restartResultSchema,
    );
    this.#lastInfo = answer.session as unknown as RemoteSessionInfo;
    return { namespaceReset: true };
  }

  /** The user's variables: name, type, short summary. */
  async variables(options: RemoteCallOptions = {}): Promise<VariableSummary[]> {
    const answer = await this.#transport.json(
      { method: 'GET', path: `${this.#path}/variables`, signal: options.signal },
      variablesSchema,
    );
    return answer.variables;
  }

  /** The session's executions, oldest first, with the code of each. */
  async history(options: RemoteHistoryOptions = {}): Promise<StoredExecutionSummary[]> {
    const answer = await this.#transport.json(
      {
        method: 'GET',
        path: `${this.#path}/history`,
        query: { limit: options.limit === undefined ? undefined : String(options.limit) },
        signal: options.signal,
      },
      historySchema,
    );
    return answer.executions as unknown as StoredExecutionSummary[];
  }

  /** Closes the session: its kernel stops and its workspace is removed. Idempotent per object. */
  close(options: RemoteCallOptions = {}): Promise<void> {
    this.#closing ??= this.#transport
      .empty({ method: 'DELETE', path: this.#path, signal: options.signal })
      .catch((error: unknown) => {
        this.#closing = null; // a failed close can be tried again
        throw error;
      });
    return this.#closing;
  }
}
