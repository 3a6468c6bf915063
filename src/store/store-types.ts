import type { Execution } from '../kernel/index.js';
import type { TaskStore } from '../pipeline/task-contracts.js';
import type { SessionRecord } from '../session/index.js';

/** Per-key limits; null means the service default. */
export interface KeyLimits {
  /** Sessions the key may have open at once. */
  maxConcurrentSessions: number | null;
  /** Executions the key may start per minute (429 with Retry-After past it). */
  maxExecutionsPerMinute: number | null;
}

/** An API key as stored: never the key itself, only its hash. */
export interface ApiKeyRecord {
  /** Public id (`key_…`), safe to show and log. */
  id: string;
  name: string;
  admin: boolean;
  limits: KeyLimits;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** A session as stored: who owns it, its state, and what is needed to restore it. */
export interface StoredSession {
  id: string;
  /** The owning key's id; null when auth is disabled (loopback dev use). */
  ownerKeyId: string | null;
  state: 'starting' | 'idle' | 'busy' | 'dead' | 'closed';
  deathReason: string | null;
  /** Everything `Vivarium.restoreSession` needs. */
  record: SessionRecord;
  executionCount: number;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
}

/** One stored execution: the code and the full Execution, large binary outputs kept as files beside the database. */
export interface StoredExecution {
  execution: Execution;
  code: string;
  ownerKeyId: string | null;
  createdAt: string;
}

/** One audit entry: who did what, when, with what result. */
export interface AuditEntry {
  id: number;
  at: string;
  keyId: string | null;
  /** `session.create`, `execution.run`, `file.write`, `key.create`, … */
  action: string;
  /** The object acted on (session id, file path, key id). */
  target: string | null;
  /** `ok`, an execution status, or an error code. */
  status: string;
  details: Record<string, unknown>;
}

/**
 * Persistence of keys, sessions, executions and the audit log. SQLite (Kysely on better-sqlite3)
 * by default; the interface is what the service uses, so another backend can stand in.
 * Every write is durable when its promise resolves: an execution is stored before its response is sent.
 */
export interface Store extends TaskStore {
  createKey(input: {
    name: string;
    admin?: boolean;
    limits?: Partial<KeyLimits>;
  }): Promise<{ key: string; record: ApiKeyRecord }>;
  /** The key a bearer token belongs to (constant-time hash comparison), or null if unknown or revoked. */
  authenticate(token: string): Promise<ApiKeyRecord | null>;
  /** Every key, revoked ones included, oldest first. Never a key or its hash. */
  listKeys(): Promise<ApiKeyRecord[]>;
  getKey(id: string): Promise<ApiKeyRecord | null>;
  /** True when a key was revoked now; false when unknown or already revoked. */
  revokeKey(id: string): Promise<boolean>;

  upsertSession(session: StoredSession): Promise<void>;
  getSession(id: string): Promise<StoredSession | null>;
  /** Sessions, newest first; `ownerKeyId` undefined = all owners; closed ones only with `includeClosed`. */
  listSessions(filter?: { ownerKeyId?: string | null; includeClosed?: boolean }): Promise<StoredSession[]>;

  /**
   * Stores an execution (durably when it resolves). Its session must be stored first
   * (`SESSION_NOT_FOUND` otherwise); an execution id stored already is `INVALID_ARGUMENT`.
   */
  insertExecution(execution: StoredExecution): Promise<void>;
  /**
   * Stores an execution, upserts its session's row (`session.id` must be the execution's session)
   * and appends the audit entry in one transaction: all three are durable when it resolves, or none
   * is written. Same checks and errors as `insertExecution`, `upsertSession` and `audit`; a session
   * row already closed is not reopened by it.
   */
  recordExecution(input: {
    execution: StoredExecution;
    session?: StoredSession;
    audit?: Omit<AuditEntry, 'id' | 'at'> & { at?: string };
  }): Promise<void>;
  /** A session's executions in order (oldest first), `limit` most recent. */
  listExecutions(sessionId: string, options?: { limit?: number }): Promise<StoredExecution[]>;
  getExecution(id: string): Promise<StoredExecution | null>;

  audit(entry: Omit<AuditEntry, 'id' | 'at'> & { at?: string }): Promise<void>;
  /** Audit entries, newest first; `limit` defaults to 1000. */
  listAudit(filter?: { keyId?: string; limit?: number }): Promise<AuditEntry[]>;

  /** A cheap write+read round trip, for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
