import type { Generated } from 'kysely';

/**
 * Kysely row types of the SQLite store. Times are ISO 8601 UTC strings (`toISOString()`), so text
 * order is time order; booleans are 0/1; JSON columns (`limits`, `record`, `execution`, `blob_refs`, `details`) are validated with zod when read.
 * The DDL is in `migrations.ts`; keep the two in step.
 */
export interface ApiKeysTable {
  /** `key_<hex>`, public. */
  id: string;
  name: string;
  /** sha256 of the plaintext key, hex. The key itself is never stored. */
  token_hash: string;
  admin: 0 | 1;
  /** {@link KeyLimits} as JSON. */
  limits: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface SessionsTable {
  id: string;
  owner_key_id: string | null;
  state: string;
  death_reason: string | null;
  /** The `SessionRecord` as JSON. */
  record: string;
  execution_count: number;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
}

export interface ExecutionsTable {
  id: string;
  session_id: string;
  owner_key_id: string | null;
  execution_count: number;
  status: string;
  code: string;
  /** The Execution as JSON, large binary outputs replaced by `{"$blob": sha256, "sizeBytes": n}`. */
  execution: string;
  /** Where those placeholders are (`BlobRef[]` as JSON); only these are ever read back from blobs. */
  blob_refs: string;
  created_at: string;
}

export interface AuditTable {
  id: Generated<number>;
  at: string;
  key_id: string | null;
  action: string;
  target: string | null;
  status: string;
  details: string;
}

export interface HealthTable {
  id: number;
  checked_at: string;
}

export interface TasksTable {
  id: string;
  owner_key_id: string | null;
  state: string;
  session_id: string | null;
  /** The `TaskResult` as JSON (attempts, executions, approvals included). */
  task: string;
  created_at: string;
  updated_at: string;
}

export interface TaskEventsTable {
  task_id: string;
  seq: number;
  type: string;
  /** The `TaskEvent` as JSON. */
  event: string;
  at: string;
}

export interface ModelCallsTable {
  id: Generated<number>;
  task_id: string;
  attempt: number;
  purpose: string;
  /** The `StoredModelCall` as JSON (prompt, response, usage, latency). */
  call: string;
  started_at: string;
}

export interface ApprovalsTable {
  id: string;
  task_id: string;
  owner_key_id: string | null;
  state: string;
  code_hash: string;
  /** The `Approval` as JSON. */
  approval: string;
  requested_at: string;
}

/** The whole database, as Kysely sees it. */
export interface DatabaseSchema {
  api_keys: ApiKeysTable;
  sessions: SessionsTable;
  executions: ExecutionsTable;
  audit: AuditTable;
  health: HealthTable;
  tasks: TasksTable;
  task_events: TaskEventsTable;
  model_calls: ModelCallsTable;
  approvals: ApprovalsTable;
}
