import { z } from 'zod';
import {
  EXECUTION_MODES,
  limitsOverrideSchema,
  limitsSchema,
  loadConfig,
  MAX_TIMER_MS,
  type Config,
  type ConfigInput,
  type ExecutionMode,
  type Limits,
} from '../config/index.js';
import { validate, VivariumError } from '../errors/index.js';
import type { AnalysisResult, AnalyzeOptions } from '../analysis/index.js';
import type { Execution } from '../kernel/index.js';
import type {
  BatchOptions,
  BatchReport,
  ImportedNotebook,
  ImportNotebookOptions,
  NotebookRunResult,
  RunNotebookOptions,
  ValidateOptions,
  ValidateResult,
} from '../tools/index.js';
import { createGenerator, type CodeGenerator } from '../llm/index.js';
import {
  engineTaskHost,
  MemoryTaskStore,
  sandboxAnalyzer,
  sandboxPackageProbe,
  TaskManager,
} from '../pipeline/index.js';
import { Sandbox, type SandboxReport } from '../sandbox/index.js';
import {
  detectLoopVolumes,
  KernelLauncher,
  KernelPool,
  type QuotaMechanism,
  Session,
  type SessionParts,
  type SessionRecord,
  WorkspaceManager,
  type ExecuteOptions,
  type PoolStats,
} from '../session/index.js';

/** Options of {@link Vivarium.start}: any configuration field, plus where to read the rest. */
export interface VivariumOptions extends ConfigInput {
  /** A config file to read. @default `vivarium.config.json|yaml|yml` in the cwd, when present */
  configFile?: string;
  /** Where `VIVARIUM_*` variables are read from. @default process.env */
  processEnv?: NodeJS.ProcessEnv;
  /**
   * Generators to register besides `llm`, `scripted` and the configured plugins, by name;
   * `llm.generator` selects one. @default {}
   */
  generators?: Record<string, CodeGenerator>;
}

/** Options of {@link Vivarium.createSession}. */
export interface CreateSessionOptions {
  /** Limits over the configured ones. @default config `limits` */
  limits?: Partial<Limits>;
  /**
   * What the session's kernels may touch, enforced by the sandbox: `read_only` (workspace mounted
   * read-only, no network), `workspace_write` (workspace writable, no network), `network`
   * (workspace writable, the host's network). Restarts and side kernels keep it.
   * @default config `policy.mode` (`workspace_write`)
   */
  mode?: ExecutionMode;
  /** Environment variables added inside the sandbox. @default {} */
  env?: Record<string, string>;
  /** Modules imported at kernel start. @default config `preload` */
  preload?: string[];
  /** Close after this long without activity; 0 never. @default config `session.idleTimeoutMs` */
  idleTimeoutMs?: number;
  /** Use an existing directory as the workspace (kept on close). @default a fresh one */
  workspaceDir?: string;
  signal?: AbortSignal;
}

/** Options of {@link Vivarium.run}: a session's and an execution's. */
export type RunOptions = Omit<CreateSessionOptions, 'idleTimeoutMs'> & ExecuteOptions;

const createSessionSchema = z
  .object({
    limits: limitsOverrideSchema.optional(),
    mode: z.enum(EXECUTION_MODES).optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional(),
    preload: z.array(z.string().regex(/^[A-Za-z_][\w.]*$/)).optional(),
    idleTimeoutMs: z.number().int().min(0).max(MAX_TIMER_MS).optional(),
    workspaceDir: z.string().min(1).optional(),
    signal: z.instanceof(AbortSignal).optional(),
  })
  .strict();

/** Picks the workspace bound mechanism; `loop` that cannot work is a configuration error. */
async function resolveQuota(config: Config): Promise<QuotaMechanism> {
  if (config.workspace.quota === 'none') return 'none';
  const loop = await detectLoopVolumes();
  if (loop.available) return 'loop';
  if (config.workspace.quota === 'loop') {
    throw new VivariumError(
      'CONFIG_INVALID',
      `\`workspace.quota\` is \`loop\`, but workspace volumes are unavailable: ${loop.problem ?? 'unknown'}`,
    );
  }
  return 'none';
}

/** How often idle sessions are looked for. */
const IDLE_SWEEP_INTERVAL_MS = 5_000;

/**
 * The engine facade: configuration, the sandbox, and the sessions. Everything above it (CLI,
 * server, MCP) talks to this.
 */
export class Vivarium {
  readonly config: Config;
  readonly sandbox: Sandbox;
  private readonly workspaces: WorkspaceManager;
  private readonly kernels: KernelPool;
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;
  private stopping: Promise<void> | null = null;
  private readonly teardowns = new Set<Promise<void>>();
  /** The configured code generator (`llm.generator`), or null when none is configured. */
  readonly generator: CodeGenerator | null;
  private taskManager: TaskManager | null = null;

  private constructor(
    config: Config,
    sandbox: Sandbox,
    quota: QuotaMechanism,
    generator: CodeGenerator | null,
  ) {
    this.config = config;
    this.sandbox = sandbox;
    this.generator = generator;
    this.workspaces = new WorkspaceManager({
      dataDir: config.dataDir,
      sandbox,
      quota,
      bounds: { maxBytes: config.workspace.maxBytes, maxFiles: config.workspace.maxFiles },
    });
    this.kernels = new KernelPool({
      size: config.pool.size,
      maxConcurrentStarts: config.pool.maxConcurrentStarts,
      limits: config.limits,
      preload: config.preload,
      // Pooled kernels are of the default mode only; a session asking for another gets a fresh one.
      mode: config.policy.mode,
      adjustable: sandbox.cgroups.enabled,
      launcher: new KernelLauncher(config, sandbox, this.workspaces),
      workspaces: this.workspaces,
    });
    this.kernels.warm();
    this.sweeper = setInterval(() => void this.closeIdleSessions(), IDLE_SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /**
   * Loads the configuration and checks the sandbox. Under isolation `strict` (the default) this
   * throws `SANDBOX_UNAVAILABLE`, saying what to install, when bubblewrap cannot run.
   */
  static async start(options: VivariumOptions = {}): Promise<Vivarium> {
    const { configFile, processEnv, generators, ...overrides } = options;
    const config = loadConfig({
      overrides,
      ...(configFile ? { configFile } : {}),
      ...(processEnv ? { env: processEnv } : {}),
    });
    // An unknown generator, a bad plugin or a missing provider package fails the start, never later.
    const generator = await createGenerator(config, generators ? { generators } : {});
    const sandbox = new Sandbox(config);
    await sandbox.prepare();
    return new Vivarium(config, sandbox, await resolveQuota(config), generator);
  }

  /** What `doctor` shows about the sandbox. */
  static async inspect(options: VivariumOptions = {}): Promise<SandboxReport> {
    const { configFile, processEnv, ...overrides } = options;
    const config = loadConfig({
      overrides,
      ...(configFile ? { configFile } : {}),
      ...(processEnv ? { env: processEnv } : {}),
    });
    return new Sandbox(config).report();
  }

  private assertRunning(): void {
    if (this.stopping) throw new VivariumError('ENGINE_STOPPED', 'The engine is stopped');
  }

  /** Starts a session: a fresh kernel on its own workspace. */
  async createSession(options: CreateSessionOptions = {}): Promise<Session> {
    this.assertRunning();
    const parsed = validate(createSessionSchema, options, 'options');
    const limits = validate(limitsSchema, { ...this.config.limits, ...(parsed.limits ?? {}) }, 'limits');
    const mode = parsed.mode ?? this.config.policy.mode;
    const lease = await this.kernels.acquire({
      limits,
      mode,
      preload: parsed.preload ?? this.config.preload,
      env: parsed.env ?? {},
      workspaceDir: parsed.workspaceDir,
      signal: parsed.signal,
    });
    const session = Session.attach(
      this.sessionParts({
        workspace: lease.workspace,
        limits,
        mode,
        preload: parsed.preload ?? this.config.preload,
        env: parsed.env ?? {},
        idleTimeoutMs: parsed.idleTimeoutMs ?? this.config.session.idleTimeoutMs,
      }),
      lease.kernel,
    );
    if (this.stopping) {
      await session.close();
      throw new VivariumError('ENGINE_STOPPED', 'The engine stopped while the session started');
    }
    this.sessions.set(session.id, session);
    return session;
  }

  private sessionParts(record: Omit<SessionRecord, 'id'> & { id?: string }): SessionParts {
    return {
      ...record,
      workspaces: this.workspaces,
      kernels: this.kernels,
      files: this.config.files,
      policy: this.config.policy,
      onClose: (closed) => this.sessions.delete(closed.id),
      install: async (session, packages, options) =>
        (await import('../tools/install.js')).install(this, session, packages, options),
    };
  }

  /**
   * Tasks: an objective → a generator writes code → analysis → approval when the policy says so →
   * run → verify → repair (docs/tasks.md). The library keeps tasks in memory; the service keeps
   * them in its store (durable approvals).
   */
  get tasks(): TaskManager {
    this.assertRunning();
    this.taskManager ??= new TaskManager({
      config: this.config,
      store: new MemoryTaskStore(),
      host: engineTaskHost({
        createSession: (options) => this.createSession(options),
        getSession: (id) => this.getSession(id),
      }),
      generator: this.generator,
      analyze: sandboxAnalyzer,
      probePackages: sandboxPackageProbe(),
    });
    return this.taskManager;
  }

  /** Syntax, undefined names, unused imports and missing modules of `code`; see docs/tools-validation.md. */
  async validate(code: string, options: ValidateOptions = {}): Promise<ValidateResult> {
    return (await import('../tools/validate.js')).validate(this, code, options);
  }

  /** Static analysis of `code` and the policy's decision on it (allow / needs_approval / deny); see docs/analysis.md. */
  async analyze(code: string, options: AnalyzeOptions = {}): Promise<AnalysisResult> {
    return (await import('../analysis/analyze.js')).analyze(this, code, options);
  }

  /** Snippets or files run in one session (shared state) or in parallel sandboxes; see docs/tools-batch.md. */
  async batch(items: unknown, options: BatchOptions = {}): Promise<BatchReport> {
    return (await import('../tools/batch.js')).batch(this, items, options);
  }

  /** Parses an nbformat 4 notebook (JSON text or object) into its code cells. */
  async importNotebook(notebook: unknown, options: ImportNotebookOptions = {}): Promise<ImportedNotebook> {
    return (await import('../tools/notebook.js')).importNotebook(notebook, options);
  }

  /** Runs a notebook's code cells in order in a fresh session and returns the executed notebook. */
  async runNotebook(notebook: unknown, options: RunNotebookOptions = {}): Promise<NotebookRunResult> {
    return (await import('../tools/notebook.js')).runNotebook(this, notebook, options);
  }

  /**
   * Brings back a session kept by `stop({ keepWorkspaces: true })` (after a restart of the
   * service): its workspace and files are there; its next execution starts a fresh kernel and
   * reports `namespaceReset: true`.
   */
  async restoreSession(
    record: SessionRecord,
    options: { createdAt?: Date; executionCount?: number } = {},
  ): Promise<Session> {
    this.assertRunning();
    if (this.sessions.has(record.id)) return this.getSession(record.id);
    const limits = validate(limitsSchema, record.limits, 'limits');
    // Records written before execution modes existed ran with a writable workspace and no network.
    const mode = validate(
      z.enum(EXECUTION_MODES),
      (record as Partial<SessionRecord>).mode ?? 'workspace_write',
      'mode',
    );
    await this.workspaces.restore(record.workspace);
    const session = Session.restore(this.sessionParts({ ...record, limits, mode }), options);
    this.sessions.set(session.id, session);
    return session;
  }

  /** A live session by id; `SESSION_NOT_FOUND` otherwise. */
  getSession(id: string): Session {
    const session = this.sessions.get(id);
    if (!session)
      throw new VivariumError('SESSION_NOT_FOUND', `No session with id \`${id}\``, {
        details: { sessionId: id },
      });
    return session;
  }

  /** How workspaces are bounded: `loop` (an ext4 volume each) or `none`. */
  get workspaceQuota(): QuotaMechanism {
    return this.workspaces.quota;
  }

  /** Warm-pool figures: size, ready, hits, misses, start failures, start latency. */
  poolStats(): PoolStats {
    return this.kernels.stats();
  }

  listSessions(): Session[] {
    return [...this.sessions.values()];
  }

  /** One execution in a fresh sandbox, closed afterwards. */
  async run(code: string, options: RunOptions = {}): Promise<Execution> {
    const { limits, mode, env, preload, workspaceDir, signal, ...executeOptions } = options;
    const session = await this.createSession({
      ...(limits ? { limits } : {}),
      ...(mode === undefined ? {} : { mode }),
      ...(env ? { env } : {}),
      ...(preload ? { preload } : {}),
      ...(workspaceDir ? { workspaceDir } : {}),
      ...(signal ? { signal } : {}),
    });
    try {
      return await session.execute(code, { ...executeOptions, ...(signal ? { signal } : {}) });
    } finally {
      // The kernel tree is SIGKILLed synchronously by close(); removing its cgroup and workspace
      // volume (tens of ms) finishes in the background, and stop() waits for it.
      const teardown = session.close().catch(() => undefined);
      this.teardowns.add(teardown);
      void teardown.finally(() => this.teardowns.delete(teardown));
      await session.kernelExited;
    }
  }

  private async closeIdleSessions(): Promise<void> {
    for (const session of this.sessions.values()) {
      if (
        session.idleTimeoutMs > 0 &&
        session.state !== 'busy' &&
        session.idleForMs > session.idleTimeoutMs
      ) {
        await session.close().catch(() => undefined);
      }
    }
  }

  /** Closes every session; no kernel process is left behind. Idempotent. */
  /**
   * Stops every kernel; no process is left behind. Sessions are closed and their workspaces
   * removed — unless `keepWorkspaces`, which parks them for `restoreSession` after a restart.
   * Idempotent.
   */
  stop(options: { keepWorkspaces?: boolean } = {}): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.sweeper);
      await this.taskManager?.stop();
      await Promise.allSettled([
        this.kernels.stop(),
        ...this.teardowns,
        ...[...this.sessions.values()].map((session) =>
          options.keepWorkspaces ? session.detach() : session.close(),
        ),
      ]);
      await this.sandbox.dispose();
    })();
    return this.stopping;
  }
}
