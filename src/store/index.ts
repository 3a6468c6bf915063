export type {
  KeyLimits,
  ApiKeyRecord,
  StoredSession,
  StoredExecution,
  AuditEntry,
  Store,
} from './store-types.js';
export {
  openSqliteStore,
  SqliteStore,
  DEFAULT_STORE_FILE_NAME,
  DEFAULT_INLINE_BINARY_MAX_BYTES,
  DEFAULT_BUSY_TIMEOUT_MS,
  LAST_USED_UPDATE_INTERVAL_MS,
  DEFAULT_AUDIT_LIST_LIMIT,
  MAX_LIST_LIMIT,
  BLOB_DIR_NAME,
} from './sqlite-store.js';
export type { SqliteStoreOptions } from './sqlite-store.js';
export { MIGRATIONS, SCHEMA_VERSION, runMigrations } from './migrations.js';
export type { Migration, MigrationResult } from './migrations.js';
export { BlobStore, STALE_BLOB_TEMP_MS } from './blob-store.js';
export type { BlobStoreOptions, BlobInfo } from './blob-store.js';
export { isBinaryMime, BLOB_PLACEHOLDER_KEY } from './execution-blobs.js';
export { API_KEY_PREFIX, API_KEY_PATTERN, generateApiKey, hashApiKey } from './key-hash.js';
