/* eslint-disable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument -- HTTP bodies are untyped JSON, checked by the assertions */
import { describe, expect, it } from 'vitest';
import { api, openWs, parseSse, useService, type ApiResponse, type Json } from '../helpers/server.js';

/** Sessions, executions (JSON, SSE, WebSocket), one-shot runs, operations routes, error answers. */

const svc = useService({ sseHeartbeatMs: 200 });

const call = <T = Json>(
  method: string,
  path: string,
  options: Parameters<typeof api>[3] = {},
): Promise<ApiResponse<T>> => api<T>(svc.url, method, path, { key: svc.keys.a, ...options });

async function newSession(body: unknown = {}): Promise<string> {
  const created = await call('POST', '/v1/sessions', { json: body });
  expect(created.status, created.text).toBe(201);
  return created.body.id as string;
}

function expectErrorBody(response: ApiResponse, status: number, code: string): void {
  expect(response.status, response.text).toBe(status);
  expect(response.headers.get('content-type')).toContain('application/json');
  expect(response.body).toEqual({
    error: { code, message: expect.any(String), details: expect.any(Object) },
  });
}

describe('sessions', () => {
  it('creates, gets, lists and closes a session', async () => {
    const created = await call('POST', '/v1/sessions', {
      json: { limits: { timeoutMs: 5_000 }, idleTimeoutMs: 0, env: { GREETING: 'hi' } },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^ses_/),
      state: 'idle',
      executionCount: 0,
      closedAt: null,
      idleTimeoutMs: 0,
      preload: [],
    });
    // The rest of the limits are the service's, not the schema defaults.
    expect(created.body.limits).toEqual({ ...svc.config.limits, timeoutMs: 5_000 });
    const id = created.body.id as string;

    const got = await call('GET', `/v1/sessions/${id}`);
    expect(got.status).toBe(200);
    expect(got.body.id).toBe(id);

    const env = await call('POST', `/v1/sessions/${id}/executions`, {
      json: { code: "import os; os.environ['GREETING']" },
    });
    expect(env.body.result).toEqual({ 'text/plain': "'hi'" });

    const listed = await call('GET', '/v1/sessions');
    expect(listed.body.sessions.map((s: { id: string }) => s.id)).toContain(id);

    const closed = await call('DELETE', `/v1/sessions/${id}`);
    expect(closed.status).toBe(200);
    expect(closed.body).toMatchObject({ id, state: 'closed', closedAt: expect.any(String) });
    // Idempotent, and the closed session stays readable.
    expect((await call('DELETE', `/v1/sessions/${id}`)).status).toBe(200);
    expect((await call('GET', `/v1/sessions/${id}`)).body.state).toBe('closed');
    expect((await call('GET', '/v1/sessions')).body.sessions.map((s: { id: string }) => s.id)).not.toContain(
      id,
    );
    const withClosed = await call('GET', '/v1/sessions?includeClosed=true');
    expect(withClosed.body.sessions.map((s: { id: string }) => s.id)).toContain(id);

    expectErrorBody(
      await call('POST', `/v1/sessions/${id}/executions`, { json: { code: '1' } }),
      410,
      'SESSION_CLOSED',
    );
    expectErrorBody(await call('GET', `/v1/sessions/${id}/variables`), 410, 'SESSION_CLOSED');
    expectErrorBody(await call('GET', '/v1/sessions/ses_doesnotexist'), 404, 'SESSION_NOT_FOUND');
  });

  it('refuses limits above the configured ones for non-admin keys, allows them for admin', async () => {
    const over = svc.config.limits.timeoutMs + 1;
    const refused = await call('POST', '/v1/sessions', { json: { limits: { timeoutMs: over } } });
    expectErrorBody(refused, 400, 'INVALID_ARGUMENT');
    expect(refused.body.error.message).toContain('limits.timeoutMs');
    const admin = await api(svc.url, 'POST', '/v1/sessions', {
      key: svc.keys.admin,
      json: { limits: { timeoutMs: over } },
    });
    expect(admin.status).toBe(201);
    expect(admin.body.limits.timeoutMs).toBe(over);
    await api(svc.url, 'DELETE', `/v1/sessions/${admin.body.id}`, { key: svc.keys.admin });
  });

  it('runs cells, lists variables and history, interrupts and restarts', async () => {
    const id = await newSession();
    const first = await call('POST', `/v1/sessions/${id}/executions`, {
      json: { code: 'x = 21\nprint("hello")\nx * 2' },
    });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      sessionId: id,
      executionCount: 1,
      status: 'ok',
      stdout: 'hello\n',
      result: { 'text/plain': '42' },
      namespaceReset: false,
    });

    const failing = await call('POST', `/v1/sessions/${id}/executions`, { json: { code: '1/0' } });
    expect(failing.status).toBe(200);
    expect(failing.body.status).toBe('error');
    expect(failing.body.error.ename).toBe('ZeroDivisionError');

    const variables = await call('GET', `/v1/sessions/${id}/variables`);
    expect(variables.status).toBe(200);
    expect(variables.body.variables).toContainEqual(
      expect.objectContaining({ name: 'x', type: 'int', summary: '21' }),
    );

    const history = await call('GET', `/v1/sessions/${id}/history`);
    expect(history.status).toBe(200);
    expect(history.body.executions.map((item: Json) => [item.code, item.execution.status])).toEqual([
      ['x = 21\nprint("hello")\nx * 2', 'ok'],
      ['1/0', 'error'],
    ]);
    const lastOne = await call('GET', `/v1/sessions/${id}/history?limit=1`);
    expect(lastOne.body.executions).toHaveLength(1);
    expect(lastOne.body.executions[0].execution.id).toBe(failing.body.id);

    // Interrupt a sleeping cell from another request.
    const sleeping = call('POST', `/v1/sessions/${id}/executions`, {
      json: { code: 'import time\nprint("started", flush=True)\ntime.sleep(30)' },
    });
    for (let i = 0; i < 100 && (await call('GET', `/v1/sessions/${id}`)).body.state !== 'busy'; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const interrupted = await call('POST', `/v1/sessions/${id}/interrupt`);
    expect(interrupted.status).toBe(200);
    expect(interrupted.body.interrupted).toBe(true);
    expect((await sleeping).body.status).toBe('interrupted');
    expect(
      (await call('POST', `/v1/sessions/${id}/executions`, { json: { code: 'x' } })).body.result,
    ).toEqual({
      'text/plain': '21',
    });

    const restarted = await call('POST', `/v1/sessions/${id}/restart`);
    expect(restarted.status).toBe(200);
    expect(restarted.body).toMatchObject({ namespaceReset: true, session: { id, state: 'idle' } });
    const after = await call('POST', `/v1/sessions/${id}/executions`, { json: { code: "'x' in globals()" } });
    expect(after.body.result).toEqual({ 'text/plain': 'False' });
    await call('DELETE', `/v1/sessions/${id}`);
  });

  it('answers a dead session with 409 until it is restarted', async () => {
    const id = await newSession();
    const timedOut = await call('POST', `/v1/sessions/${id}/executions`, {
      json: { code: 'import time\ntime.sleep(30)', timeoutMs: 500 },
    });
    expect(timedOut.status).toBe(200);
    expect(timedOut.body.status).toBe('timeout');
    expect((await call('GET', `/v1/sessions/${id}`)).body.state).toBe('dead');
    expectErrorBody(
      await call('POST', `/v1/sessions/${id}/executions`, { json: { code: '1' } }),
      409,
      'SESSION_DEAD',
    );
    expect((await call('POST', `/v1/sessions/${id}/restart`)).status).toBe(200);
    expect((await call('POST', `/v1/sessions/${id}/executions`, { json: { code: '1' } })).body.status).toBe(
      'ok',
    );
    await call('DELETE', `/v1/sessions/${id}`);
  });

  it('refuses a per-call timeout above the session limit', async () => {
    const id = await newSession({ limits: { timeoutMs: 2_000 } });
    expectErrorBody(
      await call('POST', `/v1/sessions/${id}/executions`, { json: { code: '1', timeoutMs: 3_000 } }),
      400,
      'INVALID_ARGUMENT',
    );
    await call('DELETE', `/v1/sessions/${id}`);
  });
});

describe('idle expiry', () => {
  it('stores a session the engine closed for idleness as closed, with the reason', async () => {
    const id = await newSession({ idleTimeoutMs: 300 });
    let view = (await call('GET', `/v1/sessions/${id}`)).body;
    for (let i = 0; i < 150 && view.state !== 'closed'; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      view = (await call('GET', `/v1/sessions/${id}`)).body;
    }
    expect(view).toMatchObject({ state: 'closed', closedAt: expect.any(String) });
    expect(view.deathReason).toMatch(/without activity/);
    expectErrorBody(
      await call('POST', `/v1/sessions/${id}/executions`, { json: { code: '1' } }),
      410,
      'SESSION_CLOSED',
    );
    const stored = await svc.service.store.getSession(id);
    expect(stored?.state).toBe('closed');
  }, 30_000);
});

describe('streaming', () => {
  it('streams SSE events in order, ending with the stored execution', async () => {
    const id = await newSession();
    const response = await fetch(`${svc.url}/v1/sessions/${id}/executions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${svc.keys.a}`,
        'content-type': 'application/json',
        accept: 'text/event-stream',
      },
      body: JSON.stringify({
        code: 'import time\nprint("one", flush=True)\ntime.sleep(0.5)\nprint("two")\n1/0',
      }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('x-request-id')).toBeTruthy();
    const text = await response.text();
    // The cell sleeps past the 200 ms heartbeat interval.
    expect(text).toContain(': heartbeat\n\n');
    const events = parseSse(text);
    const types = events.map((event) => event.event);
    expect(types[0]).toBe('execution-start');
    expect(types.at(-1)).toBe('execution-end');
    expect(types).toContain('stream-delta');
    expect(types).toContain('execution-error');
    expect(types.indexOf('execution-error')).toBeGreaterThan(types.indexOf('stream-delta'));
    for (const event of events) expect(event.data.type).toBe(event.event);
    const end = events.at(-1)!.data;
    expect(end.execution).toMatchObject({ sessionId: id, status: 'error', stdout: 'one\ntwo\n' });
    // Stored before it was sent.
    const history = await call('GET', `/v1/sessions/${id}/history`);
    expect(history.body.executions.at(-1).execution).toEqual(end.execution);
    await call('DELETE', `/v1/sessions/${id}`);
  });

  it('answers SSE requests that fail before running with a JSON error', async () => {
    const response = await call('POST', '/v1/sessions/ses_nope/executions', {
      json: { code: '1' },
      headers: { accept: 'text/event-stream' },
    });
    expectErrorBody(response, 404, 'SESSION_NOT_FOUND');
  });

  it('answers an SSE request on a dead session with a JSON error, not an empty stream', async () => {
    const id = await newSession();
    const killed = await call('POST', `/v1/sessions/${id}/executions`, {
      json: { code: 'while True: pass', timeoutMs: 300 },
    });
    expect(killed.body.status).toBe('timeout');
    const response = await call('POST', `/v1/sessions/${id}/executions`, {
      json: { code: '1' },
      headers: { accept: 'text/event-stream' },
    });
    expectErrorBody(response, 409, 'SESSION_DEAD');
    await call('DELETE', `/v1/sessions/${id}`);
  });

  it('keeps running and stores the execution when the SSE client goes away', async () => {
    const id = await newSession();
    const controller = new AbortController();
    const response = await fetch(`${svc.url}/v1/sessions/${id}/executions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${svc.keys.a}`,
        'content-type': 'application/json',
        accept: 'text/event-stream',
      },
      body: JSON.stringify({
        code: 'import time\nprint("start", flush=True)\ntime.sleep(1)\nfinished = True',
      }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.cancel().catch(() => undefined);
    for (let i = 0; i < 100; i += 1) {
      const history = await call('GET', `/v1/sessions/${id}/history`);
      if (history.body.executions.length === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const history = await call('GET', `/v1/sessions/${id}/history`);
    expect(history.body.executions).toHaveLength(1);
    expect(history.body.executions[0].execution.status).toBe('ok');
    expect(
      (await call('POST', `/v1/sessions/${id}/executions`, { json: { code: 'finished' } })).body.result,
    ).toEqual({
      'text/plain': 'True',
    });
    await call('DELETE', `/v1/sessions/${id}`);
  });

  it('runs cells over a WebSocket with the same events, input replies and interrupts', async () => {
    const id = await newSession();
    const ws = await openWs(svc.url, `/v1/sessions/${id}/ws`, svc.keys.a);
    try {
      ws.send({ type: 'execute', code: 'print("ws")\n6 * 7', id: 'c1' });
      const end = await ws.next((m) => m.type === 'execution-end' && m.id === 'c1');
      const types = ws.messages.filter((m) => m.id === 'c1').map((m) => m.type);
      expect(types).toEqual(['execution-start', 'stream-delta', 'execute-result', 'execution-end']);
      expect(end.execution).toMatchObject({ status: 'ok', result: { 'text/plain': '42' } });

      ws.send({ type: 'execute', code: 'name = input("who? ")\nprint("hi", name)', id: 'c2' });
      const request = await ws.next((m) => m.type === 'input-request' && m.id === 'c2');
      expect(request.prompt).toBe('who? ');
      ws.send({ type: 'input_reply', value: 'ada' });
      const inputEnd = await ws.next((m) => m.type === 'execution-end' && m.id === 'c2');
      expect(inputEnd.execution.stdout).toContain('hi ada');

      ws.send({ type: 'execute', code: 'import time\nprint("go", flush=True)\ntime.sleep(30)', id: 'c3' });
      await ws.next((m) => m.type === 'stream-delta' && m.id === 'c3');
      ws.send({ type: 'interrupt' });
      const interrupted = await ws.next((m) => m.type === 'execution-end' && m.id === 'c3');
      expect(interrupted.execution.status).toBe('interrupted');

      ws.send({ type: 'nonsense' });
      const bad = await ws.next((m) => m.type === 'error');
      expect(bad.error.code).toBe('INVALID_ARGUMENT');
      ws.socket.send('{not json');
      await ws.next((m) => m.type === 'error' && /JSON/.test(m.error.message));
      ws.send({ type: 'execute', code: '"still here"', id: 'c4' });
      expect((await ws.next((m) => m.type === 'execution-end' && m.id === 'c4')).execution.result).toEqual({
        'text/plain': "'still here'",
      });
    } finally {
      await ws.close();
    }
    const history = await call('GET', `/v1/sessions/${id}/history`);
    expect(history.body.executions.map((item: Json) => item.execution.status)).toEqual([
      'ok',
      'ok',
      'interrupted',
      'ok',
    ]);
    await call('DELETE', `/v1/sessions/${id}`);
  });

  it('refuses a WebSocket for an unknown session before the upgrade', async () => {
    await expect(openWs(svc.url, '/v1/sessions/ses_nope/ws', svc.keys.a)).rejects.toMatchObject({
      statusCode: 404,
    });
    await expect(openWs(svc.url, '/v1/sessions/ses_nope/ws')).rejects.toMatchObject({ statusCode: 401 });
  });
});

describe('one-shot runs', () => {
  it('runs code in a fresh sandbox and closes it', async () => {
    const run = await call('POST', '/v1/run', { json: { code: 'import os\nprint(os.getcwd())\n2 + 3' } });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ status: 'ok', stdout: '/workspace\n', result: { 'text/plain': '5' } });
    const session = await call('GET', `/v1/sessions/${run.body.sessionId}`);
    expect(session.body.state).toBe('closed');
    const history = await call('GET', `/v1/sessions/${run.body.sessionId}/history`);
    expect(history.body.executions).toHaveLength(1);

    const failing = await call('POST', '/v1/run', { json: { code: 'raise ValueError("nope")' } });
    expect(failing.status).toBe(200);
    expect(failing.body.status).toBe('error');
  });

  it('streams a one-shot run as SSE', async () => {
    const response = await call('POST', '/v1/run', {
      json: { code: 'print("x")' },
      headers: { accept: 'text/event-stream' },
    });
    expect(response.status).toBe(200);
    const types = parseSse(response.text).map((event) => event.event);
    expect(types).toEqual(['execution-start', 'stream-delta', 'execution-end']);
  });
});

describe('bad input', () => {
  it('answers malformed JSON, wrong types, unknown fields and oversized bodies with 4xx, and keeps serving', async () => {
    const id = await newSession();
    const path = `/v1/sessions/${id}/executions`;
    expectErrorBody(
      await call('POST', path, { body: '{"code": ', headers: { 'content-type': 'application/json' } }),
      400,
      'INVALID_ARGUMENT',
    );
    expectErrorBody(await call('POST', path, { json: { code: 42 } }), 400, 'INVALID_ARGUMENT');
    const wrongType = await call('POST', path, { json: { code: 42 } });
    expect(wrongType.body.error.message).toBe('Expected `code` to be a string, got `42` (number)');
    expectErrorBody(await call('POST', path, { json: { code: '1', evil: true } }), 400, 'INVALID_ARGUMENT');
    expectErrorBody(
      await call('POST', path, { json: { code: '1', timeoutMs: -5 } }),
      400,
      'INVALID_ARGUMENT',
    );
    expectErrorBody(await call('POST', path, { json: [1, 2] }), 400, 'INVALID_ARGUMENT');
    expectErrorBody(
      await call('POST', path, { body: 'code=1', headers: { 'content-type': 'text/plain' } }),
      415,
      'INVALID_ARGUMENT',
    );
    expectErrorBody(
      await call('POST', '/v1/sessions', { json: { limits: { memoryLimitMb: 'lots' } } }),
      400,
      'INVALID_ARGUMENT',
    );
    expectErrorBody(
      await call('POST', '/v1/sessions', { json: { env: { 'BAD NAME': 'x' } } }),
      400,
      'INVALID_ARGUMENT',
    );
    expectErrorBody(await call('GET', `/v1/sessions/${id}/history?limit=-1`), 400, 'INVALID_ARGUMENT');

    // Body over server.bodyLimitBytes, and code over server.maxCodeBytes.
    const huge = 'x'.repeat(svc.config.server.bodyLimitBytes + 10);
    expectErrorBody(await call('POST', path, { json: { code: huge } }), 413, 'PAYLOAD_TOO_LARGE');
    const longCode = `# ${'y'.repeat(svc.config.server.maxCodeBytes)}`;
    if (longCode.length < svc.config.server.bodyLimitBytes) {
      expectErrorBody(await call('POST', path, { json: { code: longCode } }), 413, 'PAYLOAD_TOO_LARGE');
    }
    expectErrorBody(await call('GET', '/v1/nowhere'), 404, 'ROUTE_NOT_FOUND');
    expectErrorBody(await call('PATCH', `/v1/sessions/${id}`), 404, 'ROUTE_NOT_FOUND');

    // Still serving.
    const ok = await call('POST', path, { json: { code: '1 + 1' } });
    expect(ok.body.result).toEqual({ 'text/plain': '2' });
    expect((await call('GET', `/v1/sessions/${id}/history`)).body.executions).toHaveLength(1);
    await call('DELETE', `/v1/sessions/${id}`);
  });
});

describe('operations', () => {
  it('answers /healthz, /readyz with each check, /docs and /docs/json without a key', async () => {
    expect((await api(svc.url, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
    let ready = await api(svc.url, 'GET', '/readyz');
    for (let i = 0; i < 100 && ready.status !== 200; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await api(svc.url, 'GET', '/readyz');
    }
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      ready: true,
      checks: {
        sandbox: { ok: true, isolation: 'strict' },
        pool: { ok: true, size: 1, ready: 1 },
        store: { ok: true },
      },
    });
    const openapi = await api(svc.url, 'GET', '/docs/json');
    expect(openapi.status).toBe(200);
    expect(openapi.body.openapi).toMatch(/^3\./);
    for (const path of [
      '/v1/sessions',
      '/v1/sessions/{id}',
      '/v1/sessions/{id}/executions',
      '/v1/sessions/{id}/files',
      '/v1/run',
      '/api/tools/python_coder',
      '/readyz',
    ]) {
      expect(Object.keys(openapi.body.paths)).toContain(path);
    }
    expect(openapi.body.components.schemas).toHaveProperty('Execution');
    const ui = await fetch(`${svc.url}/docs`, { redirect: 'follow' });
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('<html');
  });

  it('exports Prometheus metrics', async () => {
    await call('POST', '/v1/run', { json: { code: '1' } });
    const metrics = await api(svc.url, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    for (const name of [
      'vivarium_executions_total{status="ok"}',
      'vivarium_executions_total{status="timeout"}',
      'vivarium_execution_duration_seconds_bucket',
      'vivarium_execution_queue_wait_seconds_count',
      'vivarium_sessions_active',
      'vivarium_pool_size 1',
      'vivarium_pool_ready',
      'vivarium_pool_hits',
      'vivarium_pool_misses',
      'vivarium_kernel_deaths_total{reason="timeout"}',
      'vivarium_http_requests_total{method="POST",route="/v1/run",status="200"}',
    ]) {
      expect(metrics.text).toContain(name);
    }
  });

  it('honours and echoes x-request-id and logs JSON lines carrying it', async () => {
    const response = await call('GET', '/v1/sessions', { headers: { 'x-request-id': 'trace-abc.123' } });
    expect(response.headers.get('x-request-id')).toBe('trace-abc.123');
    const generated = await call('GET', '/v1/sessions', {
      headers: { 'x-request-id': 'bad id with spaces' },
    });
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const lines = svc.logs.map((line) => JSON.parse(line));
    expect(lines.some((line) => line.requestId === 'trace-abc.123' && line.service === 'vivarium')).toBe(
      true,
    );
    // Keys never reach the log.
    expect(svc.logs.join('\n')).not.toContain(svc.keys.a);
  });
});
