import { z } from 'zod';
import { MAX_TIMER_MS, type Config, type ExecutionMode, type Limits } from '../config/index.js';
import { validate, VivariumError } from '../errors/index.js';
import type {
  Execution,
  ExecutionEvent,
  InputHandler,
  KernelProcess,
  VariableSummary,
  NamespaceValue,
} from '../kernel/index.js';
import { newId } from './ids.js';
import type { KernelSource } from './kernel-launcher.js';
import { SessionHistory, type HistoryEntry } from './session-history.js';
import { WorkspaceFiles } from './workspace-files.js';
import type { Workspace, WorkspaceManager } from './workspace-manager.js';
import type {
  DependenciesOptions,
  DependenciesResult,
  DescribeFileOptions,
  ExportNotebookOptions,
  FileDescription,
  InstallOptions,
  InstallResult,
  Notebook,
  ProfileOptions,
  ProfileResult,
  RunTestsOptions,
  TestRunResult,
} from '../tools/index.js';

/** The workspace from the host, plus metadata of input files computed in the sandbox. */
export type SessionFiles = WorkspaceFiles & {
  /** Metadata of a workspace file (columns, sheets, pages, entries, …), computed in a side kernel. */
  describe(path: string, options?: DescribeFileOptions): Promise<FileDescription>;
};

/** Session lifecycle. `dead` carries a reason (`restart()` leaves it); `closed` is final. */
export type SessionState = 'starting' | 'idle' | 'busy' | 'dead' | 'closed';

/** Options of one execution; each field overrides the session's limit for this call. */
export interface ExecuteOptions {
  /** Wall-clock limit; past it the kernel is killed (status `timeout`). @default session `limits.timeoutMs` */
  timeoutMs?: number;
  /** CPU seconds for this cell. @default session `limits.cpuTimeLimitSec` */
  cpuTimeLimitSec?: number;
  /** Memory for this cell, at most the session's. @default session `limits.memoryLimitMb` */
  memoryLimitMb?: number;
  /** stdout + stderr bytes kept. @default session `limits.maxOutputBytes` */
  maxOutputBytes?: number;
  /** Rich output bytes kept. @default session `limits.maxDisplayBytes` */
  maxDisplayBytes?: number;
  /** Aborting interrupts the cell, then kills the kernel if it does not stop. */
  signal?: AbortSignal;
  /** Receives events as they happen. */
  onEvent?: (event: ExecutionEvent) => void;
  /** Answers `input()`; without it `input()` raises a clear error in the cell. */
  onInput?: InputHandler;
}

const executeOptionsSchema = z
  .object({
    timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
    cpuTimeLimitSec: z.number().int().positive().optional(),
    memoryLimitMb: z.number().int().min(64).optional(),
    maxOutputBytes: z.number().int().positive().optional(),
    maxDisplayBytes: z.number().int().positive().optional(),
    signal: z.instanceof(AbortSignal).optional(),
    onEvent: z.function().optional(),
    onInput: z.function().optional(),
  })
  .strict();

/** Result of {@link Session.restart}. */
export interface RestartResult {
  /** Always true: the namespace is gone, files in the workspace are kept. */
  namespaceReset: true;
}

/** What is kept of a session to restore it after a restart of the service. */
export interface SessionRecord {
  id: string;
  workspace: Workspace;
  limits: Limits;
  /** The execution mode its kernels run in (records written before modes existed: `workspace_write`). */
  mode: ExecutionMode;
  preload: string[];
  env: Record<string, string>;
  idleTimeoutMs: number;
}

/** A plain description of a session. */
export interface SessionInfo {
  id: string;
  state: SessionState;
  deathReason: string | null;
  createdAt: string;
  lastActivityAt: string;
  executionCount: number;
  limits: Limits;
  /** What its kernels may touch, enforced by the sandbox: `read_only`, `workspace_write`, `network`. */
  mode: ExecutionMode;
}

/** What a session is made from (internal: sessions are created by the engine). */
export interface SessionParts {
  id?: string;
  workspace: Workspace;
  workspaces: WorkspaceManager;
  kernels: KernelSource;
  limits: Limits;
  /** The execution mode of every kernel of the session: its own, restarts and side kernels. */
  mode: ExecutionMode;
  preload: readonly string[];
  env: Readonly<Record<string, string>>;
  idleTimeoutMs: number;
  files: { allowedExtensions: readonly string[]; maxTransferBytes: number };
  onClose?: (session: Session) => void;
  /** The engine's config `policy`: what `analyze(session, …)` applies (src/analysis). @default the built-in policy */
  policy?: Config['policy'];
  /** Installs into this session (wired by the engine, which holds the package config). */
  install?: (
    session: Session,
    packages: readonly string[],
    options?: InstallOptions,
  ) => Promise<InstallResult>;
}

/**
 * Kernel + workspace + limits + state. Runs one execution at a time; concurrent calls queue in
 * order. A kernel killed by a limit leaves the session `dead` with the reason until `restart()`.
 */
export class Session {
  readonly id: string;
  readonly limits: Limits;
  /**
   * What the session's kernels may touch, enforced by their sandbox (docs/security.md, "Execution
   * modes"): the same for its restarts and its side kernels (tools).
   */
  readonly mode: ExecutionMode;
  readonly idleTimeoutMs: number;
  /** The workspace, from the host: race-free, symlinks never followed. */
  readonly files: SessionFiles;
  readonly createdAt: Date = new Date();
  private lastActivity = Date.now();
  private stateValue: SessionState = 'starting';
  private reason: string | null = null;
  private kernel: KernelProcess | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private executions = 0;
  private closing: Promise<void> | null = null;
  /** Restored sessions start a kernel on their next execution instead of refusing it. */
  private freshKernelOnExecute = false;

  /** True for a restored session whose kernel is gone: its next execution starts a fresh one (`namespaceReset`). */
  get startsKernelOnExecute(): boolean {
    return this.freshKernelOnExecute && this.stateValue === 'dead';
  }
  private readonly parts: SessionParts;
  /** The last executions with their code, bounded (session-history.ts). */
  private readonly historyLog = new SessionHistory();

  private constructor(parts: SessionParts) {
    this.parts = parts;
    this.id = parts.id ?? newId('ses');
    this.limits = parts.limits;
    this.mode = parts.mode;
    this.idleTimeoutMs = parts.idleTimeoutMs;
    const files = new WorkspaceFiles({
      root: parts.workspace.dir,
      allowedExtensions: parts.files.allowedExtensions,
      maxTransferBytes: parts.files.maxTransferBytes,
      ...(parts.workspace.uid === undefined
        ? {}
        : { ownerUid: parts.workspace.uid, ownerGid: parts.workspace.uid }),
    });
    // Tools are loaded on first use: they build on sessions, so a static import would be a cycle.
    this.files = Object.assign(files, {
      describe: async (path: string, options?: DescribeFileOptions) =>
        (await import('../tools/describe-file.js')).describeFile(this, path, options),
    });
  }

  /** pytest (or unittest) with coverage on workspace paths, in a side kernel; see docs/tools-testing.md. */
  async runTests(options: RunTestsOptions = {}): Promise<TestRunResult> {
    return (await import('../tools/run-tests.js')).runTests(this, options);
  }

  /** cProfile + tracemalloc of code or a workspace file, in a side kernel; see docs/tools-profiling.md. */
  async profile(options: ProfileOptions): Promise<ProfileResult> {
    return (await import('../tools/profile.js')).profile(this, options);
  }

  /** The imports of `code`: stdlib, installed (distribution, version) or missing; see docs/tools-dependencies.md. */
  async dependencies(code: string, options: DependenciesOptions = {}): Promise<DependenciesResult> {
    return (await import('../tools/dependencies.js')).dependencies(this, code, options);
  }

  /** Installs allowlisted packages into this session only, from the configured sources. */
  install(packages: readonly string[], options: InstallOptions = {}): Promise<InstallResult> {
    if (!this.parts.install) {
      return Promise.reject(
        new VivariumError(
          'INVALID_ARGUMENT',
          'Installs need an engine: create the session with vv.createSession()',
        ),
      );
    }
    return this.parts.install(this, packages, options);
  }

  /** This session's history as an nbformat 4.5 notebook; see docs/tools-notebooks.md. */
  async exportNotebook(options: Omit<ExportNotebookOptions, 'sessionId'> = {}): Promise<Notebook> {
    return (await import('../tools/notebook.js')).exportSessionNotebook(this, options);
  }

  /** Binds a session to a kernel already started on `parts.workspace` (from a launcher or the pool). */
  static attach(parts: SessionParts, kernel: KernelProcess): Session {
    const session = new Session(parts);
    session.bindKernel(kernel);
    return session;
  }

  /**
   * A session brought back from a record after a restart of the service: its workspace is there,
   * its kernel is not. It reads `dead` until the next execution starts a fresh kernel, and that
   * execution says so (`namespaceReset: true`).
   */
  static restore(parts: SessionParts, options: { createdAt?: Date; executionCount?: number } = {}): Session {
    const session = new Session(parts);
    if (options.createdAt) (session as { createdAt: Date }).createdAt = options.createdAt;
    session.executions = options.executionCount ?? 0;
    session.stateValue = 'dead';
    session.reason =
      'the kernel stopped with the service; the next execution starts a fresh one (variables lost, files kept)';
    session.freshKernelOnExecute = true;
    return session;
  }

  /** What a store keeps to restore this session after a restart. */
  record(): SessionRecord {
    return {
      id: this.id,
      workspace: { ...this.parts.workspace },
      limits: this.limits,
      mode: this.mode,
      preload: [...this.parts.preload],
      env: { ...this.parts.env },
      idleTimeoutMs: this.idleTimeoutMs,
    };
  }

  /**
   * Stops the kernel but keeps the workspace for a later `restore` (service shutdown).
   * The session object is closed afterwards. Idempotent with `close()`.
   */
  detach(): Promise<void> {
    return this.shutdown('the service stopped', () => this.parts.workspaces.park(this.parts.workspace));
  }

  get state(): SessionState {
    return this.stateValue;
  }

  /** Why the session is dead, or null. */
  get deathReason(): string | null {
    return this.reason;
  }

  /** Host path of the workspace (the kernel sees it as `/workspace`). */
  /** Config `policy` of the engine that made the session (what `analyze(session, …)` applies), if any. */
  get policy(): Config['policy'] | undefined {
    return this.parts.policy;
  }

  get workspaceDir(): string {
    return this.parts.workspace.dir;
  }

  /** Milliseconds since the last execution or call ended; 0 while busy or held. */
  get idleForMs(): number {
    return this.stateValue === 'busy' || this.holds > 0 ? 0 : Date.now() - this.lastActivity;
  }

  private holds = 0;

  /**
   * Keeps the session from idle expiry until the returned function is called (a task waiting for
   * a human decision holds its session). Releasing counts as activity. Idempotent release.
   */
  hold(): () => void {
    this.holds += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds -= 1;
      this.lastActivity = Date.now();
    };
  }

  info(): SessionInfo {
    return {
      id: this.id,
      state: this.stateValue,
      deathReason: this.reason,
      createdAt: this.createdAt.toISOString(),
      lastActivityAt: new Date(this.lastActivity).toISOString(),
      executionCount: this.executions,
      limits: this.limits,
      mode: this.mode,
    };
  }

  private async startKernel(signal?: AbortSignal): Promise<void> {
    this.stateValue = 'starting';
    const kernel = await this.parts.kernels.start({
      workspace: this.parts.workspace,
      limits: this.limits,
      mode: this.mode,
      preload: this.parts.preload,
      env: this.parts.env,
      signal,
    });
    if ((this.stateValue as SessionState) === 'closed') {
      await kernel.close();
      throw new VivariumError('SESSION_CLOSED', `Session ${this.id} was closed while its kernel started`);
    }
    this.bindKernel(kernel);
  }

  private bindKernel(kernel: KernelProcess): void {
    this.kernel = kernel;
    this.reason = null;
    kernel.onDeath((reason) => {
      if (this.kernel === kernel && this.stateValue !== 'closed') {
        this.stateValue = 'dead';
        this.reason = reason;
      }
    });
    this.stateValue = 'idle';
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private assertUsable(): KernelProcess {
    if (this.stateValue === 'closed' || this.closing)
      throw new VivariumError('SESSION_CLOSED', `Session ${this.id} is closed`, {
        details: { sessionId: this.id },
      });
    if (this.stateValue === 'dead' || !this.kernel) {
      throw new VivariumError(
        'SESSION_DEAD',
        `Session ${this.id} is dead: ${this.reason ?? 'no kernel'}. Call restart() for a fresh kernel on the same workspace (files kept, variables lost)`,
        { details: { sessionId: this.id, reason: this.reason } },
      );
    }
    return this.kernel;
  }

  /**
   * Runs one cell. A Python exception is data (status `error`); engine faults (closed, dead,
   * invalid options) throw `VivariumError`.
   */
  execute(code: string, options: ExecuteOptions = {}): Promise<Execution> {
    if (typeof code !== 'string') {
      return Promise.reject(
        new VivariumError(
          'INVALID_ARGUMENT',
          `Expected \`code\` to be a string, got ${JSON.stringify(code)} (${typeof code})`,
        ),
      );
    }
    let parsed: ExecuteOptions;
    try {
      parsed = validate(executeOptionsSchema, options, 'options') as ExecuteOptions;
      if (parsed.memoryLimitMb !== undefined && parsed.memoryLimitMb > this.limits.memoryLimitMb) {
        throw new VivariumError(
          'INVALID_ARGUMENT',
          `Expected \`memoryLimitMb\` to be at most the session's ${this.limits.memoryLimitMb}, got \`${parsed.memoryLimitMb}\` (number); create the session with a higher limit`,
        );
      }
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.enqueue(async () => {
      if (parsed.signal?.aborted) throw new VivariumError('ABORTED', 'Execution aborted while queued');
      let namespaceReset = false;
      if (this.freshKernelOnExecute && this.stateValue === 'dead' && !this.closing) {
        await this.startKernel(parsed.signal);
        this.freshKernelOnExecute = false;
        namespaceReset = true;
      }
      const kernel = this.assertUsable();
      this.stateValue = 'busy';
      try {
        const execution = await kernel.execute({
          executionId: newId('exe'),
          sessionId: this.id,
          code,
          timeoutMs: parsed.timeoutMs ?? this.limits.timeoutMs,
          maxOutputBytes: parsed.maxOutputBytes ?? this.limits.maxOutputBytes,
          maxDisplayBytes: parsed.maxDisplayBytes ?? this.limits.maxDisplayBytes,
          callLimits: {
            // Always sent: a pooled kernel was started with the pool's default.
            cpuTimeLimitSec: parsed.cpuTimeLimitSec ?? this.limits.cpuTimeLimitSec,
            ...(parsed.memoryLimitMb === undefined ? {} : { memoryLimitMb: parsed.memoryLimitMb }),
          },
          onEvent: parsed.onEvent,
          onInput: parsed.onInput,
          signal: parsed.signal,
        });
        this.executions += 1;
        execution.namespaceReset = namespaceReset;
        this.historyLog.record(code, execution);
        return execution;
      } finally {
        this.lastActivity = Date.now();
        if (this.stateValue === 'busy') this.stateValue = kernel.state === 'idle' ? 'idle' : 'dead';
        if (this.stateValue === 'dead' && this.reason === null) this.reason = kernel.deathReason;
      }
    });
  }

  /**
   * The last finished executions of this session with their code, oldest first: at most
   * `DEFAULT_HISTORY_MAX_ENTRIES` entries and `DEFAULT_HISTORY_MAX_BYTES` estimated bytes, the
   * oldest dropped first. In memory only (a restored session starts empty; the service's store
   * keeps the full history).
   */
  history(): HistoryEntry[] {
    return this.historyLog.entries();
  }

  /** Interrupts the running cell (KeyboardInterrupt); variables survive. No-op when idle. */
  interrupt(): void {
    this.kernel?.interrupt();
  }

  /** The user's variables: name, type, short summary. Works after a failed cell too. */
  variables(options: { signal?: AbortSignal } = {}): Promise<VariableSummary[]> {
    return this.enqueue(async () => {
      if (options.signal?.aborted) throw new VivariumError('ABORTED', 'Variables request aborted');
      const kernel = this.assertUsable();
      try {
        return await kernel.variables(options.signal ? { signal: options.signal } : {});
      } finally {
        this.lastActivity = Date.now();
      }
    });
  }

  /**
   * One value of the namespace as JSON, read by the runtime (a task's `results` dict); queued
   * behind executions. With `remove`, the name is deleted after reading. See `NamespaceValue`.
   */
  readValue(
    name: string,
    options: { maxBytes?: number; remove?: boolean; signal?: AbortSignal } = {},
  ): Promise<NamespaceValue> {
    return this.enqueue(async () => {
      if (options.signal?.aborted) throw new VivariumError('ABORTED', 'Read aborted');
      const kernel = this.assertUsable();
      try {
        return await kernel.readValue(name, {
          ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
          ...(options.remove === undefined ? {} : { remove: options.remove }),
        });
      } finally {
        this.lastActivity = Date.now();
      }
    });
  }

  /**
   * A new kernel on the same workspace: files kept, namespace gone. A running cell is killed
   * (status `killed`); queued cells run on the new kernel.
   */
  restart(options: { signal?: AbortSignal } = {}): Promise<RestartResult> {
    if (this.stateValue === 'closed' || this.closing)
      return Promise.reject(new VivariumError('SESSION_CLOSED', `Session ${this.id} is closed`));
    const old = this.kernel;
    old?.kill('the session was restarted');
    return this.enqueue(async () => {
      if (old) await old.close();
      if (this.stateValue === 'closed' || this.closing)
        throw new VivariumError('SESSION_CLOSED', `Session ${this.id} is closed`);
      this.kernel = null;
      try {
        await this.startKernel(options.signal);
      } catch (error) {
        this.stateValue = 'dead';
        this.reason = `restart failed: ${(error as Error).message}`;
        throw error;
      }
      this.lastActivity = Date.now();
      return { namespaceReset: true as const };
    });
  }

  /** Stops the kernel (whole process tree) and removes an owned workspace. Idempotent. */
  close(): Promise<void> {
    return this.shutdown('the session was closed', () => this.parts.workspaces.dispose(this.parts.workspace));
  }

  /**
   * Shared by close() and detach(): synchronously unlisted and its kernel tree SIGKILLed, then the
   * kernel reaped and the workspace handled by `finish`. The first call wins.
   */
  private shutdown(reason: string, finish: () => Promise<void>): Promise<void> {
    this.closing ??= (async () => {
      this.parts.onClose?.(this);
      try {
        this.kernel?.kill(reason);
        await this.kernel?.close();
      } finally {
        this.stateValue = 'closed';
        this.reason ??= reason;
        await finish();
      }
    })();
    return this.closing;
  }

  /**
   * A separate, short-lived kernel on this session's workspace, with its limits, execution mode
   * and sandbox, for tools (tests, profiling, file metadata) that must not touch the session's
   * namespace. The caller closes it.
   */
  startSideKernel(
    options: { signal?: AbortSignal; preload?: readonly string[] } = {},
  ): Promise<KernelProcess> {
    if (this.stateValue === 'closed' || this.closing)
      return Promise.reject(new VivariumError('SESSION_CLOSED', `Session ${this.id} is closed`));
    return this.parts.kernels.start({
      workspace: this.parts.workspace,
      limits: this.limits,
      mode: this.mode,
      preload: options.preload ?? [],
      env: this.parts.env,
      signal: options.signal,
    });
  }

  /** Resolves when the current kernel's process is gone (the whole sandboxed tree with it). */
  get kernelExited(): Promise<void> {
    return this.kernel?.processExit ?? Promise.resolve();
  }
}
