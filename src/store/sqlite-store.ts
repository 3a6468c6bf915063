import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type Insertable, type Selectable } from 'kysely';
import { z } from 'zod';
import { validate, VivariumError } from '../errors/index.js';
import type { Execution } from '../kernel/index.js';
import type { SessionRecord } from '../session/index.js';
import { BlobStore } from './blob-store.js';
import type {
  ApiKeysTable,
  AuditTable,
  DatabaseSchema,
  ExecutionsTable,
  SessionsTable,
} from './database-schema.js';
import { externalizeBlobs, restoreBlobs } from './execution-blobs.js';
import { API_KEY_PATTERN, generateApiKey, hashApiKey, hashesEqual, newKeyId } from './key-hash.js';
import { runMigrations, SCHEMA_VERSION } from './migrations.js';
import {
  approvalSchema,
  storedModelCallSchema,
  taskResultSchema,
  type Approval,
  type ApprovalState,
  type StoredModelCall,
  type TaskEvent,
  type TaskResult,
  type TaskState,
  type TaskStore,
} from '../pipeline/task-contracts.js';
import {
  auditDetailsSchema,
  auditInputSchema,
  blobRefsSchema,
  createKeyInputSchema,
  executionSchema,
  keyLimitsSchema,
  MAX_STORED_ID_LENGTH,
  parseJsonColumn,
  sessionRecordSchema,
  storedExecutionSchema,
  storedSessionSchema,
  toJsonText,
} from './store-schemas.js';
import type {
  ApiKeyRecord,
  AuditEntry,
  KeyLimits,
  Store,
  StoredExecution,
  StoredSession,
} from './store-types.js';

/** The database file's name inside the data directory. */
export const DEFAULT_STORE_FILE_NAME = 'vivarium.db';
/** Binary outputs longer than this many base64 characters go to `blobs/` instead of the row. */
export const DEFAULT_INLINE_BINARY_MAX_BYTES = 64 * 1024;
/** How long a write waits for another process's lock (the CLI and the service share the file). */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
/** `authenticate` writes `last_used_at` at most this often per key, so auth stays a read. */
export const LAST_USED_UPDATE_INTERVAL_MS = 60_000;
/** Audit entries returned when no `limit` is given. */
export const DEFAULT_AUDIT_LIST_LIMIT = 1_000;
/** Largest `limit` any list accepts. */
export const MAX_LIST_LIMIT = 100_000;
/** Directory of blob files inside the data directory. */
export const BLOB_DIR_NAME = 'blobs';

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** The data directory; created (mode 0711) if missing. The database and `blobs/` live in it. */
  dataDir: string;
  /** The database file's name in `dataDir`. @default 'vivarium.db' */
  fileName?: string;
  /** Binary MIME values (base64) longer than this are stored as blob files. @default 65536 */
  inlineBinaryMaxBytes?: number;
  /** How long a write waits for a lock held by another process. @default 5000 */
  busyTimeoutMs?: number;
}

const optionsSchema = z
  .object({
    dataDir: z.string().min(1),
    fileName: z
      .string()
      .regex(/^[^/\\]+$/, 'a file name without directories')
      .refine((name) => name !== '.' && name !== '..', 'a file name')
      .default(DEFAULT_STORE_FILE_NAME),
    inlineBinaryMaxBytes: z.number().int().nonnegative().default(DEFAULT_INLINE_BINARY_MAX_BYTES),
    busyTimeoutMs: z.number().int().nonnegative().max(2_147_483_647).default(DEFAULT_BUSY_TIMEOUT_MS),
  })
  .strict();

const listSessionsFilterSchema = z
  .object({ ownerKeyId: z.string().min(1).nullable().optional(), includeClosed: z.boolean().optional() })
  .strict();
const listLimitSchema = z.number().int().positive().max(MAX_LIST_LIMIT).optional();
const listAuditFilterSchema = z
  .object({ keyId: z.string().min(1).optional(), limit: listLimitSchema })
  .strict();
const idSchema = z.string();
/** The parts of {@link SqliteStore.recordExecution}; each is checked with its own schema after. */
const recordExecutionInputSchema = z
  .object({ execution: z.unknown(), session: z.unknown().optional(), audit: z.unknown().optional() })
  .strict();
/** An id to look up, or null when no row can have it; a non-string is a caller's bug. */
function lookupId(id: unknown, what: string): string | null {
  const value = validate(idSchema, id, what);
  return value.length === 0 || value.length > MAX_STORED_ID_LENGTH ? null : value;
}

/**
 * Opens (creating if needed) the SQLite store in `dataDir`: WAL journal, `synchronous=FULL` (a
 * write is on disk when its promise resolves), foreign keys on, migrations applied. Refuses, with
 * a clear message, a file that is not a database or was written by a newer Vivarium.
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const { dataDir, fileName, inlineBinaryMaxBytes, busyTimeoutMs } = validate(
    optionsSchema,
    options,
    'options',
  );
  const path = join(dataDir, fileName);
  const blobs = new BlobStore({ dir: join(dataDir, BLOB_DIR_NAME) });
  let database: Database.Database | undefined;
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o711 });
    // Created 0600 before SQLite sees it: keys' hashes and users' code are not for other local users.
    // SQLite gives the -wal and -shm files the database file's mode.
    await writeFile(path, '', { flag: 'a', mode: 0o600 });
    database = new Database(path, { timeout: busyTimeoutMs });
    const journalMode: unknown = database.pragma('journal_mode = WAL', { simple: true });
    if (journalMode !== 'wal')
      throw new Error(`journal_mode is ${String(journalMode)}, WAL could not be set`);
    database.pragma('synchronous = FULL');
    database.pragma('foreign_keys = ON');
    database.pragma(`busy_timeout = ${busyTimeoutMs}`);
    runMigrations(database, { path });
    await blobs.open();
  } catch (error) {
    database?.close();
    if (error instanceof VivariumError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new VivariumError(
      'INTERNAL',
      `Cannot open the store at ${path}: ${message}. If the file is damaged, restore it from a backup ` +
        '(see docs/persistence.md).',
      { cause: error, details: { path, sqliteCode: (error as { code?: unknown }).code ?? null } },
    );
  }
  return new SqliteStore({ database, path, dataDir, blobs, inlineBinaryMaxBytes });
}

type SqliteFailure = Error & { code?: string };

/** Stored task events: the common fields checked, the rest as the pipeline wrote it. */
const storedTaskEventSchema = z
  .object({ type: z.string(), taskId: z.string(), seq: z.number().int(), at: z.string() })
  .loose();

/** The SQLite {@link Store}. Made by {@link openSqliteStore}. */
export class SqliteStore implements Store, TaskStore {
  /** The database file. */
  readonly path: string;
  readonly dataDir: string;
  /** The schema version of the open database. */
  readonly schemaVersion: number = SCHEMA_VERSION;
  private readonly database: Database.Database;
  private readonly db: Kysely<DatabaseSchema>;
  private readonly blobs: BlobStore;
  private readonly inlineBinaryMaxBytes: number;
  private closing: Promise<void> | null = null;

  /** @internal Use {@link openSqliteStore}. */
  constructor(parts: {
    database: Database.Database;
    path: string;
    dataDir: string;
    blobs: BlobStore;
    inlineBinaryMaxBytes: number;
  }) {
    this.database = parts.database;
    this.path = parts.path;
    this.dataDir = parts.dataDir;
    this.blobs = parts.blobs;
    this.inlineBinaryMaxBytes = parts.inlineBinaryMaxBytes;
    this.db = new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: parts.database }) });
  }

  async createKey(input: {
    name: string;
    admin?: boolean;
    limits?: Partial<KeyLimits>;
  }): Promise<{ key: string; record: ApiKeyRecord }> {
    const parsed = validate(createKeyInputSchema, input, 'input');
    const limits: KeyLimits = keyLimitsSchema.parse(parsed.limits);
    const key = generateApiKey();
    const row: Selectable<ApiKeysTable> = {
      id: newKeyId(),
      name: parsed.name,
      token_hash: hashApiKey(key),
      admin: parsed.admin ? 1 : 0,
      limits: toJsonText(limits, 'limits'),
      created_at: new Date().toISOString(),
      revoked_at: null,
      last_used_at: null,
    };
    await this.guard('create a key', () => this.db.insertInto('api_keys').values(row).execute());
    return { key, record: this.keyRecord(row) };
  }

  async authenticate(token: string): Promise<ApiKeyRecord | null> {
    this.assertOpen();
    if (typeof token !== 'string' || !API_KEY_PATTERN.test(token)) return null;
    const hash = hashApiKey(token);
    const row = await this.guard('authenticate', () =>
      this.db.selectFrom('api_keys').selectAll().where('token_hash', '=', hash).executeTakeFirst(),
    );
    // The lookup is by hash, so its timing says nothing about the key; compare in constant time anyway.
    if (!row || !hashesEqual(row.token_hash, hash) || row.revoked_at !== null) return null;
    const now = Date.now();
    const lastUsedMs = row.last_used_at === null ? Number.NaN : Date.parse(row.last_used_at);
    if (!(now - lastUsedMs < LAST_USED_UPDATE_INTERVAL_MS)) {
      const at = new Date(now).toISOString();
      await this.guard('record key use', () =>
        this.db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', row.id).execute(),
      );
      row.last_used_at = at;
    }
    return this.keyRecord(row);
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    const rows = await this.guard('list keys', () =>
      this.db
        .selectFrom('api_keys')
        .selectAll()
        .orderBy('created_at')
        .orderBy(sql`rowid`)
        .execute(),
    );
    return rows.map((row) => this.keyRecord(row));
  }

  async getKey(id: string): Promise<ApiKeyRecord | null> {
    const keyId = lookupId(id, 'id');
    if (keyId === null) return null;
    const row = await this.guard('read a key', () =>
      this.db.selectFrom('api_keys').selectAll().where('id', '=', keyId).executeTakeFirst(),
    );
    return row ? this.keyRecord(row) : null;
  }

  async revokeKey(id: string): Promise<boolean> {
    const keyId = lookupId(id, 'id');
    if (keyId === null) return false;
    const result = await this.guard('revoke a key', () =>
      this.db
        .updateTable('api_keys')
        .set({ revoked_at: new Date().toISOString() })
        .where('id', '=', keyId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst(),
    );
    return result.numUpdatedRows > 0n;
  }

  async upsertSession(session: StoredSession): Promise<void> {
    const row = this.sessionRow(session);
    await this.guard('store a session', () => this.writeSessionRow(this.db, row));
  }

  async getSession(id: string): Promise<StoredSession | null> {
    const sessionId = lookupId(id, 'id');
    if (sessionId === null) return null;
    const row = await this.guard('read a session', () =>
      this.db.selectFrom('sessions').selectAll().where('id', '=', sessionId).executeTakeFirst(),
    );
    return row ? this.sessionFromRow(row) : null;
  }

  async listSessions(
    filter: { ownerKeyId?: string | null; includeClosed?: boolean } = {},
  ): Promise<StoredSession[]> {
    const { ownerKeyId, includeClosed } = validate(listSessionsFilterSchema, filter, 'filter');
    const rows = await this.guard('list sessions', () => {
      let query = this.db.selectFrom('sessions').selectAll();
      if (ownerKeyId === null) query = query.where('owner_key_id', 'is', null);
      else if (ownerKeyId !== undefined) query = query.where('owner_key_id', '=', ownerKeyId);
      if (!includeClosed) query = query.where('state', '!=', 'closed');
      return query
        .orderBy('created_at', 'desc')
        .orderBy(sql`rowid`, 'desc')
        .execute();
    });
    return rows.map((row) => this.sessionFromRow(row));
  }

  async insertExecution(stored: StoredExecution): Promise<void> {
    this.assertOpen();
    const row = await this.executionRow(stored);
    await this.writeExecutionRow(this.db, row);
  }

  /**
   * Stores an execution, upserts its session's row and appends the audit entry in one transaction
   * (one commit, one fsync): all three are durable when it resolves, or none is written. Large
   * outputs go to blob files before the transaction, as with {@link insertExecution}. Same checks
   * and errors as the three separate calls; an already closed session row is not reopened.
   */
  async recordExecution(input: {
    execution: StoredExecution;
    session?: StoredSession;
    audit?: Omit<AuditEntry, 'id' | 'at'> & { at?: string };
  }): Promise<void> {
    this.assertOpen();
    const parts = validate(recordExecutionInputSchema, input, 'input');
    // Everything is checked, and blobs are on disk, before the transaction starts.
    const sessionRow = parts.session === undefined ? null : this.sessionRow(parts.session as StoredSession);
    const auditRow =
      parts.audit === undefined
        ? null
        : this.auditRow(parts.audit as Omit<AuditEntry, 'id' | 'at'> & { at?: string }, 'audit');
    const executionRow = await this.executionRow(parts.execution as StoredExecution);
    if (sessionRow !== null && sessionRow.id !== executionRow.session_id)
      throw new VivariumError(
        'INVALID_ARGUMENT',
        `Expected \`session.id\` to be the execution's session ${executionRow.session_id}, got ${sessionRow.id}`,
        { details: { field: 'session.id', executionId: executionRow.id } },
      );
    await this.guard('record an execution', () =>
      this.db.transaction().execute(async (trx) => {
        if (sessionRow !== null)
          await this.guard('store a session', () =>
            this.writeSessionRow(trx, sessionRow, { keepClosed: true }),
          );
        await this.writeExecutionRow(trx, executionRow);
        if (auditRow !== null)
          await this.guard('write the audit log', () => trx.insertInto('audit').values(auditRow).execute());
      }),
    );
  }

  async listExecutions(sessionId: string, options: { limit?: number } = {}): Promise<StoredExecution[]> {
    const id = lookupId(sessionId, 'sessionId');
    const { limit } = validate(z.object({ limit: listLimitSchema }).strict(), options, 'options');
    if (id === null) return [];
    const rows = await this.guard('list executions', async () => {
      const query = this.db.selectFrom('executions').selectAll().where('session_id', '=', id);
      if (limit === undefined)
        return query
          .orderBy('created_at')
          .orderBy(sql`rowid`)
          .execute();
      const newest = await query
        .orderBy('created_at', 'desc')
        .orderBy(sql`rowid`, 'desc')
        .limit(limit)
        .execute();
      return newest.reverse();
    });
    const cache = new Map<string, string | null>();
    const executions: StoredExecution[] = [];
    for (const row of rows) executions.push(await this.executionFromRow(row, cache));
    return executions;
  }

  async getExecution(id: string): Promise<StoredExecution | null> {
    const executionId = lookupId(id, 'id');
    if (executionId === null) return null;
    const row = await this.guard('read an execution', () =>
      this.db.selectFrom('executions').selectAll().where('id', '=', executionId).executeTakeFirst(),
    );
    return row ? this.executionFromRow(row, new Map()) : null;
  }

  async audit(entry: Omit<AuditEntry, 'id' | 'at'> & { at?: string }): Promise<void> {
    const row = this.auditRow(entry);
    await this.guard('write the audit log', () => this.db.insertInto('audit').values(row).execute());
  }

  async listAudit(filter: { keyId?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    const { keyId, limit } = validate(listAuditFilterSchema, filter, 'filter');
    const rows = await this.guard('read the audit log', () => {
      let query = this.db.selectFrom('audit').selectAll();
      if (keyId !== undefined) query = query.where('key_id', '=', keyId);
      return query
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit ?? DEFAULT_AUDIT_LIST_LIMIT)
        .execute();
    });
    return rows.map((row) => this.auditFromRow(row));
  }

  async saveTask(task: TaskResult): Promise<void> {
    const parsed = validate(taskResultSchema, task, 'task');
    const row = {
      id: parsed.id,
      owner_key_id: parsed.ownerKeyId,
      state: parsed.state,
      session_id: parsed.sessionId,
      task: toJsonText(parsed, 'task'),
      created_at: parsed.createdAt,
      updated_at: parsed.updatedAt,
    };
    const { id: _id, ...changes } = row;
    await this.guard('store a task', () =>
      this.db
        .insertInto('tasks')
        .values(row)
        .onConflict((conflict) => conflict.column('id').doUpdateSet(changes))
        .execute(),
    );
  }

  async getTask(id: string): Promise<TaskResult | null> {
    const taskId = lookupId(id, 'id');
    if (taskId === null) return null;
    const row = await this.guard('read a task', () =>
      this.db.selectFrom('tasks').select(['id', 'task']).where('id', '=', taskId).executeTakeFirst(),
    );
    return row ? parseJsonColumn(taskResultSchema, row.task, `tasks ${row.id} task`) : null;
  }

  async listTasks(
    filter: { ownerKeyId?: string | null; states?: readonly TaskState[]; limit?: number } = {},
  ): Promise<TaskResult[]> {
    const rows = await this.guard('list tasks', () => {
      let query = this.db.selectFrom('tasks').select(['id', 'task']);
      if (filter.ownerKeyId === null) query = query.where('owner_key_id', 'is', null);
      else if (filter.ownerKeyId !== undefined) query = query.where('owner_key_id', '=', filter.ownerKeyId);
      if (filter.states)
        query = query.where('state', 'in', filter.states.length > 0 ? [...filter.states] : ['']);
      return query
        .orderBy('created_at', 'desc')
        .orderBy(sql`rowid`, 'desc')
        .limit(Math.max(1, Math.min(filter.limit ?? 1000, 100_000)))
        .execute();
    });
    return rows.map((row) => parseJsonColumn(taskResultSchema, row.task, `tasks ${row.id} task`));
  }

  async appendTaskEvent(event: TaskEvent): Promise<void> {
    await this.guard('store a task event', () =>
      this.db
        .insertInto('task_events')
        .values({
          task_id: event.taskId,
          seq: event.seq,
          type: event.type,
          event: toJsonText(event, 'event'),
          at: event.at,
        })
        .execute(),
    );
  }

  async listTaskEvents(taskId: string): Promise<TaskEvent[]> {
    const rows = await this.guard('read task events', () =>
      this.db
        .selectFrom('task_events')
        .select(['seq', 'event'])
        .where('task_id', '=', taskId)
        .orderBy('seq', 'asc')
        .execute(),
    );
    return rows.map(
      (row) =>
        parseJsonColumn(
          storedTaskEventSchema,
          row.event,
          `task_events ${taskId}/${row.seq}`,
        ) as unknown as TaskEvent,
    );
  }

  async insertModelCall(call: StoredModelCall): Promise<void> {
    const parsed = validate(storedModelCallSchema, call, 'call');
    await this.guard('store a model call', () =>
      this.db
        .insertInto('model_calls')
        .values({
          task_id: parsed.taskId,
          attempt: parsed.attempt,
          purpose: parsed.purpose,
          call: toJsonText(parsed, 'call'),
          started_at: parsed.startedAt,
        })
        .execute(),
    );
  }

  async listModelCalls(taskId: string): Promise<StoredModelCall[]> {
    const rows = await this.guard('read model calls', () =>
      this.db
        .selectFrom('model_calls')
        .select(['id', 'call'])
        .where('task_id', '=', taskId)
        .orderBy('id', 'asc')
        .execute(),
    );
    return rows.map((row) => parseJsonColumn(storedModelCallSchema, row.call, `model_calls ${row.id} call`));
  }

  async saveApproval(approval: Approval): Promise<void> {
    const parsed = validate(approvalSchema, approval, 'approval');
    const row = {
      id: parsed.id,
      task_id: parsed.taskId,
      owner_key_id: parsed.ownerKeyId,
      state: parsed.state,
      code_hash: parsed.codeHash,
      approval: toJsonText(parsed, 'approval'),
      requested_at: parsed.requestedAt,
    };
    const { id: _id, ...changes } = row;
    await this.guard('store an approval', () =>
      this.db
        .insertInto('approvals')
        .values(row)
        .onConflict((conflict) => conflict.column('id').doUpdateSet(changes))
        .execute(),
    );
  }

  async getApproval(id: string): Promise<Approval | null> {
    const approvalId = lookupId(id, 'id');
    if (approvalId === null) return null;
    const row = await this.guard('read an approval', () =>
      this.db
        .selectFrom('approvals')
        .select(['id', 'approval'])
        .where('id', '=', approvalId)
        .executeTakeFirst(),
    );
    return row ? parseJsonColumn(approvalSchema, row.approval, `approvals ${row.id} approval`) : null;
  }

  async listApprovals(
    filter: { ownerKeyId?: string | null; state?: ApprovalState; taskId?: string } = {},
  ): Promise<Approval[]> {
    const rows = await this.guard('list approvals', () => {
      let query = this.db.selectFrom('approvals').select(['id', 'approval']);
      if (filter.ownerKeyId === null) query = query.where('owner_key_id', 'is', null);
      else if (filter.ownerKeyId !== undefined) query = query.where('owner_key_id', '=', filter.ownerKeyId);
      if (filter.state) query = query.where('state', '=', filter.state);
      if (filter.taskId) query = query.where('task_id', '=', filter.taskId);
      return query
        .orderBy('requested_at', 'asc')
        .orderBy(sql`rowid`, 'asc')
        .execute();
    });
    return rows.map((row) => parseJsonColumn(approvalSchema, row.approval, `approvals ${row.id} approval`));
  }

  /** Task and approval decisions go to the audit log like everything else. */
  auditTask(entry: {
    keyId: string | null;
    action: string;
    target: string;
    status: string;
    details: Record<string, unknown>;
  }): Promise<void> {
    return this.audit(entry);
  }

  async ping(): Promise<void> {
    const at = new Date().toISOString();
    const row = await this.guard('ping', async () => {
      await this.db
        .insertInto('health')
        .values({ id: 1, checked_at: at })
        .onConflict((conflict) => conflict.column('id').doUpdateSet({ checked_at: at }))
        .execute();
      return this.db.selectFrom('health').select('checked_at').where('id', '=', 1).executeTakeFirst();
    });
    if (row?.checked_at !== at)
      throw new VivariumError('INTERNAL', `The store at ${this.path} did not read back what it wrote`);
  }

  /** Closes the database (SQLite checkpoints the WAL). Idempotent; later calls of any method throw. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.db.destroy();
      } finally {
        if (this.database.open) this.database.close();
      }
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closing !== null)
      throw new VivariumError('ENGINE_STOPPED', `The store at ${this.path} is closed`);
  }

  /** Runs a query; SQLite failures become `INTERNAL` errors that say what was being done. */
  private async guard<T>(what: string, run: () => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await run();
    } catch (error) {
      if (error instanceof VivariumError) throw error;
      const failure = error as SqliteFailure;
      throw new VivariumError('INTERNAL', `The store could not ${what}: ${failure.message}`, {
        cause: error,
        details: { path: this.path, sqliteCode: failure.code ?? null },
      });
    }
  }

  /** The `sessions` row of a session, validated. */
  private sessionRow(session: StoredSession): Selectable<SessionsTable> {
    const parsed = validate(storedSessionSchema, session, 'session');
    return {
      id: parsed.id,
      owner_key_id: parsed.ownerKeyId,
      state: parsed.state,
      death_reason: parsed.deathReason,
      record: toJsonText(parsed.record, 'session.record'),
      execution_count: parsed.executionCount,
      created_at: parsed.createdAt,
      updated_at: parsed.updatedAt,
      closed_at: parsed.closedAt,
    };
  }

  /** Inserts or updates a session row; with `keepClosed`, a row already closed is left as it is. */
  private async writeSessionRow(
    db: Kysely<DatabaseSchema>,
    row: Selectable<SessionsTable>,
    options: { keepClosed?: boolean } = {},
  ): Promise<void> {
    const { id: _id, ...changes } = row;
    await db
      .insertInto('sessions')
      .values(row)
      .onConflict((conflict) => {
        const update = conflict.column('id').doUpdateSet(changes);
        return options.keepClosed ? update.where('sessions.state', '!=', 'closed') : update;
      })
      .execute();
  }

  /** The `executions` row of an execution, validated; large binary outputs written to blob files. */
  private async executionRow(stored: StoredExecution): Promise<Selectable<ExecutionsTable>> {
    const parsed = validate(storedExecutionSchema, stored, 'execution');
    const execution: Execution = parsed.execution;
    const { execution: compact, refs } = await externalizeBlobs(execution, {
      blobs: this.blobs,
      inlineBinaryMaxBytes: this.inlineBinaryMaxBytes,
    });
    return {
      id: execution.id,
      session_id: execution.sessionId,
      owner_key_id: parsed.ownerKeyId,
      execution_count: execution.executionCount,
      status: execution.status,
      code: parsed.code,
      execution: toJsonText(compact, 'execution'),
      blob_refs: toJsonText(refs, 'blob refs'),
      created_at: parsed.createdAt,
    };
  }

  /**
   * Inserts an execution row: `SESSION_NOT_FOUND` when its session is not stored,
   * `INVALID_ARGUMENT` when its id is.
   */
  private async writeExecutionRow(
    db: Kysely<DatabaseSchema>,
    row: Selectable<ExecutionsTable>,
  ): Promise<void> {
    try {
      await this.guard('store an execution', () => db.insertInto('executions').values(row).execute());
    } catch (error) {
      const code = error instanceof VivariumError ? error.details.sqliteCode : undefined;
      if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY')
        throw new VivariumError(
          'SESSION_NOT_FOUND',
          `Cannot store execution ${row.id}: session ${row.session_id} is not stored (upsertSession first)`,
          { details: { sessionId: row.session_id, executionId: row.id } },
        );
      if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw new VivariumError('INVALID_ARGUMENT', `Execution ${row.id} is already stored`, {
          details: { executionId: row.id },
        });
      throw error;
    }
  }

  /** The `audit` row of an entry, validated (`at` defaults to now). */
  private auditRow(
    entry: Omit<AuditEntry, 'id' | 'at'> & { at?: string },
    what = 'entry',
  ): Insertable<AuditTable> {
    const parsed = validate(auditInputSchema, entry, what);
    return {
      at: parsed.at ?? new Date().toISOString(),
      key_id: parsed.keyId,
      action: parsed.action,
      target: parsed.target,
      status: parsed.status,
      details: toJsonText(parsed.details, 'details'),
    };
  }

  private keyRecord(row: Selectable<ApiKeysTable>): ApiKeyRecord {
    return {
      id: row.id,
      name: row.name,
      admin: row.admin === 1,
      limits: parseJsonColumn(keyLimitsSchema, row.limits, `api_keys ${row.id} limits`),
      createdAt: row.created_at,
      revokedAt: row.revoked_at,
      lastUsedAt: row.last_used_at,
    };
  }

  private sessionFromRow(row: Selectable<SessionsTable>): StoredSession {
    const parsed = parseJsonColumn(sessionRecordSchema, row.record, `sessions ${row.id} record`);
    const { uid, ...workspace } = parsed.workspace;
    const record: SessionRecord = { ...parsed, workspace: { ...workspace, uid: uid ?? undefined } };
    const state = storedSessionSchema.shape.state.safeParse(row.state);
    if (!state.success)
      throw new VivariumError('INTERNAL', `Stored sessions ${row.id} state \`${row.state}\` is unknown`);
    return {
      id: row.id,
      ownerKeyId: row.owner_key_id,
      state: state.data,
      deathReason: row.death_reason,
      record,
      executionCount: row.execution_count,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      closedAt: row.closed_at,
    };
  }

  private async executionFromRow(
    row: Selectable<ExecutionsTable>,
    cache: Map<string, string | null>,
  ): Promise<StoredExecution> {
    const stored: Execution = parseJsonColumn(
      executionSchema,
      row.execution,
      `executions ${row.id} execution`,
    );
    const refs = parseJsonColumn(blobRefsSchema, row.blob_refs, `executions ${row.id} blob_refs`);
    const execution = await restoreBlobs(stored, refs, { blobs: this.blobs, cache });
    return { execution, code: row.code, ownerKeyId: row.owner_key_id, createdAt: row.created_at };
  }

  private auditFromRow(row: Selectable<AuditTable>): AuditEntry {
    return {
      id: row.id,
      at: row.at,
      keyId: row.key_id,
      action: row.action,
      target: row.target,
      status: row.status,
      details: parseJsonColumn(auditDetailsSchema, row.details, `audit ${row.id} details`),
    };
  }
}
