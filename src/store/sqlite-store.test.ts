import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { limitsSchema } from '../config/index.js';
import { isVivariumError } from '../errors/index.js';
import type { Execution } from '../kernel/index.js';
import {
  API_KEY_PATTERN,
  isBinaryMime,
  openSqliteStore,
  runMigrations,
  SCHEMA_VERSION,
  type SqliteStore,
  type StoredExecution,
  type StoredSession,
} from './index.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vivarium-store-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function openStore(
  dataDir?: string,
  options: { inlineBinaryMaxBytes?: number } = {},
): Promise<SqliteStore> {
  const store = await openSqliteStore({ dataDir: dataDir ?? (await tempDataDir()), ...options });
  cleanups.push(() => store.close());
  return store;
}

/** Opens the database file directly, next to the store, to look at raw rows. */
function rawDatabase(dataDir: string): Database.Database {
  const database = new Database(join(dataDir, 'vivarium.db'));
  cleanups.push(async () => {
    database.close();
    return Promise.resolve();
  });
  return database;
}

function session(overrides: Partial<StoredSession> = {}): StoredSession {
  const id = overrides.id ?? `ses_${randomBytes(6).toString('hex')}`;
  return {
    id,
    ownerKeyId: 'key_owner_a',
    state: 'idle',
    deathReason: null,
    record: {
      id,
      workspace: { dir: `/data/workspaces/ws_${id}`, uid: undefined, owned: true },
      limits: limitsSchema.parse({}),
      mode: 'read_only',
      preload: ['numpy'],
      env: { MPLBACKEND: 'Agg' },
      idleTimeoutMs: 600_000,
    },
    executionCount: 0,
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    closedAt: null,
    ...overrides,
  };
}

function execution(sessionId: string, count: number, overrides: Partial<Execution> = {}): Execution {
  return {
    id: `exe_${randomBytes(6).toString('hex')}`,
    sessionId,
    executionCount: count,
    status: 'ok',
    outputs: [
      { output_type: 'stream', name: 'stdout', text: 'hello\n' },
      { output_type: 'execute_result', execution_count: count, data: { 'text/plain': '2' }, metadata: {} },
    ],
    stdout: 'hello\n',
    stderr: '',
    truncated: { output: false, display: false, files: false },
    result: { 'text/plain': '2' },
    error: null,
    durationMs: 3.5,
    cpuMs: 1.25,
    peakMemoryBytes: 30_000_000,
    files: [{ path: 'out.csv', sizeBytes: 12, change: 'created' }],
    startedAt: new Date().toISOString(),
    reason: null,
    namespaceReset: false,
    ...overrides,
  };
}

function stored(exec: Execution, overrides: Partial<StoredExecution> = {}): StoredExecution {
  return {
    execution: exec,
    code: '1 + 1',
    ownerKeyId: 'key_owner_a',
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

/** A plot-sized output: `bytes` random bytes as base64 (about 4/3 as many characters). */
function pngBase64(bytes: number): string {
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(bytes)]).toString('base64');
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function expectVivariumError(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const error: unknown = await promise.then(
    () => new Error('expected a rejection'),
    (reason: unknown) => reason,
  );
  expect(isVivariumError(error), String(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  if (message) expect((error as Error).message).toMatch(message);
}

describe('opening', () => {
  it('creates vivarium.db (0600) in WAL mode with the schema, and blobs/', async () => {
    const dataDir = await tempDataDir();
    const store = await openStore(dataDir);
    await store.ping();
    const info = await stat(join(dataDir, 'vivarium.db'));
    expect(info.mode & 0o777).toBe(0o600);
    expect(existsSync(join(dataDir, 'blobs'))).toBe(true);
    const raw = rawDatabase(dataDir);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    const tables = raw
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((row) => (row as { name: string }).name);
    expect(tables).toEqual(
      expect.arrayContaining(['api_keys', 'audit', 'executions', 'health', 'schema_migrations', 'sessions']),
    );
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
  });

  it('reopens the same file with its data; migrations run once', async () => {
    const dataDir = await tempDataDir();
    const first = await openSqliteStore({ dataDir });
    const { key, record } = await first.createKey({ name: 'ci' });
    const ses = session();
    await first.upsertSession(ses);
    await first.insertExecution(stored(execution(ses.id, 1)));
    await first.close();

    const second = await openStore(dataDir);
    expect((await second.authenticate(key))?.id).toBe(record.id);
    expect(await second.getSession(ses.id)).toEqual(ses);
    expect(await second.listExecutions(ses.id)).toHaveLength(1);

    const raw = rawDatabase(dataDir);
    const versions = raw.prepare('SELECT version FROM schema_migrations ORDER BY version').all();
    expect(versions).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, index) => ({ version: index + 1 })));
    expect(runMigrations(raw, { path: 'raw' })).toEqual({ applied: [], version: SCHEMA_VERSION });
  });

  it('refuses a database written by a newer Vivarium, with a clear error', async () => {
    const dataDir = await tempDataDir();
    await (await openSqliteStore({ dataDir })).close();
    const raw = new Database(join(dataDir, 'vivarium.db'));
    raw.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')").run();
    raw.close();
    await expectVivariumError(
      openSqliteStore({ dataDir }),
      'INTERNAL',
      /schema version 99, newer than this Vivarium knows \(\d+\).*newer release/,
    );
  });

  it('refuses a file that is not a database, with a clear error, and leaves it alone', async () => {
    const dataDir = await tempDataDir();
    const garbage = Buffer.alloc(8192, 'this is not an sqlite database ');
    await writeFile(join(dataDir, 'vivarium.db'), garbage);
    await expectVivariumError(
      openSqliteStore({ dataDir }),
      'INTERNAL',
      /Cannot open the store at .*vivarium\.db: file is not a database.*backup/,
    );
    expect((await readFile(join(dataDir, 'vivarium.db'))).equals(garbage)).toBe(true);
  });

  it('says which path it cannot create', async () => {
    const blocker = join(await tempDataDir(), 'file');
    await writeFile(blocker, 'not a directory');
    await expectVivariumError(
      openSqliteStore({ dataDir: join(blocker, 'data') }),
      'INTERNAL',
      /Cannot open the store at .*file\/data\/vivarium\.db: .*ENOTDIR/,
    );
  });

  it('validates its options in the house message form', async () => {
    await expectVivariumError(
      openSqliteStore({ dataDir: await tempDataDir(), inlineBinaryMaxBytes: -1 }),
      'INVALID_ARGUMENT',
      /Expected `inlineBinaryMaxBytes` to be a number >= 0, got `-1` \(number\)/,
    );
    await expectVivariumError(
      openSqliteStore({ dataDir: await tempDataDir(), fileName: '../escape.db' }),
      'INVALID_ARGUMENT',
      /fileName/,
    );
  });

  it('close() is idempotent; calls after it fail clearly', async () => {
    const store = await openSqliteStore({ dataDir: await tempDataDir() });
    await Promise.all([store.close(), store.close()]);
    await store.close();
    await expectVivariumError(store.ping(), 'ENGINE_STOPPED', /closed/);
    await expectVivariumError(store.listKeys(), 'ENGINE_STOPPED');
  });

  it.each([
    ['process.exit(0)', 'process.exit(0);'],
    ['SIGKILL', "process.kill(process.pid, 'SIGKILL');"],
  ])(
    'keeps what a process wrote before it ended with %s, without close()',
    async (_name, ending) => {
      const dataDir = await tempDataDir();
      // The child runs the TypeScript source through Vite's module runner (what Vitest uses), so the
      // test needs no build. It writes, reports, and ends at once without closing the store.
      const script = `
        import { createServer, createServerModuleRunner } from 'vite';
        const server = await createServer({
          configFile: false, root: process.cwd(), logLevel: 'error', appType: 'custom',
          server: { middlewareMode: true, hmr: false, ws: false },
          optimizeDeps: { noDiscovery: true, include: [] },
        });
        const runner = createServerModuleRunner(server.environments.ssr, { hmr: false });
        const { openSqliteStore } = await runner.import('/src/store/index.ts');
        const store = await openSqliteStore({ dataDir: process.env.STORE_TEST_DATA_DIR });
        const { readFileSync } = await import('node:fs');
        const { session, execution } = JSON.parse(readFileSync(process.env.STORE_TEST_PAYLOAD, 'utf8'));
        await store.upsertSession(session);
        await store.insertExecution(execution);
        await store.audit({ keyId: null, action: 'execution.run', target: session.id, status: 'ok', details: {} });
        process.stdout.write('written\\n');
        ${ending}
      `;
      const ses = session();
      const exe = stored(execution(ses.id, 1, { result: { 'image/png': pngBase64(100_000) } }));
      const payload = join(await tempDataDir(), 'payload.json');
      await writeFile(payload, JSON.stringify({ session: ses, execution: exe }));
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          STORE_TEST_DATA_DIR: dataDir,
          STORE_TEST_PAYLOAD: payload,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      await new Promise<void>((resolveExit) => child.on('exit', () => resolveExit()));
      expect(stdout, stderr).toBe('written\n');

      const store = await openStore(dataDir);
      expect(await store.getSession(ses.id)).toEqual(ses);
      expect(await store.getExecution(exe.execution.id)).toEqual(exe);
      expect((await store.listAudit()).map((entry) => entry.target)).toEqual([ses.id]);
    },
    30_000,
  );
});

describe('keys', () => {
  it('creates a key shown once and authenticates with it; only the hash is stored', async () => {
    const dataDir = await tempDataDir();
    const store = await openStore(dataDir);
    const { key, record } = await store.createKey({ name: 'ci', limits: { maxExecutionsPerMinute: 60 } });
    expect(key).toMatch(API_KEY_PATTERN);
    expect(key).toHaveLength(3 + 43);
    expect(record).toEqual({
      id: expect.stringMatching(/^key_[0-9a-f]{24}$/),
      name: 'ci',
      admin: false,
      limits: { maxConcurrentSessions: null, maxExecutionsPerMinute: 60 },
      createdAt: expect.any(String),
      revokedAt: null,
      lastUsedAt: null,
    });

    const authenticated = await store.authenticate(key);
    expect(authenticated).toEqual({ ...record, lastUsedAt: expect.any(String) });

    const raw = rawDatabase(dataDir);
    const row = raw.prepare('SELECT token_hash FROM api_keys WHERE id = ?').get(record.id) as {
      token_hash: string;
    };
    expect(row.token_hash).toBe(sha256(key));
    for (const file of ['vivarium.db', 'vivarium.db-wal']) {
      const path = join(dataDir, file);
      if (existsSync(path)) expect((await readFile(path)).includes(key)).toBe(false);
    }
  });

  it('refuses wrong, malformed and revoked tokens', async () => {
    const store = await openStore();
    const { key, record } = await store.createKey({ name: 'a', admin: true });
    const other = `vv_${randomBytes(32).toString('base64url')}`;
    expect(await store.authenticate(other)).toBeNull();
    expect(await store.authenticate(`${key}x`)).toBeNull();
    expect(await store.authenticate(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'))).toBeNull();
    expect(await store.authenticate('')).toBeNull();
    expect(await store.authenticate(sha256(key))).toBeNull();
    expect((await store.authenticate(key))?.admin).toBe(true);

    expect(await store.revokeKey(record.id)).toBe(true);
    expect(await store.revokeKey(record.id)).toBe(false);
    expect(await store.revokeKey('key_unknown')).toBe(false);
    expect(await store.authenticate(key)).toBeNull();
    expect((await store.getKey(record.id))?.revokedAt).toEqual(expect.any(String));
    expect(await store.getKey('key_unknown')).toBeNull();
  });

  it('records use at most once a minute per key', async () => {
    const dataDir = await tempDataDir();
    const store = await openStore(dataDir);
    const { key, record } = await store.createKey({ name: 'a' });
    const first = await store.authenticate(key);
    const second = await store.authenticate(key);
    expect(second?.lastUsedAt).toBe(first?.lastUsedAt);

    const raw = rawDatabase(dataDir);
    const old = new Date(Date.now() - 120_000).toISOString();
    raw.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(old, record.id);
    const third = await store.authenticate(key);
    expect(third?.lastUsedAt).not.toBe(old);
    expect((await store.getKey(record.id))?.lastUsedAt).toBe(third?.lastUsedAt);
  });

  it('lists keys oldest first, never with a token or a hash', async () => {
    const store = await openStore();
    const a = await store.createKey({ name: 'a' });
    const b = await store.createKey({ name: 'b', admin: true });
    const keys = await store.listKeys();
    expect(keys.map((key) => key.name)).toEqual(['a', 'b']);
    const text = JSON.stringify(keys);
    for (const created of [a, b]) {
      expect(text).not.toContain(created.key);
      expect(text).not.toContain(sha256(created.key));
    }
    for (const key of keys) expect(Object.keys(key).sort()).toEqual(Object.keys(a.record).sort());
  });

  it('validates createKey input', async () => {
    const store = await openStore();
    await expectVivariumError(
      store.createKey({ name: '' }),
      'INVALID_ARGUMENT',
      /Expected `name` to be at least 1 long/,
    );
    await expectVivariumError(
      store.createKey({ name: 'x', limits: { maxConcurrentSessions: 0 } }),
      'INVALID_ARGUMENT',
      /maxConcurrentSessions/,
    );
  });
});

describe('sessions', () => {
  it('upserts and reads back the same session', async () => {
    const store = await openStore();
    const ses = session({
      record: { ...session().record, workspace: { dir: '/w', uid: 1234, owned: false } },
    });
    await store.upsertSession(ses);
    expect(await store.getSession(ses.id)).toEqual(ses);

    const updated: StoredSession = {
      ...ses,
      state: 'dead',
      deathReason: 'memory limit',
      executionCount: 3,
      updatedAt: new Date(Date.now() + 1000).toISOString(),
    };
    await store.upsertSession(updated);
    expect(await store.getSession(ses.id)).toEqual(updated);
    expect(await store.getSession('ses_unknown')).toBeNull();
    expect(await store.getSession('')).toBeNull();
    expect(await store.getSession('x'.repeat(10_000))).toBeNull();
  });

  it('reads a record written before execution modes as `workspace_write`', async () => {
    const dataDir = await tempDataDir();
    const store = await openStore(dataDir);
    const ses = session();
    await store.upsertSession(ses);
    const raw = rawDatabase(dataDir);
    const { mode: _mode, ...older } = ses.record;
    raw.prepare('UPDATE sessions SET record = ? WHERE id = ?').run(JSON.stringify(older), ses.id);
    expect((await store.getSession(ses.id))?.record.mode).toBe('workspace_write');
  });

  it('lists newest first, by owner, closed ones only when asked', async () => {
    const store = await openStore();
    const at = (seconds: number): string => new Date(Date.UTC(2030, 0, 1, 0, 0, seconds)).toISOString();
    const a1 = session({ ownerKeyId: 'key_a', createdAt: at(1) });
    const a2 = session({ ownerKeyId: 'key_a', createdAt: at(2), state: 'closed', closedAt: at(5) });
    const b1 = session({ ownerKeyId: 'key_b', createdAt: at(3) });
    const anonymous = session({ ownerKeyId: null, createdAt: at(4) });
    for (const ses of [a1, a2, b1, anonymous]) await store.upsertSession(ses);

    const ids = async (filter?: Parameters<SqliteStore['listSessions']>[0]): Promise<string[]> =>
      (await store.listSessions(filter)).map((ses) => ses.id);
    expect(await ids()).toEqual([anonymous.id, b1.id, a1.id]);
    expect(await ids({ includeClosed: true })).toEqual([anonymous.id, b1.id, a2.id, a1.id]);
    expect(await ids({ ownerKeyId: 'key_a' })).toEqual([a1.id]);
    expect(await ids({ ownerKeyId: 'key_a', includeClosed: true })).toEqual([a2.id, a1.id]);
    expect(await ids({ ownerKeyId: null })).toEqual([anonymous.id]);
    expect(await ids({ ownerKeyId: 'key_nobody' })).toEqual([]);
  });

  it('refuses an invalid session with the house message form', async () => {
    const store = await openStore();
    await expectVivariumError(
      store.upsertSession({ ...session(), state: 'sleeping' as StoredSession['state'] }),
      'INVALID_ARGUMENT',
      /Expected `state` to be one of "starting", "idle", "busy", "dead", "closed", got `sleeping` \(string\)/,
    );
  });
});

describe('executions', () => {
  it('stores executions in order and returns the most recent with a limit', async () => {
    const store = await openStore();
    const ses = session();
    await store.upsertSession(ses);
    const all: StoredExecution[] = [];
    for (let count = 1; count <= 5; count += 1) {
      const item = stored(execution(ses.id, count), {
        createdAt: new Date(Date.UTC(2030, 0, 1, 0, 0, count)).toISOString(),
      });
      all.push(item);
      await store.insertExecution(item);
    }
    expect(await store.listExecutions(ses.id)).toEqual(all);
    expect(await store.listExecutions(ses.id, { limit: 2 })).toEqual(all.slice(3));
    expect(await store.getExecution(all[2]!.execution.id)).toEqual(all[2]);
    expect(await store.getExecution('exe_unknown')).toBeNull();
    expect(await store.listExecutions('ses_unknown')).toEqual([]);
  });

  it('refuses an execution of an unknown session, and a duplicate id', async () => {
    const store = await openStore();
    await expectVivariumError(
      store.insertExecution(stored(execution('ses_nowhere', 1))),
      'SESSION_NOT_FOUND',
      /session ses_nowhere is not stored/,
    );
    const ses = session();
    await store.upsertSession(ses);
    const item = stored(execution(ses.id, 1));
    await store.insertExecution(item);
    await expectVivariumError(store.insertExecution(item), 'INVALID_ARGUMENT', /already stored/);
  });

  it('records an execution, its session row and the audit entry in one call', async () => {
    const store = await openStore();
    const ses = session();
    await store.upsertSession(ses);
    const item = stored(execution(ses.id, 1));
    const updated: StoredSession = { ...ses, executionCount: 1, updatedAt: new Date().toISOString() };
    await store.recordExecution({
      execution: item,
      session: updated,
      audit: {
        keyId: 'key_owner_a',
        action: 'execution.run',
        target: ses.id,
        status: 'ok',
        details: { n: 1 },
      },
    });
    expect(await store.getExecution(item.execution.id)).toEqual(item);
    expect(await store.getSession(ses.id)).toEqual(updated);
    expect(
      (await store.listAudit()).map(({ action, target, status, details }) => ({
        action,
        target,
        status,
        details,
      })),
    ).toEqual([{ action: 'execution.run', target: ses.id, status: 'ok', details: { n: 1 } }]);
  });

  it('writes none of the three when one fails (atomic)', async () => {
    const store = await openStore();
    const ses = session();
    await store.upsertSession(ses);
    const item = stored(execution(ses.id, 1));
    await store.insertExecution(item);
    const before = await store.getSession(ses.id);
    await expectVivariumError(
      store.recordExecution({
        execution: item,
        session: { ...ses, state: 'busy', executionCount: 7, updatedAt: new Date().toISOString() },
        audit: { keyId: null, action: 'execution.run', target: ses.id, status: 'ok', details: {} },
      }),
      'INVALID_ARGUMENT',
      /already stored/,
    );
    expect(await store.getSession(ses.id)).toEqual(before);
    expect(await store.listAudit()).toEqual([]);
    expect(await store.listExecutions(ses.id)).toEqual([item]);

    // A session that is not stored: SESSION_NOT_FOUND, and nothing written.
    await expectVivariumError(
      store.recordExecution({
        execution: stored(execution('ses_nowhere', 1)),
        audit: { keyId: null, action: 'execution.run', target: 'ses_nowhere', status: 'ok', details: {} },
      }),
      'SESSION_NOT_FOUND',
      /session ses_nowhere is not stored/,
    );
    expect(await store.listAudit()).toEqual([]);
    // A session row for another session is refused before anything is written.
    await expectVivariumError(
      store.recordExecution({ execution: stored(execution(ses.id, 2)), session: session() }),
      'INVALID_ARGUMENT',
      /session\.id/,
    );
    expect(await store.listExecutions(ses.id)).toEqual([item]);
  });

  it('does not reopen a session row stored closed', async () => {
    const store = await openStore();
    const closedAt = new Date().toISOString();
    const ses = session();
    await store.upsertSession({ ...ses, state: 'closed', closedAt, deathReason: 'closed through the API' });
    const item = stored(execution(ses.id, 1));
    await store.recordExecution({ execution: item, session: { ...ses, executionCount: 1 } });
    expect(await store.getExecution(item.execution.id)).toEqual(item);
    expect(await store.getSession(ses.id)).toMatchObject({ state: 'closed', closedAt, executionCount: 0 });
  });

  it('keeps a 1 MB image as a blob file and gives it back identical', async () => {
    const dataDir = await tempDataDir();
    const store = await openStore(dataDir);
    const ses = session();
    await store.upsertSession(ses);
    const png = pngBase64(768 * 1024);
    expect(png.length).toBeGreaterThan(1_000_000);
    const svg = `<svg xmlns="http://www.w3.org/2000/svg">${'<g/>'.repeat(20_000)}</svg>`;
    const exec = execution(ses.id, 1, {
      outputs: [
        { output_type: 'stream', name: 'stdout', text: 'plotting\n' },
        {
          output_type: 'display_data',
          data: { 'image/png': png, 'text/plain': '<Figure>', 'image/svg+xml': svg },
          metadata: { 'image/png': { width: 640, height: 480 } },
        },
        {
          output_type: 'execute_result',
          execution_count: 1,
          data: { 'image/png': png, 'text/plain': 'img' },
          metadata: {},
        },
      ],
      result: { 'image/png': png, 'text/plain': 'img' },
    });
    const item = stored(exec);
    await store.insertExecution(item);

    const blob = join(dataDir, 'blobs', `${sha256(png)}.b64`);
    expect(await readFile(blob, 'utf8')).toBe(png);
    expect((await stat(blob)).mode & 0o777).toBe(0o600);

    const raw = rawDatabase(dataDir);
    const row = raw
      .prepare('SELECT length(execution) AS size, execution, blob_refs FROM executions WHERE id = ?')
      .get(exec.id) as { size: number; execution: string; blob_refs: string };
    // The SVG (80 kB of text) stays inline; the PNG, three times over, is one blob.
    expect(row.size).toBeLessThan(svg.length + 10_000);
    expect(row.execution).toContain(`{"$blob":"${sha256(png)}","sizeBytes":${png.length}}`);
    expect(JSON.parse(row.blob_refs)).toHaveLength(3);

    expect(await store.getExecution(exec.id)).toEqual(item);
    expect(await store.listExecutions(ses.id)).toEqual([item]);
  });

  it('keeps small binary outputs inline', async () => {
    const dataDir = await tempDataDir();
    const store = await openStore(dataDir, { inlineBinaryMaxBytes: 1024 });
    const ses = session();
    await store.upsertSession(ses);
    const small = pngBase64(500);
    const item = stored(execution(ses.id, 1, { result: { 'image/png': small } }));
    await store.insertExecution(item);
    expect(await store.getExecution(item.execution.id)).toEqual(item);
    expect(existsSync(join(dataDir, 'blobs', `${sha256(small)}.b64`))).toBe(false);
  });

  it('reads an execution whose blob is gone: null value, flagged in metadata, no crash', async () => {
    const dataDir = await tempDataDir();
    const store = await openStore(dataDir);
    const ses = session();
    await store.upsertSession(ses);
    const png = pngBase64(100_000);
    const exec = execution(ses.id, 1, {
      outputs: [
        {
          output_type: 'display_data',
          data: { 'image/png': png, 'text/plain': '<Figure>' },
          metadata: { vivarium: { figure: 1 } },
        },
      ],
      result: { 'image/png': png },
    });
    await store.insertExecution(stored(exec));
    await rm(join(dataDir, 'blobs', `${sha256(png)}.b64`));

    const read = await store.getExecution(exec.id);
    expect(read?.execution.outputs[0]).toEqual({
      output_type: 'display_data',
      data: { 'image/png': null, 'text/plain': '<Figure>' },
      metadata: { vivarium: { figure: 1, missingBlob: sha256(png) } },
    });
    expect(read?.execution.result).toEqual({ 'image/png': null });
    expect(read?.execution.stdout).toBe(exec.stdout);
    expect(await store.listExecutions(ses.id)).toHaveLength(1);
  });

  it('treats a truncated blob file as missing', async () => {
    const dataDir = await tempDataDir();
    const store = await openStore(dataDir);
    const ses = session();
    await store.upsertSession(ses);
    const png = pngBase64(100_000);
    const exec = execution(ses.id, 1, { outputs: [], result: { 'image/png': png } });
    await store.insertExecution(stored(exec));
    await writeFile(join(dataDir, 'blobs', `${sha256(png)}.b64`), png.slice(0, 1000));
    expect((await store.getExecution(exec.id))?.execution.result).toEqual({ 'image/png': null });
  });

  it('returns a placeholder-shaped value made by a cell as it is, never another blob', async () => {
    const store = await openStore();
    const ses = session();
    await store.upsertSession(ses);
    const secret = pngBase64(100_000);
    await store.insertExecution(
      stored(execution(ses.id, 1, { outputs: [], result: { 'image/png': secret } })),
    );
    const forged = { $blob: sha256(secret), sizeBytes: secret.length };
    const item = stored(
      execution(ses.id, 2, {
        outputs: [{ output_type: 'display_data', data: { 'image/png': forged }, metadata: {} }],
        result: { 'image/jpeg': forged },
      }),
    );
    await store.insertExecution(item);
    expect(await store.getExecution(item.execution.id)).toEqual(item);
  });

  it('refuses an invalid execution with the house message form', async () => {
    const store = await openStore();
    const ses = session();
    await store.upsertSession(ses);
    await expectVivariumError(
      store.insertExecution(stored(execution(ses.id, 1, { durationMs: Number.NaN }))),
      'INVALID_ARGUMENT',
      /Expected `execution.durationMs` to be a number/,
    );
  });
});

describe('audit', () => {
  it('records entries and lists them newest first, by key, limited', async () => {
    const store = await openStore();
    await store.audit({
      keyId: 'key_a',
      action: 'session.create',
      target: 'ses_1',
      status: 'ok',
      details: {},
    });
    await store.audit({
      keyId: 'key_b',
      action: 'execution.run',
      target: 'ses_2',
      status: 'error',
      details: { executionId: 'exe_1', durationMs: 12 },
    });
    await store.audit({
      keyId: null,
      action: 'key.create',
      target: 'key_c',
      status: 'ok',
      details: { admin: true },
    });
    await store.audit({
      keyId: 'key_a',
      action: 'file.write',
      target: 'data.csv',
      status: 'FILE_TOO_LARGE',
      details: {},
      at: '2020-01-01T00:00:00+02:00',
    });

    const all = await store.listAudit();
    expect(all.map((entry) => entry.action)).toEqual([
      'key.create',
      'execution.run',
      'session.create',
      'file.write',
    ]);
    expect(all[1]).toEqual({
      id: expect.any(Number),
      at: expect.any(String),
      keyId: 'key_b',
      action: 'execution.run',
      target: 'ses_2',
      status: 'error',
      details: { executionId: 'exe_1', durationMs: 12 },
    });
    expect(all[3]?.at).toBe('2019-12-31T22:00:00.000Z');
    expect((await store.listAudit({ keyId: 'key_a' })).map((entry) => entry.target)).toEqual([
      'ses_1',
      'data.csv',
    ]);
    expect(await store.listAudit({ limit: 2 })).toEqual(all.slice(0, 2));
    await expectVivariumError(store.listAudit({ limit: 0 }), 'INVALID_ARGUMENT', /limit/);
  });
});

describe('isBinaryMime', () => {
  it('knows which MIME values are base64 of binary data', () => {
    for (const mime of ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'IMAGE/PNG'])
      expect(isBinaryMime(mime), mime).toBe(true);
    for (const mime of ['image/svg+xml', 'text/html', 'text/plain', 'application/json', 'text/latex'])
      expect(isBinaryMime(mime), mime).toBe(false);
  });
});
