/* eslint-disable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument -- HTTP and CLI JSON is untyped, checked by the assertions */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskResult } from '../../src/pipeline/index.js';
import { NO_TERMINAL_COMMENT, YES_COMMENT } from '../../src/cli/commands/task.js';
import { waitFor } from '../helpers/engine.js';
import {
  assertCliBuilt,
  CLI_BIN,
  runCli,
  temporaryDirectory,
  type CliResult,
} from '../helpers/cli-helpers.js';
import { startFakeLlmServer, type FakeLlmServer } from '../helpers/fake-llm-server.js';
import { api, startServiceFixture, type Json, type ServiceFixture } from '../helpers/server.js';

/**
 * `vivarium task` and `vivarium approvals`, the built binary end to end: a scripted
 * OpenAI-compatible server on loopback writes the code, real kernels in the real sandbox run it
 * (locally in the CLI process, or in a real service). stdin and stderr are pipes here, so the CLI
 * never asks: approvals are rejected (local), left to `vivarium approvals` (service), or approved
 * with `--yes`. `npm run build` must have run.
 */

const fence = (code: string): string => `Here is the code:\n\n\`\`\`python\n${code}\n\`\`\`\n`;

/** The environment of the children: none of the developer's VIVARIUM_* settings. */
const childEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.startsWith('VIVARIUM_')),
);

/** Runs a command on a pseudo-terminal, answering one prompt (`test/fixtures/pty-run.py`). */
const PTY_RUN = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'pty-run.py');

/** A CLI child whose output is watched while it runs (to send it Ctrl-C at the right time). */
interface WatchedCli {
  stdout: () => string;
  stderr: () => string;
  /** Resolves once `text` appeared on stderr. */
  waitForStderr: (text: string) => Promise<void>;
  interrupt: () => void;
  exited: Promise<number | null>;
}

function watchCli(command: string, args: readonly string[]): WatchedCli {
  const child = spawn(command, args, { env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    for (const waiter of waiters) waiter();
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
    for (const waiter of waiters) waiter();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      for (const waiter of waiters) waiter();
      resolve(code);
    }),
  );
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStderr: (text) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (stderr.includes(text) || stdout.includes(text)) {
            waiters.delete(check);
            resolve();
          } else if (child.exitCode !== null) {
            waiters.delete(check);
            reject(new Error(`exited (${child.exitCode}) before \`${text}\`; stderr:\n${stderr}`));
          }
        };
        waiters.add(check);
        check();
      }),
    interrupt: () => child.kill('SIGINT'),
    exited,
  };
}

let llm: FakeLlmServer;
let data: { path: string; remove: () => Promise<void> };
let scratch: { path: string; remove: () => Promise<void> };

beforeAll(async () => {
  assertCliBuilt();
  llm = await startFakeLlmServer();
  data = await temporaryDirectory('vivarium-cli-task-data-');
  scratch = await temporaryDirectory('vivarium-cli-task-scratch-');
});

afterAll(async () => {
  await llm?.close();
  await data?.remove();
  await scratch?.remove();
});

/** `vivarium task OBJECTIVE ...args`, locally, with the fake model and a temporary data directory. */
function task(
  objective: string,
  args: readonly string[],
  options: { model?: boolean } = {},
): Promise<CliResult> {
  const model =
    options.model === false
      ? []
      : ['--provider', 'openai-compatible', '--base-url', llm.baseUrl, '--model', 'fake-coder'];
  return runCli(['task', objective, ...model, '--data', data.path, '--no-preload', ...args], {
    cwd: scratch.path,
    env: childEnv,
    timeoutMs: 120_000,
  });
}

function parseResult(result: CliResult): TaskResult {
  const lines = result.stdout.split('\n').filter((line) => line !== '');
  expect(lines, result.stderr).toHaveLength(1);
  return JSON.parse(lines[0]!) as TaskResult;
}

describe('vivarium task (local)', () => {
  it('--json: only the TaskResult on stdout; exit 0 with the results', async () => {
    llm.enqueue(
      fence(
        'values = [1, 2, 3, 4]\nprint("summing")\nresults = {"total": sum(values), "count": len(values)}',
      ),
    );
    const result = await task('Sum the numbers 1 to 4', [
      '--expect',
      'total',
      '--approval-mode',
      'never',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const parsed = parseResult(result);
    expect(parsed.status).toBe('succeeded');
    expect(parsed.results).toEqual({ total: 10, count: 4 });
    expect(parsed.attempts).toHaveLength(1);
    expect(parsed.spec.generator).toBe('llm');
    expect(parsed.execution?.stdout).toBe('summing\n');
    // No live view with --json.
    expect(result.stderr).not.toContain('[attempt');
    expect(llm.completions().at(-1)!.prompt).toContain('Sum the numbers 1 to 4');
    llm.assertConsumed();
  });

  it('repairs a failing first attempt: live view on stderr, results on stdout, exit 0 after 2 attempts', async () => {
    llm.enqueue(
      fence('total = sum(values)\nresults = {"total": total}'),
      fence('values = [1, 2, 3, 4]\nprint("total is", sum(values))\nresults = {"total": sum(values)}'),
    );
    await writeFile(join(scratch.path, 'numbers.txt'), '1\n2\n3\n4\n');
    const result = await task('Sum the numbers in numbers.txt', [
      '--file',
      join(scratch.path, 'numbers.txt'),
      '--expect',
      'total',
      '--approval-mode',
      'never',
      '--context',
      'the file has one number per line',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('total: 10\n');
    const stderr = result.stderr;
    expect(stderr).toMatch(
      /task tsk_\S+: session ses_\S+, generator llm, mode workspace_write, approval never, up to 3 attempts/,
    );
    expect(stderr).toContain('[attempt 1/3] generate');
    expect(stderr).toContain('  1 | total = sum(values)');
    expect(stderr).toContain('[attempt 1/3] analysis: allow');
    expect(stderr).toContain(
      "[attempt 1/3] failed (execution): NameError: name 'values' is not defined; repairing",
    );
    expect(stderr).toContain('[attempt 2/3] repair');
    expect(stderr).toContain('total is 10\n');
    expect(stderr).toContain('[attempt 2/3] verification: ok');
    expect(stderr).toMatch(/task tsk_\S+ succeeded: 2 attempts of 3, /);
    expect(stderr).toContain('results: total');
    // Spinner and cursor codes only on a terminal.
    expect(stderr).not.toContain('\x1b');
    // The input file was in the workspace, and named in the prompt.
    const [first, second] = llm.completions().slice(-2);
    expect(first!.prompt).toContain('numbers.txt');
    expect(first!.prompt).toContain('the file has one number per line');
    expect(second!.prompt).toContain('NameError');
    llm.assertConsumed();
  });

  it('exits 1 when no attempt succeeds, saying why', async () => {
    llm.enqueue(fence('1 / 0'), fence('raise ValueError("still broken")'));
    const result = await task('Divide', ['--approval-mode', 'never', '--max-attempts', '2']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(
      '[attempt 1/2] failed (execution): ZeroDivisionError: division by zero; repairing',
    );
    expect(result.stderr).toContain(
      '[attempt 2/2] failed (execution): ValueError: still broken; no attempts left',
    );
    expect(result.stderr).toMatch(/task tsk_\S+ failed: 2 attempts of 2/);
    expect(result.stderr).toContain('attempts exhausted: ');
    llm.assertConsumed();
  });

  it('--approval-mode always without a terminal and without --yes: rejected at once, exit 3, the ways out named', async () => {
    llm.enqueue(fence('results = {"answer": 42}'));
    const result = await task('Answer', ['--approval-mode', 'always', '--json']);
    expect(result.code, result.stderr).toBe(3);
    const parsed = parseResult(result);
    expect(parsed.status).toBe('rejected');
    expect(parsed.attempts[0]!.approval?.decision).toMatchObject({
      decision: 'reject',
      comment: NO_TERMINAL_COMMENT,
    });
    expect(parsed.attempts[0]!.execution).toBeNull();
    expect(result.stderr).toContain('there is no terminal to ask');
    expect(result.stderr).toContain('--yes');
    expect(result.stderr).toContain('--approval-mode never');
    expect(result.stderr).toContain('vivarium approvals');
    llm.assertConsumed();
  });

  it('--approval-mode always with --yes: approved (with the code hash), run, exit 0', async () => {
    llm.enqueue(fence('results = {"answer": 6 * 7}'));
    const result = await task('Answer', ['--approval-mode', 'always', '--yes', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const parsed = parseResult(result);
    expect(parsed.status).toBe('succeeded');
    expect(parsed.results).toEqual({ answer: 42 });
    const approval = parsed.attempts[0]!.approval!;
    expect(approval.state).toBe('approved');
    expect(approval.decision?.comment).toBe(YES_COMMENT);
    expect(result.stderr).toContain(`approving ${approval.id}`);
    llm.assertConsumed();
  });

  it('on a terminal: a spinner, the code and findings shown, `Approve? [y/N]` asked; y runs it, n rejects it (exit 3)', async () => {
    const localArgs = (objective: string): string[] => [
      '--',
      process.execPath,
      CLI_BIN,
      'task',
      objective,
      '--provider',
      'openai-compatible',
      '--base-url',
      llm.baseUrl,
      '--model',
      'fake-coder',
      '--data',
      data.path,
      '--no-preload',
      '--approval-mode',
      'always',
    ];
    llm.enqueue(fence('import os\nresults = {"cwd": os.getcwd()}'));
    const yes = watchCli('/usr/bin/python3', [
      PTY_RUN,
      'Approve? [y/N]',
      'y',
      '90',
      ...localArgs('Where am I'),
    ]);
    const yesCode = await yes.exited;
    const yesText = yes.stdout();
    expect(yesCode, yesText).toBe(0);
    expect(yesText).toContain('why approval is needed:');
    expect(yesText).toContain('  1 | import os');
    expect(yesText).toMatch(/code \(sha256 [0-9a-f]{64}\):/);
    expect(yesText).toContain('Approve? [y/N] ');
    expect(yesText).toContain('approved at the terminal');
    expect(yesText).toContain('cwd: /workspace');
    // The progress line: a spinner redrawn in place.
    expect(yesText).toContain('\r\x1b[2K');
    expect(yesText).toContain('[attempt 1/3] generating code');

    llm.enqueue(fence('results = {"answer": 42}'));
    const no = watchCli('/usr/bin/python3', [PTY_RUN, 'Approve? [y/N]', 'n', '90', ...localArgs('Answer')]);
    const noCode = await no.exited;
    expect(noCode, no.stdout()).toBe(3);
    expect(no.stdout()).toContain('rejected at the terminal');
    expect(no.stdout()).toMatch(/task tsk_\S+ rejected: 1 attempt of 3/);
    llm.assertConsumed();
  });

  it('Ctrl-C cancels the running task: exit 130, the summary says cancelled', async () => {
    llm.enqueue(fence('import time\nprint("started", flush=True)\ntime.sleep(60)\nresults = {}'));
    const child = watchCli(process.execPath, [
      CLI_BIN,
      'task',
      'Wait a minute',
      '--provider',
      'openai-compatible',
      '--base-url',
      llm.baseUrl,
      '--model',
      'fake-coder',
      '--data',
      data.path,
      '--no-preload',
      '--approval-mode',
      'never',
    ]);
    await child.waitForStderr('started\n');
    child.interrupt();
    expect(await child.exited, child.stderr()).toBe(130);
    expect(child.stderr()).toContain('vivarium: interrupting');
    expect(child.stderr()).toMatch(/task tsk_\S+ cancelled/);
    expect(child.stdout()).toBe('');
    llm.assertConsumed();
  });

  it('exits 2 with a clear message when no model is configured', async () => {
    const result = await task('Anything', ['--json'], { model: false });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('No code generator is configured');
    expect(result.stderr).toContain('--model');
  });

  it('exits 2 on bad flags, before starting anything', async () => {
    const mode = await task('x', ['--approval-mode', 'sometimes']);
    expect(mode.code).toBe(2);
    expect(mode.stderr).toContain(
      'Expected `--approval-mode` to be one of `never`, `on_risk`, `always`, got `sometimes`',
    );
    const attempts = await task('x', ['--max-attempts', '0']);
    expect(attempts.code).toBe(2);
    expect(attempts.stderr).toContain('Expected `--max-attempts` to be a whole number from 1 to 20');
    const file = await task('x', ['--file', join(scratch.path, 'missing.csv')]);
    expect(file.code).toBe(2);
    expect(file.stderr).toContain('Cannot read --file `');
    const remote = await runCli(['task', 'x', '--server', 'http://127.0.0.1:1', '--model', 'm'], {
      env: childEnv,
    });
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain('`--model` configures the local engine');
  });
});

describe('vivarium task --server and vivarium approvals', () => {
  let service: ServiceFixture;

  beforeAll(async () => {
    service = await startServiceFixture({
      config: {
        llm: { provider: 'openai-compatible', baseUrl: llm.baseUrl, model: 'fake-coder' },
        policy: { approvalTimeoutMs: 600_000 },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
  });

  /** `vivarium <args> --server URL --api-key KEY`. */
  function remote(args: readonly string[], key = service.keys.a): Promise<CliResult> {
    return runCli([...args, '--server', service.url, '--api-key', key], {
      env: childEnv,
      timeoutMs: 120_000,
    });
  }

  /** A task waiting for its approval, created over HTTP (`wait: false`, `approvalMode: 'always'`). */
  async function pendingTask(code: string): Promise<{ taskId: string; approval: Json }> {
    llm.enqueue(fence(code));
    const created = await api(service.url, 'POST', '/v1/tasks', {
      key: service.keys.a,
      json: { objective: 'Answer', approvalMode: 'always', wait: false },
    });
    expect(created.status, created.text).toBe(202);
    const taskId = created.body.id as string;
    let approval: Json = null;
    await waitFor(
      async () => {
        const list = await api(service.url, 'GET', `/v1/approvals?state=pending&taskId=${taskId}`, {
          key: service.keys.a,
        });
        approval = list.body.approvals[0];
        return approval !== undefined;
      },
      `an approval of ${taskId}`,
      60_000,
    );
    return { taskId, approval };
  }

  it('runs a task on the service with base64 files, following its events', async () => {
    llm.enqueue(
      fence('data = open("blob.csv", "rb").read()\nresults = {"size": len(data), "first": data[0]}'),
    );
    await writeFile(join(scratch.path, 'blob.csv'), Buffer.from([0xff, 0x00, 0x10]));
    const result = await remote([
      'task',
      'Measure blob.csv',
      '--file',
      join(scratch.path, 'blob.csv'),
      '--approval-mode',
      'never',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const parsed = parseResult(result);
    expect(parsed.results).toEqual({ size: 3, first: 255 });
    expect(parsed.ownerKeyId).not.toBeNull();
    llm.assertConsumed();
  });

  it('without a terminal, prints the approvals command and follows the task until someone decides', async () => {
    llm.enqueue(fence('results = {"answer": 42}'));
    const running = remote(['task', 'Answer', '--approval-mode', 'always']);
    let approval: Json;
    await waitFor(
      async () => {
        const list = await api(service.url, 'GET', '/v1/approvals?state=pending', { key: service.keys.a });
        approval = list.body.approvals.find(
          (item: Json) => item.objective === 'Answer' && item.code.includes('answer'),
        );
        return approval !== undefined;
      },
      'the approval of the CLI task',
      60_000,
    );
    const approved = await remote([
      'approvals',
      'approve',
      approval.id,
      '--code-hash',
      approval.codeHash.slice(0, 12),
      '--comment',
      'ok',
    ]);
    expect(approved.code, approved.stderr).toBe(0);
    const result = await running;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('answer: 42\n');
    expect(result.stderr).toContain(
      `vivarium approvals approve ${approval.id} --code-hash ${approval.codeHash.slice(0, 12)} --server ${service.url}`,
    );
    expect(result.stderr).toContain(`approved ${approval.id}`);
    llm.assertConsumed();
  });

  it('Ctrl-C while following a task on the service cancels it there (exit 130)', async () => {
    llm.enqueue(fence('results = {"answer": 3}'));
    const child = watchCli(process.execPath, [
      CLI_BIN,
      'task',
      'Answer later',
      '--approval-mode',
      'always',
      '--server',
      service.url,
      '--api-key',
      service.keys.a,
    ]);
    await child.waitForStderr('following the task until then');
    const taskId = /task (tsk_\w+):/.exec(child.stderr())?.[1];
    expect(taskId, child.stderr()).toBeDefined();
    child.interrupt();
    expect(await child.exited, child.stderr()).toBe(130);
    expect(child.stderr()).toMatch(/task tsk_\S+ cancelled/);
    const task = await api(service.url, 'GET', `/v1/tasks/${taskId}`, { key: service.keys.a });
    expect(task.body.status).toBe('cancelled');
    llm.assertConsumed();
  });

  it('approvals list shows the pending approval; --json prints the array; --state all includes decided ones', async () => {
    const { taskId, approval } = await pendingTask('results = {"answer": 1}');
    const listed = await remote(['approvals', 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    const [header, ...rows] = listed.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+TASK\s+ATTEMPT\s+STATE\s+REQUESTED\s+EXPIRES\s+REASONS\s+CODE HASH$/);
    const row = rows.find((line) => line.startsWith(approval.id));
    expect(row).toContain(taskId);
    expect(row).toContain('pending');
    expect(row).toContain(approval.codeHash.slice(0, 12));

    const json = await remote(['approvals', 'list', '--json']);
    expect(json.code).toBe(0);
    const array = JSON.parse(json.stdout) as Json[];
    expect(array.map((item) => item.id)).toContain(approval.id);
    expect(array.every((item) => item.state === 'pending')).toBe(true);

    // Another tenant sees none of it.
    const other = await remote(['approvals', 'list', '--json'], service.keys.b);
    expect(JSON.parse(other.stdout)).toEqual([]);

    const rejected = await remote(['approvals', 'reject', approval.id, '--comment', 'not today']);
    expect(rejected.code, rejected.stderr).toBe(0);
    expect(rejected.stdout).toContain(`rejected ${approval.id}`);
    expect(rejected.stdout).toContain('not today');
    const all = await remote(['approvals', 'list', '--state', 'all', '--json']);
    expect((JSON.parse(all.stdout) as Json[]).find((item) => item.id === approval.id)?.state).toBe(
      'rejected',
    );
    const task = await api(service.url, 'GET', `/v1/tasks/${taskId}`, { key: service.keys.a });
    await waitFor(
      async () =>
        (await api(service.url, 'GET', `/v1/tasks/${taskId}`, { key: service.keys.a })).body.status ===
        'rejected',
      'the rejected task to end',
    );
    expect(task.status).toBe(200);
    llm.assertConsumed();
  });

  it('approvals approve: the task runs; a second decision is a conflict (exit 1); a wrong hash is refused; unknown ids exit 2', async () => {
    const { taskId, approval } = await pendingTask('results = {"answer": 2}');
    const wrong = await remote(['approvals', 'approve', approval.id, '--code-hash', '0'.repeat(64)]);
    expect(wrong.code, wrong.stderr).toBe(1);
    expect(wrong.stderr).toContain('review the current code');
    const wrongPrefix = await remote([
      'approvals',
      'approve',
      approval.id,
      '--code-hash',
      approval.codeHash.startsWith('0') ? '11111111' : '00000000',
    ]);
    expect(wrongPrefix.code, wrongPrefix.stderr).toBe(1);

    const approved = await remote([
      'approvals',
      'approve',
      approval.id,
      '--code-hash',
      approval.codeHash,
      '--json',
    ]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({ id: approval.id, state: 'approved', taskId });
    await waitFor(
      async () =>
        (await api(service.url, 'GET', `/v1/tasks/${taskId}`, { key: service.keys.a })).body.status ===
        'succeeded',
      'the approved task to succeed',
    );

    const again = await remote(['approvals', 'reject', approval.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already approved');

    const unknown = await remote(['approvals', 'approve', 'apr_doesnotexist']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('apr_doesnotexist');

    const badState = await remote(['approvals', 'list', '--state', 'maybe']);
    expect(badState.code).toBe(2);
    llm.assertConsumed();
  });

  it('exits non-zero with a hint when no service answers', async () => {
    const result = await runCli(['approvals', 'list', '--server', 'http://127.0.0.1:9'], { env: childEnv });
    expect(result.code).toBe(70);
    expect(result.stderr).toContain('Cannot reach the Vivarium service');
    expect(result.stderr).toContain('vivarium serve');
  });
});
