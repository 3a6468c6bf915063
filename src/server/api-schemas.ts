import { z } from 'zod';
import { executionSchema, variableSchema } from '../kernel/index.js';
import { EXECUTION_MODES, MAX_TIMER_MS } from '../config/index.js';

/*
 * zod schemas of every request and response of the HTTP API. Responses are serialised through
 * them (unknown fields are dropped), and `/docs/json` (OpenAPI) is generated from them.
 */

const isoTime = z.string().describe('ISO 8601 time');

/** `{error: {code, message, details}}`: every 4xx/5xx answer. */
export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().describe('Stable error code (docs/errors.md)'),
      message: z.string(),
      details: z.record(z.string(), z.unknown()),
    }),
  })
  .meta({ id: 'Error' });

/** The error answers every authenticated route can give. */
export const errorResponses = {
  400: errorBodySchema,
  401: errorBodySchema,
  404: errorBodySchema,
  409: errorBodySchema,
  410: errorBodySchema,
  413: errorBodySchema,
  415: errorBodySchema,
  422: errorBodySchema,
  429: errorBodySchema,
  500: errorBodySchema,
  503: errorBodySchema,
} as const;

/** Limits of a session, every field optional (unset fields take the service's configured value). */
export const limitsPatchSchema = z
  .object({
    timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
    memoryLimitMb: z.number().int().min(64).optional(),
    cpuTimeLimitSec: z.number().int().positive().optional(),
    maxProcesses: z.number().int().min(4).optional(),
    cpuCores: z.number().positive().max(1024).optional(),
    maxFileSizeMb: z.number().int().positive().optional(),
    maxOpenFiles: z.number().int().min(32).optional(),
    maxOutputBytes: z.number().int().positive().optional(),
    maxDisplayBytes: z.number().int().positive().optional(),
  })
  .strict();
export type LimitsPatch = z.infer<typeof limitsPatchSchema>;

export const limitsViewSchema = z
  .object({
    timeoutMs: z.number(),
    memoryLimitMb: z.number(),
    cpuTimeLimitSec: z.number(),
    maxProcesses: z.number(),
    cpuCores: z.number(),
    maxFileSizeMb: z.number(),
    maxOpenFiles: z.number(),
    maxOutputBytes: z.number(),
    maxDisplayBytes: z.number(),
  })
  .meta({ id: 'Limits' });

const envSchema = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name'),
  z.string().max(32_768),
);
const preloadSchema = z.array(z.string().regex(/^[A-Za-z_][\w.]*$/, 'must be a dotted module name')).max(64);
/** What a session's kernels may touch, enforced by the sandbox (docs/security.md, "Execution modes"). */
export const executionModeSchema = z
  .enum(EXECUTION_MODES)
  .describe(
    '`read_only` (workspace read-only, no network), `workspace_write` (workspace writable, no network), `network` (workspace writable, host network)',
  );
const modeRequestSchema = executionModeSchema
  .optional()
  .describe(
    "What the session's kernels may touch: `read_only`, `workspace_write` or `network`; default: the service's `policy.mode`. Keys that are not admin may not ask for more than that",
  );

export const createSessionBodySchema = z
  .object({
    limits: limitsPatchSchema.optional(),
    mode: modeRequestSchema,
    preload: preloadSchema
      .optional()
      .describe('Modules imported at kernel start; default: the service config'),
    env: envSchema.optional().describe('Environment variables added inside the sandbox'),
    idleTimeoutMs: z
      .number()
      .int()
      .min(0)
      .max(MAX_TIMER_MS)
      .optional()
      .describe('Close after this long without activity; 0 never'),
  })
  .strict();
export type CreateSessionBody = z.infer<typeof createSessionBodySchema>;

export const sessionStateSchema = z.enum(['starting', 'idle', 'busy', 'dead', 'closed']);

export const sessionViewSchema = z
  .object({
    id: z.string(),
    state: sessionStateSchema,
    deathReason: z.string().nullable(),
    createdAt: isoTime,
    lastActivityAt: isoTime,
    closedAt: isoTime.nullable(),
    executionCount: z.number().int(),
    limits: limitsViewSchema,
    mode: executionModeSchema,
    preload: z.array(z.string()),
    idleTimeoutMs: z.number().int(),
    ownerKeyId: z.string().nullable(),
  })
  .meta({ id: 'Session' });
export type SessionView = z.infer<typeof sessionViewSchema>;

export const sessionIdParamsSchema = z.object({ id: z.string().min(1).max(128) });

export const listSessionsQuerySchema = z
  .object({
    includeClosed: z
      .enum(['true', 'false'])
      .optional()
      .describe('List closed sessions too (their history stays readable)'),
  })
  .strict();

export { executionSchema, executionStatusSchema, outputSchema } from '../kernel/index.js';

const codeSchema = z.string().describe('Python source of the cell');

export const executeBodySchema = z
  .object({
    code: codeSchema,
    timeoutMs: z
      .number()
      .int()
      .positive()
      .max(MAX_TIMER_MS)
      .optional()
      .describe("Wall-clock limit of this cell; at most the session's `limits.timeoutMs`"),
  })
  .strict();
export type ExecuteBody = z.infer<typeof executeBodySchema>;

export const runBodySchema = z
  .object({
    code: codeSchema,
    timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
    limits: limitsPatchSchema.optional(),
    mode: modeRequestSchema,
    preload: preloadSchema.optional(),
    env: envSchema.optional(),
  })
  .strict();
export type RunBody = z.infer<typeof runBodySchema>;

export const restartResponseSchema = z.object({
  namespaceReset: z.literal(true),
  session: sessionViewSchema,
});

export const interruptResponseSchema = z.object({
  interrupted: z.boolean().describe('True when a cell was running and got KeyboardInterrupt'),
  session: sessionViewSchema,
});

export const variablesResponseSchema = z.object({ variables: z.array(variableSchema) });

export const historyQuerySchema = z
  .object({
    limit: z.coerce.number().int().positive().max(10_000).optional().describe('Most recent N executions'),
  })
  .strict();

export const historyResponseSchema = z.object({
  sessionId: z.string(),
  executions: z.array(
    z.object({
      code: z.string(),
      createdAt: isoTime,
      execution: executionSchema,
    }),
  ),
});

export const workspaceEntrySchema = z
  .object({
    path: z.string(),
    name: z.string(),
    type: z.enum(['file', 'directory', 'symlink', 'other']),
    sizeBytes: z.number().int(),
    modifiedAt: isoTime,
  })
  .meta({ id: 'WorkspaceEntry' });

export const listFilesQuerySchema = z
  .object({
    path: z.string().max(4096).optional().describe('Directory to list; the workspace root by default'),
    recursive: z.enum(['true', 'false']).optional(),
  })
  .strict();

export const listFilesResponseSchema = z.object({
  path: z.string(),
  entries: z.array(workspaceEntrySchema),
  truncated: z.boolean(),
});

export const filePathParamsSchema = z.object({
  id: z.string().min(1).max(128),
  '*': z.string().max(4096),
});

export const deleteFileQuerySchema = z.object({ recursive: z.enum(['true', 'false']).optional() }).strict();

export const writtenFileSchema = z.object({ path: z.string(), sizeBytes: z.number().int() });
export const uploadResponseSchema = z.object({ files: z.array(writtenFileSchema) });
export const deletedResponseSchema = z.object({ path: z.string(), deleted: z.literal(true) });

/** `POST /api/tools/python_coder` request. */
export const pythonCoderBodySchema = z
  .object({
    code: z.string(),
    session_id: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .describe("The caller's name for a session: created on first use, owned by the caller"),
    timeout: z
      .number()
      .positive()
      .max(MAX_TIMER_MS / 1000)
      .optional()
      .describe('Seconds'),
    context: z.unknown().optional().describe('Free-form context from the agent; recorded, not executed'),
  })
  .loose();
export type PythonCoderBody = z.infer<typeof pythonCoderBodySchema>;

/** The ToolResponse of `python_coder`. */
export const toolResponseSchema = z
  .object({
    success: z.boolean(),
    answer: z.string(),
    data: z.object({
      stdout: z.string(),
      stderr: z.string(),
      files: z.array(z.string()).describe('Workspace files, paths relative to `workspace`'),
      workspace: z.string(),
      returncode: z.number().int(),
    }),
    metadata: z.object({
      execution_time: z.number().describe('Seconds, the whole call'),
      code_execution_time: z.number().describe('Seconds, the cell alone'),
      session_id: z.string().nullable(),
      execution_id: z.string().nullable(),
      status: z.string(),
      namespace_reset: z.boolean(),
    }),
    error: z.string().nullable(),
  })
  .meta({ id: 'ToolResponse' });
export type ToolResponse = z.infer<typeof toolResponseSchema>;

export const healthResponseSchema = z.object({ status: z.literal('ok') });

const checkSchema = z.object({ ok: z.boolean(), detail: z.string() }).loose();
export const readyResponseSchema = z.object({
  ready: z.boolean(),
  checks: z.object({ sandbox: checkSchema, pool: checkSchema, store: checkSchema }),
});
