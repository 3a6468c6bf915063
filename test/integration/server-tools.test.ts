/* eslint-disable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument -- HTTP bodies are untyped JSON, checked by the assertions */
import { describe, expect, it } from 'vitest';
import { api, useService } from '../helpers/server.js';

/** `POST /api/tools/python_coder`: the ToolResponse contract. */

const svc = useService();

const tool = (json: unknown, key = svc.keys.a) =>
  api(svc.url, 'POST', '/api/tools/python_coder', { key, json });

const toolResponseShape = {
  success: expect.any(Boolean),
  answer: expect.any(String),
  data: {
    stdout: expect.any(String),
    stderr: expect.any(String),
    files: expect.any(Array),
    workspace: '/workspace',
    returncode: expect.any(Number),
  },
  metadata: expect.objectContaining({
    execution_time: expect.any(Number),
    code_execution_time: expect.any(Number),
  }),
  error: null,
};

describe('python_coder', () => {
  it('answers a ToolResponse for a program that works', async () => {
    const response = await tool({
      code: "print('hello')\nopen('result.csv', 'w').write('a\\n1\\n')\n6 * 7",
      session_id: 'conversation-1',
      timeout: 30,
      context: { task: 'greet' },
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ ...toolResponseShape, metadata: expect.any(Object) });
    expect(response.body).toMatchObject({
      success: true,
      answer: 'hello\n42',
      data: { stdout: 'hello\n', stderr: '', files: ['result.csv'], workspace: '/workspace', returncode: 0 },
      metadata: { session_id: 'conversation-1', status: 'ok', namespace_reset: false },
      error: null,
    });
    expect(response.body.metadata.execution_time).toBeGreaterThanOrEqual(
      response.body.metadata.code_execution_time,
    );
    expect(response.body.metadata.code_execution_time).toBeLessThan(30);
  });

  it('keeps state per session_id, owned by the caller', async () => {
    expect((await tool({ code: 'counter = 1', session_id: 'stateful' })).body.success).toBe(true);
    const again = await tool({ code: 'counter += 1\ncounter', session_id: 'stateful' });
    expect(again.body.answer).toBe('2');
    expect(again.body.data.files).toEqual([]);
    // The same name under another key is another session.
    const other = await tool({ code: "'counter' in globals()", session_id: 'stateful' }, svc.keys.b);
    expect(other.body.answer).toBe('False');
    // The sessions are ordinary sessions of their keys.
    const mine = await api(svc.url, 'GET', '/v1/sessions', { key: svc.keys.a });
    const theirs = await api(svc.url, 'GET', '/v1/sessions', { key: svc.keys.b });
    const mineIds = mine.body.sessions.map((s: { id: string }) => s.id);
    for (const session of theirs.body.sessions) expect(mineIds).not.toContain(session.id);
  });

  it('answers a failing program with 200, success false and returncode 1', async () => {
    const response = await tool({
      code: "print('before')\nraise ValueError('bad input')",
      session_id: 'failing',
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      success: false,
      data: { stdout: 'before\n', returncode: 1, workspace: '/workspace' },
      metadata: { status: 'error' },
      error: 'ValueError: bad input',
    });
    expect(response.body.answer).toBe('before\nValueError: bad input');

    const syntax = await tool({ code: 'def broken(:\n  pass' });
    expect(syntax.status).toBe(200);
    expect(syntax.body).toMatchObject({
      success: false,
      data: { returncode: 1 },
      metadata: { session_id: null },
    });
    expect(syntax.body.error).toMatch(/^SyntaxError/);

    const exit = await tool({ code: 'import sys\nsys.exit(3)' });
    expect(exit.status).toBe(200);
    expect(exit.body).toMatchObject({ success: false, data: { returncode: 1 } });
  });

  it('answers a timeout with 200, and carries on with a fresh kernel on the next call', async () => {
    const slow = await tool({ code: 'import time\ntime.sleep(30)', session_id: 'slow', timeout: 0.5 });
    expect(slow.status).toBe(200);
    expect(slow.body).toMatchObject({
      success: false,
      data: { returncode: 1 },
      metadata: { status: 'timeout' },
    });
    expect(slow.body.error).toMatch(/timeout/);
    const next = await tool({ code: '"alive"', session_id: 'slow' });
    expect(next.status).toBe(200);
    expect(next.body).toMatchObject({
      success: true,
      answer: "'alive'",
      metadata: { namespace_reset: true },
    });
  });

  it('validates the request with 4xx answers', async () => {
    expect((await tool({ session_id: 'x' })).status).toBe(400);
    expect((await tool({ code: 5 })).status).toBe(400);
    expect((await tool({ code: '1', timeout: -1 })).status).toBe(400);
  });
});
