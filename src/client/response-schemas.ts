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
