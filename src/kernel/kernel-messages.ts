import { z } from 'zod';

/** Frames a kernel sends to the host, validated before use. See docs/protocol.md. */
const mimeBundle = z.record(z.string(), z.unknown());
const metadata = z.record(z.string(), z.unknown());

const errorFields = {
  ename: z.string(),
  evalue: z.string(),
  traceback: z.array(z.string()),
  line: z.number().int().nullable().optional(),
  column: z.number().int().nullable().optional(),
};

export const fileChangeSchema = z.object({
  path: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  change: z.enum(['created', 'modified', 'deleted']),
});

export const variableSchema = z
  .object({
    name: z.string(),
    type: z.string(),
    summary: z.string(),
    length: z.number().int().optional(),
    shape: z.array(z.number().int()).optional(),
    dtype: z.string().optional(),
    columns: z.array(z.string()).optional(),
    dtypes: z.record(z.string(), z.string()).optional(),
    keys: z.array(z.string()).optional(),
  })
  .loose();

/**
 * One value of the namespace read as JSON (a task's `results`): `json` is the value (for a dict,
 * its serializable keys) as JSON text; keys whose values are not JSON-serializable are listed in
 * `unserializable`; `truncated` when the JSON or the key count hit their bounds.
 */
export const namespaceValueSchema = z.object({
  name: z.string(),
  found: z.boolean(),
  type: z.string().nullable(),
  keys: z.array(z.string()).nullable(),
  json: z.string().nullable(),
  unserializable: z.array(z.object({ key: z.string().nullable(), type: z.string(), error: z.string() })),
  truncated: z.boolean(),
});
export type NamespaceValue = z.infer<typeof namespaceValueSchema>;

export const kernelMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('ready'),
    pid: z.number().int(),
    python: z.string(),
    preloaded: z.array(z.string()),
    preloadErrors: z.array(z.object({ module: z.string(), error: z.string() })),
  }),
  z.object({
    type: z.literal('stream'),
    id: z.string().nullable(),
    name: z.enum(['stdout', 'stderr']),
    text: z.string(),
  }),
  z.object({
    type: z.enum(['display_data', 'update_display_data']),
    id: z.string().nullable(),
    data: mimeBundle,
    metadata,
    transient: z.object({ display_id: z.string().optional() }).loose().optional(),
  }),
  z.object({ type: z.literal('clear_output'), id: z.string().nullable(), wait: z.boolean() }),
  z.object({
    type: z.literal('execute_result'),
    id: z.string(),
    execution_count: z.number().int(),
    data: mimeBundle,
    metadata,
  }),
  z.object({ type: z.literal('error'), id: z.string(), ...errorFields }),
  z.object({ type: z.literal('input_request'), id: z.string(), prompt: z.string(), password: z.boolean() }),
  z.object({
    type: z.literal('reply'),
    id: z.string(),
    status: z.enum(['ok', 'error', 'interrupted']),
    execution_count: z.number().int(),
    cpu_ms: z.number().nonnegative(),
    peak_rss_bytes: z.number().int().nonnegative(),
    files: z.array(fileChangeSchema),
    files_truncated: z.boolean(),
    stream_truncated: z.boolean(),
  }),
  z.object({
    type: z.literal('variables'),
    id: z.string().nullable(),
    variables: z.array(variableSchema),
    value: namespaceValueSchema.optional(),
  }),
  z.object({ type: z.literal('runtime_error'), message: z.string() }),
  z.object({ type: z.literal('sync_ack'), nonce: z.string() }),
]);

export type KernelMessage = z.infer<typeof kernelMessageSchema>;
export type VariableSummary = z.infer<typeof variableSchema>;
export type FileChange = z.infer<typeof fileChangeSchema>;
