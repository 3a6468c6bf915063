import { z } from 'zod';
import {
  DEFAULT_ALLOWED_EXTENSIONS,
  DEFAULT_CPU_CORES,
  DEFAULT_CPU_TIME_LIMIT_SEC,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_DISPLAY_BYTES,
  DEFAULT_MAX_FILE_SIZE_MB,
  DEFAULT_MAX_OPEN_FILES,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_MAX_PROCESSES,
  DEFAULT_MAX_TRANSFER_BYTES,
  DEFAULT_MEMORY_LIMIT_MB,
  DEFAULT_POOL_MAX_CONCURRENT_STARTS,
  DEFAULT_POOL_SIZE,
  DEFAULT_PRELOAD,
  DEFAULT_PYTHON_PATH,
  DEFAULT_SECCOMP,
  DEFAULT_START_TIMEOUT_MS,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_TMP_SIZE_MB,
  DEFAULT_UID_RANGE_SIZE,
  DEFAULT_UID_RANGE_START,
  DEFAULT_WORKSPACE_MAX_BYTES,
  DEFAULT_WORKSPACE_MAX_FILES,
  DEFAULT_SERVER_HOST,
  DEFAULT_SERVER_PORT,
  DEFAULT_SERVER_BODY_LIMIT_BYTES,
  DEFAULT_SERVER_MAX_CODE_BYTES,
  DEFAULT_SERVER_MAX_UPLOAD_BYTES,
  DEFAULT_SERVER_SHUTDOWN_GRACE_MS,
  DEFAULT_KEY_MAX_CONCURRENT_SESSIONS,
  DEFAULT_KEY_MAX_EXECUTIONS_PER_MINUTE,
  DEFAULT_PACKAGES_ALLOW,
  DEFAULT_PACKAGES_DENY,
  DEFAULT_APPROVAL_MODE,
  DEFAULT_APPROVAL_TIMEOUT_MS,
  DEFAULT_EXECUTION_MODE,
  DEFAULT_LLM_MAX_TOKENS,
  DEFAULT_LLM_MAX_RETRIES,
  DEFAULT_LLM_PROVIDER,
  DEFAULT_LLM_TEMPERATURE,
  DEFAULT_LLM_TIMEOUT_MS,
  DEFAULT_TASK_MAX_ATTEMPTS,
} from './defaults.js';

export const ISOLATION_MODES = ['strict', 'none'] as const;
/**
 * What a kernel may touch, enforced by the sandbox: `read_only` (workspace mounted read-only, no
 * network), `workspace_write` (workspace writable, no network), `network` (workspace writable and
 * the host's network). Writes outside the workspace (and the scratch `/tmp`) fail in every mode.
 */
export const EXECUTION_MODES = ['read_only', 'workspace_write', 'network'] as const;
export type ExecutionMode = (typeof EXECUTION_MODES)[number];
/** When a task waits for a human: `never`, `on_risk` (a finding of severity `warning`), `always`. */
export const APPROVAL_MODES = ['never', 'on_risk', 'always'] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];
/** Severity of an analysis rule; `off` drops its findings. `critical` denies, `warning` is a risk, `info` is noted. */
export const RULE_SEVERITIES = ['off', 'info', 'warning', 'critical'] as const;
export type RuleSeverity = (typeof RULE_SEVERITIES)[number];
/** Providers of the `llm` generator (AI SDK). */
export const LLM_PROVIDERS = ['openai-compatible', 'openai', 'anthropic'] as const;
export type LlmProvider = (typeof LLM_PROVIDERS)[number];
export const BACKENDS = ['local'] as const;

/** Largest delay a Node timer honours (about 24.8 days); longer ones would fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;
const positiveInt = z.number().int().positive();
const timerMs = z.number().int().positive().max(MAX_TIMER_MS);

/** Limits of one kernel / execution. Every field can be overridden per session and per call. */
const limitFields = {
  timeoutMs: timerMs,
  memoryLimitMb: z.number().int().min(64),
  cpuTimeLimitSec: positiveInt,
  maxProcesses: z.number().int().min(4),
  cpuCores: z.number().positive().max(1024),
  maxFileSizeMb: positiveInt,
  maxOpenFiles: z.number().int().min(32),
  maxOutputBytes: positiveInt,
  maxDisplayBytes: positiveInt,
};

export const limitsSchema = z
  .object({
    timeoutMs: limitFields.timeoutMs.default(DEFAULT_TIMEOUT_MS),
    memoryLimitMb: limitFields.memoryLimitMb.default(DEFAULT_MEMORY_LIMIT_MB),
    cpuTimeLimitSec: limitFields.cpuTimeLimitSec.default(DEFAULT_CPU_TIME_LIMIT_SEC),
    maxProcesses: limitFields.maxProcesses.default(DEFAULT_MAX_PROCESSES),
    cpuCores: limitFields.cpuCores.default(DEFAULT_CPU_CORES),
    maxFileSizeMb: limitFields.maxFileSizeMb.default(DEFAULT_MAX_FILE_SIZE_MB),
    maxOpenFiles: limitFields.maxOpenFiles.default(DEFAULT_MAX_OPEN_FILES),
    maxOutputBytes: limitFields.maxOutputBytes.default(DEFAULT_MAX_OUTPUT_BYTES),
    maxDisplayBytes: limitFields.maxDisplayBytes.default(DEFAULT_MAX_DISPLAY_BYTES),
  })
  .strict();

/**
 * Limits a session or call overrides: every field optional and WITHOUT defaults (zod's
 * `.partial()` keeps them, which would silently replace configured limits with the defaults).
 */
export const limitsOverrideSchema = z.object(limitFields).partial().strict();

export type Limits = z.infer<typeof limitsSchema>;

/** Per-key limits applied when a key has none of its own (and to all callers without auth). */
const keyLimitsSchema = z
  .object({
    /** Sessions one key may have open at once (429 `QUOTA_EXCEEDED` past it). */
    maxConcurrentSessions: positiveInt.default(DEFAULT_KEY_MAX_CONCURRENT_SESSIONS),
    /** Executions one key may start per rolling minute (429 `RATE_LIMITED` with `Retry-After`). */
    maxExecutionsPerMinute: positiveInt.default(DEFAULT_KEY_MAX_EXECUTIONS_PER_MINUTE),
  })
  .strict();

/** The HTTP service (`vivarium serve`). */
export const serverSchema = z
  .object({
    /** Address to bind. Auth can be turned off only on a loopback address. */
    host: z.string().min(1).default(DEFAULT_SERVER_HOST),
    /** Port to listen on; 0 picks a free one. */
    port: z.number().int().min(0).max(65_535).default(DEFAULT_SERVER_PORT),
    /** Largest request body (JSON), bytes. */
    bodyLimitBytes: positiveInt.default(DEFAULT_SERVER_BODY_LIMIT_BYTES),
    /** Largest `code` of one execution, UTF-8 bytes. */
    maxCodeBytes: positiveInt.default(DEFAULT_SERVER_MAX_CODE_BYTES),
    /** Largest upload (raw body or one multipart file), bytes; `files.maxTransferBytes` applies too. */
    maxUploadBytes: positiveInt.default(DEFAULT_SERVER_MAX_UPLOAD_BYTES),
    /** On shutdown, running cells get this long to finish before they are interrupted. */
    shutdownGraceMs: z.number().int().min(0).max(MAX_TIMER_MS).default(DEFAULT_SERVER_SHUTDOWN_GRACE_MS),
    /** Require `Authorization: Bearer <key>`. Off only on a loopback host (`--no-auth`). */
    auth: z.boolean().default(true),
    defaultKeyLimits: keyLimitsSchema.default(keyLimitsSchema.parse({})),
  })
  .strict();

/** A distribution name as PyPI spells it (`scikit-learn`, `PyYAML`), or `*` (allow only). */
const distributionName = z
  .string()
  .regex(/^(\*|[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)$/, 'must be a distribution name (or `*`)');

/** Where session installs (`install`, docs/tools-dependencies.md) may come from, and what they may be. */
export const packagesSchema = z
  .object({
    /** A package index (PEP 503 `simple/` URL, http or https). Only the installer's own pip process gets network for it. */
    indexUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    /** A host directory of wheels, bound read-only into the installer's sandbox (`--no-index --find-links`). */
    wheelhouseDir: z
      .string()
      .refine((value) => value.startsWith('/'), 'must be an absolute path')
      .optional(),
    /** Distribution names that may be installed; `[]` allows nothing, `["*"]` anything not denied. */
    allow: z.array(distributionName).default([...DEFAULT_PACKAGES_ALLOW]),
    /** Distribution names never installed, whatever `allow` says. */
    deny: z.array(distributionName).default([...DEFAULT_PACKAGES_DENY]),
  })
  .strict();

/** A dotted module name (`os`, `os.path`, `urllib.request`). */
const moduleName = z.string().regex(/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/, 'must be a dotted module name');

/** Static analysis policy (docs/analysis.md): guidance and approval triggers; the sandbox is the boundary. */
export const policySchema = z
  .object({
    /** Execution mode of sessions and tasks that do not ask for one. */
    mode: z.enum(EXECUTION_MODES).default(DEFAULT_EXECUTION_MODE),
    /** When tasks wait for a human decision. */
    approvalMode: z.enum(APPROVAL_MODES).default(DEFAULT_APPROVAL_MODE),
    /** A pending approval not decided within this long ends `rejected`. */
    approvalTimeoutMs: timerMs.default(DEFAULT_APPROVAL_TIMEOUT_MS),
    imports: z
      .object({
        /** Modules code may import (a prefix match: `os` covers `os.path`); `[]` = any not denied. */
        allow: z.array(moduleName).default([]),
        /** Modules code may never import (prefix match); the code is denied. */
        deny: z.array(moduleName).default([]),
      })
      .strict()
      .default({ allow: [], deny: [] }),
    /** Severity per rule id (`process.subprocess`: `critical`, …) over the built-in ones. */
    rules: z
      .record(
        z.string().regex(/^[a-z_]+\.[a-z_]+$/, 'must be a rule id like `process.subprocess`'),
        z.enum(RULE_SEVERITIES),
      )
      .default({}),
  })
  .strict();

/** Code generators (docs/llm.md). */
export const llmSchema = z
  .object({
    /**
     * The generator tasks use: `llm`, `scripted`, or a name a plugin registers. Unset: `llm` when
     * `llm.model` is set, else none (tasks are refused with `CONFIG_INVALID`). An unknown name is
     * an error at start.
     */
    generator: z
      .string()
      .regex(/^[a-z][a-z0-9_-]*$/, 'must be a generator name')
      .optional(),
    /** AI SDK provider of the `llm` generator. */
    provider: z.enum(LLM_PROVIDERS).default(DEFAULT_LLM_PROVIDER),
    /** Base URL of the provider's API (required for `openai-compatible`, e.g. `http://localhost:11434/v1`). */
    baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    /** Model id (`gpt-4.1-mini`, `claude-sonnet-4-5`, `qwen2.5-coder:7b`). */
    model: z.string().min(1).optional(),
    /** API key, sent only to `baseUrl` / the provider. Prefer `VIVARIUM_LLM_API_KEY`. */
    apiKey: z.string().min(1).optional(),
    temperature: z.number().min(0).max(2).default(DEFAULT_LLM_TEMPERATURE),
    /** Most tokens of one answer. */
    maxTokens: positiveInt.default(DEFAULT_LLM_MAX_TOKENS),
    /** Wall clock of one model call. */
    timeoutMs: timerMs.default(DEFAULT_LLM_TIMEOUT_MS),
    /** Retries of a call that failed transiently (HTTP 408/409/429/5xx, connection refused); timeouts are not retried. */
    maxRetries: z.number().int().min(0).max(10).default(DEFAULT_LLM_MAX_RETRIES),
    /** Stream answers (tasks emit `generation-delta` events as text arrives). */
    stream: z.boolean().default(true),
    /** Ask the model whether a successful run answers the objective (`{adequate, reason, suggestion}`). */
    verify: z.boolean().default(false),
    /** Code the `scripted` generator returns, in order. */
    scripted: z.array(z.string()).default([]),
    /** Modules (paths or package names) exporting generators to register (docs/llm.md). */
    plugins: z.array(z.string().min(1)).default([]),
    /** Attempts one task may make unless it says otherwise. */
    maxAttempts: z.number().int().min(1).max(20).default(DEFAULT_TASK_MAX_ATTEMPTS),
  })
  .strict();

/** The whole configuration. Built once by `loadConfig`, then frozen. */
export const configSchema = z
  .object({
    /** `strict` refuses to run without a working sandbox; `none` runs unconfined (warned). */
    isolation: z.enum(ISOLATION_MODES).default('strict'),
    /** Where kernels run. Only `local` (bubblewrap on this host) exists today. */
    backend: z.enum(BACKENDS).default('local'),
    /** Absolute path of the interpreter kernels run. */
    pythonPath: z
      .string()
      .refine((value) => value.startsWith('/'), 'must be an absolute path')
      .default(DEFAULT_PYTHON_PATH),
    /** Where workspaces and state live. Default: `$XDG_DATA_HOME/vivarium` or `~/.local/share/vivarium`. */
    dataDir: z.string().min(1).optional(),
    /** Modules imported at kernel start. */
    preload: z
      .array(z.string().regex(/^[A-Za-z_][\w.]*$/, 'must be a dotted module name'))
      .default([...DEFAULT_PRELOAD]),
    /** Environment variables added inside the sandbox (nothing of the host's leaks in). */
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name'), z.string())
      .default({}),
    limits: limitsSchema.default(limitsSchema.parse({})),
    session: z
      .object({
        idleTimeoutMs: z.number().int().min(0).max(MAX_TIMER_MS).default(DEFAULT_IDLE_TIMEOUT_MS),
        startTimeoutMs: timerMs.default(DEFAULT_START_TIMEOUT_MS),
      })
      .strict()
      .default({ idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS, startTimeoutMs: DEFAULT_START_TIMEOUT_MS }),
    sandbox: z
      .object({
        /** Path of bubblewrap. Default: found on PATH (`/usr/bin/bwrap` on Debian). */
        bwrapPath: z.string().optional(),
        /** Size of the sandbox's `/tmp`. */
        tmpSizeMb: positiveInt.default(DEFAULT_TMP_SIZE_MB),
        /** First host uid for kernels when running as root; each kernel gets its own. */
        uidRangeStart: z.number().int().min(1000).default(DEFAULT_UID_RANGE_START),
        uidRangeSize: z.number().int().min(16).default(DEFAULT_UID_RANGE_SIZE),
        /** Load the seccomp filter (a denylist under the namespaces); strict isolation refuses to start when it is missing or corrupt. */
        seccomp: z.boolean().default(DEFAULT_SECCOMP),
      })
      .strict()
      .default({
        tmpSizeMb: DEFAULT_TMP_SIZE_MB,
        uidRangeStart: DEFAULT_UID_RANGE_START,
        uidRangeSize: DEFAULT_UID_RANGE_SIZE,
        seccomp: DEFAULT_SECCOMP,
      }),
    workspace: z
      .object({
        /** `auto`: a bounded ext4 volume per workspace when the engine is root and loop devices work, else unbounded (doctor says so); `loop`: required; `none`: never. */
        quota: z.enum(['auto', 'loop', 'none']).default('auto'),
        maxBytes: z
          .number()
          .int()
          .min(16 * 1024 * 1024)
          .default(DEFAULT_WORKSPACE_MAX_BYTES),
        maxFiles: z.number().int().min(128).default(DEFAULT_WORKSPACE_MAX_FILES),
      })
      .strict()
      .default({
        quota: 'auto',
        maxBytes: DEFAULT_WORKSPACE_MAX_BYTES,
        maxFiles: DEFAULT_WORKSPACE_MAX_FILES,
      }),
    pool: z
      .object({
        /** Kernels started ahead of demand with the configured limits and preload; 0 disables. */
        size: z.number().int().min(0).max(256).default(DEFAULT_POOL_SIZE),
        /** Pool starts in flight at once. */
        maxConcurrentStarts: z.number().int().min(1).max(16).default(DEFAULT_POOL_MAX_CONCURRENT_STARTS),
      })
      .strict()
      .default({ size: DEFAULT_POOL_SIZE, maxConcurrentStarts: DEFAULT_POOL_MAX_CONCURRENT_STARTS }),
    files: z
      .object({
        /** Extensions (lower case, no dot) the host file API accepts; `["*"]` accepts all. */
        allowedExtensions: z
          .array(z.string().regex(/^(\*|[a-z0-9]+)$/, 'must be a lower-case extension without dot, or *'))
          .default([...DEFAULT_ALLOWED_EXTENSIONS]),
        /** Largest file read or written through the host file API. */
        maxTransferBytes: positiveInt.default(DEFAULT_MAX_TRANSFER_BYTES),
      })
      .strict()
      .default({
        allowedExtensions: [...DEFAULT_ALLOWED_EXTENSIONS],
        maxTransferBytes: DEFAULT_MAX_TRANSFER_BYTES,
      }),
    server: serverSchema.default(serverSchema.parse({})),
    packages: packagesSchema.default(packagesSchema.parse({})),
    policy: policySchema.default(policySchema.parse({})),
    llm: llmSchema.default(llmSchema.parse({})),
  })
  .strict();

/** Input form of the configuration (everything optional). */
export type ConfigInput = z.input<typeof configSchema>;
/** The resolved, frozen configuration. */
export type Config = Readonly<z.infer<typeof configSchema> & { dataDir: string }>;
