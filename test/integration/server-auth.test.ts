/* eslint-disable @typescript-eslint/no-unsafe-call -- HTTP bodies are untyped JSON, checked by the assertions */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startService } from '../../src/server/index.js';
import { api, openWs, startServiceFixture, useService, type ApiResponse } from '../helpers/server.js';

/** API keys, tenancy (another key's session is a 404), admin scope, per-key limits, no-auth rules. */

const svc = useService();

function expectError(response: ApiResponse, status: number, code: string): void {
  expect(response.status, response.text).toBe(status);
  expect(response.body).toEqual({
    error: { code, message: expect.any(String), details: expect.any(Object) },
  });
}

describe('authentication', () => {
  it('needs a valid key on the API, not on health, metrics and docs', async () => {
    const missing = await api(svc.url, 'GET', '/v1/sessions');
    expectError(missing, 401, 'UNAUTHENTICATED');
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    expectError(
      await api(svc.url, 'GET', '/v1/sessions', { key: 'vk_not_a_real_key' }),
      401,
      'UNAUTHENTICATED',
    );
    expectError(
      await api(svc.url, 'GET', '/v1/sessions', { headers: { authorization: `Basic ${svc.keys.a}` } }),
      401,
      'UNAUTHENTICATED',
    );
    expectError(
      await api(svc.url, 'POST', '/api/tools/python_coder', { json: { code: '1' } }),
      401,
      'UNAUTHENTICATED',
    );
    expect((await api(svc.url, 'GET', '/healthz')).status).toBe(200);
    expect((await api(svc.url, 'GET', '/metrics')).status).toBe(200);
    expect((await api(svc.url, 'GET', '/docs/json')).status).toBe(200);
  });

  it('stops accepting a key once it is revoked', async () => {
    const { key, record } = await svc.service.store.createKey({ name: 'short-lived' });
    expect((await api(svc.url, 'GET', '/v1/sessions', { key })).status).toBe(200);
    expect(await svc.service.store.revokeKey(record.id)).toBe(true);
    expectError(await api(svc.url, 'GET', '/v1/sessions', { key }), 401, 'UNAUTHENTICATED');
  });
});

describe('tenancy', () => {
  it("keeps each key to its own sessions and files; another key's session id is a 404; admin sees all", async () => {
    const created = await api(svc.url, 'POST', '/v1/sessions', { key: svc.keys.a, json: {} });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await api(svc.url, 'PUT', `/v1/sessions/${id}/files/secret.txt`, { key: svc.keys.a, body: 'a only' });
    await api(svc.url, 'POST', `/v1/sessions/${id}/executions`, {
      key: svc.keys.a,
      json: { code: 'token = "a"' },
    });

    const b = svc.keys.b;
    const foreign: Array<[string, string, Parameters<typeof api>[3]]> = [
      ['GET', `/v1/sessions/${id}`, {}],
      ['DELETE', `/v1/sessions/${id}`, {}],
      ['POST', `/v1/sessions/${id}/executions`, { json: { code: 'token' } }],
      [
        'POST',
        `/v1/sessions/${id}/executions`,
        { json: { code: 'token' }, headers: { accept: 'text/event-stream' } },
      ],
      ['POST', `/v1/sessions/${id}/interrupt`, {}],
      ['POST', `/v1/sessions/${id}/restart`, {}],
      ['GET', `/v1/sessions/${id}/variables`, {}],
      ['GET', `/v1/sessions/${id}/history`, {}],
      ['GET', `/v1/sessions/${id}/files`, {}],
      ['GET', `/v1/sessions/${id}/files/secret.txt`, {}],
      ['PUT', `/v1/sessions/${id}/files/secret.txt`, { body: 'b was here' }],
      ['DELETE', `/v1/sessions/${id}/files/secret.txt`, {}],
    ];
    for (const [method, path, options] of foreign) {
      const response = await api(svc.url, method, path, { key: b, ...options });
      expectError(response, 404, 'SESSION_NOT_FOUND');
      // The same answer as for an id that does not exist.
      expect(response.body.error.message).toBe(`No session with id \`${id}\``);
    }
    await expect(openWs(svc.url, `/v1/sessions/${id}/ws`, b)).rejects.toMatchObject({ statusCode: 404 });
    const bList = await api(svc.url, 'GET', '/v1/sessions?includeClosed=true', { key: b });
    expect(bList.body.sessions.map((s: { id: string }) => s.id)).not.toContain(id);

    // Nothing of B's attempts landed.
    const file = await api(svc.url, 'GET', `/v1/sessions/${id}/files/secret.txt`, { key: svc.keys.a });
    expect(file.text).toBe('a only');
    const state = await api(svc.url, 'POST', `/v1/sessions/${id}/executions`, {
      key: svc.keys.a,
      json: { code: 'token' },
    });
    expect(state.body.result).toEqual({ 'text/plain': "'a'" });
    const history = await api(svc.url, 'GET', `/v1/sessions/${id}/history`, { key: svc.keys.a });
    expect(history.body.executions).toHaveLength(2);

    // Admin sees and touches everything.
    const adminList = await api(svc.url, 'GET', '/v1/sessions', { key: svc.keys.admin });
    const mine = adminList.body.sessions.find((s: { id: string }) => s.id === id);
    expect(mine.ownerKeyId).toMatch(/^key_/);
    expect(
      (await api(svc.url, 'GET', `/v1/sessions/${id}/files/secret.txt`, { key: svc.keys.admin })).text,
    ).toBe('a only');
    expect((await api(svc.url, 'DELETE', `/v1/sessions/${id}`, { key: svc.keys.admin })).body.state).toBe(
      'closed',
    );

    const audit = await svc.service.store.listAudit({ limit: 1000 });
    const actions = audit.filter((entry) => entry.target?.startsWith(id)).map((entry) => entry.action);
    expect(actions).toEqual(
      expect.arrayContaining(['session.create', 'file.write', 'execution.run', 'session.close']),
    );
  });
});

describe('per-key limits', () => {
  it('answers 429 RATE_LIMITED with Retry-After past maxExecutionsPerMinute', async () => {
    const key = svc.keys.limited;
    const created = await api(svc.url, 'POST', '/v1/sessions', { key, json: {} });
    const id = created.body.id as string;
    for (let i = 0; i < 3; i += 1) {
      expect(
        (await api(svc.url, 'POST', `/v1/sessions/${id}/executions`, { key, json: { code: String(i) } }))
          .status,
      ).toBe(200);
    }
    const limited = await api(svc.url, 'POST', `/v1/sessions/${id}/executions`, { key, json: { code: '4' } });
    expectError(limited, 429, 'RATE_LIMITED');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.body.error.details).toMatchObject({ limitPerMinute: 3, retryAfterSec: retryAfter });
    // The one-shot and tool routes count too; other keys are not affected.
    expectError(await api(svc.url, 'POST', '/v1/run', { key, json: { code: '1' } }), 429, 'RATE_LIMITED');
    expectError(
      await api(svc.url, 'POST', '/api/tools/python_coder', { key, json: { code: '1', session_id: 's' } }),
      429,
      'RATE_LIMITED',
    );
    expect((await api(svc.url, 'POST', '/v1/run', { key: svc.keys.b, json: { code: '1' } })).status).toBe(
      200,
    );
    // Refused executions were not run or stored.
    expect((await api(svc.url, 'GET', `/v1/sessions/${id}/history`, { key })).body.executions).toHaveLength(
      3,
    );
    await api(svc.url, 'DELETE', `/v1/sessions/${id}`, { key });
  });

  it('answers 429 QUOTA_EXCEEDED past maxConcurrentSessions, and frees a slot on close', async () => {
    const { key } = await svc.service.store.createKey({
      name: 'two-sessions',
      limits: { maxConcurrentSessions: 2 },
    });
    const first = await api(svc.url, 'POST', '/v1/sessions', { key, json: {} });
    const second = await api(svc.url, 'POST', '/v1/sessions', { key, json: {} });
    expect([first.status, second.status]).toEqual([201, 201]);
    const third = await api(svc.url, 'POST', '/v1/sessions', { key, json: {} });
    expectError(third, 429, 'QUOTA_EXCEEDED');
    expect(third.body.error.details).toEqual({ maxConcurrentSessions: 2 });
    await api(svc.url, 'DELETE', `/v1/sessions/${first.body.id}`, { key });
    const again = await api(svc.url, 'POST', '/v1/sessions', { key, json: {} });
    expect(again.status).toBe(201);
    await api(svc.url, 'DELETE', `/v1/sessions/${second.body.id}`, { key });
    await api(svc.url, 'DELETE', `/v1/sessions/${again.body.id}`, { key });
  });
});

describe('running without auth', () => {
  it('is refused on a non-loopback host', async () => {
    const config = loadConfig({ env: {}, overrides: { dataDir: '/nonexistent/never-created', preload: [] } });
    await expect(startService({ config, host: '0.0.0.0', port: 0, noAuth: true })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('loopback'),
    });
  });

  it('serves loopback callers without a key, with a warning in the log', async () => {
    const open = await startServiceFixture({ noAuth: true });
    try {
      const created = await api(open.url, 'POST', '/v1/sessions', { json: {} });
      expect(created.status).toBe(201);
      expect(created.body.ownerKeyId).toBeNull();
      const run = await api(open.url, 'POST', `/v1/sessions/${created.body.id}/executions`, {
        json: { code: '40 + 2' },
      });
      expect(run.body.result).toEqual({ 'text/plain': '42' });
      expect(open.logs.some((line) => JSON.parse(line).level === 40 && /auth is OFF/.test(line))).toBe(true);
    } finally {
      await open.stop();
    }
  });
});
