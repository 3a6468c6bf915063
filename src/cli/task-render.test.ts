import { describe, expect, it } from 'vitest';
import type { Approval, TaskResult } from '../pipeline/index.js';
import {
  approvalDecisionLine,
  approvalsTable,
  approvalText,
  codeListing,
  formatBytes,
  formatDuration,
  shortHash,
  taskResultsText,
  taskSummaryText,
} from './task-render.js';

const HASH = 'a'.repeat(12) + 'b'.repeat(52);

function approvalFixture(overrides: Partial<Approval> = {}): Approval {
  return {
    id: 'apr_1',
    taskId: 'tsk_1',
    attempt: 1,
    state: 'pending',
    ownerKeyId: null,
    objective: 'Delete the temp files\nand report',
    code: 'import subprocess\nsubprocess.run(["rm", "x"])\n',
    codeHash: HASH,
    findings: [
      {
        ruleId: 'process.subprocess',
        category: 'process',
        severity: 'critical',
        line: 2,
        column: 1,
        symbol: 'subprocess.run',
        path: null,
        message: 'runs a process \x1b[31m',
      },
    ],
    reasons: ['process.subprocess: runs a process'],
    mode: 'workspace_write',
    approvalMode: 'on_risk',
    expectedResults: [],
    requestedAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-02T00:00:00.000Z',
    decision: null,
    ...overrides,
  };
}

function taskFixture(overrides: Partial<TaskResult> = {}): TaskResult {
  return {
    id: 'tsk_1',
    state: 'succeeded',
    status: 'succeeded',
    sessionId: 'ses_1',
    spec: {
      objective: 'Sum',
      files: [],
      context: null,
      expectedResults: ['total'],
      maxAttempts: 3,
      approvalMode: 'never',
      mode: 'workspace_write',
      timeoutMs: 900_000,
      verify: false,
      generator: 'llm',
    },
    code: 'results = {"total": 10}',
    execution: null,
    results: { total: 10, rows: [{ a: 1 }], note: 'done' },
    attempts: [],
    files: [
      { path: 'out.csv', sizeBytes: 2048, change: 'created' },
      { path: 'old.txt', sizeBytes: 0, change: 'deleted' },
    ],
    usage: { inputTokens: 100, outputTokens: 20, totalTokens: 120 },
    error: null,
    pendingApproval: null,
    ownerKeyId: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:01.000Z',
    durationMs: 1234,
    ...overrides,
  };
}

describe('formatting', () => {
  it('durations, sizes and short hashes', () => {
    expect(formatDuration(420)).toBe('0.42s');
    expect(formatDuration(12_340)).toBe('12.3s');
    expect(formatDuration(125_000)).toBe('2m05s');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2.0 KB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MB');
    expect(shortHash(HASH)).toBe('aaaaaaaaaaaa');
  });

  it('lists code with a gutter, controls neutralised', () => {
    expect(codeListing('x = 1\nprint("\x1b[2J")\n')).toBe('  1 | x = 1\n  2 | print("\\x1b[2J")');
    const long = Array.from({ length: 10 }, (_, index) => `x${index}`).join('\n');
    expect(codeListing(long).split('\n')[0]).toBe('   1 | x0');
  });
});

describe('approvals', () => {
  it('shows an approval for review: reasons, findings, code and its full hash', () => {
    const text = approvalText(approvalFixture());
    expect(text).toContain('approval apr_1: task tsk_1, attempt 1, mode workspace_write');
    expect(text).toContain('objective: Delete the temp files and report');
    expect(text).toContain('  - process.subprocess: runs a process');
    expect(text).toContain('critical process.subprocess  line 2:1  runs a process \\x1b[31m');
    expect(text).toContain(`code (sha256 ${HASH}):`);
    expect(text).toContain('  2 | subprocess.run(["rm", "x"])');
    expect(text.endsWith('\n')).toBe(false);
  });

  it('tabulates approvals with short hashes', () => {
    const table = approvalsTable([approvalFixture(), approvalFixture({ id: 'apr_2', reasons: [] })]);
    const [header, first, second] = table.split('\n');
    expect(header).toMatch(/^ID\s+TASK\s+ATTEMPT\s+STATE\s+REQUESTED\s+EXPIRES\s+REASONS\s+CODE HASH$/);
    expect(first).toContain('apr_1');
    expect(first).toContain('pending');
    expect(first).toMatch(/aaaaaaaaaaaa$/);
    expect(second).toContain(' - ');
  });

  it('one line on a decision', () => {
    const approved = approvalFixture({
      state: 'approved',
      decision: {
        decision: 'approve',
        comment: 'looks\nfine',
        decidedBy: 'key_1',
        decidedAt: '2026-01-01T00:01:00.000Z',
        timedOut: false,
      },
    });
    expect(approvalDecisionLine(approved)).toBe(
      'approved apr_1 (task tsk_1, attempt 1, code aaaaaaaaaaaa) by key_1 at 2026-01-01T00:01:00.000Z: looks fine',
    );
    const expired = approvalFixture({
      state: 'rejected',
      decision: {
        decision: 'reject',
        comment: null,
        decidedBy: null,
        decidedAt: '2026-01-02T00:00:00.000Z',
        timedOut: true,
      },
    });
    expect(approvalDecisionLine(expired)).toContain('rejected apr_1');
    expect(approvalDecisionLine(expired)).toContain('nobody decided in time');
    expect(approvalDecisionLine(approvalFixture())).toBe(
      'pending apr_1 (task tsk_1, attempt 1, code aaaaaaaaaaaa)',
    );
  });
});

describe('task results and summary', () => {
  it('prints results as name: value, multi-line values indented', () => {
    expect(taskResultsText(taskFixture())).toBe(
      'total: 10\nrows:\n  [\n    {\n      "a": 1\n    }\n  ]\nnote: done\n',
    );
    expect(taskResultsText(taskFixture({ results: {} }))).toBe('');
    expect(taskResultsText(taskFixture({ results: { '\x1bx': '\x07' } }))).toBe('\\x1bx: \\x07\n');
  });

  it('summarises outcome, attempts, duration, tokens, results and files', () => {
    const text = taskSummaryText(taskFixture());
    expect(text).toBe(
      'task tsk_1 succeeded: 0 attempts of 3, 1.23s, 120 tokens (100 in, 20 out)\n' +
        'results: total, rows, note\n' +
        'files: out.csv (created, 2.0 KB), old.txt (deleted)\n',
    );
  });

  it('says why a task did not succeed', () => {
    const failed = taskFixture({
      state: 'failed',
      status: 'failed',
      results: {},
      files: [],
      error: { kind: 'attempts_exhausted', message: 'No attempt succeeded' },
    });
    expect(taskSummaryText(failed)).toContain('task tsk_1 failed');
    expect(taskSummaryText(failed)).toContain('results: none\n');
    expect(taskSummaryText(failed)).toContain('attempts exhausted: No attempt succeeded\n');
  });
});
