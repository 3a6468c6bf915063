import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  VivariumClient,
  VivariumClientError,
  type Approval,
  type TaskEvent,
} from '../../src/client/index.js';
import { waitFor } from '../helpers/engine.js';
import { startFakeLlmServer, type FakeLlmServer } from '../helpers/fake-llm-server.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/server.js';

/**
 * The client's tasks and approvals against a real service: a scripted OpenAI-compatible server on
 * loopback writes the code, real kernels in the real sandbox run it, real HTTP (JSON and SSE)
 * through global fetch.
 */

const fence = (code: string): string => `Here is the code:\n\n\`\`\`python\n${code}\n\`\`\`\n`;

let llm: FakeLlmServer;
let service: ServiceFixture;
let client: VivariumClient;
let other: VivariumClient;

beforeAll(async () => {
  llm = await startFakeLlmServer();
  service = await startServiceFixture({
    config: {
      llm: { provider: 'openai-compatible', baseUrl: llm.baseUrl, model: 'fake-coder' },
      policy: { approvalTimeoutMs: 600_000 },
    },
  });
  client = new VivariumClient({ baseUrl: service.url, apiKey: service.keys.a });
  other = new VivariumClient({ baseUrl: service.url, apiKey: service.keys.b });
}, 120_000);

afterAll(async () => {
  await service?.stop();
  await llm?.close();
});

/** Expects `promise` to reject with a client error of `code` (and `status`). */
async function expectClientError(
  promise: Promise<unknown>,
  code: string,
  status?: number,
): Promise<VivariumClientError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(VivariumClientError);
  const clientError = error as VivariumClientError;
  expect(clientError.code, clientError.message).toBe(code);
  if (status !== undefined) expect(clientError.status).toBe(status);
  return clientError;
}

describe('client tasks', () => {
  it('createTask without onEvent: one JSON call resolving with the ended task', async () => {
    llm.enqueue(fence('results = {"total": sum([1, 2, 3, 4])}'));
    const result = await client.createTask({
      objective: 'Sum 1 to 4',
      expectedResults: ['total'],
      approvalMode: 'never',
    });
    expect(result.state).toBe('succeeded');
    expect(result.status).toBe('succeeded');
    expect(result.results).toEqual({ total: 10 });
    expect(result.attempts).toHaveLength(1);
    expect(result.usage.totalTokens).toBeGreaterThan(0);

    const fetched = await client.getTask(result.id);
    expect(fetched).toMatchObject({ id: result.id, status: 'succeeded', results: { total: 10 } });
    const succeeded = await client.listTasks({ state: 'succeeded' });
    expect(succeeded.map((task) => task.id)).toContain(result.id);
    expect(succeeded.every((task) => task.state === 'succeeded')).toBe(true);
    const calls = await client.taskModelCalls(result.id);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ taskId: result.id, attempt: 1, purpose: 'generate' });
    expect(JSON.stringify(calls[0]!.messages)).toContain('Sum 1 to 4');

    // Another key's task does not exist for this one.
    await expectClientError(other.getTask(result.id), 'TASK_NOT_FOUND', 404);
    expect((await other.listTasks()).map((task) => task.id)).not.toContain(result.id);
  });

  it('createTask with onEvent: the events stream in order; files go as text and base64', async () => {
    llm.enqueue(
      fence('total = sum(values)'),
      fence(
        'text = open("notes.txt").read()\nblob = open("blob.csv", "rb").read()\nprint("read", len(blob), flush=True)\nresults = {"text": text, "blob": list(blob)}',
      ),
    );
    const events: TaskEvent[] = [];
    const result = await client.createTask({
      objective: 'Read the files',
      files: [
        { path: 'notes.txt', content: 'héllo' },
        { path: 'blob.csv', content: new Uint8Array([0, 255, 128]) },
      ],
      approvalMode: 'never',
      onEvent: (event) => events.push(event),
    });
    expect(result.status).toBe('succeeded');
    expect(result.results).toEqual({ text: 'héllo', blob: [0, 255, 128] });
    expect(result.attempts).toHaveLength(2);
    const types = events.map((event) => event.type);
    expect(types[0]).toBe('task-start');
    expect(types.at(-1)).toBe('task-end');
    expect(types).toContain('generation-delta');
    expect(types).toContain('code-generated');
    expect(types).toContain('analysis-end');
    expect(types).toContain('attempt-failed');
    expect(types).toContain('verification-end');
    const streamed = events
      .filter((event) => event.type === 'stream-delta')
      .map((event) => (event.type === 'stream-delta' ? event.text : ''))
      .join('');
    expect(streamed).toContain('read 3');
    const steps = events.flatMap((event) => (event.type === 'task-step-start' ? [event.step] : []));
    expect(steps).toEqual(['generate', 'analyze', 'execute', 'repair', 'analyze', 'execute', 'verify']);
    const end = events.at(-1);
    expect(end?.type === 'task-end' ? end.result.id : null).toBe(result.id);
    llm.assertConsumed();
  });

  it('approvals: a JSON createTask answers the waiting task; list, get, decide (hash checked), follow to the end', async () => {
    llm.enqueue(fence('results = {"answer": 6 * 7}'));
    const waiting = await client.createTask({ objective: 'The answer', approvalMode: 'always' });
    expect(waiting.state).toBe('awaiting_approval');
    expect(waiting.status).toBeNull();
    const pending = waiting.pendingApproval!;
    expect(pending).toMatchObject({ state: 'pending', taskId: waiting.id, attempt: 1 });
    expect(pending.codeHash).toMatch(/^[0-9a-f]{64}$/);

    const listed = await client.listApprovals({ state: 'pending', taskId: waiting.id });
    expect(listed.map((approval) => approval.id)).toEqual([pending.id]);
    expect(await other.listApprovals({ state: 'pending' })).toEqual([]);
    const fetched = await client.getApproval(pending.id);
    expect(fetched).toMatchObject({
      id: pending.id,
      code: 'results = {"answer": 6 * 7}',
      reasons: pending.reasons,
    });
    await expectClientError(other.getApproval(pending.id), 'APPROVAL_NOT_FOUND', 404);

    // A decision on other code than the pending one is refused, and decides nothing.
    const conflict = await expectClientError(
      client.decideApproval(pending.id, { decision: 'approve', codeHash: '0'.repeat(64) }),
      'APPROVAL_CONFLICT',
      409,
    );
    expect(conflict.message).toContain(pending.codeHash);
    expect((await client.getApproval(pending.id)).state).toBe('pending');

    const events: TaskEvent[] = [];
    const following = client.taskEvents(waiting.id, { onEvent: (event) => events.push(event) });
    const decided: Approval = await client.decideApproval(pending.id, {
      decision: 'approve',
      comment: 'reviewed',
      codeHash: pending.codeHash,
    });
    expect(decided).toMatchObject({
      state: 'approved',
      decision: { decision: 'approve', comment: 'reviewed' },
    });
    const ended = await following;
    expect(ended).toMatchObject({ id: waiting.id, status: 'succeeded', results: { answer: 42 } });
    // The stored events first (from task-start), then the live ones.
    const types = events.map((event) => event.type);
    expect(types[0]).toBe('task-start');
    expect(types).toContain('approval-request');
    expect(types).toContain('approval-decided');
    expect(types.at(-1)).toBe('task-end');
    const seqs = events.map((event) => event.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);

    await expectClientError(
      client.decideApproval(pending.id, { decision: 'reject' }),
      'APPROVAL_CONFLICT',
      409,
    );
    // Following an ended task: its stored events and the end at once.
    const replayed: TaskEvent[] = [];
    expect((await client.taskEvents(waiting.id, { onEvent: (event) => replayed.push(event) })).status).toBe(
      'succeeded',
    );
    expect(replayed.at(-1)?.type).toBe('task-end');
    llm.assertConsumed();
  });

  it('wait: false answers at once; cancelTask ends a waiting task `cancelled`', async () => {
    llm.enqueue(fence('results = {"answer": 1}'));
    const started = await client.createTask({ objective: 'Later', approvalMode: 'always', wait: false });
    expect(['running', 'awaiting_approval']).toContain(started.state);
    await waitFor(
      async () => (await client.getTask(started.id)).state === 'awaiting_approval',
      'the approval request',
    );
    const cancelled = await client.cancelTask(started.id);
    expect(cancelled).toMatchObject({ id: started.id, status: 'cancelled', state: 'cancelled' });
    const approvals = await client.listApprovals({ taskId: started.id });
    expect(approvals.map((approval) => approval.state)).toEqual(['cancelled']);
    llm.assertConsumed();
  });

  it('aborting a streamed createTask cancels the task on the service and resolves with it', async () => {
    llm.enqueue(fence('results = {"answer": 2}'));
    const abort = new AbortController();
    const events: TaskEvent[] = [];
    const result = await client.createTask({
      objective: 'Abort me',
      approvalMode: 'always',
      signal: abort.signal,
      onEvent: (event) => {
        events.push(event);
        if (event.type === 'approval-request') abort.abort();
      },
    });
    expect(result.status).toBe('cancelled');
    expect(events.at(-1)?.type).toBe('task-end');
    expect((await client.getTask(result.id)).status).toBe('cancelled');
    llm.assertConsumed();
  });

  it('refuses bad arguments before sending; the service refuses bad tasks with INVALID_ARGUMENT', async () => {
    await expectClientError(client.getTask(''), 'INVALID_ARGUMENT');
    await expectClientError(
      client.decideApproval('apr_x', { decision: 'maybe' as 'approve' }),
      'INVALID_ARGUMENT',
    );
    await expectClientError(client.createTask({ objective: '   ' }), 'INVALID_ARGUMENT', 400);
    await expectClientError(client.getApproval('apr_doesnotexist'), 'APPROVAL_NOT_FOUND', 404);
    await expectClientError(client.cancelTask('tsk_doesnotexist'), 'TASK_NOT_FOUND', 404);
  });
});
