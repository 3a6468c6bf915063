import { describe, expect, it } from 'vitest';
import type { Session } from '../../src/index.js';
import { useEngine, expectOk } from '../helpers/engine.js';

/** The engine core on one shared session: state, results, queueing, variables, files, figures. */

const engine = useEngine();

let shared: Session | null = null;
async function session(): Promise<Session> {
  shared ??= await engine.vv.createSession();
  return shared;
}

describe('cells', () => {
  it('keeps state across cells', async () => {
    const s = await session();
    expectOk(await s.execute('x = 20\ndef double(v):\n    return 2 * v'));
    const execution = await s.execute('double(x) + 2');
    expectOk(execution);
    expect(execution.result).toEqual({ 'text/plain': '42' });
  });

  it('returns the last expression as an execute_result', async () => {
    const s = await session();
    const execution = await s.execute('1+1');
    expectOk(execution);
    expect(execution.result).toEqual({ 'text/plain': '2' });
    const results = execution.outputs.filter((output) => output.output_type === 'execute_result');
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({
      data: { 'text/plain': '2' },
      execution_count: execution.executionCount,
    });
  });

  it('suppresses the result after a trailing semicolon, and has none for a statement', async () => {
    const s = await session();
    for (const code of ['1+1;', '1+1;  # comment', 'y = 1', 'None', 'import math']) {
      const execution = await s.execute(code);
      expectOk(execution);
      expect(execution.result, code).toBeNull();
      expect(execution.outputs, code).toEqual([]);
    }
    // A semicolon inside a string or a comment is not a trailing one.
    expect((await s.execute("'a;'")).result).toEqual({ 'text/plain': "'a;'" });
    expect((await s.execute('2 * 3  # x;')).result).toEqual({ 'text/plain': '6' });
  });

  it('increments execution_count, one per cell', async () => {
    const s = await session();
    const first = await s.execute('pass');
    const second = await s.execute('1');
    const third = await s.execute('1/0');
    const fourth = await s.execute('2');
    expect(second.executionCount).toBe(first.executionCount + 1);
    expect(third.executionCount).toBe(second.executionCount + 1);
    expect(fourth.executionCount).toBe(third.executionCount + 1);
    expect(second.outputs[0]).toMatchObject({
      output_type: 'execute_result',
      execution_count: second.executionCount,
    });
    expect(s.info().executionCount).toBeGreaterThanOrEqual(4);
  });

  it('announces the execution_count in execution-start, before the cell ends', async () => {
    const s = await session();
    const starts: number[] = [];
    const execution = await s.execute('1', {
      onEvent: (event) => {
        if (event.type === 'execution-start') starts.push(event.executionCount);
      },
    });
    expect(starts).toEqual([execution.executionCount]);
    expect(execution.executionCount).toBeGreaterThan(0);
  });

  it('keeps `_` as the last result', async () => {
    const s = await session();
    await s.execute('6 * 7');
    expect((await s.execute('_ + 1')).result).toEqual({ 'text/plain': '43' });
  });
});

describe('queueing', () => {
  it('runs concurrent executions one at a time, in call order', async () => {
    const s = await session();
    expectOk(await s.execute('order = []'));
    const calls = [0, 1, 2, 3, 4].map((index) =>
      // Earlier cells sleep longer: any overlap or reordering would show in `order`.
      s.execute(`import time\ntime.sleep(${(5 - index) * 0.03})\norder.append(${index})\nlist(order)`),
    );
    const executions = await Promise.all(calls);
    const counts = executions.map((execution) => execution.executionCount);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(new Set(counts).size).toBe(5);
    executions.forEach((execution, index) => {
      expectOk(execution);
      expect(execution.result).toEqual({
        'text/plain': `[${[0, 1, 2, 3, 4].slice(0, index + 1).join(', ')}]`,
      });
    });
    expect((await s.execute('order')).result).toEqual({ 'text/plain': '[0, 1, 2, 3, 4]' });
  });
});

describe('variables', () => {
  it('summarizes user variables and leaves out modules, underscore names and imported callables', async () => {
    const s = await session();
    const execution = await s.execute(
      [
        'import os, json',
        'import numpy as np',
        'import pandas as pd',
        'from math import sqrt',
        'from collections import OrderedDict',
        'df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})',
        'arr = np.zeros((3, 4), dtype="float32")',
        'config = {"alpha": 1, "beta": [1, 2]}',
        'name = "vivarium"',
        '_private = 1',
        'def helper(v):',
        '    return v',
        'class Point:',
        '    pass',
      ].join('\n'),
    );
    expectOk(execution);
    const variables = await s.variables();
    const byName = new Map(variables.map((variable) => [variable.name, variable]));
    for (const hidden of [
      'os',
      'json',
      'np',
      'pd',
      'sqrt',
      'OrderedDict',
      '_private',
      '_',
      'display',
      'In',
      'Out',
    ]) {
      expect(byName.has(hidden), hidden).toBe(false);
    }
    expect(byName.get('df')).toMatchObject({
      type: 'pandas.core.frame.DataFrame',
      shape: [3, 2],
      columns: ['a', 'b'],
      dtypes: { a: 'int64', b: 'object' },
    });
    expect(byName.get('df')!.summary).toContain('3 rows');
    expect(byName.get('arr')).toMatchObject({ type: 'numpy.ndarray', shape: [3, 4], dtype: 'float32' });
    expect(byName.get('config')).toMatchObject({ type: 'dict', length: 2, keys: ["'alpha'", "'beta'"] });
    expect(byName.get('name')).toMatchObject({ type: 'str', summary: "'vivarium'" });
    expect(byName.get('helper')?.type).toBe('function');
    expect(byName.get('Point')?.type).toBe('type');
    expect(byName.get('x')).toMatchObject({ type: 'int', summary: '20' });
  });

  it('are available after a failed cell, without re-running anything', async () => {
    const s = await session();
    expectOk(await s.execute('runs = 0'));
    const failed = await s.execute('runs += 1\nlost = 1\nraise ValueError("boom")');
    expect(failed.status).toBe('error');
    const variables = await s.variables();
    const runs = variables.find((variable) => variable.name === 'runs');
    expect(runs).toMatchObject({ type: 'int', summary: '1' });
    // Assignments before the raise stay, as in Jupyter.
    expect(variables.find((variable) => variable.name === 'lost')?.summary).toBe('1');
    // Listing variables ran no cell: the counter did not move.
    expect((await s.execute('runs')).result).toEqual({ 'text/plain': '1' });
  });
});

describe('variables with a hanging __repr__', () => {
  it('bounds each summary; the others are listed', async () => {
    const s = await session();
    expectOk(
      await s.execute(
        'import time\nclass Slow:\n    def __repr__(self):\n        time.sleep(30)\n        return "slow"\nslow = Slow()\nfast = 7',
      ),
    );
    const started = performance.now();
    const variables = await s.variables();
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(variables.find((variable) => variable.name === 'slow')).toMatchObject({
      type: 'Slow',
      summary: '<summary took too long>',
    });
    expect(variables.find((variable) => variable.name === 'fast')?.summary).toBe('7');
    expectOk(await s.execute('del slow'));
  });

  it('a listing the host gave up on does not take the kernel down when it finally answers', async () => {
    const s = await engine.vv.createSession();
    try {
      // Swallows the runtime's per-variable alarm and outlasts the host's 10 s wait.
      expectOk(
        await s.execute(
          [
            'import time',
            'class Stubborn:',
            '    def __repr__(self):',
            '        end = time.monotonic() + 11',
            '        while time.monotonic() < end:',
            '            try:',
            '                time.sleep(end - time.monotonic())',
            '            except BaseException:',
            '                pass',
            "        return 'stubborn'",
            'stubborn = Stubborn()',
          ].join('\n'),
        ),
      );
      const listing = s.variables();
      const next = s.execute('"after"');
      await expect(listing).rejects.toMatchObject({ code: 'INTERNAL' });
      const execution = await next;
      expectOk(execution);
      expect(execution.result).toEqual({ 'text/plain': "'after'" });
      expect(s.state).toBe('idle');
    } finally {
      await s.close();
    }
  }, 30_000);
});

describe('figures of an execution', () => {
  it('reports files created, modified and deleted by each execution', async () => {
    const s = await session();
    const created = await s.execute(
      "import os\nos.makedirs('out', exist_ok=True)\nopen('out/a.txt', 'w').write('hello')\nopen('b.txt', 'w').write('bb')\nopen('gone.txt', 'w').write('x')",
    );
    expectOk(created);
    expect(created.files).toEqual([
      { path: 'b.txt', sizeBytes: 2, change: 'created' },
      { path: 'gone.txt', sizeBytes: 1, change: 'created' },
      { path: 'out/a.txt', sizeBytes: 5, change: 'created' },
    ]);
    const changed = await s.execute("open('out/a.txt', 'a').write(' world')\nos.remove('gone.txt')");
    expectOk(changed);
    expect(changed.files).toEqual([
      { path: 'gone.txt', sizeBytes: 0, change: 'deleted' },
      { path: 'out/a.txt', sizeBytes: 11, change: 'modified' },
    ]);
    expect((await s.execute('1')).files).toEqual([]);
  });

  it('measures CPU time', async () => {
    const s = await session();
    const idle = await s.execute('pass');
    const busy = await s.execute('total = 0\nfor i in range(3_000_000):\n    total += i * i');
    expectOk(busy);
    expect(busy.cpuMs).toBeGreaterThan(50);
    expect(busy.cpuMs).toBeGreaterThan(idle.cpuMs);
    expect(busy.durationMs).toBeGreaterThan(0);
  });

  it('measures peak memory per execution (the peak is reset between cells)', async () => {
    const s = await session();
    const before = await s.execute('pass');
    const big = await s.execute(
      'block = bytearray(200 * 1024 * 1024)\nblock[::4096] = b"x" * len(block[::4096])\ndel block',
    );
    expectOk(big);
    const after = await s.execute('pass');
    const mb = 1024 * 1024;
    expect(before.peakMemoryBytes).toBeGreaterThan(0);
    expect(big.peakMemoryBytes - before.peakMemoryBytes).toBeGreaterThan(150 * mb);
    // The next trivial cell reports its own peak, not the previous cell's.
    expect(big.peakMemoryBytes - after.peakMemoryBytes).toBeGreaterThan(150 * mb);
  });
});

describe('files API through the session', () => {
  it('moves data host → Python → host', async () => {
    const s = await session();
    await s.files.write('input/data.csv', 'city,temp\nOslo,4\nRome,19\nCairo,30\n');
    const execution = await s.execute(
      [
        'import csv',
        "rows = list(csv.DictReader(open('input/data.csv')))",
        "hottest = max(rows, key=lambda r: int(r['temp']))",
        "with open('result.json', 'w') as f:",
        "    json.dump({'hottest': hottest['city'], 'count': len(rows)}, f)",
        'len(rows)',
      ].join('\n'),
    );
    expectOk(execution);
    expect(execution.result).toEqual({ 'text/plain': '3' });
    expect(execution.files).toContainEqual(
      expect.objectContaining({ path: 'result.json', change: 'created' }),
    );
    const result = JSON.parse((await s.files.read('result.json')).toString('utf8'));
    expect(result).toEqual({ hottest: 'Cairo', count: 3 });
  });
});
