import type BetterSqlite3 from 'better-sqlite3';
import { VivariumError } from '../errors/index.js';

/** One schema step. Applied in its own immediate transaction; never edited once released. */
export interface Migration {
  /** 1, 2, 3, … in order, without gaps. */
  version: number;
  /** A short description, recorded with the version. */
  name: string;
  /** The DDL. Runs inside the migration's transaction. */
  up: string;
}

/** Every migration this build knows, oldest first. Append; never change a released one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'keys, sessions, executions, audit, health',
    up: `
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        admin INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
        limits TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        last_used_at TEXT
      );

      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        owner_key_id TEXT,
        state TEXT NOT NULL,
        death_reason TEXT,
        record TEXT NOT NULL,
        execution_count INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        closed_at TEXT
      );
      CREATE INDEX sessions_owner ON sessions (owner_key_id, created_at);
      CREATE INDEX sessions_created ON sessions (created_at);

      CREATE TABLE executions (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        owner_key_id TEXT,
        execution_count INTEGER NOT NULL,
        status TEXT NOT NULL,
        code TEXT NOT NULL,
        execution TEXT NOT NULL,
        blob_refs TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL
      );
      CREATE INDEX executions_session ON executions (session_id, created_at);

      CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        key_id TEXT,
        action TEXT NOT NULL,
        target TEXT,
        status TEXT NOT NULL,
        details TEXT NOT NULL
      );
      CREATE INDEX audit_key ON audit (key_id, at);
      CREATE INDEX audit_at ON audit (at);

      CREATE TABLE health (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        checked_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'tasks, task events, model calls, approvals',
    up: `
      CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        owner_key_id TEXT,
        state TEXT NOT NULL,
        session_id TEXT,
        task TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX tasks_owner ON tasks (owner_key_id, created_at);
      CREATE INDEX tasks_state ON tasks (state, created_at);

      CREATE TABLE task_events (
        task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        event TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (task_id, seq)
      );

      CREATE TABLE model_calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        purpose TEXT NOT NULL,
        call TEXT NOT NULL,
        started_at TEXT NOT NULL
      );
      CREATE INDEX model_calls_task ON model_calls (task_id, id);

      CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        owner_key_id TEXT,
        state TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        approval TEXT NOT NULL,
        requested_at TEXT NOT NULL
      );
      CREATE INDEX approvals_state ON approvals (state, requested_at);
      CREATE INDEX approvals_task ON approvals (task_id);
    `,
  },
];

/** The schema version this build writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** What {@link runMigrations} did. */
export interface MigrationResult {
  /** Versions applied by this call (empty when the schema was current). */
  applied: number[];
  /** The schema version after the call. */
  version: number;
}

/**
 * Brings the database to {@link SCHEMA_VERSION}. Idempotent: a current database is left alone.
 * Each step runs in a `BEGIN IMMEDIATE` transaction that re-reads the version, so two processes
 * opening the same file at once (the service and `vivarium keys create`) apply each step once.
 * A database written by a newer Vivarium is refused with a clear error, never downgraded.
 */
export function runMigrations(
  database: BetterSqlite3.Database,
  options: { path: string; migrations?: readonly Migration[] },
): MigrationResult {
  const migrations = options.migrations ?? MIGRATIONS;
  const known = migrations.length;
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1)
      throw new VivariumError('INTERNAL', `Migration ${index + 1} is numbered ${migration.version}`);
  });
  database.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const currentVersion = (): number => {
    const row = database.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as
      { version: number | null } | undefined;
    return row?.version ?? 0;
  };
  const refuseNewer = (version: number): never => {
    throw new VivariumError(
      'INTERNAL',
      `The store at ${options.path} has schema version ${version}, newer than this Vivarium knows (${known}): ` +
        'it was written by a newer release. Run that release, or restore a backup made with this one.',
      { details: { path: options.path, schemaVersion: version, knownSchemaVersion: known } },
    );
  };
  const applied: number[] = [];
  const before = currentVersion();
  if (before > known) refuseNewer(before);
  for (const migration of migrations.slice(before)) {
    database
      .transaction(() => {
        const version = currentVersion();
        if (version > known) refuseNewer(version);
        if (version >= migration.version) return;
        database.exec(migration.up);
        database
          .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
          .run(migration.version, migration.name, new Date().toISOString());
        applied.push(migration.version);
      })
      .immediate();
  }
  return { applied, version: currentVersion() };
}
