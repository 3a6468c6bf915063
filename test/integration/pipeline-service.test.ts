/* eslint-disable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument -- HTTP JSON is untyped, checked by the assertions */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlmServer, type FakeLlmServer } from '../helpers/fake-llm-server.js';
import { api, parseSse, startServiceFixture, type Json, type ServiceFixture } from '../helpers/server.js';
import { waitFor } from '../helpers/engine.js';

/**
 * The pipeline through the real service: a scripted OpenAI-compatible server on loopback writes
 * the code (streaming), real kernels in the real sandbox run it, the SQLite store keeps tasks,
 * model calls and approvals across a restart.
 */

const fence = (code: string): string => `Here is the code:\n\n\`\`\`python\n${code}\n\`\`\`\n`;
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

let llm: FakeLlmServer;
let service: ServiceFixture;

beforeAll(async () => {
  llm = await startFakeLlmServer();
  service = await startServiceFixture({
    config: {
      llm: {
        provider: 'openai-compatible',
        baseUrl: llm.baseUrl,
        model: 'fake-coder',
        apiKey: 'sk-test-key',
        stream: true,
      },
      policy: { imports: { allow: [], deny: ['subprocess'] }, approvalTimeoutMs: 600_000 },
    },
  });
}, 120_000);

afterAll(async () => {
  await service?.stop();
  await llm?.close();
});

async function createTask(body: Json, key = service.keys.a): Promise<Json> {
  const response = await api(service.url, 'POST', '/v1/tasks', { key, json: body });
  expect([200, 202], response.text).toContain(response.status);
  return response.body;
}

async function waitForState(id: string, states: string[], key = service.keys.a): Promise<Json> {
  let task: Json = null;
  await waitFor(
    async () => {
      task = (await api(service.url, 'GET', `/v1/tasks/${id}`, { key })).body;
      return states.includes(task.state);
    },
    `task ${id} to reach ${states.join(' or ')}`,
    60_000,
  );
  return task;
}

describe('tasks over HTTP with an OpenAI-compatible model', () => {
  it('repairs a NameError: the second prompt carries the error chain; results, usage and model calls are stored', async () => {
    const broken = 'total = sum(values)\nresults = {"total": total}';
    const fixed =
      'values = [1, 2, 3, 4]\ntotal = sum(values)\nprint("total", total)\nresults = {"total": total, "count": len(values)}';
    llm.enqueue(fence(broken), fence(fixed));
    const response = await api(service.url, 'POST', '/v1/tasks', {
      key: service.keys.a,
      json: {
        objective: 'Sum the numbers 1 to 4',
        expectedResults: ['total', 'count'],
        approvalMode: 'never',
      },
      headers: { accept: 'text/event-stream' },
    });
    expect(response.status).toBe(200);
    const events = parseSse(response.text);
    const types = events.map((event) => event.event);
    expect(types[0]).toBe('task-start');
    expect(types).toContain('generation-delta');
    expect(types).toContain('code-generated');
    expect(types).toContain('analysis-end');
    expect(types).toContain('stream-delta');
    expect(types).toContain('attempt-failed');
    expect(types.at(-1)).toBe('task-end');
    const steps = events.filter((event) => event.event === 'task-step-start').map((event) => event.data.step);
    expect(steps).toEqual(['generate', 'analyze', 'execute', 'repair', 'analyze', 'execute', 'verify']);
    const deltas = events
      .filter((event) => event.event === 'generation-delta')
      .map((event) => event.data.text);
    expect(deltas.join('')).toContain('total = sum(values)');

    const result = events.at(-1)!.data.result;
    expect(result.status).toBe('succeeded');
    expect(result.attempts).toHaveLength(2);
    expect(result.results).toEqual({ total: 10, count: 4 });
    expect(result.code).toBe(fixed);
    expect(result.execution.status).toBe('ok');
    expect(result.execution.stdout).toContain('total 10');
    const [first, second] = result.attempts;
    expect(first.code).toBe(broken);
    expect(first.codeHash).toBe(sha256(broken));
    expect(first.error).toMatchObject({ stage: 'execution', ename: 'NameError' });
    expect(first.error.evalue).toContain("'values'");
    expect(first.execution.status).toBe('error');
    expect(second.verification).toMatchObject({ ok: true, missing: [] });

    // The repair prompt: the failed code and its error, from the error chain.
    const prompts = llm.completions().slice(-2);
    expect(prompts[0]!.prompt).toContain('Sum the numbers 1 to 4');
    expect(prompts[0]!.prompt).toContain('results');
    expect(prompts[0]!.prompt).not.toContain('NameError');
    expect(prompts[1]!.prompt).toContain('NameError');
    expect(prompts[1]!.prompt).toContain('total = sum(values)');
    expect(prompts[1]!.stream).toBe(true);
    expect(prompts[1]!.apiKey).toBe('sk-test-key');

    // Model calls: stored with prompt, response, tokens and latency; never the key.
    const calls = await api(service.url, 'GET', `/v1/tasks/${result.id}/model-calls`, {
      key: service.keys.a,
    });
    expect(calls.status).toBe(200);
    expect(calls.body.calls).toHaveLength(2);
    for (const call of calls.body.calls) {
      expect(call).toMatchObject({ purpose: 'generate', generator: 'llm', model: 'fake-coder', error: null });
      expect(call.messages.length).toBeGreaterThan(0);
      expect(call.usage.totalTokens).toBeGreaterThan(0);
      expect(call.latencyMs).toBeGreaterThanOrEqual(0);
    }
    expect(calls.body.calls[1].response).toContain('values = [1, 2, 3, 4]');
    expect(JSON.stringify(calls.body.calls)).not.toContain('sk-test-key');
    const usage = calls.body.calls.reduce((sum: number, call: Json) => sum + call.usage.totalTokens, 0);
    expect(result.usage.totalTokens).toBe(usage);

    // Stored: the task, its events (replayed as JSON), the executions in the session's history.
    const stored = await api(service.url, 'GET', `/v1/tasks/${result.id}`, { key: service.keys.a });
    expect(stored.body).toMatchObject({ id: result.id, state: 'succeeded', status: 'succeeded' });
    const replay = await api(service.url, 'GET', `/v1/tasks/${result.id}/events`, { key: service.keys.a });
    expect(replay.body.events.map((event: Json) => event.type)).not.toContain('generation-delta');
    expect(replay.body.events.at(-1).type).toBe('task-end');
    const history = await api(service.url, 'GET', `/v1/sessions/${result.sessionId}/history`, {
      key: service.keys.a,
    });
    expect(JSON.stringify(history.body)).toContain('values = [1, 2, 3, 4]');
    // Another key sees none of it.
    expect((await api(service.url, 'GET', `/v1/tasks/${result.id}`, { key: service.keys.b })).status).toBe(
      404,
    );
  });

  it('regenerates after a denied import, and denies the obfuscated form too', async () => {
    llm.enqueue(
      fence('import subprocess\nresults = {"out": subprocess.run(["ls"], capture_output=True).returncode}'),
      fence('sp = __import__("subprocess")\nresults = {"out": sp.run(["ls"]).returncode}'),
      fence('import os\nresults = {"out": len(os.listdir("."))}'),
    );
    const result = await createTask({
      objective: 'Count the files',
      expectedResults: ['out'],
      approvalMode: 'never',
    });
    expect(result.status).toBe('succeeded');
    expect(result.attempts).toHaveLength(3);
    for (const attempt of result.attempts.slice(0, 2)) {
      expect(attempt.analysis.decision.outcome).toBe('deny');
      expect(attempt.execution).toBeNull();
      expect(attempt.error).toMatchObject({ stage: 'analysis', ename: 'PolicyDenied' });
      expect(attempt.error.evalue).toContain('subprocess');
    }
    expect(result.attempts[2].analysis.decision.outcome).toBe('allow');
    expect(typeof result.results.out).toBe('number');
    // The regeneration prompts carry the denial.
    const prompts = llm.completions().slice(-2);
    expect(prompts[0]!.prompt).toContain('PolicyDenied');
    expect(prompts[1]!.prompt).toContain('PolicyDenied');
  });

  it('fails the verification when the expected results are missing or not JSON, then repairs', async () => {
    llm.enqueue(
      fence('mean = 2.5\nprint(mean)'),
      fence('import datetime\nresults = {"mean": datetime.datetime(2020, 1, 1)}'),
      fence('import numpy as np\nresults = {"mean": np.mean([1, 2, 3, 4])}'),
    );
    const result = await createTask({
      objective: 'Mean of 1..4',
      expectedResults: ['mean'],
      approvalMode: 'never',
    });
    expect(result.status).toBe('succeeded');
    const [missing, unserializable, good] = result.attempts;
    expect(missing.execution.status).toBe('ok');
    expect(missing.verification).toMatchObject({ ok: false, missing: ['mean'] });
    expect(missing.error).toMatchObject({ stage: 'verification', ename: 'MissingResults' });
    expect(unserializable.verification.ok).toBe(false);
    expect(unserializable.verification.unserializable[0]).toMatchObject({ key: 'mean', type: 'datetime' });
    expect(good.verification).toMatchObject({ ok: true });
    // numpy scalars count as their Python values.
    expect(result.results).toEqual({ mean: 2.5 });
  });

  it('asks the model whether the output answers the objective (verify) and repairs from its suggestion', async () => {
    llm.enqueue(
      fence('print("hello")\nresults = {"greeting": "hello"}'),
      '```json\n{"adequate": false, "reason": "The greeting is not in French", "suggestion": "Use bonjour"}\n```',
      fence('print("bonjour")\nresults = {"greeting": "bonjour"}'),
      '{"adequate": true, "reason": "It greets in French", "suggestion": null}',
    );
    const result = await createTask({
      objective: 'Greet in French',
      expectedResults: ['greeting'],
      approvalMode: 'never',
      verify: true,
    });
    expect(result.status).toBe('succeeded');
    expect(result.results).toEqual({ greeting: 'bonjour' });
    const [first, second] = result.attempts;
    expect(first.verification.model).toEqual({
      adequate: false,
      reason: 'The greeting is not in French',
      suggestion: 'Use bonjour',
    });
    expect(first.error).toMatchObject({ stage: 'verification', ename: 'Inadequate' });
    expect(second.verification.model.adequate).toBe(true);
    const calls = await api(service.url, 'GET', `/v1/tasks/${result.id}/model-calls`, {
      key: service.keys.a,
    });
    expect(calls.body.calls.map((call: Json) => call.purpose)).toEqual([
      'generate',
      'verify',
      'generate',
      'verify',
    ]);
    // The verifier saw the output; the repair prompt carries its reason and suggestion.
    const prompts = llm.completions().slice(-4);
    expect(prompts[1]!.prompt).toContain('hello');
    expect(prompts[2]!.prompt).toContain('Use bonjour');
  });

  it('a results dict left by an earlier task does not satisfy a later one', async () => {
    llm.enqueue(fence('results = {"answer": 42}'));
    const first = await createTask({
      objective: 'Leave an answer',
      expectedResults: ['answer'],
      approvalMode: 'never',
    });
    expect(first.status).toBe('succeeded');
    llm.enqueue(fence('print("no results here")'));
    const second = await createTask({
      objective: 'Print something',
      sessionId: first.sessionId,
      expectedResults: ['answer'],
      maxAttempts: 1,
      approvalMode: 'never',
    });
    expect(second.status).toBe('failed');
    expect(second.error.kind).toBe('attempts_exhausted');
    expect(second.attempts[0].verification.missing).toEqual(['answer']);
  });

  it('waits for approval on a risky call, runs exactly the approved code once approved over HTTP', async () => {
    const risky = 'import os\nstatus = os.system("echo from-shell")\nresults = {"status": status}';
    llm.enqueue(fence(risky));
    const pending = await createTask({ objective: 'Run a shell command', expectedResults: ['status'] });
    expect(pending.state).toBe('awaiting_approval');
    expect(pending.pendingApproval).toMatchObject({ state: 'pending', code: risky, codeHash: sha256(risky) });
    expect(pending.pendingApproval.reasons.join(' ')).toContain('os.system');
    const listed = await api(service.url, 'GET', '/v1/approvals?state=pending', { key: service.keys.a });
    const approval = listed.body.approvals.find((entry: Json) => entry.taskId === pending.id);
    expect(approval).toMatchObject({
      objective: 'Run a shell command',
      code: risky,
      mode: 'workspace_write',
      expectedResults: ['status'],
    });
    expect(approval.findings.map((finding: Json) => finding.ruleId)).toContain('process.system');
    // Other keys neither see nor decide it.
    const foreign = await api(service.url, 'GET', '/v1/approvals?state=pending', { key: service.keys.b });
    expect(foreign.body.approvals.map((entry: Json) => entry.id)).not.toContain(approval.id);
    expect(
      (
        await api(service.url, 'POST', `/v1/approvals/${approval.id}`, {
          key: service.keys.b,
          json: { decision: 'approve' },
        })
      ).status,
    ).toBe(404);
    // A decision on a different code hash is refused; nothing runs.
    const wrongHash = await api(service.url, 'POST', `/v1/approvals/${approval.id}`, {
      key: service.keys.a,
      json: { decision: 'approve', codeHash: sha256('something else') },
    });
    expect(wrongHash.status).toBe(409);
    expect(wrongHash.body.error.code).toBe('APPROVAL_CONFLICT');
    const bad = await api(service.url, 'POST', `/v1/approvals/${approval.id}`, {
      key: service.keys.a,
      json: { decision: 'maybe' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('decision');

    const decided = await api(service.url, 'POST', `/v1/approvals/${approval.id}`, {
      key: service.keys.a,
      json: { decision: 'approve', comment: 'looks fine', codeHash: sha256(risky) },
    });
    expect(decided.status, decided.text).toBe(200);
    expect(decided.body).toMatchObject({
      state: 'approved',
      decision: { decision: 'approve', comment: 'looks fine' },
    });
    const again = await api(service.url, 'POST', `/v1/approvals/${approval.id}`, {
      key: service.keys.a,
      json: { decision: 'reject' },
    });
    expect(again.status).toBe(409);

    const done = await waitForState(pending.id, ['succeeded', 'failed']);
    expect(done.status).toBe('succeeded');
    expect(done.results).toEqual({ status: 0 });
    expect(done.execution.stdout).toContain('from-shell');
    expect(done.attempts[0].approval).toMatchObject({ state: 'approved' });

    // Audited: who decided what, on which code hash.
    const store = new Database(join(service.dataDir, 'vivarium.db'), { readonly: true });
    try {
      const rows = store
        .prepare("SELECT key_id, status, details FROM audit WHERE action = 'approval.decide' AND target = ?")
        .all(approval.id) as Array<{ key_id: string; status: string; details: string }>;
      expect(rows).toHaveLength(1);
      expect(rows[0]!.status).toBe('approved');
      expect(JSON.parse(rows[0]!.details)).toMatchObject({
        taskId: pending.id,
        codeHash: sha256(risky),
        comment: 'looks fine',
      });
    } finally {
      store.close();
    }
  });

  it('a rejection ends the task rejected without running the code', async () => {
    llm.enqueue(fence('import socket\ns = socket.socket()\nresults = {"ok": True}'));
    const pending = await createTask({ objective: 'Open a socket', expectedResults: ['ok'] });
    expect(pending.state).toBe('awaiting_approval');
    const decided = await api(service.url, 'POST', `/v1/approvals/${pending.pendingApproval.id}`, {
      key: service.keys.a,
      json: { decision: 'reject', comment: 'no sockets' },
    });
    expect(decided.status).toBe(200);
    const done = await waitForState(pending.id, ['rejected', 'failed', 'succeeded']);
    expect(done.status).toBe('rejected');
    expect(done.error).toMatchObject({ kind: 'rejected' });
    expect(done.error.message).toContain('no sockets');
    expect(done.attempts).toHaveLength(1);
    expect(done.attempts[0].execution).toBeNull();
  });

  it('cancels a task waiting for approval', async () => {
    llm.enqueue(fence('import ctypes\nlibc = ctypes.CDLL(None)\nresults = {"x": 1}'));
    const pending = await createTask({ objective: 'Native code', expectedResults: ['x'] });
    expect(pending.state).toBe('awaiting_approval');
    const cancelled = await api(service.url, 'POST', `/v1/tasks/${pending.id}/cancel`, {
      key: service.keys.a,
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    const approval = await api(service.url, 'GET', `/v1/approvals/${pending.pendingApproval.id}`, {
      key: service.keys.a,
    });
    expect(approval.body.state).toBe('cancelled');
  });

  it('refuses bad task requests with clear errors', async () => {
    const empty = await api(service.url, 'POST', '/v1/tasks', {
      key: service.keys.a,
      json: { objective: '  ' },
    });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toContain('objective');
    const mode = await api(service.url, 'POST', '/v1/tasks', {
      key: service.keys.a,
      json: { objective: 'x', approvalMode: 'sometimes' },
    });
    expect(mode.status).toBe(400);
    expect(mode.body.error.message).toContain('on_risk');
    const session = await api(service.url, 'POST', '/v1/tasks', {
      key: service.keys.a,
      json: { objective: 'x', sessionId: 'ses_missing' },
    });
    expect(session.status).toBe(404);
    const network = await api(service.url, 'POST', '/v1/tasks', {
      key: service.keys.a,
      json: { objective: 'x', mode: 'network' },
    });
    expect(network.status).toBe(400);
    expect(network.body.error.message).toContain('admin');
    expect((await api(service.url, 'GET', '/v1/tasks/tsk_nope', { key: service.keys.a })).status).toBe(404);
    expect((await api(service.url, 'GET', '/v1/approvals/apr_nope', { key: service.keys.a })).status).toBe(
      404,
    );
  });

  it('keeps a pending approval across a restart and runs it after the decision', async () => {
    const risky = 'import os\nos.system("true")\nresults = {"after": "restart"}';
    llm.enqueue(fence(risky));
    const pending = await createTask({
      objective: 'Survive a restart',
      expectedResults: ['after'],
      wait: false,
    });
    const waiting = await waitForState(pending.id, ['awaiting_approval']);
    const approvalId = waiting.pendingApproval.id;
    await service.restart();
    const listed = await api(service.url, 'GET', '/v1/approvals?state=pending', { key: service.keys.a });
    expect(listed.body.approvals.map((entry: Json) => entry.id)).toContain(approvalId);
    expect(
      (await api(service.url, 'GET', `/v1/tasks/${pending.id}`, { key: service.keys.a })).body.state,
    ).toBe('awaiting_approval');
    const decided = await api(service.url, 'POST', `/v1/approvals/${approvalId}`, {
      key: service.keys.a,
      json: { decision: 'approve' },
    });
    expect(decided.status, decided.text).toBe(200);
    const done = await waitForState(pending.id, ['succeeded', 'failed']);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.results).toEqual({ after: 'restart' });
    expect(done.execution.namespaceReset).toBe(true);
  });

  it('does not run code changed after it was put up for approval (code-hash check)', async () => {
    const risky = 'import os\nos.system("echo approved-version")\nresults = {"v": 1}';
    llm.enqueue(fence(risky));
    const pending = await createTask({ objective: 'Tamper test', expectedResults: ['v'], wait: false });
    const waiting = await waitForState(pending.id, ['awaiting_approval']);
    const approvalId = waiting.pendingApproval.id;
    await service.restart(() => {
      // While the service is down, someone rewrites the stored code (and its recorded hash).
      const store = new Database(join(service.dataDir, 'vivarium.db'));
      try {
        const row = store.prepare('SELECT task FROM tasks WHERE id = ?').get(pending.id) as { task: string };
        const task = JSON.parse(row.task);
        const tampered = 'import os\nos.system("echo TAMPERED")\nresults = {"v": 2}';
        task.attempts[0].code = tampered;
        task.attempts[0].codeHash = sha256(tampered);
        store.prepare('UPDATE tasks SET task = ? WHERE id = ?').run(JSON.stringify(task), pending.id);
      } finally {
        store.close();
      }
      return Promise.resolve();
    });
    const decided = await api(service.url, 'POST', `/v1/approvals/${approvalId}`, {
      key: service.keys.a,
      json: { decision: 'approve', codeHash: sha256(risky) },
    });
    expect(decided.status, decided.text).toBe(200);
    const done = await waitForState(pending.id, ['succeeded', 'failed']);
    expect(done.status).toBe('failed');
    expect(done.error.kind).toBe('approval_mismatch');
    expect(done.attempts[0].execution).toBeNull();
    const history = await api(service.url, 'GET', `/v1/sessions/${done.sessionId}/history`, {
      key: service.keys.a,
    });
    expect(JSON.stringify(history.body)).not.toContain('TAMPERED');
  });
});
