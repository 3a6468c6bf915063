import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVivariumError, type Vivarium } from '../../src/index.js';
import type { CodeGenerator, ErrorChainEntry, GenerationRequest } from '../../src/llm/index.js';
import { ScriptedGenerator } from '../../src/llm/index.js';
import type { TaskEvent } from '../../src/pipeline/index.js';
import { startEngine, waitFor, type EngineFixture } from '../helpers/engine.js';

/**
 * The pipeline in the library (`vv.tasks`), with generators that record what they are given:
 * the error chain (stages, trimmed tracebacks, repeats), the prompt context (files, variables,
 * packages), and the infrastructure paths (limits, budget, cancel) in the real sandbox.
 */

/** A generator returning `codes` in order and keeping every request and error chain it got. */
function recordingGenerator(codes: string[]): CodeGenerator & {
  requests: GenerationRequest[];
  chains: ErrorChainEntry[][];
} {
  const requests: GenerationRequest[] = [];
  const chains: ErrorChainEntry[][] = [];
  let next = 0;
  return {
    name: 'recording',
    requests,
    chains,
    generate(request, errorChain) {
      requests.push(request);
      chains.push(structuredClone([...errorChain]));
      const code = codes[next++];
      if (code === undefined) return Promise.reject(new Error('no more code'));
      return Promise.resolve({
        code,
        notes: null,
        usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 },
        calls: [],
      });
    },
  };
}

let engine: EngineFixture;
let vv: Vivarium;

beforeAll(async () => {
  engine = await startEngine({
    pool: { size: 0 },
    limits: { timeoutMs: 4_000, memoryLimitMb: 256 },
    llm: { generator: 'scripted', scripted: ['results = {"answer": 6 * 7}'] },
  });
  vv = engine.vv;
}, 60_000);

afterAll(async () => {
  await engine?.stop();
});

describe('vv.tasks', () => {
  it('runs a task with the configured (scripted) generator and reports events in order', async () => {
    const events: TaskEvent[] = [];
    const task = await vv.tasks.create({
      objective: 'Compute the answer',
      expectedResults: ['answer'],
      approvalMode: 'never',
      onEvent: (event) => events.push(event),
    });
    const result = await task.result();
    expect(result.status).toBe('succeeded');
    expect(result.results).toEqual({ answer: 42 });
    expect(result.spec.generator).toBe('scripted');
    expect(events[0]!.type).toBe('task-start');
    expect(events.at(-1)!.type).toBe('task-end');
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
    const calls = await vv.tasks.modelCalls(result.id);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.generator).toBe('scripted');
    // The prompt the model would have been sent, recorded: objective and the results contract.
    expect(JSON.stringify(calls[0]!.messages)).toContain('Compute the answer');
  });

  it('builds the error chain: stages, trimmed tracebacks, repeats of the same error', async () => {
    // Thirty distinct frames: a traceback of more than sixty lines.
    const deep = [
      ...Array.from({ length: 30 }, (_, index) =>
        index === 29
          ? `def f${index}():\n    raise ValueError("deep")`
          : `def f${index}():\n    return f${index + 1}()`,
      ),
      'f0()',
    ].join('\n');
    const generator = recordingGenerator([
      'print(undefined_name)',
      'print(undefined_name)',
      deep,
      'results = {"n": 3}',
    ]);
    const result = await (
      await vv.tasks.create({
        objective: 'Anything',
        expectedResults: ['n'],
        maxAttempts: 4,
        approvalMode: 'never',
        generator,
      })
    ).result();
    expect(result.status).toBe('succeeded');
    expect(generator.chains.map((chain) => chain.length)).toEqual([0, 1, 2, 3]);
    const chain = generator.chains[3]!;
    expect(chain.map((entry) => [entry.attempt, entry.stage, entry.error.ename, entry.repeats])).toEqual([
      [1, 'execution', 'NameError', 0],
      [2, 'execution', 'NameError', 1],
      [3, 'execution', 'ValueError', 0],
    ]);
    expect(chain[0]!.code).toBe('print(undefined_name)');
    expect(chain[0]!.error.evalue).toContain('undefined_name');
    // A long traceback is trimmed: head, a marker, tail.
    const traceback = chain[2]!.error.traceback;
    expect(traceback.length).toBeLessThanOrEqual(21);
    expect(traceback.some((line) => /lines omitted/.test(line))).toBe(true);
    expect(traceback.at(-1)).toContain('ValueError');
    expect(result.usage).toEqual({ inputTokens: 40, outputTokens: 20, totalTokens: 60 });
  });

  it('gives the generator the input files with their metadata, the variables and the packages', async () => {
    const session = await vv.createSession({ preload: [] });
    try {
      await session.execute('threshold = 10');
      const generator = recordingGenerator([
        'import pandas as pd\ndf = pd.read_csv("sales.csv")\nresults = {"big": int((df.amount > threshold).sum())}',
      ]);
      const result = await (
        await vv.tasks.create({
          objective: 'Count big sales',
          sessionId: session.id,
          files: [{ path: 'sales.csv', content: 'region,amount\nnorth,5\nsouth,12\neast,30\n' }],
          expectedResults: ['big'],
          approvalMode: 'never',
          generator,
        })
      ).result();
      expect(result.status).toBe('succeeded');
      expect(result.results).toEqual({ big: 2 });
      expect(result.sessionId).toBe(session.id);
      const request = generator.requests[0]!;
      expect(request.files).toHaveLength(1);
      expect(request.files[0]!.path).toBe('sales.csv');
      expect(JSON.stringify(request.files[0]!.description)).toContain('amount');
      expect(request.variables.map((variable) => variable.name)).toContain('threshold');
      expect(request.packages).toEqual(expect.arrayContaining(['numpy', 'pandas', 'matplotlib']));
      expect(request.mode).toBe('workspace_write');
      expect(request.expectedResults).toEqual(['big']);
    } finally {
      await session.close();
    }
  });

  it('runs in the sandbox mode the task asks for (read_only: the write fails, the error goes to the chain)', async () => {
    const generator = recordingGenerator(['open("out.txt", "w").write("x")', 'results = {"ok": True}']);
    const result = await (
      await vv.tasks.create({
        objective: 'Write a file',
        mode: 'read_only',
        approvalMode: 'never',
        generator,
      })
    ).result();
    expect(result.spec.mode).toBe('read_only');
    expect(result.attempts[0]!.error).toMatchObject({ stage: 'execution', ename: 'OSError' });
    expect(result.attempts[0]!.error!.evalue).toMatch(/Read-only file system/);
    expect(result.status).toBe('succeeded');
  });

  it('puts a timeout into the chain as a code error, and re-runs a memory kill once before reporting it', async () => {
    const spin = recordingGenerator(['while True:\n    pass', 'results = {"done": 1}']);
    const spun = await (
      await vv.tasks.create({ objective: 'Spin', approvalMode: 'never', generator: spin })
    ).result();
    expect(spun.status).toBe('succeeded');
    expect(spun.attempts[0]!.error).toMatchObject({ stage: 'execution', ename: 'TimeoutError' });

    const hog = recordingGenerator([
      'block = bytearray(1024 * 1024 * 1024)\nresults = {"n": len(block)}',
      'results = {}',
    ]);
    const hogged = await (
      await vv.tasks.create({ objective: 'Allocate', approvalMode: 'never', generator: hog })
    ).result();
    expect(hogged.status).toBe('failed');
    expect(hogged.error?.kind).toBe('infrastructure');
    expect(hogged.attempts).toHaveLength(1);
    expect(hogged.attempts[0]!.reruns).toBe(1);
    expect(['memory_exceeded', 'killed', 'error']).toContain(hogged.attempts[0]!.execution?.status);
    // Not blamed on the code: no second generation.
    expect(hog.requests).toHaveLength(1);
  });

  it('ends failed when the task budget runs out, and cancelled when cancelled', async () => {
    const slow = recordingGenerator([
      'import time\ntime.sleep(3)\nresults = {}',
      'import time\ntime.sleep(3)',
    ]);
    const timed = await (
      await vv.tasks.create({ objective: 'Slow', timeoutMs: 1_500, approvalMode: 'never', generator: slow })
    ).result();
    expect(timed.status).toBe('failed');
    expect(timed.error?.kind).toBe('timeout');

    const sleepy = recordingGenerator(['import time\ntime.sleep(30)']);
    const handle = await vv.tasks.create({ objective: 'Sleep', approvalMode: 'never', generator: sleepy });
    await new Promise<void>((resolve) => {
      const off = handle.on((event) => {
        if (event.type === 'execution-start') {
          off();
          resolve();
        }
      });
    });
    handle.cancel();
    const cancelled = await handle.result();
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.attempts[0]!.execution?.status).toBe('interrupted');
  });

  it('asks for approval through the library and honours the decision', async () => {
    const generator = new ScriptedGenerator(['import os\nresults = {"pid": os.getpid() > 0}']);
    const handle = await vv.tasks.create({ objective: 'Pid', approvalMode: 'always', generator });
    const approval = await new Promise<TaskEvent>((resolve) => {
      handle.on((event) => {
        if (event.type === 'approval-request') resolve(event);
      });
    });
    expect(approval.type).toBe('approval-request');
    const pending = await vv.tasks.listApprovals(undefined, { state: 'pending' });
    expect(pending.map((entry) => entry.taskId)).toContain(handle.id);
    await vv.tasks.decide(pending.find((entry) => entry.taskId === handle.id)!.id, { decision: 'approve' });
    const result = await handle.result();
    expect(result.status).toBe('succeeded');
    expect(result.results).toEqual({ pid: true });
  });

  it('holds its session while it waits for approval, past the session idle timeout', async () => {
    const session = await vv.createSession({ preload: [], idleTimeoutMs: 500 });
    const handle = await vv.tasks.create({
      objective: 'Wait',
      sessionId: session.id,
      approvalMode: 'always',
      generator: new ScriptedGenerator(['results = {"waited": True}']),
    });
    await new Promise<void>((resolve) => {
      handle.on((event) => {
        if (event.type === 'approval-request') resolve();
      });
    });
    // The idle sweep runs every 5 s: one full round passes while the task waits.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(session.state).not.toBe('closed');
    const [approval] = await vv.tasks.listApprovals(undefined, { state: 'pending', taskId: handle.id });
    await vv.tasks.decide(approval!.id, { decision: 'approve' });
    const result = await handle.result();
    expect(result.status).toBe('succeeded');
    expect(result.results).toEqual({ waited: true });
    // Released when the task ended: the session expires as configured again.
    await waitFor(() => session.state === 'closed', 'the session to expire after the task', 15_000);
  });

  it('refuses bad input and a missing generator with clear errors', async () => {
    await expect(vv.tasks.create({ objective: '' })).rejects.toThrow(/objective/);
    await expect(vv.tasks.create({ objective: 'x', maxAttempts: 0 })).rejects.toThrow(/maxAttempts/);
    // Input files follow the host file API's rules, checked before anything starts.
    await expect(
      vv.tasks.create({ objective: 'x', files: [{ path: 'blob.bin', content: 'x' }] }),
    ).rejects.toMatchObject({ code: 'FILE_TYPE_NOT_ALLOWED' });
    await expect(
      vv.tasks.create({ objective: 'x', files: [{ path: '../outside.csv', content: 'a\n' }] }),
    ).rejects.toMatchObject({ code: 'PATH_INVALID' });
    const bare = await startEngine({ pool: { size: 0 } });
    try {
      const error: unknown = await bare.vv.tasks
        .create({ objective: 'x' })
        .catch((caught: unknown) => caught);
      expect(isVivariumError(error) && error.code).toBe('CONFIG_INVALID');
      expect(String(error)).toContain('llm.model');
    } finally {
      await bare.stop();
    }
  });
});
