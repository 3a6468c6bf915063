import { z } from 'zod';
import { executionSchema } from '../kernel/index.js';
import { EXECUTION_MODES, limitsSchema } from '../config/index.js';
import { VivariumError } from '../errors/index.js';

/*
 * zod schemas of what the store writes and reads back. Objects are `loose`: a field added to an
 * Execution or a SessionRecord later survives a round trip through a store that predates it.
 * Fields added after rows were first written get defaults, so old rows still read.
 */

/** An ISO 8601 time with `Z` or an offset, normalised to UTC `toISOString()` so text order is time order. */
export const isoTimeSchema = z.iso
  .datetime({ offset: true })
  .transform((value) => new Date(value).toISOString());

/** Longest id (session, execution) the store accepts; lookups of longer ids find nothing without a query. */
export const MAX_STORED_ID_LENGTH = 200;
const storedIdSchema = z.string().min(1).max(MAX_STORED_ID_LENGTH);

const limitValue = z.number().int().positive().nullable();

export const keyLimitsSchema = z.object({
  maxConcurrentSessions: limitValue.default(null),
  maxExecutionsPerMinute: limitValue.default(null),
});

export const createKeyInputSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    admin: z.boolean().default(false),
    limits: z
      .object({ maxConcurrentSessions: limitValue.optional(), maxExecutionsPerMinute: limitValue.optional() })
      .strict()
      .default({}),
  })
  .strict();

const workspaceSchema = z
  .object({
    dir: z.string().min(1),
    uid: z.number().int().nonnegative().nullish(),
    owned: z.boolean(),
    imagePath: z.string().optional(),
  })
  .loose();

export const sessionRecordSchema = z
  .object({
    id: z.string().min(1),
    workspace: workspaceSchema,
    limits: limitsSchema.loose(),
    /** Rows written before execution modes existed ran with a writable workspace and no network. */
    mode: z.enum(EXECUTION_MODES).default('workspace_write'),
    preload: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    idleTimeoutMs: z.number().int().nonnegative(),
  })
  .loose();

export const SESSION_STATES = ['starting', 'idle', 'busy', 'dead', 'closed'] as const;

export const storedSessionSchema = z
  .object({
    id: storedIdSchema,
    ownerKeyId: z.string().min(1).nullable(),
    state: z.enum(SESSION_STATES),
    deathReason: z.string().nullable(),
    record: sessionRecordSchema,
    executionCount: z.number().int().nonnegative(),
    createdAt: isoTimeSchema,
    updatedAt: isoTimeSchema,
    closedAt: isoTimeSchema.nullable(),
  })
  .strict();

export { executionSchema, outputSchema } from '../kernel/index.js';

export const storedExecutionSchema = z
  .object({
    execution: executionSchema,
    code: z.string(),
    ownerKeyId: z.string().min(1).nullable(),
    createdAt: isoTimeSchema,
  })
  .strict();

/** Where a binary output was moved to a blob: output index or the `result` bundle, and which MIME type. */
export const blobRefSchema = z
  .object({
    at: z.union([z.literal('result'), z.number().int().nonnegative()]),
    mime: z.string().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    sizeBytes: z.number().int().nonnegative(),
  })
  .strict();
export type BlobRef = z.infer<typeof blobRefSchema>;
export const blobRefsSchema = z.array(blobRefSchema);

export const auditDetailsSchema = z.record(z.string(), z.unknown());

export const auditInputSchema = z
  .object({
    keyId: z.string().min(1).nullable(),
    action: z.string().min(1).max(200),
    target: z.string().nullable(),
    status: z.string().min(1).max(200),
    details: auditDetailsSchema.default({}),
    at: isoTimeSchema.optional(),
  })
  .strict();

/**
 * Parses a JSON column and validates it. A row that fails is a damaged database, reported with
 * where it is (`sessions ses_… record`), never passed on half-valid.
 */
export function parseJsonColumn<S extends z.ZodType>(schema: S, text: string, where: string): z.output<S> {
  let value: unknown;
  try {
    // eslint-disable-next-line no-restricted-syntax -- validated by `schema` right below
    value = JSON.parse(text);
  } catch (error) {
    throw new VivariumError('INTERNAL', `Stored ${where} is not valid JSON; the database is damaged`, {
      cause: error,
      details: { where },
    });
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `${issue.path.map(String).join('.')}: ${issue.message}`,
  );
  throw new VivariumError('INTERNAL', `Stored ${where} does not match its schema: ${problems.join('; ')}`, {
    details: { where, problems },
  });
}

/** JSON text of a value; `what` names it in the error when it cannot be serialised (cycles, BigInt). */
export function toJsonText(value: unknown, what: string): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    throw new VivariumError('INVALID_ARGUMENT', `Expected \`${what}\` to be JSON-serialisable`, {
      cause: error,
    });
  }
}
