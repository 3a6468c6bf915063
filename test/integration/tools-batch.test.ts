/* eslint-disable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return -- HTTP and CLI JSON is untyped, checked by the assertions */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { isVivariumError } from '../../src/index.js';
import { batch, type BatchProgressEvent } from '../../src/tools/index.js';
import { assertCliBuilt, runCli, temporaryDirectory } from '../helpers/cli-helpers.js';
import { useEngine } from '../helpers/engine.js';
import { api, useService, type Json } from '../helpers/server.js';

/** Batch runs for real: one shared session, parallel sandboxes, the CLI binary, the HTTP route. */

let scratch: { path: string; remove: () => Promise<void> };

beforeAll(async () => {
  scratch = await temporaryDirectory('vivarium-batch-test-');
});
afterAll(async () => {
  await scratch?.remove();
});

describe('batch (library)', () => {
  const engine = useEngine({ pool: { size: 0 } });

  it('sequential: one session, later items see earlier items’ variables', async () => {
    const events: BatchProgressEvent[] = [];
    const report = await batch(engine.vv, [{ name: 'define', code: 'x = 41' }, { code: 'print(x + 1)' }], {
      onProgress: (event) => events.push(event),
    });
    expect(report.mode).toBe('sequential');
    expect(report.ok).toBe(true);
    expect(report.results.map((result) => [result.name, result.status])).toEqual([
      ['define', 'ok'],
      ['item-2', 'ok'],
    ]);
    expect(report.results[1]!.execution!.stdout).toBe('42\n');
    const [first, second] = report.results.map((result) => result.execution!);
    expect(first!.sessionId).toBe(second!.sessionId);
    expect([first!.executionCount, second!.executionCount]).toEqual([1, 2]);
    expect(report.counts).toMatchObject({ ok: 2, error: 0, skipped: 0, total: 2 });
    expect(report.failures).toEqual([]);
    expect(report.totalDurationMs).toBeGreaterThanOrEqual(0);
    expect(events.map((event) => `${event.type}:${event.index}`)).toEqual([
      'item-start:0',
      'item-end:0',
      'item-start:1',
      'item-end:1',
    ]);
    // The session is closed afterwards.
    expect(engine.vv.listSessions().map((session) => session.id)).not.toContain(first!.sessionId);
  });

  it('parallel: separate sandboxes, a variable of one item is not visible in another; bounded concurrency', async () => {
    let running = 0;
    let mostRunning = 0;
    const report = await batch(
      engine.vv,
      [{ code: 'secret = 1\nsecret' }, { code: 'secret' }, { code: 'import os\nos.getpid() > 0' }],
      {
        mode: 'parallel',
        concurrency: 2,
        onProgress: (event) => {
          running += event.type === 'item-start' ? 1 : -1;
          mostRunning = Math.max(mostRunning, running);
        },
      },
    );
    expect(report.mode).toBe('parallel');
    expect(report.results.map((result) => result.status)).toEqual(['ok', 'error', 'ok']);
    expect(report.results[1]!.execution!.error).toMatchObject({ ename: 'NameError' });
    const sessions = report.results.map((result) => result.execution!.sessionId);
    expect(new Set(sessions).size).toBe(3);
    expect(report.results.map((result) => result.execution!.executionCount)).toEqual([1, 1, 1]);
    expect(mostRunning).toBe(2);
    expect(report.ok).toBe(false);
    expect(report.counts).toMatchObject({ ok: 2, error: 1, total: 3 });
    expect(report.failures).toEqual([
      {
        index: 1,
        name: 'item-2',
        status: 'error',
        ename: 'NameError',
        evalue: "name 'secret' is not defined",
        reason: null,
      },
    ]);
  });

  it('stopOnFirstFailure: nothing starts after a failure; the rest are skipped', async () => {
    const items = [{ code: 'print(1)' }, { code: 'raise RuntimeError("stop here")' }, { code: 'print(3)' }];
    const sequential = await batch(engine.vv, items, { stopOnFirstFailure: true });
    expect(sequential.results.map((result) => result.status)).toEqual(['ok', 'error', 'skipped']);
    expect(sequential.results[2]).toMatchObject({ execution: null, durationMs: 0 });
    expect(sequential.counts).toMatchObject({ ok: 1, error: 1, skipped: 1, total: 3 });
    expect(sequential.failures).toHaveLength(1);
    expect(sequential.failures[0]).toMatchObject({ index: 1, ename: 'RuntimeError', evalue: 'stop here' });

    const parallel = await batch(engine.vv, items, {
      mode: 'parallel',
      concurrency: 1,
      stopOnFirstFailure: true,
    });
    expect(parallel.results.map((result) => result.status)).toEqual(['ok', 'error', 'skipped']);

    const all = await batch(engine.vv, items);
    expect(all.results.map((result) => result.status)).toEqual(['ok', 'error', 'ok']);
  });

  it('counts timeouts; the next sequential item runs on a fresh kernel and says so', async () => {
    const report = await batch(
      engine.vv,
      [{ code: 'a = 1' }, { code: 'import time\ntime.sleep(30)' }, { code: 'print("next")' }, { code: 'a' }],
      { timeoutMs: 1_000 },
    );
    expect(report.results.map((result) => result.status)).toEqual(['ok', 'timeout', 'ok', 'error']);
    expect(report.results[2]).toMatchObject({ namespaceReset: true });
    expect(report.results[2]!.execution!.stdout).toBe('next\n');
    expect(report.counts).toMatchObject({ ok: 2, timeout: 1, error: 1, total: 4 });
    expect(report.failures.map((failure) => [failure.status, failure.ename])).toEqual([
      ['timeout', 'TimeoutError'],
      ['error', 'NameError'],
    ]);
    expect(report.failures[0]!.reason).toMatch(/timeout/);
  });

  it('reads file items before running anything; a missing file is refused up front', async () => {
    const one = join(scratch.path, 'one.py');
    const two = join(scratch.path, 'two.py');
    await writeFile(one, 'value = 7\n');
    await writeFile(two, 'print(value * 6)\n');
    const report = await batch(engine.vv, [{ file: one }, { name: 'second', file: two }]);
    expect(report.results.map((result) => [result.name, result.status])).toEqual([
      ['one.py', 'ok'],
      ['second', 'ok'],
    ]);
    expect(report.results[1]!.execution!.stdout).toBe('42\n');

    const missing = await batch(engine.vv, [
      { code: 'print(1)' },
      { file: join(scratch.path, 'missing.py') },
    ]).catch((error: unknown) => error);
    expect(isVivariumError(missing, 'FILE_NOT_FOUND')).toBe(true);
    expect((missing as Error).message).toContain('items.1.file');
  });

  it('validates items and options in the house form', async () => {
    const badConcurrency = await batch(engine.vv, [{ code: '1' }], {
      mode: 'parallel',
      concurrency: 0,
    }).catch((error: unknown) => error);
    expect(isVivariumError(badConcurrency, 'INVALID_ARGUMENT')).toBe(true);
    expect((badConcurrency as Error).message).toMatch(/Expected `concurrency` to be a number > 0, got `0`/);
    const badItem = await batch(engine.vv, [{ code: 1 }]).catch((error: unknown) => error);
    expect(isVivariumError(badItem, 'INVALID_ARGUMENT')).toBe(true);
    const empty = await batch(engine.vv, []);
    expect(empty).toMatchObject({ ok: true, results: [], counts: { total: 0 } });
  });
});

describe('vivarium batch (CLI)', () => {
  let data: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    assertCliBuilt();
    data = await temporaryDirectory('vivarium-batch-cli-data-');
  });
  afterAll(async () => {
    await data?.remove();
  });

  const script = async (name: string, code: string): Promise<string> => {
    const path = join(scratch.path, name);
    await writeFile(path, code);
    return path;
  };

  it('runs files in one session: progress lines on stderr (not a TTY), a table on stdout, exit 0', async () => {
    const first = await script('first.py', 'shared = "from first"\n');
    const second = await script('second.py', 'print(shared)\n');
    const result = await runCli(['batch', first, second, '--data', data.path, '--no-preload']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^\[1\/2\] .*first\.py: ok [\d.]+s\n\[2\/2\] .*second\.py: ok [\d.]+s\n$/);
    expect(result.stdout).toMatch(/^NAME +STATUS +DURATION +DETAIL\n/);
    expect(result.stdout).toMatch(/first\.py +ok +[\d.]+s/);
    expect(result.stdout).toMatch(/2 items \(sequential\): 2 ok in [\d.]+s\n$/);
  });

  it('--parallel isolates files, --json prints the report, a failure exits 1', async () => {
    const first = await script('p1.py', 'only_here = 1\n');
    const second = await script('p2.py', 'print(only_here)\n');
    const result = await runCli([
      'batch',
      first,
      second,
      '--parallel',
      '2',
      '--json',
      '--data',
      data.path,
      '--no-preload',
    ]);
    expect(result.code, result.stderr).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.mode).toBe('parallel');
    expect(report.results.map((item: Json) => item.status)).toEqual(['ok', 'error']);
    expect(report.results[1].execution.error.ename).toBe('NameError');
    expect(report.counts).toMatchObject({ ok: 1, error: 1, total: 2 });
    expect(report.failures[0].name).toBe(second);
  });

  it('--stop-on-failure skips the rest; the table shows the error', async () => {
    const bad = await script('bad.py', 'raise ValueError("bad input")\n');
    const never = await script('never.py', 'print("never")\n');
    const result = await runCli([
      'batch',
      bad,
      never,
      '--stop-on-failure',
      '--data',
      data.path,
      '--no-preload',
    ]);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toMatch(/bad\.py +error +[\d.]+s +ValueError: bad input/);
    expect(result.stdout).toMatch(/never\.py +skipped +-/);
    expect(result.stdout).toContain('1 error, 1 skipped');
  });

  it('draws a progress bar when stderr is a terminal, and clears it before the table', async () => {
    const file = await script('tty.py', 'print("quiet")\n');
    const stdout = new PassThrough();
    const stderr = Object.assign(new PassThrough(), { isTTY: true });
    let out = '';
    let err = '';
    stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    const code = await main(['node', 'vivarium', 'batch', file, file, '--data', data.path, '--no-preload'], {
      stdin: Readable.from([]),
      stdout,
      stderr,
    });
    expect(code, err).toBe(0);
    expect(err).toContain('\r\x1b[2K[........................] 0/2  ok 0  failed 0  ');
    expect(err).toContain('\r\x1b[2K[########################] 2/2  ok 2  failed 0  ');
    expect(err.endsWith('\r\x1b[2K')).toBe(true);
    expect(err).not.toContain('\n');
    expect(out).toContain('2 items (sequential): 2 ok');
  });

  it('usage errors exit 2: a missing file, a bad --parallel, --workspace with --parallel', async () => {
    const missing = await runCli(['batch', join(scratch.path, 'absent.py'), '--data', data.path]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('absent.py');
    const file = await script('x.py', 'pass\n');
    const badParallel = await runCli(['batch', file, '--parallel', 'many', '--data', data.path]);
    expect(badParallel.code).toBe(2);
    expect(badParallel.stderr).toContain(
      'Expected `--parallel` to be a whole number from 1 to 64, got `many`',
    );
    const both = await runCli([
      'batch',
      file,
      '--parallel',
      '--workspace',
      scratch.path,
      '--data',
      data.path,
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('either `--workspace` or `--parallel`');
  });
});

describe('POST /v1/batch', () => {
  const svc = useService();

  it('runs sequentially with shared state and in parallel isolated; executions are stored', async () => {
    const key = svc.keys.a;
    const sequential = await api(svc.url, 'POST', '/v1/batch', {
      key,
      json: {
        items: [
          { name: 'set', code: 'n = 5' },
          { name: 'use', code: 'n * 2' },
        ],
      },
    });
    expect(sequential.status, sequential.text).toBe(200);
    expect(sequential.body).toMatchObject({ mode: 'sequential', ok: true, counts: { ok: 2, total: 2 } });
    expect(sequential.body.results[1].execution.result).toEqual({ 'text/plain': '10' });
    const sessionId = sequential.body.results[0].execution.sessionId as string;
    const history = await api(svc.url, 'GET', `/v1/sessions/${sessionId}/history`, { key });
    expect(history.body.executions.map((item: Json) => item.code)).toEqual(['n = 5', 'n * 2']);
    expect((await api(svc.url, 'GET', `/v1/sessions/${sessionId}`, { key })).body.state).toBe('closed');

    const parallel = await api(svc.url, 'POST', '/v1/batch', {
      key,
      json: { mode: 'parallel', concurrency: 2, items: [{ code: 'm = 1' }, { code: 'm' }] },
    });
    expect(parallel.status, parallel.text).toBe(200);
    expect(parallel.body.results.map((item: Json) => item.status)).toEqual(['ok', 'error']);
    expect(parallel.body.failures[0]).toMatchObject({ index: 1, ename: 'NameError' });
    expect(parallel.body.ok).toBe(false);
  });

  it('refuses host file items and bad options with 400', async () => {
    const key = svc.keys.a;
    const file = await api(svc.url, 'POST', '/v1/batch', { key, json: { items: [{ file: '/etc/passwd' }] } });
    expect(file.status).toBe(400);
    expect(file.body.error.code).toBe('INVALID_ARGUMENT');
    const empty = await api(svc.url, 'POST', '/v1/batch', { key, json: { items: [] } });
    expect(empty.status).toBe(400);
    const concurrency = await api(svc.url, 'POST', '/v1/batch', {
      key,
      json: { mode: 'parallel', concurrency: 1000, items: [{ code: '1' }] },
    });
    expect(concurrency.status).toBe(400);
  });
});
