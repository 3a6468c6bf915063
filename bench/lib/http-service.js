/**
 * The HTTP service under test, run as a child process of the bench (`fork`), so the service has
 * its own event loop and its own CPU account, as `vivarium serve` would: the bench process is only
 * the HTTP client. The parent drives it over the IPC channel:
 *
 *   { cmd: 'start', auth, poolSize }      → { url, key }   startService on 127.0.0.1, port 0
 *   { cmd: 'waitPool' }                   → pool stats      pool full, nothing starting
 *   { cmd: 'inProcess', sessionId, warmup, samples } → samples of `session.execute('1+1')` here
 *   { cmd: 'inProcessLoop', sessionIds, loopsPerSession, seconds } → executions/s, same sessions
 *   { cmd: 'mark' }                       → counters now (CPU, event-loop use, hook totals)
 *   { cmd: 'profileStart', intervalUs } / { cmd: 'profileStop' } → main-thread ms by category
 *   { cmd: 'setSynchronous', mode }       → what-if: the store's `synchronous` pragma (FULL, NORMAL)
 *   { cmd: 'commitProbe', count }         → ms of bare fsync'd SQLite commits on the same disk
 *   { cmd: 'stop' }                       → the service stopped, data directory removed; exits
 *
 * Bench-only hooks (measurement only, nothing in `src/` changes): synchronous time inside
 * better-sqlite3 statements (the store; commits fsync the WAL, `synchronous = FULL`), inside
 * `ExecutionRateLimiter.take`, and in `Session.execute` (the engine's part of a request).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Session as InspectorSession } from 'node:inspector/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { loadConfig } from '../../dist/config/index.js';
import { createServiceLogger, ExecutionRateLimiter, startService } from '../../dist/server/index.js';
import { Session } from '../../dist/session/index.js';

let probing = false;
const totals = {
  sqliteMs: 0,
  sqliteStatements: 0,
  limiterMs: 0,
  limiterCalls: 0,
  engineMs: 0,
  engineCalls: 0,
  logLines: 0,
  limiterWindowEntries: 0,
  connections: 0,
  sqliteByKind: {},
};

/** `insert executions`, `select api_keys`, … from a statement's SQL. */
function statementKind(source) {
  const text = String(source ?? '').trim();
  const verb = (/^\w+/.exec(text)?.[0] ?? '?').toLowerCase();
  const table = /(?:from|into|update)\s+"?(\w+)"?/i.exec(text)?.[1] ?? '?';
  return `${verb} ${table}`;
}

// Every Statement of better-sqlite3 shares one native prototype: take it from a throwaway one.
{
  const scratch = new Database(':memory:');
  const statementProto = Object.getPrototypeOf(scratch.prepare('select 1'));
  for (const name of ['run', 'get', 'all', 'iterate']) {
    const original = statementProto[name];
    statementProto[name] = function timed(...args) {
      const startedAt = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const ms = probing ? 0 : performance.now() - startedAt;
        totals.sqliteMs += ms;
        if (!probing) totals.sqliteStatements += 1;
        const kind = statementKind(this.source);
        totals.sqliteByKind[kind] = (totals.sqliteByKind[kind] ?? 0) + ms;
      }
    };
  }
  scratch.close();
}
{
  const original = ExecutionRateLimiter.prototype.take;
  ExecutionRateLimiter.prototype.take = function take(bucket, ...rest) {
    const startedAt = performance.now();
    try {
      return original.call(this, bucket, ...rest);
    } finally {
      totals.limiterMs += performance.now() - startedAt;
      totals.limiterCalls += 1;
      // Timestamps the limiter keeps (and filters on every take) for this key's rolling minute.
      totals.limiterWindowEntries = this.starts?.get(bucket)?.length ?? NaN;
    }
  };
}
{
  const original = Session.prototype.execute;
  Session.prototype.execute = function execute(...args) {
    const startedAt = performance.now();
    const promise = original.apply(this, args);
    const count = () => {
      totals.engineMs += performance.now() - startedAt;
      totals.engineCalls += 1;
    };
    promise.then(count, count);
    return promise;
  };
}

let service = null;
let dataDir = null;
function mark() {
  const cpu = process.cpuUsage();
  const now = performance.eventLoopUtilization();
  return {
    atMs: performance.now(),
    cpuMs: (cpu.user + cpu.system) / 1000,
    eluActiveMs: now.active,
    eluIdleMs: now.idle,
    ...totals,
    sqliteByKind: { ...totals.sqliteByKind },
  };
}

async function waitPool(timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = service.vv.poolStats();
    if (stats.ready >= stats.size && stats.starting === 0) return stats;
    if (Date.now() > deadline) throw new Error(`pool did not fill: ${JSON.stringify(stats)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function start({ auth, poolSize }) {
  dataDir = await mkdtemp(join(tmpdir(), 'vivarium-bench-http-'));
  const generous = { maxExecutionsPerMinute: 10_000_000, maxConcurrentSessions: 100 };
  const config = loadConfig({
    env: {},
    cwd: dataDir,
    overrides: { dataDir, pool: { size: poolSize }, server: { defaultKeyLimits: generous } },
  });
  // As `vivarium serve` logs (pino, level info, a line per request and per response), into a sink.
  const logger = createServiceLogger({
    level: 'info',
    destination: {
      write() {
        totals.logLines += 1;
      },
    },
  });
  service = await startService({ config, host: '127.0.0.1', port: 0, logger, noAuth: !auth });
  service.app.server.on('connection', () => {
    totals.connections += 1;
  });
  let key = null;
  if (auth) key = (await service.store.createKey({ name: 'bench', limits: generous })).key;
  await waitPool();
  return { url: service.url, key };
}

async function inProcess({ sessionId, warmup, samples }) {
  const session = service.vv.getSession(sessionId);
  for (let index = 0; index < warmup; index += 1) await session.execute('1+1');
  const times = [];
  const before = mark();
  for (let index = 0; index < samples; index += 1) {
    const startedAt = performance.now();
    const execution = await session.execute('1+1');
    times.push(performance.now() - startedAt);
    if (execution.status !== 'ok') throw new Error(`1+1: ${execution.status}`);
  }
  return { samples: times, before, after: mark() };
}

async function inProcessLoop({ sessionIds, loopsPerSession, seconds }) {
  const sessions = sessionIds.map((id) => service.vv.getSession(id));
  const before = mark();
  const deadline = performance.now() + seconds * 1000;
  let kernelCpuMs = 0;
  const counts = await Promise.all(
    sessions.flatMap((session) =>
      Array.from({ length: loopsPerSession }, async () => {
        let count = 0;
        while (performance.now() < deadline) {
          const execution = await session.execute('1+1');
          if (execution.status !== 'ok') throw new Error(`1+1: ${execution.status}`);
          kernelCpuMs += execution.cpuMs ?? 0;
          count += 1;
        }
        return count;
      }),
    ),
  );
  const after = mark();
  return { counts, kernelCpuMs, before, after };
}

let inspector = null;

/** Starts V8's sampling profiler on this (the service's) main thread. */
async function profileStart({ intervalUs }) {
  inspector = new InspectorSession();
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await inspector.post('Profiler.start');
  return mark();
}

/** Where a profile frame's time is counted; null: count it where its caller is. */
function frameCategory({ url, functionName }) {
  if (!url) {
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(garbage collector)') return 'garbage collection';
    if (functionName === '(program)' || functionName === '(root)') return 'V8 / native, unattributed';
    return null; // a builtin (JSON.parse, a native binding): its caller's
  }
  if (url.includes('/bench/lib/http-service.js'))
    return functionName === 'timed' ? 'SQLite statements (better-sqlite3 native, fsync included)' : null;
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const [scope, name] = url.slice(modules + '/node_modules/'.length).split('/');
    return scope.startsWith('@') ? `${scope}/${name}` : scope;
  }
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0)
    return `vivarium ${url
      .slice(dist + '/dist/'.length)
      .split('/')[0]
      .replace(/\.js$/, '')}`;
  if (url.startsWith('node:')) {
    const module = url
      .slice('node:'.length)
      .replace(/^internal\//, '')
      .split('/')[0]
      .replace(/\.js$/, '');
    return `node ${module}`;
  }
  return 'other';
}

/** Main-thread ms per category: each sample goes to its deepest frame that has a category. */
function categorize(profile) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const cache = new Map();
  const categoryOf = (id) => {
    if (cache.has(id)) return cache.get(id);
    let current = id;
    let found = null;
    while (current !== undefined && found === null) {
      found = frameCategory(nodes.get(current).callFrame);
      current = parent.get(current);
    }
    // Node's own modules are named with the first library or engine module above them.
    let caller = null;
    while (found?.startsWith('node ') && current !== undefined && caller === null) {
      const above = frameCategory(nodes.get(current).callFrame);
      if (above !== null && !above.startsWith('node ')) caller = above;
      current = parent.get(current);
    }
    const result = caller ? `${found} ← ${caller}` : (found ?? 'V8 / native, unattributed');
    cache.set(id, result);
    return result;
  };
  const ms = {};
  const { samples, timeDeltas } = profile;
  for (let index = 0; index < samples.length; index += 1) {
    // A sample's time is the gap to the next one.
    const deltaUs = timeDeltas[index + 1] ?? timeDeltas[index] ?? 0;
    const category = categoryOf(samples[index]);
    ms[category] = (ms[category] ?? 0) + deltaUs / 1000;
  }
  return ms;
}

async function profileStop() {
  const { profile } = await inspector.post('Profiler.stop');
  await inspector.post('Profiler.disable');
  inspector.disconnect();
  inspector = null;
  return { categoriesMs: categorize(profile), after: mark() };
}

/**
 * A bare SQLite commit on the store's file system, as the store makes them (WAL,
 * `synchronous = FULL`): what one fsync'd transaction costs on this disk right now.
 */
async function commitProbe({ count }) {
  // The probe's statements are not the service's: the statement hook skips them.
  probing = true;
  const database = new Database(join(dataDir, 'bench-commit-probe.sqlite'));
  try {
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = FULL');
    database.exec('create table if not exists probe (value text)');
    const insert = database.prepare('insert into probe (value) values (?)');
    const samples = [];
    for (let index = 0; index < count; index += 1) {
      const startedAt = performance.now();
      insert.run('x'.repeat(512));
      samples.push(performance.now() - startedAt);
    }
    return samples;
  } finally {
    database.close();
    probing = false;
  }
}

async function stop() {
  try {
    await service?.stop();
  } finally {
    if (dataDir) await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
  }
}

const handlers = {
  start,
  waitPool: () => waitPool(),
  inProcess,
  inProcessLoop,
  mark: async () => mark(),
  profileStart,
  profileStop,
  commitProbe,
  // What-if (bench-only): the store's `synchronous` pragma; the service sets FULL.
  setSynchronous: async ({ mode }) => {
    service.store.database.pragma(`synchronous = ${mode === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
    return service.store.database.pragma('synchronous', { simple: true });
  },
  stop,
};

process.on('message', async (message) => {
  const { id, cmd } = message;
  try {
    const handler = handlers[cmd];
    if (!handler) throw new Error(`unknown command ${cmd}`);
    const result = await handler(message);
    process.send({ id, ok: true, result });
    if (cmd === 'stop') process.disconnect();
  } catch (error) {
    process.send({ id, ok: false, error: String(error?.stack ?? error) });
  }
});

process.on('disconnect', () => {
  // The parent went away: stop whatever is running and leave.
  void stop().finally(() => process.exit(0));
});

process.send({ ready: true });
