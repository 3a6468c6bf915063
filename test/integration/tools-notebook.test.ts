/* eslint-disable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return -- notebook and HTTP JSON is untyped, checked by the assertions */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVivariumError, type Execution } from '../../src/index.js';
import { SessionHistory } from '../../src/session/session-history.js';
import {
  exportNotebook,
  exportSessionNotebook,
  importNotebook,
  joinLines,
  notebookFromScript,
  runNotebook,
  type Notebook,
  type NotebookCellEvent,
  type NotebookCodeCell,
  type NotebookOutput,
} from '../../src/tools/index.js';
import { assertCliBuilt, runCli, temporaryDirectory } from '../helpers/cli-helpers.js';
import { useEngine } from '../helpers/engine.js';
import { api, useService, type Json } from '../helpers/server.js';

/**
 * Notebooks for real: cells run in the sandbox, exported as nbformat 4.5 and checked by Debian's
 * `python3-nbformat` (the reference validator), imported and run again; the CLI through the built
 * binary; the HTTP routes on a real service, across a restart.
 */

const execFileAsync = promisify(execFile);

let scratch: { path: string; remove: () => Promise<void> };
let fileCounter = 0;

beforeAll(async () => {
  scratch = await temporaryDirectory('vivarium-notebook-test-');
});
afterAll(async () => {
  await scratch?.remove();
});

/**
 * Validates with nbformat (Debian's `python3-nbformat` on the system interpreter): the schema of
 * the notebook's own version plus nbformat's extra checks (unique cell ids). Returns what
 * nbformat read, as JSON, for further checks.
 */
async function validateWithNbformat(notebook: unknown): Promise<{ nbformat_minor: number; cells: number }> {
  fileCounter += 1;
  const path = join(scratch.path, `check-${fileCounter}.ipynb`);
  await writeFile(path, typeof notebook === 'string' ? notebook : JSON.stringify(notebook));
  const script = [
    'import json, sys, nbformat',
    'nb = nbformat.read(sys.argv[1], as_version=4)',
    'nbformat.validate(nb)',
    'print(json.dumps({"nbformat_minor": nb.nbformat_minor, "cells": len(nb.cells)}))',
  ].join('\n');
  const { stdout } = await execFileAsync('/usr/bin/python3', ['-c', script, path], { timeout: 30_000 });
  return JSON.parse(stdout) as { nbformat_minor: number; cells: number };
}

function codeCells(notebook: Notebook): NotebookCodeCell[] {
  return notebook.cells.filter((cell): cell is NotebookCodeCell => cell.cell_type === 'code');
}

/**
 * What must be the same when a notebook is run again: output kinds, stream text, the MIME types
 * of rich outputs with their text (images: a PNG of some size, bytes may differ), errors' name and
 * value. Object addresses in reprs (`at 0x7f…`) are masked.
 */
function comparable(outputs: NotebookOutput[]): unknown[] {
  const mask = (text: string): string => text.replace(/0x[0-9a-f]+/g, '0x?');
  // stdout and stderr are separate pipes: their order relative to each other is best-effort, so
  // stream outputs are compared in a stable order (by stream name) ahead of the rest.
  const streamName = (output: NotebookOutput): string =>
    output.output_type === 'stream' ? `0${output.name}` : '1';
  const ordered = outputs
    .map((output, index) => ({ output, index }))
    .sort((a, b) => streamName(a.output).localeCompare(streamName(b.output)) || a.index - b.index)
    .map(({ output }) => output);
  return ordered.map((output) => {
    switch (output.output_type) {
      case 'stream':
        return { type: 'stream', name: output.name, text: joinLines(output.text) };
      case 'display_data':
      case 'execute_result':
        return {
          type: output.output_type,
          mimes: Object.keys(output.data).sort(),
          text: mask(joinLines(output.data['text/plain'] as string | string[])),
          html:
            output.data['text/html'] === undefined ? null : joinLines(output.data['text/html'] as string[]),
          png:
            typeof output.data['image/png'] === 'string' &&
            output.data['image/png'].startsWith('iVBORw0KGgo'),
        };
      case 'error':
        return { type: 'error', ename: output.ename, evalue: output.evalue };
    }
  });
}

const ROUND_TRIP_CELLS = [
  'print("hello notebook")\nimport sys\nprint("to stderr", file=sys.stderr)',
  'import pandas as pd\ndf = pd.DataFrame({"city": ["Oslo", "Lima"], "temp": [3.5, 19.0]})\ndf',
  'import matplotlib\nmatplotlib.use("Agg")\nimport matplotlib.pyplot as plt\nplt.plot([1, 4, 9, 16])\nplt.title("squares")\nplt.show()',
  'len(df)',
  '1 / 0',
];

describe('notebook export, import and run (library)', () => {
  const engine = useEngine({ pool: { size: 0 } });

  it('round trips: history → nbformat 4.5 (valid per nbformat) → import → run again → equivalent outputs', async () => {
    const session = await engine.vv.createSession();
    try {
      for (const code of ROUND_TRIP_CELLS) await session.execute(code);
      const history = session.history();
      expect(history.map((entry) => entry.code)).toEqual(ROUND_TRIP_CELLS);
      expect(history.map((entry) => entry.execution.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'error']);

      const version = engine.vv.sandbox.interpreterInfo?.version;
      expect(version).toMatch(/^3\.\d+\.\d+/);
      const exported = exportSessionNotebook(session, { languageVersion: version! });
      expect(await validateWithNbformat(exported)).toEqual({ nbformat_minor: 5, cells: 5 });

      // Notebook-level metadata.
      expect(exported.nbformat).toBe(4);
      expect(exported.nbformat_minor).toBe(5);
      expect(exported.metadata.kernelspec).toMatchObject({ name: 'python3', language: 'python' });
      expect(exported.metadata.language_info).toMatchObject({ name: 'python', version });
      expect(exported.metadata.vivarium).toMatchObject({ sessionId: session.id });
      expect(Date.parse((exported.metadata.vivarium as { exportedAt: string }).exportedAt)).not.toBeNaN();

      // Cells: ids, counts, per-cell metadata, outputs mapped one to one.
      const cells = codeCells(exported);
      expect(new Set(cells.map((cell) => cell.id)).size).toBe(5);
      for (const [index, cell] of cells.entries()) {
        const execution = history[index]!.execution;
        expect(cell.id).toMatch(/^[a-zA-Z0-9-_]{8,64}$/);
        expect(joinLines(cell.source)).toBe(ROUND_TRIP_CELLS[index]);
        expect(cell.execution_count).toBe(index + 1);
        expect(cell.metadata.vivarium).toMatchObject({
          executionId: execution.id,
          status: execution.status,
          durationMs: execution.durationMs,
          startedAt: execution.startedAt,
        });
        expect(cell.outputs).toHaveLength(execution.outputs.length);
      }
      const [stream, frame, plot, count, error] = cells;
      // stdout and stderr are separate pipes: their order relative to each other is best-effort.
      const byName = (output: NotebookOutput): string => ('name' in output ? String(output.name) : '');
      expect([...stream!.outputs].sort((a, b) => byName(a).localeCompare(byName(b)))).toEqual([
        { output_type: 'stream', name: 'stderr', text: ['to stderr\n'] },
        { output_type: 'stream', name: 'stdout', text: ['hello notebook\n'] },
      ]);
      const frameResult = frame!.outputs[0] as Extract<NotebookOutput, { output_type: 'execute_result' }>;
      expect(frameResult.output_type).toBe('execute_result');
      expect(frameResult.execution_count).toBe(2);
      expect(joinLines(frameResult.data['text/html'] as string[])).toContain('<table');
      expect(joinLines(frameResult.data['text/plain'] as string[])).toContain('Oslo');
      const image = plot!.outputs.find((output) => output.output_type === 'display_data');
      expect(image).toBeDefined();
      const png = (image as Extract<NotebookOutput, { output_type: 'display_data' }>).data['image/png'];
      expect(typeof png).toBe('string');
      expect(
        Buffer.from(png as string, 'base64')
          .subarray(1, 4)
          .toString('latin1'),
      ).toBe('PNG');
      expect(count!.outputs).toEqual([
        { output_type: 'execute_result', execution_count: 4, data: { 'text/plain': ['2'] }, metadata: {} },
      ]);
      expect(error!.outputs).toHaveLength(1);
      expect(error!.outputs[0]).toMatchObject({
        output_type: 'error',
        ename: 'ZeroDivisionError',
        evalue: 'division by zero',
      });
      expect(error!.metadata.vivarium).toMatchObject({ status: 'error' });

      // The file as written, read back as text.
      const text = JSON.stringify(exported, null, 1);
      const imported = importNotebook(text);
      expect(imported.codeCells.map((cell) => cell.source)).toEqual(ROUND_TRIP_CELLS);
      expect(imported.codeCells.map((cell) => cell.id)).toEqual(cells.map((cell) => cell.id));

      // Run again in a fresh session: same outputs, same counts (continue past the error at the end).
      const rerun = await runNotebook(engine.vv, text, { continueOnError: true });
      expect(await validateWithNbformat(rerun.notebook)).toEqual({ nbformat_minor: 5, cells: 5 });
      expect(rerun.summary).toMatchObject({ status: 'error', codeCells: 5, executed: 5, ok: 4, failed: 1 });
      expect(rerun.summary.sessionId).not.toBe(session.id);
      const again = codeCells(rerun.notebook);
      expect(again.map((cell) => cell.execution_count)).toEqual([1, 2, 3, 4, 5]);
      expect(again.map((cell) => comparable(cell.outputs))).toEqual(
        cells.map((cell) => comparable(cell.outputs)),
      );
      expect(again.map((cell) => cell.id)).toEqual(cells.map((cell) => cell.id));
      expect((rerun.notebook.metadata.vivarium as { sessionId: string }).sessionId).toBe(
        rerun.summary.sessionId,
      );
      expect(rerun.notebook.metadata.language_info).toMatchObject({ version });
    } finally {
      await session.close();
    }
  });

  const STOP_NOTEBOOK = {
    nbformat: 4,
    nbformat_minor: 4,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3' } },
    cells: [
      { cell_type: 'markdown', metadata: {}, source: ['# A title\n', 'Some *text*.'] },
      { cell_type: 'code', metadata: {}, source: 'a = 20', outputs: [], execution_count: null },
      {
        cell_type: 'code',
        metadata: { tags: ['keep-me'] },
        source: ['print(a + 1)'],
        outputs: [{ output_type: 'stream', name: 'stdout', text: 'stale output\n' }],
        execution_count: 7,
      },
      {
        cell_type: 'code',
        metadata: {},
        source: 'raise ValueError("boom")',
        outputs: [],
        execution_count: null,
      },
      { cell_type: 'code', metadata: {}, source: '   \n', outputs: [], execution_count: null },
      {
        cell_type: 'code',
        metadata: {},
        source: 'print("after", a)',
        outputs: [{ output_type: 'stream', name: 'stdout', text: 'stale\n' }],
        execution_count: 9,
      },
      { cell_type: 'raw', metadata: {}, source: 'raw text' },
    ],
  };

  it('stops at the first failing cell, leaving the cells after it without outputs', async () => {
    const events: NotebookCellEvent[] = [];
    const result = await runNotebook(engine.vv, STOP_NOTEBOOK, { onCell: (event) => events.push(event) });
    expect(result.summary).toMatchObject({
      status: 'error',
      codeCells: 5,
      executed: 3,
      ok: 2,
      failed: 1,
      notExecuted: 2,
      aborted: false,
      firstFailure: { cellIndex: 3, status: 'error', ename: 'ValueError', evalue: 'boom' },
    });
    expect(await validateWithNbformat(result.notebook)).toEqual({ nbformat_minor: 5, cells: 7 });
    const cells = result.notebook.cells;
    // Ids were added (the file was nbformat 4.4), markdown and raw cells kept as they were.
    for (const cell of cells) expect(cell.id).toMatch(/^[a-zA-Z0-9-_]{8,64}$/);
    expect(cells[0]).toMatchObject({ cell_type: 'markdown', source: ['# A title\n', 'Some *text*.'] });
    expect(cells[6]).toMatchObject({ cell_type: 'raw', source: 'raw text' });
    const [, first, second, failing, empty, after] = cells as NotebookCodeCell[];
    expect(first).toMatchObject({ execution_count: 1, outputs: [] });
    expect(second).toMatchObject({
      execution_count: 2,
      outputs: [{ output_type: 'stream', name: 'stdout', text: ['21\n'] }],
    });
    expect(second!.metadata.tags).toEqual(['keep-me']);
    expect(failing!.execution_count).toBe(3);
    expect(failing!.outputs[0]).toMatchObject({ output_type: 'error', ename: 'ValueError' });
    expect(failing!.metadata.vivarium).toMatchObject({ status: 'error' });
    // Not run: the stale outputs and counts are gone, no Vivarium metadata.
    expect(empty).toMatchObject({ execution_count: null, outputs: [] });
    expect(after).toMatchObject({ execution_count: null, outputs: [] });
    expect(after!.metadata.vivarium).toBeUndefined();

    expect(events.map((event) => `${event.type}:${event.cellIndex}`)).toEqual([
      'cell-start:1',
      'cell-end:1',
      'cell-start:2',
      'cell-end:2',
      'cell-start:3',
      'cell-end:3',
    ]);
    expect(events[0]).toMatchObject({ codeCellNumber: 1, codeCellCount: 5 });
  });

  it('with continueOnError runs the rest, sharing the namespace', async () => {
    const result = await runNotebook(engine.vv, STOP_NOTEBOOK, { continueOnError: true });
    expect(result.summary).toMatchObject({ status: 'error', executed: 4, ok: 3, failed: 1, notExecuted: 1 });
    const after = result.notebook.cells[5] as NotebookCodeCell;
    expect(after).toMatchObject({
      execution_count: 4,
      outputs: [{ output_type: 'stream', name: 'stdout', text: ['after 20\n'] }],
    });
    expect(result.executions.map((execution) => execution.status)).toEqual(['ok', 'ok', 'error', 'ok']);
  });

  it('continues after a cell that killed the kernel on a restarted one, and says so', async () => {
    const notebook = notebookFromScript(
      ['x = 1', '# %%', 'import time; time.sleep(30)', '# %%', 'print("alive")', '# %%', 'print(x)'].join(
        '\n',
      ),
    );
    const result = await runNotebook(engine.vv, notebook, { continueOnError: true, timeoutMs: 1_000 });
    expect(result.executions.map((execution) => execution.status)).toEqual(['ok', 'timeout', 'ok', 'error']);
    const cells = codeCells(result.notebook);
    expect(cells[1]!.metadata.vivarium).toMatchObject({ status: 'timeout' });
    expect((cells[1]!.metadata.vivarium as { reason: string }).reason).toMatch(/timeout/);
    expect(cells[1]!.outputs[0]).toMatchObject({ output_type: 'error', ename: 'TimeoutError' });
    expect(cells[2]!.metadata.vivarium).toMatchObject({ status: 'ok', namespaceReset: true });
    expect(cells[3]!.outputs[0]).toMatchObject({ output_type: 'error', ename: 'NameError' });
    expect(result.summary.firstFailure).toMatchObject({ cellIndex: 1, status: 'timeout' });
    expect(await validateWithNbformat(result.notebook)).toEqual({ nbformat_minor: 5, cells: 4 });
  });

  it('runs in a given session, which stays open with its variables', async () => {
    const session = await engine.vv.createSession();
    try {
      await session.execute('base = 40');
      const result = await runNotebook(session, notebookFromScript('base + 2'));
      expect(result.summary).toMatchObject({ status: 'ok', sessionId: session.id, executed: 1 });
      const cell = codeCells(result.notebook)[0]!;
      expect(cell.execution_count).toBe(2);
      expect(cell.outputs[0]).toMatchObject({
        output_type: 'execute_result',
        data: { 'text/plain': ['42'] },
      });
      expect(session.state).toBe('idle');
      expect(session.history().map((entry) => entry.code)).toEqual(['base = 40', 'base + 2']);
    } finally {
      await session.close();
    }
  });

  it('refuses what is not an nbformat 4 notebook, with a clear error, before running anything', () => {
    const refuse = (input: unknown): string => {
      try {
        importNotebook(input);
      } catch (error) {
        expect(isVivariumError(error, 'INVALID_ARGUMENT')).toBe(true);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refuse({ nbformat: 3, nbformat_minor: 0, worksheets: [], metadata: {} })).toMatch(
      /Expected `nbformat` to be 4 .*got `3` \(number\).*nbconvert --to notebook --nbformat 4/,
    );
    expect(refuse({ cells: [] })).toMatch(/Expected `nbformat` to be 4/);
    expect(refuse('{"nbformat": 4, "cells": [')).toMatch(/does not parse/);
    expect(refuse([1, 2])).toMatch(/Expected `notebook` to be an nbformat 4 notebook/);
    expect(
      refuse({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [{ cell_type: 'code', source: 42 }] }),
    ).toMatch(/cells\.0\.source/);
    expect(
      refuse({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [{ cell_type: 'widget', source: '' }] }),
    ).toMatch(/cells\.0/);
  });

  it('gives unique valid ids to cells with none, bad ones or duplicates', () => {
    const { notebook } = importNotebook({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [
        { id: 'same-id-1', cell_type: 'code', metadata: {}, source: '1', outputs: [], execution_count: null },
        { id: 'same-id-1', cell_type: 'code', metadata: {}, source: '2', outputs: [], execution_count: null },
        { id: 'has space', cell_type: 'markdown', metadata: {}, source: 'x' },
        { cell_type: 'markdown', metadata: {}, source: 'y' },
      ],
    });
    const ids = notebook.cells.map((cell) => cell.id);
    expect(ids[0]).toBe('same-id-1');
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) expect(id).toMatch(/^[a-zA-Z0-9-_]{8,64}$/);
  });

  it('splits a percent-format script into code, markdown and raw cells', () => {
    const notebook = notebookFromScript(
      [
        'import math',
        '',
        '# %% [markdown]',
        '# # Results',
        '# The *answer*:',
        '',
        '# %% compute',
        'x = math.sqrt(16)',
        'x',
        '# %%',
        '',
        '# %% [raw]',
        'raw stays',
      ].join('\n'),
    );
    expect(notebook.cells.map((cell) => [cell.cell_type, joinLines(cell.source)])).toEqual([
      ['code', 'import math'],
      ['markdown', '# Results\nThe *answer*:'],
      ['code', 'x = math.sqrt(16)\nx'],
      ['raw', 'raw stays'],
    ]);
  });

  it('exports an empty history and maps outputs that are not text', async () => {
    const empty = exportNotebook([], { sessionId: 'ses_empty' });
    expect(empty.cells).toEqual([]);
    expect(await validateWithNbformat(empty)).toEqual({ nbformat_minor: 5, cells: 0 });

    const execution: Execution = {
      id: 'exe_handmade0001',
      sessionId: 'ses_handmade',
      executionCount: 1,
      status: 'ok',
      outputs: [
        {
          output_type: 'display_data',
          data: { 'application/json': { a: [1, 2] }, 'text/plain': 'a\nb', 'application/x-custom': { n: 1 } },
          metadata: {},
          transient: { display_id: 'd1' },
        },
      ],
      stdout: '',
      stderr: '',
      truncated: { output: false, display: true, files: false },
      result: null,
      error: null,
      durationMs: 1,
      cpuMs: 1,
      peakMemoryBytes: 1,
      files: [],
      startedAt: new Date().toISOString(),
      reason: null,
      namespaceReset: false,
    };
    const notebook = exportNotebook([{ code: 'display(...)', execution }]);
    const cell = notebook.cells[0] as NotebookCodeCell;
    expect(cell.outputs).toEqual([
      {
        output_type: 'display_data',
        data: {
          'application/json': { a: [1, 2] },
          'text/plain': ['a\n', 'b'],
          'application/x-custom': '{"n":1}',
        },
        metadata: {},
      },
    ]);
    expect(cell.metadata.vivarium).toMatchObject({ truncated: { display: true } });
    expect(notebook.metadata.vivarium).toMatchObject({ sessionId: 'ses_handmade' });
    expect(await validateWithNbformat(notebook)).toEqual({ nbformat_minor: 5, cells: 1 });
  });
});

describe('session history', () => {
  it('keeps the last entries within a count and a byte budget, the newest always', () => {
    const execution = (id: string, text: string): Execution =>
      ({
        id,
        outputs: [{ output_type: 'stream', name: 'stdout', text }],
        stdout: text,
        stderr: '',
        result: null,
        files: [],
      }) as unknown as Execution;
    const byCount = new SessionHistory({ maxEntries: 3 });
    for (let index = 1; index <= 5; index += 1) byCount.record(`cell ${index}`, execution(`e${index}`, 'x'));
    expect(byCount.entries().map((entry) => entry.code)).toEqual(['cell 3', 'cell 4', 'cell 5']);
    expect(byCount.droppedEntries).toBe(2);

    const byBytes = new SessionHistory({ maxBytes: 5_000 });
    byBytes.record('small', execution('e1', 'x'));
    byBytes.record('big', execution('e2', 'y'.repeat(2_000)));
    expect(byBytes.entries().map((entry) => entry.code)).toEqual(['small', 'big']);
    byBytes.record('bigger', execution('e3', 'z'.repeat(2_000)));
    expect(byBytes.entries().map((entry) => entry.code)).toEqual(['bigger']);
    expect(byBytes.sizeBytes).toBeLessThanOrEqual(5_000);
    byBytes.record('huge', execution('e4', 'h'.repeat(20_000)));
    expect(byBytes.entries().map((entry) => entry.code)).toEqual(['huge']);

    expect(() => new SessionHistory({ maxEntries: 0 })).toThrow(/Expected `maxEntries` to be a number > 0/);
  });
});

describe('vivarium notebook (CLI)', () => {
  let data: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    assertCliBuilt();
    data = await temporaryDirectory('vivarium-notebook-cli-data-');
  });
  afterAll(async () => {
    await data?.remove();
  });

  const notebookFile = async (name: string, sources: string[]): Promise<string> => {
    const path = join(scratch.path, name);
    await writeFile(
      path,
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {},
        cells: sources.map((source, index) => ({
          id: `cell-${index}-abcdef`,
          cell_type: 'code',
          metadata: {},
          source,
          outputs: [],
          execution_count: null,
        })),
      }),
    );
    return path;
  };

  it('run: writes the executed notebook with -o, one line per cell on stderr, exit 0', async () => {
    const input = await notebookFile('ok.ipynb', ['n = 6', 'print(n * 7)', 'n']);
    const output = join(scratch.path, 'ok.out.ipynb');
    const result = await runCli([
      'notebook',
      'run',
      input,
      '-o',
      output,
      '--data',
      data.path,
      '--no-preload',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^ran 3 of 3 code cells: 3 ok, 0 failed in [\d.]+s; wrote .*ok\.out\.ipynb\n$/,
    );
    expect(result.stderr).toMatch(
      /^\[1\/3\] cell 1 ok [\d.]+s\n\[2\/3\] cell 2 ok [\d.]+s\n\[3\/3\] cell 3 ok/,
    );
    const text = await readFile(output, 'utf8');
    expect(text.startsWith('{\n "nbformat": 4')).toBe(true);
    expect(await validateWithNbformat(text)).toEqual({ nbformat_minor: 5, cells: 3 });
    const written = JSON.parse(text) as Notebook;
    expect(codeCells(written).map((cell) => cell.outputs)).toEqual([
      [],
      [{ output_type: 'stream', name: 'stdout', text: ['42\n'] }],
      [{ output_type: 'execute_result', execution_count: 3, data: { 'text/plain': ['6'] }, metadata: {} }],
    ]);
  });

  it('run: stops at a failing cell (exit 1), --continue-on-error runs on; without -o the notebook is stdout', async () => {
    const input = await notebookFile('fail.ipynb', ['print("one")', '{}["missing"]', 'print("three")']);
    const stopped = await runCli(['notebook', 'run', input, '--data', data.path, '--no-preload']);
    expect(stopped.code, stopped.stderr).toBe(1);
    const notebook = JSON.parse(stopped.stdout) as Notebook;
    expect(codeCells(notebook).map((cell) => cell.execution_count)).toEqual([1, 2, null]);
    expect(stopped.stderr).toContain('[2/3] cell 2 error');
    expect(stopped.stderr).toContain("KeyError: 'missing'");
    expect(stopped.stderr).toMatch(/ran 2 of 3 code cells: 1 ok, 1 failed \(first: cell 2, error, KeyError/);

    const output = join(scratch.path, 'fail.out.ipynb');
    const continued = await runCli([
      'notebook',
      'run',
      input,
      '-o',
      output,
      '--continue-on-error',
      '--json',
      '--data',
      data.path,
      '--no-preload',
    ]);
    expect(continued.code, continued.stderr).toBe(1);
    const report = JSON.parse(continued.stdout);
    expect(report.summary).toMatchObject({ status: 'error', executed: 3, ok: 2, failed: 1 });
    expect(report.outputPath).toBe(output);
    expect(report.notebook).toBeUndefined();
    const written = JSON.parse(await readFile(output, 'utf8')) as Notebook;
    expect(codeCells(written)[2]!.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: ['three\n'] },
    ]);
  });

  it('run: a file that is not an nbformat 4 notebook is a usage error (exit 2), no sandbox started', async () => {
    const path = join(scratch.path, 'v3.ipynb');
    await writeFile(path, JSON.stringify({ nbformat: 3, nbformat_minor: 0, worksheets: [] }));
    const result = await runCli(['notebook', 'run', path, '--data', data.path]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Expected `nbformat` to be 4/);
    const missing = await runCli(['notebook', 'run', join(scratch.path, 'nope.ipynb'), '--data', data.path]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file');
  });

  it('export --from: a # %% script becomes an executed notebook', async () => {
    const script = join(scratch.path, 'analysis.py');
    await writeFile(script, 'values = [3, 1, 2]\n\n# %% [markdown]\n# ## Sorted\n\n# %%\nsorted(values)\n');
    const output = join(scratch.path, 'analysis.ipynb');
    const result = await runCli([
      'notebook',
      'export',
      '--from',
      script,
      '-o',
      output,
      '--data',
      data.path,
      '--no-preload',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const text = await readFile(output, 'utf8');
    expect(await validateWithNbformat(text)).toEqual({ nbformat_minor: 5, cells: 3 });
    const written = JSON.parse(text) as Notebook;
    expect(written.cells.map((cell) => cell.cell_type)).toEqual(['code', 'markdown', 'code']);
    expect((written.cells[2] as NotebookCodeCell).outputs[0]).toMatchObject({
      output_type: 'execute_result',
      data: { 'text/plain': ['[1, 2, 3]'] },
    });
    const noFrom = await runCli(['notebook', 'export', '-o', output, '--data', data.path]);
    expect(noFrom.code).toBe(2);
    expect(noFrom.stderr).toContain('--from FILE.py');
  });
});

describe('notebooks over HTTP', () => {
  const svc = useService();

  it("exports a session's stored history, also after a restart of the service", async () => {
    const key = svc.keys.a;
    const id = (await api(svc.url, 'POST', '/v1/sessions', { key, json: {} })).body.id as string;
    for (const code of [
      'import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()',
      'print("x")',
      '1/0',
    ]) {
      await api(svc.url, 'POST', `/v1/sessions/${id}/executions`, { key, json: { code } });
    }
    const first = await api(svc.url, 'GET', `/v1/sessions/${id}/notebook`, { key });
    expect(first.status).toBe(200);
    expect(await validateWithNbformat(first.body)).toEqual({ nbformat_minor: 5, cells: 3 });
    expect(first.body.metadata.vivarium.sessionId).toBe(id);
    expect(first.body.metadata.language_info.version).toMatch(/^3\./);
    expect(first.body.cells.map((cell: Json) => cell.execution_count)).toEqual([1, 2, 3]);
    const image = first.body.cells[0].outputs.find((output: Json) => output.output_type === 'display_data');
    expect(image.data['image/png']).toMatch(/^iVBORw0KGgo/);
    expect(first.body.cells[2].outputs[0]).toMatchObject({
      output_type: 'error',
      ename: 'ZeroDivisionError',
    });

    const limited = await api(svc.url, 'GET', `/v1/sessions/${id}/notebook?limit=1&download=true`, { key });
    expect(limited.body.cells).toHaveLength(1);
    expect(limited.headers.get('content-disposition')).toBe(`attachment; filename="${id}.ipynb"`);

    // Another key sees nothing of it.
    expect((await api(svc.url, 'GET', `/v1/sessions/${id}/notebook`, { key: svc.keys.b })).status).toBe(404);

    await svc.restart();
    const after = await api(svc.url, 'GET', `/v1/sessions/${id}/notebook`, { key });
    expect(after.status).toBe(200);
    expect(after.body.cells).toEqual(first.body.cells);
    expect(await validateWithNbformat(after.body)).toEqual({ nbformat_minor: 5, cells: 3 });
  });

  it('runs an uploaded notebook and answers it executed; its session history exports it again', async () => {
    const key = svc.keys.a;
    const notebook = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [
        { id: 'intro-cell', cell_type: 'markdown', metadata: {}, source: '# Run me' },
        {
          id: 'code-cell-1',
          cell_type: 'code',
          metadata: {},
          source: 'total = sum(range(5))',
          outputs: [],
          execution_count: null,
        },
        {
          id: 'code-cell-2',
          cell_type: 'code',
          metadata: {},
          source: 'total',
          outputs: [],
          execution_count: null,
        },
        {
          id: 'code-cell-3',
          cell_type: 'code',
          metadata: {},
          source: 'undefined_name',
          outputs: [],
          execution_count: null,
        },
        {
          id: 'code-cell-4',
          cell_type: 'code',
          metadata: {},
          source: 'total + 1',
          outputs: [],
          execution_count: null,
        },
      ],
    };
    const run = await api(svc.url, 'POST', '/v1/notebooks/run', { key, json: { notebook } });
    expect(run.status, run.text).toBe(200);
    expect(run.body.summary).toMatchObject({
      status: 'error',
      executed: 3,
      failed: 1,
      firstFailure: { cellId: 'code-cell-3', ename: 'NameError' },
    });
    expect(await validateWithNbformat(run.body.notebook)).toEqual({ nbformat_minor: 5, cells: 5 });
    expect(run.body.notebook.cells[2].outputs[0].data['text/plain']).toEqual(['10']);
    expect(run.body.notebook.cells[4]).toMatchObject({ execution_count: null, outputs: [] });

    const sessionId = run.body.summary.sessionId as string;
    const session = await api(svc.url, 'GET', `/v1/sessions/${sessionId}`, { key });
    expect(session.body.state).toBe('closed');
    const exported = await api(svc.url, 'GET', `/v1/sessions/${sessionId}/notebook`, { key });
    expect(exported.body.cells.map((cell: Json) => cell.source)).toEqual([
      ['total = sum(range(5))'],
      ['total'],
      ['undefined_name'],
    ]);

    const continued = await api(svc.url, 'POST', '/v1/notebooks/run', {
      key,
      json: { notebook, continueOnError: true },
    });
    expect(continued.body.summary).toMatchObject({ executed: 4, ok: 3, failed: 1 });
    expect(continued.body.notebook.cells[4].outputs[0].data['text/plain']).toEqual(['11']);
  });

  it('refuses a notebook that is not nbformat 4 with 400 and the reason', async () => {
    const key = svc.keys.a;
    const old = await api(svc.url, 'POST', '/v1/notebooks/run', {
      key,
      json: { notebook: { nbformat: 3, nbformat_minor: 0, worksheets: [] } },
    });
    expect(old.status).toBe(400);
    expect(old.body.error.code).toBe('INVALID_ARGUMENT');
    expect(old.body.error.message).toMatch(/Expected `nbformat` to be 4/);
    const unauthenticated = await api(svc.url, 'POST', '/v1/notebooks/run', { json: { notebook: {} } });
    expect(unauthenticated.status).toBe(401);
  });
});
