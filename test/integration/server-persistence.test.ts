/* eslint-disable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return -- HTTP bodies are untyped JSON, checked by the assertions */
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { api, startServiceFixture, useService, type Json } from '../helpers/server.js';

/** Restart persistence (sessions, history, files, keys) and graceful shutdown. */

describe('after a restart of the service', () => {
  const svc = useService();

  it('lists sessions and history, serves files, and runs the next execution on a fresh kernel', async () => {
    const key = svc.keys.a;
    const live = (await api(svc.url, 'POST', '/v1/sessions', { key, json: {} })).body.id as string;
    expect(
      (await api(svc.url, 'POST', `/v1/sessions/${live}/executions`, { key, json: { code: 'x = 1' } })).body
        .status,
    ).toBe('ok');
    const failed = await api(svc.url, 'POST', `/v1/sessions/${live}/executions`, {
      key,
      json: { code: 'print("p")\n1/0' },
    });
    expect(failed.body.status).toBe('error');
    await api(svc.url, 'PUT', `/v1/sessions/${live}/files/notes/kept.txt`, { key, body: 'written before' });
    await api(svc.url, 'POST', `/v1/sessions/${live}/executions`, {
      key,
      json: { code: "open('made-by-python.csv', 'w').write('a,b\\n')" },
    });
    const closed = (await api(svc.url, 'POST', '/v1/sessions', { key, json: {} })).body.id as string;
    await api(svc.url, 'POST', `/v1/sessions/${closed}/executions`, { key, json: { code: '"closed one"' } });
    await api(svc.url, 'DELETE', `/v1/sessions/${closed}`, { key });
    const lost = (await api(svc.url, 'POST', '/v1/sessions', { key, json: {} })).body.id as string;
    const before = (await api(svc.url, 'GET', `/v1/sessions/${live}/history`, { key })).body.executions;
    expect(before).toHaveLength(3);

    await svc.restart(async () => {
      // While stopped, one session's workspace disappears.
      const stored = await openStoreRecord(svc.dataDir, lost);
      await rm(stored.dir, { recursive: true, force: true });
      if (stored.imagePath) await rm(stored.imagePath, { force: true });
    });
    expect(svc.service.restored.restored).toContain(live);
    expect(svc.service.restored.lost.map((item) => item.id)).toEqual([lost]);

    // Sessions are listed as before; the restored one says its kernel is gone.
    const listed = await api(svc.url, 'GET', '/v1/sessions', { key });
    expect(listed.status).toBe(200);
    const restored = listed.body.sessions.find((s: { id: string }) => s.id === live);
    expect(restored).toMatchObject({ state: 'dead', executionCount: 3 });
    expect(restored.deathReason).toMatch(/fresh/);
    expect(listed.body.sessions.map((s: { id: string }) => s.id)).not.toContain(lost);
    const all = await api(svc.url, 'GET', '/v1/sessions?includeClosed=true', { key });
    expect(all.body.sessions.map((s: { id: string }) => s.id)).toEqual(
      expect.arrayContaining([live, closed, lost]),
    );
    const gone = await api(svc.url, 'GET', `/v1/sessions/${lost}`, { key });
    expect(gone.body.state).toBe('closed');
    expect(gone.body.deathReason).toMatch(/not restored/);
    expect(
      (await api(svc.url, 'POST', `/v1/sessions/${lost}/executions`, { key, json: { code: '1' } })).status,
    ).toBe(410);

    // History, including the closed session's.
    const history = await api(svc.url, 'GET', `/v1/sessions/${live}/history`, { key });
    expect(history.body.executions).toEqual(before);
    const closedHistory = await api(svc.url, 'GET', `/v1/sessions/${closed}/history`, { key });
    expect(closedHistory.body.executions.map((item: Json) => item.execution.result)).toEqual([
      { 'text/plain': "'closed one'" },
    ]);

    // Files written before are downloadable.
    expect((await api(svc.url, 'GET', `/v1/sessions/${live}/files/notes/kept.txt`, { key })).text).toBe(
      'written before',
    );
    expect((await api(svc.url, 'GET', `/v1/sessions/${live}/files/made-by-python.csv`, { key })).text).toBe(
      'a,b\n',
    );

    // The next execution works on a fresh kernel and says so; the one after is ordinary.
    const next = await api(svc.url, 'POST', `/v1/sessions/${live}/executions`, {
      key,
      json: { code: "'x' in globals(), open('notes/kept.txt').read()" },
    });
    expect(next.status).toBe(200);
    expect(next.body).toMatchObject({
      status: 'ok',
      namespaceReset: true,
      // The kernel's own counter (In[n]) starts again with the fresh kernel.
      executionCount: 1,
      result: { 'text/plain': "(False, 'written before')" },
    });
    const after = await api(svc.url, 'POST', `/v1/sessions/${live}/executions`, {
      key,
      json: { code: 'y = 2\ny' },
    });
    expect(after.body).toMatchObject({ status: 'ok', namespaceReset: false, executionCount: 2 });
    // The session counts all of its executions.
    expect((await api(svc.url, 'GET', `/v1/sessions/${live}`, { key })).body).toMatchObject({
      state: 'idle',
      executionCount: 5,
    });

    // Tenancy survives the restart too.
    expect((await api(svc.url, 'GET', `/v1/sessions/${live}`, { key: svc.keys.b })).status).toBe(404);
    await api(svc.url, 'DELETE', `/v1/sessions/${live}`, { key });
  });

  it('stays restorable across a second restart', async () => {
    const key = svc.keys.a;
    const id = (await api(svc.url, 'POST', '/v1/sessions', { key, json: {} })).body.id as string;
    await api(svc.url, 'PUT', `/v1/sessions/${id}/files/a.txt`, { key, body: 'one' });
    await svc.restart();
    await svc.restart();
    expect((await api(svc.url, 'GET', `/v1/sessions/${id}/files/a.txt`, { key })).text).toBe('one');
    const run = await api(svc.url, 'POST', `/v1/sessions/${id}/executions`, { key, json: { code: '1' } });
    expect(run.body.namespaceReset).toBe(true);
    await api(svc.url, 'DELETE', `/v1/sessions/${id}`, { key });
  });
});

/** The stored workspace of a session, read from the SQLite file while the service is stopped. */
async function openStoreRecord(
  dataDir: string,
  sessionId: string,
): Promise<{ dir: string; imagePath?: string }> {
  const { openSqliteStore } = await import('../../src/store/index.js');
  const store = await openSqliteStore({ dataDir });
  try {
    const stored = await store.getSession(sessionId);
    if (!stored) throw new Error(`session ${sessionId} is not stored`);
    return stored.record.workspace;
  } finally {
    await store.close();
  }
}

describe('graceful shutdown', () => {
  it('lets a running cell finish and stores it; new requests get 503 while draining', async () => {
    const fixture = await startServiceFixture();
    try {
      const key = fixture.keys.a;
      const id = (await api(fixture.url, 'POST', '/v1/sessions', { key, json: {} })).body.id as string;
      const running = api(fixture.url, 'POST', `/v1/sessions/${id}/executions`, {
        key,
        json: { code: 'import time\nprint("working", flush=True)\ntime.sleep(1.5)\ndone = True' },
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      await fixture.restart();
      const answer = await running;
      expect(answer.status).toBe(200);
      expect(answer.body.status).toBe('ok');
      const history = await api(fixture.url, 'GET', `/v1/sessions/${id}/history`, { key });
      expect(history.body.executions.map((item: Json) => item.execution.id)).toEqual([answer.body.id]);

      fixture.service.app.vivarium.beginShutdown();
      const refused = await api(fixture.url, 'GET', '/v1/sessions', { key });
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('ENGINE_STOPPED');
      expect((await api(fixture.url, 'GET', '/readyz')).body.ready).toBe(false);
    } finally {
      await fixture.stop();
    }
  });

  it('interrupts cells still running after the grace period and stores them', async () => {
    const fixture = await startServiceFixture({ config: { server: { shutdownGraceMs: 300 } } });
    try {
      const key = fixture.keys.a;
      const id = (await api(fixture.url, 'POST', '/v1/sessions', { key, json: {} })).body.id as string;
      const running = api(fixture.url, 'POST', `/v1/sessions/${id}/executions`, {
        key,
        json: { code: 'import time\nprint("working", flush=True)\ntime.sleep(60)' },
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      const started = performance.now();
      await fixture.restart();
      expect(performance.now() - started).toBeLessThan(15_000);
      const answer = await running;
      expect(answer.status).toBe(200);
      expect(answer.body.status).toBe('interrupted');
      const history = await api(fixture.url, 'GET', `/v1/sessions/${id}/history`, { key });
      expect(history.body.executions.map((item: Json) => item.execution.status)).toEqual(['interrupted']);
    } finally {
      await fixture.stop();
    }
  });
});
