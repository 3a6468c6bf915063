/**
 * Figure 6: the HTTP service. `1+1` over real loopback HTTP (keep-alive connections) against a live
 * session, beside `session.execute('1+1')` on the same session inside the service's process; and
 * sustained executions per second from concurrent HTTP clients over several sessions, beside the
 * same loops in process.
 *
 * The service runs in a child process (`bench/lib/http-service.js`, `startService` on 127.0.0.1,
 * port 0, default pool and preload), as `vivarium serve` would; this process is only the client.
 * Two services run side by side: one with API keys (the default), one with `noAuth`.
 */
import { execFileSync, fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { summarize } from '../lib/stats.js';

const CHILD = fileURLToPath(new URL('../lib/http-service.js', import.meta.url));

/** The service child, driven over IPC. */
class ServiceChild {
  constructor(label) {
    this.label = label;
    this.pending = new Map();
    this.nextId = 1;
    this.child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', (code) => reject(new Error(`${label} service child exited with ${code}`)));
      this.child.on('message', (message) => {
        if (message.ready) {
          resolve();
          return;
        }
        const waiter = this.pending.get(message.id);
        if (!waiter) return;
        this.pending.delete(message.id);
        if (message.ok) waiter.resolve(message.result);
        else waiter.reject(new Error(`${label} service: ${message.error}`));
      });
    });
    this.child.on('exit', (code) => {
      for (const waiter of this.pending.values())
        waiter.reject(new Error(`${label} service child exited with ${code}`));
      this.pending.clear();
    });
  }

  async call(cmd, args = {}) {
    await this.ready;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, cmd, ...args });
    });
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    try {
      await Promise.race([this.call('stop'), exited]);
    } catch {
      // reported by the caller's own error, if any
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Two HTTP clients: `fetch` (undici; the SDK's transport) and `node:http` with a keep-alive Agent. */
function fetchClient(base, key) {
  const headers = { 'content-type': 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  return async (path, body) => {
    const response = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text) };
  };
}

function nodeHttpClient(base, key) {
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const client = (path, body) =>
    new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const request = http.request(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path,
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            ...(key ? { authorization: `Bearer ${key}` } : {}),
          },
        },
        (response) => {
          const chunks = [];
          response.on('data', (chunk) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode,
              body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
            }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  client.close = () => agent.destroy();
  return client;
}

function checkExecution(response, what) {
  if (response.status !== 200 || response.body?.status !== 'ok') {
    throw new Error(`${what}: HTTP ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`);
  }
  return response.body;
}

async function createSessions(client, count) {
  const ids = [];
  for (let index = 0; index < count; index += 1) {
    const response = await client('/v1/sessions', { idleTimeoutMs: 0 });
    if (response.status !== 201)
      throw new Error(`POST /v1/sessions: HTTP ${response.status} ${JSON.stringify(response.body)}`);
    ids.push(response.body.id);
  }
  return ids;
}

const cpuNowMs = () => {
  const cpu = process.cpuUsage();
  return (cpu.user + cpu.system) / 1000;
};

/** Per-request figures from the service's counters before/after and the client's CPU. */
function perRequest(before, after, count, clientCpuMs) {
  const d = (name) => after[name] - before[name];
  const wallMs = after.atMs - before.atMs;
  const eluActive = d('eluActiveMs');
  const eluIdle = d('eluIdleMs');
  return {
    requests: count,
    serverCpuMs: d('cpuMs') / count,
    serverCpuPercent: (d('cpuMs') / wallMs) * 100,
    serverLoopUtilization: eluActive + eluIdle > 0 ? eluActive / (eluActive + eluIdle) : NaN,
    clientCpuMs: clientCpuMs / count,
    sqliteMs: d('sqliteMs') / count,
    sqliteStatements: d('sqliteStatements') / count,
    limiterMs: d('limiterCalls') > 0 ? d('limiterMs') / d('limiterCalls') : 0,
    limiterWindowEntries: after.limiterWindowEntries,
    engineMs: d('engineCalls') > 0 ? d('engineMs') / d('engineCalls') : NaN,
    logLines: d('logLines') / count,
    connections: d('connections'),
    sqliteByKind: Object.fromEntries(
      Object.keys(after.sqliteByKind).map((kind) => [
        kind,
        (after.sqliteByKind[kind] - (before.sqliteByKind[kind] ?? 0)) / count,
      ]),
    ),
  };
}

/** One block of timed sequential HTTP round trips. */
async function httpBlock(service, client, path, count) {
  const samples = [];
  const before = await service.call('mark');
  const cpuBefore = cpuNowMs();
  for (let index = 0; index < count; index += 1) {
    const startedAt = performance.now();
    const response = await client(path, { code: '1+1' });
    samples.push(performance.now() - startedAt);
    checkExecution(response, '1+1 over HTTP');
  }
  const clientCpuMs = cpuNowMs() - cpuBefore;
  const after = await service.call('mark');
  return { samples, parts: perRequest(before, after, count, clientCpuMs) };
}

/** Averages per-request parts of several blocks, weighted by their request counts. */
function mergeParts(list) {
  const total = list.reduce((sum, parts) => sum + parts.requests, 0);
  const out = { requests: total };
  for (const key of Object.keys(list[0])) {
    if (key === 'requests') continue;
    if (key === 'sqliteByKind') {
      out[key] = {};
      for (const kind of new Set(list.flatMap((parts) => Object.keys(parts.sqliteByKind))))
        out[key][kind] =
          list.reduce((sum, parts) => sum + (parts.sqliteByKind[kind] ?? 0) * parts.requests, 0) / total;
    } else if (key === 'connections') out[key] = list.reduce((sum, parts) => sum + parts[key], 0);
    else if (key === 'limiterWindowEntries') out[key] = Math.max(...list.map((parts) => parts[key]));
    else out[key] = list.reduce((sum, parts) => sum + parts[key] * parts.requests, 0) / total;
  }
  return out;
}

async function roundTrips(config, log, services) {
  const { auth, open } = services;
  const per = config.httpRoundtripSamples;
  const blocks = 4;
  const perBlock = Math.ceil(per / blocks);
  const arms = {
    fetchAuth: { samples: [], parts: [], blockMedians: [] },
    inProcess: { samples: [], cpuMs: 0, blockMedians: [] },
    fetchNoAuth: { samples: [], parts: [], blockMedians: [] },
    nodeHttpAuth: { samples: [], parts: [], blockMedians: [] },
  };
  const path = (id) => `/v1/sessions/${id}/executions`;
  const runArm = async (name, warmup, count) => {
    if (name === 'inProcess') {
      const result = await auth.service.call('inProcess', {
        sessionId: auth.sessions[0],
        warmup,
        samples: count,
      });
      if (count === 0) return;
      arms.inProcess.samples.push(...result.samples);
      arms.inProcess.cpuMs += result.after.cpuMs - result.before.cpuMs;
      arms.inProcess.blockMedians.push(summarize(result.samples).median);
      return;
    }
    const target = name === 'fetchNoAuth' ? open : auth;
    const client = name === 'nodeHttpAuth' ? auth.nodeHttp : target.fetch;
    if (warmup > 0) await httpBlock(target.service, client, path(target.sessions[0]), warmup);
    if (count === 0) return;
    const block = await httpBlock(target.service, client, path(target.sessions[0]), count);
    arms[name].samples.push(...block.samples);
    arms[name].parts.push(block.parts);
    arms[name].blockMedians.push(summarize(block.samples).median);
  };
  log(`http: round trips, ${blocks} alternating blocks of ${perBlock} per arm`);
  for (const name of Object.keys(arms)) await runArm(name, config.roundtripWarmup, 0);
  const order = Object.keys(arms);
  for (let block = 0; block < blocks; block += 1) {
    // Rotate the order so no arm always follows the same one.
    for (let index = 0; index < order.length; index += 1) {
      await runArm(order[(index + block) % order.length], 10, perBlock);
    }
  }
  const stat = (arm) => ({ ...summarize(arm.samples), blockMedians: arm.blockMedians });
  return {
    fetchAuth: { ...stat(arms.fetchAuth), parts: mergeParts(arms.fetchAuth.parts) },
    fetchNoAuth: { ...stat(arms.fetchNoAuth), parts: mergeParts(arms.fetchNoAuth.parts) },
    nodeHttpAuth: { ...stat(arms.nodeHttpAuth), parts: mergeParts(arms.nodeHttpAuth.parts) },
    inProcess: {
      ...stat(arms.inProcess),
      serverCpuMs: arms.inProcess.cpuMs / arms.inProcess.samples.length,
    },
  };
}

/** `clients` loops for `seconds`, client i on session i mod sessions; each posts `1+1` back to back. */
async function httpLoad(target, clientKind, clients, seconds) {
  const client = clientKind === 'nodeHttp' ? target.nodeHttp : target.fetch;
  const before = await target.service.call('mark');
  const cpuBefore = cpuNowMs();
  const startedAt = performance.now();
  const deadline = startedAt + seconds * 1000;
  const latencies = [];
  let kernelCpuMs = 0;
  const counts = await Promise.all(
    Array.from({ length: clients }, async (_, index) => {
      const path = `/v1/sessions/${target.sessions[index % target.sessions.length]}/executions`;
      let count = 0;
      while (performance.now() < deadline) {
        const sentAt = performance.now();
        const response = await client(path, { code: '1+1' });
        latencies.push(performance.now() - sentAt);
        kernelCpuMs += checkExecution(response, '1+1 under load').cpuMs ?? 0;
        count += 1;
      }
      return count;
    }),
  );
  const elapsedMs = performance.now() - startedAt;
  const clientCpuMs = cpuNowMs() - cpuBefore;
  const after = await target.service.call('mark');
  const total = counts.reduce((sum, count) => sum + count, 0);
  return {
    clients,
    sessions: target.sessions.length,
    client: clientKind,
    total,
    elapsedMs,
    perSecond: total / (elapsedMs / 1000),
    perClient: counts,
    latency: summarize(latencies),
    kernelCpuMs: kernelCpuMs / total,
    kernelCpuPercent: (kernelCpuMs / elapsedMs) * 100,
    clientCpuPercent: (clientCpuMs / elapsedMs) * 100,
    parts: perRequest(before, after, total, clientCpuMs),
    raw: { delta: delta(before, after), latencies, clientCpuMs, kernelCpuMs },
  };
}

/** `after − before` of every counter (sums), and the last limiter window size. */
function delta(before, after) {
  const out = { atMs: 0, sqliteByKind: {} };
  for (const [key, value] of Object.entries(after)) {
    if (key === 'sqliteByKind')
      for (const [kind, ms] of Object.entries(value))
        out.sqliteByKind[kind] = ms - (before.sqliteByKind[kind] ?? 0);
    else if (key === 'limiterWindowEntries') out[key] = value;
    else if (typeof value === 'number') out[key] = value - before[key];
  }
  return out;
}

/** One load run as several blocks (alternating with the other loads): totals over all blocks. */
function mergeHttpBlocks(blocks) {
  const total = blocks.reduce((sum, block) => sum + block.total, 0);
  const elapsedMs = blocks.reduce((sum, block) => sum + block.elapsedMs, 0);
  const clientCpuMs = blocks.reduce((sum, block) => sum + block.raw.clientCpuMs, 0);
  const kernelCpuMs = blocks.reduce((sum, block) => sum + block.raw.kernelCpuMs, 0);
  const zero = { atMs: 0, sqliteByKind: {} };
  const sum = { atMs: 0, sqliteByKind: {} };
  for (const block of blocks) {
    for (const [key, value] of Object.entries(block.raw.delta)) {
      if (key === 'sqliteByKind') {
        for (const [kind, ms] of Object.entries(value))
          sum.sqliteByKind[kind] = (sum.sqliteByKind[kind] ?? 0) + ms;
      } else if (key === 'limiterWindowEntries') sum[key] = Math.max(sum[key] ?? 0, value);
      else {
        sum[key] = (sum[key] ?? 0) + value;
        zero[key] = 0;
      }
    }
  }
  const [first] = blocks;
  return {
    clients: first.clients,
    sessions: first.sessions,
    client: first.client,
    blocks: blocks.length,
    total,
    elapsedMs,
    perSecond: total / (elapsedMs / 1000),
    blockRates: blocks.map((block) => block.perSecond),
    latency: summarize(blocks.flatMap((block) => block.raw.latencies)),
    kernelCpuMs: kernelCpuMs / total,
    kernelCpuPercent: (kernelCpuMs / elapsedMs) * 100,
    clientCpuPercent: (clientCpuMs / elapsedMs) * 100,
    parts: perRequest(zero, sum, total, clientCpuMs),
  };
}

function mergeInProcessBlocks(blocks) {
  const total = blocks.reduce((sum, block) => sum + block.total, 0);
  const elapsedMs = blocks.reduce((sum, block) => sum + block.elapsedMs, 0);
  const weighted = (key) => blocks.reduce((sum, block) => sum + block[key] * block.elapsedMs, 0) / elapsedMs;
  const perRequestMean = (key) => blocks.reduce((sum, block) => sum + block[key] * block.total, 0) / total;
  return {
    callers: blocks[0].callers,
    sessions: blocks[0].sessions,
    blocks: blocks.length,
    total,
    elapsedMs,
    perSecond: total / (elapsedMs / 1000),
    blockRates: blocks.map((block) => block.perSecond),
    serverCpuMs: perRequestMean('serverCpuMs'),
    serverCpuPercent: weighted('serverCpuPercent'),
    serverLoopUtilization: weighted('serverLoopUtilization'),
    kernelCpuMs: perRequestMean('kernelCpuMs'),
    kernelCpuPercent: weighted('kernelCpuPercent'),
  };
}

async function inProcessLoad(target, loopsPerSession, seconds) {
  const result = await target.service.call('inProcessLoop', {
    sessionIds: target.sessions,
    loopsPerSession,
    seconds,
  });
  const wallMs = result.after.atMs - result.before.atMs;
  const total = result.counts.reduce((sum, count) => sum + count, 0);
  const cpuMs = result.after.cpuMs - result.before.cpuMs;
  const eluActive = result.after.eluActiveMs - result.before.eluActiveMs;
  const eluIdle = result.after.eluIdleMs - result.before.eluIdleMs;
  return {
    callers: target.sessions.length * loopsPerSession,
    sessions: target.sessions.length,
    total,
    elapsedMs: wallMs,
    perSecond: total / (wallMs / 1000),
    serverCpuMs: cpuMs / total,
    serverCpuPercent: (cpuMs / wallMs) * 100,
    serverLoopUtilization: eluActive / (eluActive + eluIdle),
    kernelCpuMs: result.kernelCpuMs / total,
    kernelCpuPercent: (result.kernelCpuMs / wallMs) * 100,
  };
}

/**
 * The same load with V8's sampling profiler on the service's main thread (a separate run: the
 * profiler slows the service down). Main-thread ms per request by where the time was spent.
 */
async function profiledLoad(target, clients, seconds) {
  const before = await target.service.call('profileStart', { intervalUs: 250 });
  const load = await httpLoad(target, 'fetch', clients, seconds);
  const { categoriesMs, after } = await target.service.call('profileStop');
  const requests = after.engineCalls - before.engineCalls;
  const busyMs = Object.entries(categoriesMs)
    .filter(([name]) => name !== 'idle')
    .reduce((sum, [, ms]) => sum + ms, 0);
  const categories = Object.entries(categoriesMs)
    .filter(([name]) => name !== 'idle')
    .map(([name, ms]) => ({ name, msPerRequest: ms / requests, share: ms / busyMs }))
    .sort((a, b) => b.msPerRequest - a.msPerRequest);
  return {
    clients,
    seconds,
    requests,
    perSecond: load.perSecond,
    busyMsPerRequest: busyMs / requests,
    idleShare: (categoriesMs.idle ?? 0) / (busyMs + (categoriesMs.idle ?? 0)),
    categories,
  };
}

export async function runHttp(config, log) {
  // Earlier sections leave dirty pages (workspace volume images); flushed here so the store's
  // fsyncs do not pay for them. Other work on the machine still shares the disk.
  execFileSync('sync');
  log('http: starting the services (child processes: with API keys, and noAuth)');
  const authChild = new ServiceChild('auth');
  const openChild = new ServiceChild('noAuth');
  const auth = { service: authChild };
  const open = { service: openChild };
  try {
    const [authStart, openStart] = await Promise.all([
      authChild.call('start', { auth: true, poolSize: 2 }),
      openChild.call('start', { auth: false, poolSize: 2 }),
    ]);
    for (const [target, started] of [
      [auth, authStart],
      [open, openStart],
    ]) {
      target.url = started.url;
      target.fetch = fetchClient(started.url, started.key);
      target.nodeHttp = nodeHttpClient(started.url, started.key);
    }
    // Sessions are created over HTTP, one at a time, the pool refilled after each.
    auth.sessions = [];
    open.sessions = [];
    for (const target of [auth, open]) {
      for (let index = 0; index < config.httpSessions; index += 1) {
        target.sessions.push(...(await createSessions(target.fetch, 1)));
        await target.service.call('waitPool');
      }
    }
    const first = checkExecution(
      await auth.fetch(`/v1/sessions/${auth.sessions[0]}/executions`, { code: '1+1' }),
      '1+1 over HTTP',
    );
    if (first.result?.['text/plain'] !== '2') throw new Error(`1+1 gave ${JSON.stringify(first.result)}`);

    const commitsBefore = summarize(await authChild.call('commitProbe', { count: 200 }));
    const roundtrip = await roundTrips(config, log, { auth, open });

    // Every load runs as `rounds` blocks, the loads taking turns (the order rotating each round),
    // so a burst of other work on the shared machine, or of disk traffic under the store's fsyncs,
    // falls on all of them rather than on one.
    const rounds = 2;
    const blockSeconds = config.httpLoopSeconds / rounds;
    const most = Math.max(...config.httpClients);
    const loads = [];
    for (const clients of config.httpClients) {
      const loopsPerSession = Math.max(1, Math.round(clients / auth.sessions.length));
      loads.push({
        key: `http${clients}`,
        label: `${clients} fetch clients over ${auth.sessions.length} sessions`,
        run: () => httpLoad(auth, 'fetch', clients, blockSeconds),
      });
      loads.push({
        key: `inProcess${clients}`,
        label: `in process, ${loopsPerSession * auth.sessions.length} callers over ${auth.sessions.length} sessions`,
        inProcess: true,
        run: () => inProcessLoad(auth, loopsPerSession, blockSeconds),
      });
    }
    loads.push({
      key: 'nodeHttp',
      label: `${most} node:http clients`,
      run: () => httpLoad(auth, 'nodeHttp', most, blockSeconds),
    });
    loads.push({
      key: 'noAuth',
      label: `${most} fetch clients, noAuth service`,
      run: () => httpLoad(open, 'fetch', most, blockSeconds),
    });
    loads.push({
      key: 'whatIfSyncNormal',
      label: `what-if synchronous = NORMAL, ${most} fetch clients`,
      run: async () => {
        await auth.service.call('setSynchronous', { mode: 'NORMAL' });
        try {
          return await httpLoad(auth, 'fetch', most, blockSeconds);
        } finally {
          await auth.service.call('setSynchronous', { mode: 'FULL' });
        }
      },
    });
    const blocks = Object.fromEntries(loads.map((load) => [load.key, []]));
    for (let round = 0; round < rounds; round += 1) {
      for (let index = 0; index < loads.length; index += 1) {
        const load = loads[(index + round * 3) % loads.length];
        log(`http: ${load.label}, ${blockSeconds} s (round ${round + 1} of ${rounds})`);
        blocks[load.key].push(await load.run());
      }
    }
    const throughput = {
      rounds,
      blockSeconds,
      http: config.httpClients.map((clients) => mergeHttpBlocks(blocks[`http${clients}`])),
      inProcess: config.httpClients.map((clients) => mergeInProcessBlocks(blocks[`inProcess${clients}`])),
      nodeHttp: mergeHttpBlocks(blocks.nodeHttp),
      noAuth: mergeHttpBlocks(blocks.noAuth),
      whatIfSyncNormal: mergeHttpBlocks(blocks.whatIfSyncNormal),
    };
    const profileSeconds = Math.min(4, config.httpLoopSeconds);
    log(`http: ${most} fetch clients, service profiled (V8 sampling profiler), ${profileSeconds} s`);
    throughput.profile = await profiledLoad(auth, most, profileSeconds);
    const commitsAfter = summarize(await authChild.call('commitProbe', { count: 200 }));
    return {
      roundtrip,
      throughput,
      commitProbe: { before: commitsBefore, after: commitsAfter },
      serviceInChildProcess: true,
    };
  } finally {
    auth.nodeHttp?.close();
    open.nodeHttp?.close();
    await Promise.all([authChild.stop(), openChild.stop()]);
  }
}
