import { z } from 'zod';

/*
 * What the client checks of the service's answers before handing them out. Loose on purpose: the
 * fields the client and its callers rely on are checked, fields a newer service adds pass through.
 */

export const errorBodySchema = z.object({
  error: z
    .object({
      code: z.string().min(1),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).nullable().optional(),
    })
    .loose(),
});

const outputSchema = z.object({ output_type: z.string() }).loose();

export const executionSchema = z
  .object({
    id: z.string(),
    sessionId: z.string(),
    executionCount: z.number(),
    status: z.enum(['ok', 'error', 'timeout', 'interrupted', 'memory_exceeded', 'killed']),
    outputs: z.array(outputSchema),
    stdout: z.string(),
    stderr: z.string(),
    result: z.record(z.string(), z.unknown()).nullable(),
    error: z
      .object({ ename: z.string(), evalue: z.string(), traceback: z.array(z.string()) })
      .loose()
      .nullable(),
    durationMs: z.number(),
  })
  .loose();

export const executionEventSchema = z.object({ type: z.string().min(1) }).loose();

export const sessionInfoSchema = z
  .object({
    id: z.string(),
    state: z.string(),
    createdAt: z.string(),
    executionCount: z.number(),
  })
  .loose();

export const variableSummarySchema = z
  .object({ name: z.string(), type: z.string(), summary: z.string() })
  .loose();

export const workspaceEntrySchema = z
  .object({
    path: z.string(),
    name: z.string(),
    type: z.enum(['file', 'directory', 'symlink', 'other']),
    sizeBytes: z.number(),
    modifiedAt: z.string(),
  })
  .loose();

export const fileListingSchema = z
  .object({ path: z.string(), entries: z.array(workspaceEntrySchema), truncated: z.boolean() })
  .loose();

export const fileWriteResultSchema = z.object({ path: z.string(), sizeBytes: z.number() }).loose();

export const sessionListSchema = z.object({ sessions: z.array(sessionInfoSchema) }).loose();

export const variablesSchema = z.object({ variables: z.array(variableSummarySchema) }).loose();

export const historySchema = z
  .object({
    executions: z.array(
      z.object({ code: z.string(), createdAt: z.string(), execution: executionSchema }).loose(),
    ),
  })
  .loose();

export const restartResultSchema = z
  .object({ namespaceReset: z.literal(true), session: sessionInfoSchema })
  .loose();

export const interruptResultSchema = z
  .object({ interrupted: z.boolean(), session: sessionInfoSchema })
  .loose();

const tokenUsageSchema = z
  .object({ inputTokens: z.number(), outputTokens: z.number(), totalTokens: z.number() })
  .loose();

export const approvalSchema = z
  .object({
    id: z.string(),
    taskId: z.string(),
    attempt: z.number(),
    state: z.enum(['pending', 'approved', 'rejected', 'cancelled']),
    objective: z.string(),
    code: z.string(),
    codeHash: z.string(),
    findings: z.array(z.object({ ruleId: z.string(), message: z.string() }).loose()),
    reasons: z.array(z.string()),
    requestedAt: z.string(),
    expiresAt: z.string(),
    decision: z
      .object({ decision: z.enum(['approve', 'reject']), comment: z.string().nullable() })
      .loose()
      .nullable(),
  })
  .loose();

export const taskResultSchema = z
  .object({
    id: z.string(),
    state: z.enum(['running', 'awaiting_approval', 'succeeded', 'failed', 'rejected', 'cancelled']),
    status: z.enum(['succeeded', 'failed', 'rejected', 'cancelled']).nullable(),
    sessionId: z.string().nullable(),
    spec: z.object({ objective: z.string() }).loose(),
    code: z.string().nullable(),
    execution: executionSchema.nullable(),
    results: z.record(z.string(), z.unknown()),
    attempts: z.array(z.object({ attempt: z.number(), code: z.string() }).loose()),
    files: z.array(z.object({ path: z.string(), change: z.string() }).loose()),
    usage: tokenUsageSchema,
    error: z.object({ kind: z.string(), message: z.string() }).loose().nullable(),
    pendingApproval: approvalSchema.nullable(),
    createdAt: z.string(),
    durationMs: z.number(),
  })
  .loose();

export const taskListSchema = z.object({ tasks: z.array(taskResultSchema) }).loose();

export const approvalListSchema = z.object({ approvals: z.array(approvalSchema) }).loose();

export const modelCallListSchema = z
  .object({
    calls: z.array(
      z
        .object({
          taskId: z.string(),
          attempt: z.number(),
          purpose: z.string(),
          messages: z.array(z.object({ role: z.string(), content: z.string() }).loose()),
          response: z.string(),
          usage: tokenUsageSchema,
        })
        .loose(),
    ),
  })
  .loose();

/** A task event: the fields every one has; the rest passes through. */
export const taskEventSchema = z
  .object({ type: z.string().min(1), taskId: z.string(), seq: z.number(), at: z.string() })
  .loose();
