import { z } from 'zod';
import { EXECUTION_STATUSES, type ExecutionStatus } from './execution.js';
import { fileChangeSchema } from './kernel-messages.js';

/**
 * The Execution contract as a zod schema: one definition for the HTTP API (responses, OpenAPI)
 * and the store (rows read back). Lenient where it must read rows written by older versions:
 * fields added later have defaults, unknown keys are dropped, never an error.
 */
export const mimeBundleSchema = z.record(z.string(), z.unknown());
const metadataSchema = z.record(z.string(), z.unknown());

export const executionErrorSchema = z.object({
  ename: z.string(),
  evalue: z.string(),
  traceback: z.array(z.string()),
  line: z.number().int().nullable().optional(),
  column: z.number().int().nullable().optional(),
});

export const outputSchema = z
  .discriminatedUnion('output_type', [
    z.object({ output_type: z.literal('stream'), name: z.enum(['stdout', 'stderr']), text: z.string() }),
    z.object({
      output_type: z.literal('display_data'),
      data: mimeBundleSchema,
      metadata: metadataSchema.default({}),
      transient: z.object({ display_id: z.string().optional() }).optional(),
    }),
    z.object({
      output_type: z.literal('execute_result'),
      execution_count: z.number().int(),
      data: mimeBundleSchema,
      metadata: metadataSchema.default({}),
    }),
    executionErrorSchema.extend({ output_type: z.literal('error') }),
  ])
  .meta({ id: 'Output' });

export const executionStatusSchema = z.enum(EXECUTION_STATUSES as [ExecutionStatus, ...ExecutionStatus[]]);

/** The Execution (DESIGN.md): the same shape as the library and `--json`. */
export const executionSchema = z
  .object({
    id: z.string().min(1),
    sessionId: z.string().min(1),
    executionCount: z.number().int().nonnegative(),
    status: executionStatusSchema,
    outputs: z.array(outputSchema),
    stdout: z.string(),
    stderr: z.string(),
    truncated: z
      .object({ output: z.boolean(), display: z.boolean(), files: z.boolean() })

      .default({ output: false, display: false, files: false }),
    result: mimeBundleSchema.nullable(),
    error: executionErrorSchema.nullable(),
    durationMs: z.number().nonnegative(),
    cpuMs: z.number().nonnegative(),
    peakMemoryBytes: z.number().nonnegative(),
    files: z.array(fileChangeSchema),
    startedAt: z.string().describe('ISO 8601 time'),
    reason: z.string().nullable().default(null),
    namespaceReset: z.boolean().default(false),
  })

  .meta({ id: 'Execution' });
