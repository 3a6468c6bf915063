import { request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import WebSocket from 'ws';
import { loadConfig, type Config, type ConfigInput } from '../../src/config/index.js';
import { createServiceLogger, startService, type RunningService } from '../../src/server/index.js';
import type { KeyLimits } from '../../src/store/index.js';

/**
 * Test fixture: the real service (`startService`) on 127.0.0.1 with port 0, a real SQLite store and
 * real kernels, on a throwaway data directory. Kernels preload nothing and the pool holds one kernel,
 * so starts stay fast. Log lines are captured in `logs`. `stop()` stops the service and removes the
 * directory; `restart()` stops it and starts it again on the same directory.
 */
export interface ServiceFixture {
  readonly url: string;
  readonly dataDir: string;
  readonly config: Config;
  readonly service: RunningService;
  /** API keys created at start (none when `noAuth`). */
  readonly keys: { admin: string; a: string; b: string; limited: string };
  /** Log lines (JSON) the service wrote. */
  readonly logs: string[];
  /**
   * Stops the service (gracefully) and starts it again on the same data directory; `between` runs
   * while it is stopped.
   */
  restart(between?: () => Promise<void>): Promise<void>;
  /** Stops the service and removes the data directory. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startServiceFixture}. */
export interface ServiceFixtureOptions {
  /** Configuration over the fixture's (`preload: []`, pool of 1). */
  config?: ConfigInput;
  /** Serve without auth (loopback). @default false */
  noAuth?: boolean;
  /** Limits of the `limited` key. @default 3 executions/minute, 2 sessions */
  limitedKeyLimits?: Partial<KeyLimits>;
  /** SSE heartbeat interval. @default 15_000 */
  sseHeartbeatMs?: number;
}

function configFor(dataDir: string, overrides: ConfigInput = {}): Config {
  return loadConfig({
    env: {},
    cwd: dataDir,
    overrides: { preload: [], ...overrides, pool: { size: 1, ...overrides.pool }, dataDir },
  });
}

/** Starts the service on a fresh temp data directory. Pair it with `stop()` in `afterAll`/`finally`. */
export async function startServiceFixture(options: ServiceFixtureOptions = {}): Promise<ServiceFixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vivarium-server-test-'));
  const logs: string[] = [];
  const logger = createServiceLogger({
    level: 'info',
    destination: { write: (line: string) => void logs.push(line) },
  });
  let config: Config;
  let service: RunningService;
  const start = async (): Promise<RunningService> =>
    startService({
      config,
      port: 0,
      logger,
      ...(options.noAuth ? { noAuth: true } : {}),
      ...(options.sseHeartbeatMs === undefined ? {} : { sseHeartbeatMs: options.sseHeartbeatMs }),
    });
  try {
    config = configFor(dataDir, options.config);
    service = await start();
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const keys = { admin: '', a: '', b: '', limited: '' };
  if (!options.noAuth) {
    keys.admin = (await service.store.createKey({ name: 'admin', admin: true })).key;
    keys.a = (await service.store.createKey({ name: 'tenant-a' })).key;
    keys.b = (await service.store.createKey({ name: 'tenant-b' })).key;
    keys.limited = (
      await service.store.createKey({
        name: 'limited',
        limits: { maxExecutionsPerMinute: 3, maxConcurrentSessions: 2, ...options.limitedKeyLimits },
      })
    ).key;
  }
  let stopping: Promise<void> | null = null;
  const fixture: ServiceFixture = {
    get url() {
      return service.url;
    },
    dataDir,
    get config() {
      return config;
    },
    get service() {
      return service;
    },
    keys,
    logs,
    async restart(between) {
      await service.stop();
      await between?.();
      service = await start();
    },
    stop: () =>
      (stopping ??= (async () => {
        try {
          await service.stop();
        } finally {
          await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
        }
      })()),
  };
  return fixture;
}

/** Registers `beforeAll`/`afterAll` for one service shared by the tests of a file. */
export function useService(options: ServiceFixtureOptions = {}): ServiceFixture {
  let fixture: ServiceFixture | null = null;
  beforeAll(async () => {
    fixture = await startServiceFixture(options);
  });
  afterAll(async () => {
    await fixture?.stop();
  });
  const get = (): ServiceFixture => {
    if (!fixture) throw new Error('useService(): the service is used before beforeAll() started it');
    return fixture;
  };
  return {
    get url() {
      return get().url;
    },
    get dataDir() {
      return get().dataDir;
    },
    get config() {
      return get().config;
    },
    get service() {
      return get().service;
    },
    get keys() {
      return get().keys;
    },
    get logs() {
      return get().logs;
    },
    restart: (between) => get().restart(between),
    stop: () => get().stop(),
  };
}

/** Untyped JSON of an HTTP answer; tests check its shape with assertions. */
export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any -- checked by each test's assertions

/** An HTTP answer with its body parsed as JSON when it is JSON. */
export interface ApiResponse<T = Json> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** Options of {@link api}. */
export interface ApiOptions {
  /** API key sent as `Authorization: Bearer`. */
  key?: string;
  /** JSON body (serialised), or raw bytes/string sent as is. */
  json?: unknown;
  body?: RequestInit['body'];
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** One request to the service, over real HTTP. */
export async function api<T = Json>(
  base: string,
  method: string,
  path: string,
  options: ApiOptions = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let body: RequestInit['body'] = options.body;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  }
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body === undefined || body === null ? {} : { body }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const text = await response.text();
  let parsed: unknown = text;
  if ((response.headers.get('content-type') ?? '').includes('application/json')) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

/** One Server-Sent Event. */
export interface SseEvent {
  event: string;
  data: Json;
}

/** Parses an SSE text into events (comments dropped). */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue;
      if (line.startsWith('event: ')) event = line.slice('event: '.length);
      else if (line.startsWith('data: ')) data.push(line.slice('data: '.length));
    }
    if (data.length > 0) events.push({ event, data: JSON.parse(data.join('\n')) });
  }
  return events;
}

/** A WebSocket to the service, with every message received kept in order. */
export interface WsClient {
  socket: WebSocket;
  messages: Json[];
  send(message: unknown): void;
  /** Waits for a message matching `predicate` (looking at ones received already too). */
  next(predicate: (message: Json) => boolean, timeoutMs?: number): Promise<Json>;
  close(): Promise<void>;
}

/** Opens a WebSocket (`http` base URL) and resolves once it is open; rejects with the HTTP status otherwise. */
export async function openWs(base: string, path: string, key?: string): Promise<WsClient> {
  const socket = new WebSocket(`${base.replace(/^http/, 'ws')}${path}`, {
    ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
  });
  const messages: Json[] = [];
  const waiters = new Set<() => void>();
  socket.on('message', (data) => {
    const bytes = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data);
    messages.push(JSON.parse(bytes.toString('utf8')));
    for (const waiter of waiters) waiter();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_request, response) =>
      reject(
        Object.assign(new Error(`unexpected response ${response.statusCode}`), {
          statusCode: response.statusCode,
        }),
      ),
    );
    socket.once('error', reject);
  });
  return {
    socket,
    messages,
    send: (message) => socket.send(JSON.stringify(message)),
    next: (predicate, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        let seen = 0;
        const check = (): void => {
          for (; seen < messages.length; seen += 1) {
            if (predicate(messages[seen])) {
              waiters.delete(check);
              clearTimeout(timer);
              resolve(messages[seen]);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no matching WebSocket message within ${timeoutMs} ms; got ${JSON.stringify(messages)}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) resolve();
        else {
          socket.once('close', () => resolve());
          socket.close();
        }
      }),
  };
}

/** A request with the path sent byte for byte (fetch normalises `..` and `%2e%2e` away). */
export function rawHttp(
  base: string,
  method: string,
  path: string,
  options: { key?: string; body?: string } = {},
): Promise<{ status: number; body: Json; text: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
          ...(options.body === undefined ? {} : { 'content-type': 'application/octet-stream' }),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: response.statusCode ?? 0, body, text });
        });
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}
