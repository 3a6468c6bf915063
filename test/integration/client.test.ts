import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  VivariumClient,
  VivariumClientError,
  type Execution,
  type ExecutionEvent,
  type RemoteSession,
} from '../../src/client/index.js';
import { loadConfig } from '../../src/config/index.js';
import { startService, type RunningService } from '../../src/server/index.js';

/**
 * `vivarium/client` against a real service: `startService` on 127.0.0.1 (port 0), a real SQLite
 * store and real sandboxed kernels in a temporary data directory, real HTTP through global fetch.
 */

let dataDir: string;
let service: RunningService;
let client: VivariumClient;
let apiKey: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vivarium-client-'));
  // A config file in the cwd or VIVARIUM_* variables of the developer must not change the test.
  const config = loadConfig({ overrides: { dataDir, preload: [], pool: { size: 1 } }, env: {} });
  service = await startService({ config, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
  ({ key: apiKey } = await service.store.createKey({ name: 'client-test' }));
  client = new VivariumClient({ baseUrl: service.url, apiKey });
});

afterAll(async () => {
  try {
    await service?.stop();
  } finally {
    if (dataDir) await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
  }
});

/** The rejection of `promise`, which must be a VivariumClientError. */
async function clientError(promise: Promise<unknown>): Promise<VivariumClientError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(VivariumClientError);
  return error as VivariumClientError;
}

/** Runs `code` with `onEvent`, collecting the events. */
async function executeStreaming(
  session: RemoteSession,
  code: string,
  options: { signal?: AbortSignal; onStart?: () => void } = {},
): Promise<{ execution: Execution; events: ExecutionEvent[] }> {
  const events: ExecutionEvent[] = [];
  const execution = await session.execute(code, {
    ...(options.signal ? { signal: options.signal } : {}),
    onEvent: (event) => {
      events.push(event);
      if (event.type === 'execution-start') options.onStart?.();
    },
  });
  return { execution, events };
}

describe('VivariumClient sessions and executions', () => {
  let session: RemoteSession;

  beforeAll(async () => {
    session = await client.createSession({ preload: [], limits: { timeoutMs: 30_000 } });
  });

  afterAll(async () => {
    await session?.close();
  });

  it('creates a session that the service describes with the library shape', async () => {
    expect(session.id).toMatch(/^ses_/);
    expect(session.lastInfo?.state).toBe('idle');
    expect(session.lastInfo?.limits.timeoutMs).toBe(30_000);
    const info = await session.info();
    expect(info).toMatchObject({ id: session.id, executionCount: 0, deathReason: null, closedAt: null });
    const again = await client.getSession(session.id);
    expect(again.id).toBe(session.id);
    const listed = await client.listSessions();
    expect(listed.map((item) => item.id)).toContain(session.id);
  });

  it('executes without onEvent: one JSON Execution, state kept between cells', async () => {
    const first = await session.execute('x = 21\nprint("hello")');
    expect(first).toMatchObject({ sessionId: session.id, status: 'ok', stdout: 'hello\n', error: null });
    const second = await session.execute('x * 2');
    expect(second.status).toBe('ok');
    expect(second.result).toEqual({ 'text/plain': '42' });
    expect(second.executionCount).toBe(first.executionCount + 1);
  });

  it('streams events with onEvent, in order, the last one carrying the resolved Execution', async () => {
    const code = [
      'import sys, time',
      'for i in range(3):',
      '    print(f"line {i}", flush=True)',
      '    time.sleep(0.05)',
      'print("to stderr", file=sys.stderr)',
      '"done"',
    ].join('\n');
    const { execution, events } = await executeStreaming(session, code);
    expect(execution.status).toBe('ok');
    const types = events.map((event) => event.type);
    expect(types[0]).toBe('execution-start');
    expect(types.at(-1)).toBe('execution-end');
    expect(types.filter((type) => type === 'execution-end')).toHaveLength(1);
    expect(types.indexOf('execute-result')).toBeGreaterThan(types.lastIndexOf('stream-delta'));
    const stdout = events
      .flatMap((event) => (event.type === 'stream-delta' && event.name === 'stdout' ? [event.text] : []))
      .join('');
    expect(stdout).toBe('line 0\nline 1\nline 2\n');
    expect(events.some((event) => event.type === 'stream-delta' && event.name === 'stderr')).toBe(true);
    const last = events.at(-1);
    expect(last?.type === 'execution-end' ? last.execution : null).toEqual(execution);
    expect(execution.result).toEqual({ 'text/plain': "'done'" });
    for (const event of events) expect(event.executionId).toBe(execution.id);
  });

  it('gives a Python exception as data: status error, execution-error event, no throw', async () => {
    const { execution, events } = await executeStreaming(session, 'print("before")\n1 / 0');
    expect(execution.status).toBe('error');
    expect(execution.error?.ename).toBe('ZeroDivisionError');
    expect(events.map((event) => event.type)).toContain('execution-error');
    const plain = await session.execute('undefined_name');
    expect(plain.status).toBe('error');
    expect(plain.error?.ename).toBe('NameError');
  });

  it('round-trips files: write text and bytes, list, read from Python and back, remove', async () => {
    const written = await session.files.write('data/in.csv', 'a,b\n1,2\n');
    expect(written).toEqual({ path: 'data/in.csv', sizeBytes: 8 });
    const bytes = Uint8Array.from({ length: 256 }, (_, index) => index);
    await session.files.write('/workspace/data/blob.dat', bytes);
    expect(await session.files.read('data/blob.dat')).toEqual(bytes);
    expect(await session.files.readText('data/in.csv')).toBe('a,b\n1,2\n');

    const listing = await session.files.list('data');
    expect(listing.path).toBe('data');
    expect(listing.truncated).toBe(false);
    expect(listing.entries.map((entry) => [entry.path, entry.type, entry.sizeBytes])).toEqual([
      ['data/blob.dat', 'file', 256],
      ['data/in.csv', 'file', 8],
    ]);
    const root = await session.files.list();
    expect(root.entries.map((entry) => entry.name)).toContain('data');

    const python = await session.execute(
      'rows = open("data/in.csv").read().splitlines()\nopen("data/out name.txt", "w").write(str(len(rows)))\nlen(open("data/blob.dat", "rb").read())',
    );
    expect(python.result).toEqual({ 'text/plain': '256' });
    expect(python.files).toContainEqual({ path: 'data/out name.txt', sizeBytes: 1, change: 'created' });
    expect(await session.files.readText('data/out name.txt')).toBe('2');

    await session.files.remove('data/out name.txt');
    const gone = await clientError(session.files.read('data/out name.txt'));
    expect(gone).toMatchObject({ status: 404, code: 'FILE_NOT_FOUND' });
    // `..` cannot travel in a URL (fetch resolves it away): the client refuses it itself.
    const traversal = await clientError(session.files.write('data/../../escape.txt', 'x'));
    expect(traversal).toMatchObject({ status: null, code: 'PATH_INVALID' });
    const absolute = await clientError(session.files.read('/etc/passwd'));
    expect(absolute).toMatchObject({ status: 400, code: 'PATH_INVALID' });
  });

  it('lists variables with their types', async () => {
    await session.execute('name = "vivarium"\nnumbers = [1, 2, 3]');
    const variables = await session.variables();
    const byName = new Map(variables.map((variable) => [variable.name, variable]));
    expect(byName.get('x')?.type).toBe('int');
    expect(byName.get('name')?.type).toBe('str');
    expect(byName.get('numbers')).toMatchObject({ type: 'list', length: 3 });
  });

  it('keeps the history with the code of each execution', async () => {
    const history = await session.history();
    expect(history[0]?.code).toBe('x = 21\nprint("hello")');
    expect(history.at(-1)?.execution.sessionId).toBe(session.id);
    expect((await session.history({ limit: 2 })).length).toBe(2);
  });

  it('interrupts a sleeping cell with interrupt(); variables survive', async () => {
    await session.execute('kept = 7');
    let answer: Promise<{ interrupted: boolean }> | undefined;
    const events: ExecutionEvent[] = [];
    // As in the library's tests: interrupt once the cell is inside Python code (an interrupt that
    // lands before the kernel enters the cell is a no-op).
    const execution = await session.execute("print('started', flush=True)\nimport time\ntime.sleep(30)", {
      onEvent: (event) => {
        events.push(event);
        if (event.type === 'stream-delta' && event.text.includes('started'))
          setTimeout(() => {
            answer = session.interrupt();
          }, 200);
      },
    });
    expect(execution.status).toBe('interrupted');
    expect(execution.error?.ename).toBe('KeyboardInterrupt');
    expect(await answer).toEqual({ interrupted: true });
    expect(await session.interrupt()).toEqual({ interrupted: false });
    expect((await session.execute('kept')).result).toEqual({ 'text/plain': '7' });
  });

  it('interrupts a running cell when the caller aborts its signal (streamed and JSON)', async () => {
    // Aborted the moment the cell starts: the client repeats the interrupt until it lands.
    const streamed = new AbortController();
    const { execution } = await executeStreaming(session, 'import time\ntime.sleep(30)', {
      signal: streamed.signal,
      onStart: () => streamed.abort(),
    });
    expect(execution.status).toBe('interrupted');

    const plain = new AbortController();
    setTimeout(() => plain.abort(), 500);
    const interrupted = await session.execute('import time\ntime.sleep(30)', { signal: plain.signal });
    expect(interrupted.status).toBe('interrupted');

    const early = new AbortController();
    early.abort();
    expect((await clientError(session.execute('1', { signal: early.signal }))).code).toBe('ABORTED');
    expect((await session.execute('kept')).status).toBe('ok');
  });

  it('restarts: variables gone, files kept', async () => {
    expect(await session.restart()).toEqual({ namespaceReset: true });
    expect(session.lastInfo?.state).toBe('idle');
    const after = await session.execute('x');
    expect(after.status).toBe('error');
    expect(after.error?.ename).toBe('NameError');
    expect(await session.files.readText('data/in.csv')).toBe('a,b\n1,2\n');
  });
});

describe('VivariumClient errors', () => {
  it("surfaces the service's error body as VivariumClientError with status, code and details", async () => {
    const missing = await clientError(client.getSession('ses_000000000000000000000000'));
    expect(missing).toMatchObject({ status: 404, code: 'SESSION_NOT_FOUND' });
    expect(missing.message).toContain('ses_000000000000000000000000');
    expect(missing.details).toMatchObject({ sessionId: 'ses_000000000000000000000000' });

    const session = await client.createSession({ preload: [], limits: { timeoutMs: 5_000 } });
    try {
      const tooLong = await clientError(session.execute('1', { timeoutMs: 60_000 }));
      expect(tooLong).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT' });
      expect(tooLong.message).toContain('timeoutMs');
      const badLimits = await clientError(client.createSession({ limits: { memoryLimitMb: 1 } }));
      expect(badLimits).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT' });
    } finally {
      await session.close();
      await session.close(); // idempotent
    }
    const closed = await clientError(session.execute('1'));
    expect(closed.status).toBeGreaterThanOrEqual(400);
    expect(['SESSION_CLOSED', 'SESSION_NOT_FOUND']).toContain(closed.code);
    expect((await session.info()).state).toBe('closed');
  });

  it('answers 401 UNAUTHENTICATED for a missing or wrong key', async () => {
    const anonymous = new VivariumClient({ baseUrl: service.url });
    expect(await clientError(anonymous.listSessions())).toMatchObject({
      status: 401,
      code: 'UNAUTHENTICATED',
    });
    const wrong = new VivariumClient({ baseUrl: `${service.url}/`, apiKey: `${apiKey.slice(0, -2)}xx` });
    expect(await clientError(wrong.createSession())).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it('says clearly when the service cannot be reached or answers something else', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const unreachable = new VivariumClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey });
    const network = await clientError(unreachable.listSessions());
    expect(network).toMatchObject({ status: null, code: 'NETWORK_ERROR' });
    expect(network.message).toContain(`http://127.0.0.1:${port}`);

    const proxy = new VivariumClient({
      baseUrl: service.url,
      fetch: () =>
        Promise.resolve(
          new Response('<html>Bad Gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } }),
        ),
    });
    const gateway = await clientError(proxy.listSessions());
    expect(gateway).toMatchObject({ status: 502, code: 'HTTP_ERROR' });
    expect(gateway.message).toContain('Bad Gateway');

    const garbage = new VivariumClient({
      baseUrl: service.url,
      fetch: () => Promise.resolve(new Response('not json', { status: 200 })),
    });
    expect(await clientError(garbage.listSessions())).toMatchObject({
      status: 200,
      code: 'INVALID_RESPONSE',
    });

    expect(() => new VivariumClient({ baseUrl: '' })).toThrow(/Expected `baseUrl`/);
  });

  it('times out a call past the client timeoutMs', async () => {
    const slow = new VivariumClient({
      baseUrl: service.url,
      timeoutMs: 50,
      fetch: (_input, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    });
    expect(await clientError(slow.listSessions())).toMatchObject({ status: null, code: 'TIMEOUT' });
  });
});

describe('VivariumClient.run', () => {
  it('runs once in a fresh sandbox, as JSON and streamed', async () => {
    const plain = await client.run('import os\nprint(os.getcwd())\n6 * 7', { preload: [] });
    expect(plain).toMatchObject({ status: 'ok', stdout: '/workspace\n', result: { 'text/plain': '42' } });

    const events: ExecutionEvent[] = [];
    const streamed = await client.run('print("streamed")\n1 / 0', {
      preload: [],
      env: { GREETING: 'hi' },
      onEvent: (event) => events.push(event),
    });
    expect(streamed.status).toBe('error');
    expect(events[0]?.type).toBe('execution-start');
    const last = events.at(-1);
    expect(last?.type === 'execution-end' ? last.execution : null).toEqual(streamed);

    // The one-shot session is closed right after its answer, and its history kept.
    await vi.waitFor(async () =>
      expect((await client.session(streamed.sessionId).info()).state).toBe('closed'),
    );
    const history = await client.session(streamed.sessionId).history();
    expect(history.map((entry) => entry.code)).toEqual(['print("streamed")\n1 / 0']);
  });

  it('interrupts a streamed run when its signal aborts', async () => {
    const controller = new AbortController();
    const execution = await client.run('import time\ntime.sleep(30)', {
      preload: [],
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'execution-start') setTimeout(() => controller.abort(), 100);
      },
    });
    expect(execution.status).toBe('interrupted');
  });
});
