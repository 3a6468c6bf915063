import { describe, expect, it } from 'vitest';
import type { TaskEvent, TaskEventInput } from '../pipeline/index.js';
import { TaskView } from './task-view.js';

function sink(): { text: string; write: (chunk: string) => void } {
  const buffer = {
    text: '',
    write(chunk: string) {
      buffer.text += chunk;
    },
  };
  return buffer;
}

let seq = 0;
function event(input: TaskEventInput): TaskEvent {
  seq += 1;
  return { ...input, taskId: 'tsk_1', seq, at: '2026-01-01T00:00:00.000Z' };
}

const HASH = '0123456789ab'.padEnd(64, 'f');

const start = event({
  type: 'task-start',
  sessionId: 'ses_1',
  spec: {
    objective: 'Sum',
    files: [],
    context: null,
    expectedResults: ['total'],
    maxAttempts: 2,
    approvalMode: 'on_risk',
    mode: 'workspace_write',
    timeoutMs: 900_000,
    verify: false,
    generator: 'llm',
  },
});

const execution = {
  id: 'exe_1',
  sessionId: 'ses_1',
  executionCount: 1,
  status: 'error',
  outputs: [],
  stdout: '',
  stderr: '',
  result: null,
  error: { ename: 'NameError', evalue: "name 'values' is not defined", traceback: [] },
  durationMs: 12,
} as unknown as Extract<TaskEvent, { type: 'execution-end' }>['execution'];

/** The events of a task whose first attempt fails and whose second succeeds. */
function twoAttempts(): TaskEvent[] {
  return [
    start,
    event({ type: 'task-step-start', attempt: 1, step: 'generate' }),
    event({ type: 'generation-delta', attempt: 1, text: '```python\n' }),
    event({ type: 'code-generated', attempt: 1, code: 'total = sum(values)', codeHash: HASH, notes: null }),
    event({ type: 'task-step-start', attempt: 1, step: 'analyze' }),
    event({
      type: 'analysis-end',
      attempt: 1,
      analysis: {
        codeHash: HASH,
        syntaxError: null,
        imports: [],
        findings: [],
        decision: { outcome: 'allow', reasons: [], mode: 'workspace_write', approvalMode: 'on_risk' },
        notes: [],
      },
    }),
    event({ type: 'task-step-start', attempt: 1, step: 'execute' }),
    event({
      type: 'execution-start',
      executionId: 'exe_1',
      sessionId: 'ses_1',
      executionCount: 1,
      attempt: 1,
    }),
    event({ type: 'stream-delta', executionId: 'exe_1', name: 'stdout', text: 'partial', attempt: 1 }),
    event({
      type: 'execution-error',
      executionId: 'exe_1',
      ename: 'NameError',
      evalue: "name 'values' is not defined",
      traceback: ['Traceback (most recent call last):', "NameError: name 'values' is not defined"],
      attempt: 1,
    }),
    event({ type: 'execution-end', executionId: 'exe_1', execution, attempt: 1 }),
    event({
      type: 'attempt-failed',
      attempt: 1,
      error: {
        stage: 'execution',
        ename: 'NameError',
        evalue: "name 'values' is not defined",
        traceback: [],
      },
      willRetry: true,
    }),
    event({ type: 'task-step-start', attempt: 2, step: 'repair' }),
    event({
      type: 'verification-end',
      attempt: 2,
      verification: { ok: false, missing: ['total'], unserializable: [], truncated: false, model: null },
    }),
  ];
}

describe('TaskView', () => {
  it('prints plain lines when stderr is not a terminal: steps, code, analysis, output, failures', () => {
    const out = sink();
    const view = new TaskView({ sink: out });
    for (const item of twoAttempts()) view.handle(item);
    view.end();
    expect(out.text).toBe(
      [
        'task tsk_1: session ses_1, generator llm, mode workspace_write, approval on_risk, up to 2 attempts',
        '[attempt 1/2] generate',
        `[attempt 1/2] code (sha256 0123456789ab):`,
        '  1 | total = sum(values)',
        '[attempt 1/2] analyze',
        '[attempt 1/2] analysis: allow',
        '[attempt 1/2] execute',
        'partial',
        'Traceback (most recent call last):',
        "NameError: name 'values' is not defined",
        "[attempt 1/2] run: error in 0.01s: NameError: name 'values' is not defined",
        "[attempt 1/2] failed (execution): NameError: name 'values' is not defined; repairing",
        '[attempt 2/2] repair',
        '[attempt 2/2] verification: failed; missing results: total',
        '',
      ].join('\n'),
    );
    expect(out.text).not.toContain('\x1b');
  });

  it('on a terminal, draws the step as a spinner line redrawn in place and clears it before other lines', () => {
    const out = sink();
    const view = new TaskView({ sink: out, tty: true });
    view.handle(start);
    view.handle(event({ type: 'task-step-start', attempt: 1, step: 'generate' }));
    expect(out.text.endsWith('\r\x1b[2K⠋ [attempt 1/2] generating code (0.00s)')).toBe(true);
    view.handle(event({ type: 'generation-delta', attempt: 1, text: 'abcde' }));
    expect(out.text).toMatch(/generating code \(\d\.\d\ds, 5 chars\)$/);
    view.tick();
    expect(out.text).toMatch(/⠙ \[attempt 1\/2\] generating code/);
    view.handle(
      event({ type: 'code-generated', attempt: 1, code: 'x = 1', codeHash: HASH, notes: 'simple' }),
    );
    // The spinner is erased, the code printed, the spinner drawn again under it.
    expect(out.text).toContain(
      '\r\x1b[2K[attempt 1/2] code (sha256 0123456789ab):\n  1 | x = 1\n[attempt 1/2] notes: simple\n',
    );
    expect(out.text).toMatch(/generating code \([^)]*\)$/);
    view.pause();
    expect(out.text.endsWith('\r\x1b[2K')).toBe(true);
    const paused = out.text.length;
    view.tick();
    expect(out.text.length).toBe(paused);
    view.resume();
    expect(out.text.length).toBeGreaterThan(paused);
    view.end();
    expect(out.text.endsWith('\r\x1b[2K')).toBe(true);
  });

  it('waits for a line of output to end before drawing the spinner again', () => {
    const out = sink();
    const view = new TaskView({ sink: out, tty: true });
    view.handle(start);
    view.handle(event({ type: 'task-step-start', attempt: 1, step: 'execute' }));
    view.handle(
      event({ type: 'stream-delta', executionId: 'e', name: 'stdout', text: 'half a line', attempt: 1 }),
    );
    const before = out.text;
    view.tick();
    expect(out.text).toBe(before);
    view.handle(
      event({ type: 'stream-delta', executionId: 'e', name: 'stderr', text: ' and the end\n', attempt: 1 }),
    );
    expect(out.text).toContain('half a line and the end\n\r\x1b[2K⠙ [attempt 1/2] running');
  });

  it('neutralises what the model and the kernel wrote', () => {
    const out = sink();
    const view = new TaskView({ sink: out });
    view.handle(
      event({
        type: 'code-generated',
        attempt: 1,
        code: 'print("\x1b]0;pwned\x07")',
        codeHash: HASH,
        notes: '\x1b[2J',
      }),
    );
    view.handle(
      event({ type: 'stream-delta', executionId: 'e', name: 'stdout', text: '\x1b[31mred\n', attempt: 1 }),
    );
    expect(out.text).not.toContain('\x1b');
    expect(out.text).toContain('\\x1b]0;pwned\\x07');
    expect(out.text).toContain('\\x1b[31mred');
  });

  it('shows approval requests and decisions', () => {
    const out = sink();
    const view = new TaskView({ sink: out });
    const approval = {
      id: 'apr_1',
      taskId: 'tsk_1',
      attempt: 1,
      state: 'pending' as const,
      ownerKeyId: null,
      objective: 'x',
      code: 'x',
      codeHash: HASH,
      findings: [],
      reasons: ['always'],
      mode: 'workspace_write' as const,
      approvalMode: 'always' as const,
      expectedResults: [],
      requestedAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-02T00:00:00.000Z',
      decision: null,
    };
    view.handle(event({ type: 'approval-request', attempt: 1, approval }));
    view.handle(
      event({
        type: 'approval-decided',
        attempt: 1,
        approval: {
          ...approval,
          state: 'rejected',
          decision: {
            decision: 'reject',
            comment: 'no',
            decidedBy: null,
            decidedAt: '2026-01-01T00:00:05.000Z',
            timedOut: false,
          },
        },
      }),
    );
    expect(out.text).toBe(
      '[attempt 1] approval needed: apr_1 (code 0123456789ab, expires 2026-01-02T00:00:00.000Z)\n' +
        '[attempt 1] rejected apr_1 (task tsk_1, attempt 1, code 0123456789ab) at 2026-01-01T00:00:05.000Z: no\n',
    );
  });
});
