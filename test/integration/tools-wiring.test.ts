import { describe, expect, it } from 'vitest';
import { useEngine } from '../helpers/engine.js';

/** The tools are reachable as the issue names them: session methods and engine methods. */
describe('tools on sessions and the engine', () => {
  const engine = useEngine({ pool: { size: 0 }, files: { allowedExtensions: ['*'] } });

  it('session.runTests, profile, dependencies, files.describe, exportNotebook', async () => {
    const session = await engine.vv.createSession();
    await session.files.write('test_small.py', 'def test_ok():\n    assert 1 + 1 == 2\n');
    await session.files.write('table.csv', 'a,b\n1,2\n3,4\n');
    const tests = await session.runTests({ paths: ['test_small.py'], coverage: false });
    expect(tests).toMatchObject({ passed: 1, failed: 0, success: true });
    const profiled = await session.profile({ code: 'sum(range(100000))' });
    expect(profiled.wallMs).toBeGreaterThan(0);
    const deps = await session.dependencies('import json\nimport not_a_module_here');
    expect(deps.imports.map((entry) => entry.kind)).toEqual(['stdlib', 'missing']);
    const described = await session.files.describe('table.csv');
    expect(described).toMatchObject({ kind: 'csv' });
    expect((described as { columns: Array<{ name: string }> }).columns.map((column) => column.name)).toEqual([
      'a',
      'b',
    ]);
    await session.execute('x = 1\nx + 1');
    const notebook = await session.exportNotebook();
    expect(notebook.nbformat).toBe(4);
    expect(notebook.cells.length).toBe(1);
  });

  it('vv.validate, vv.batch, vv.runNotebook', async () => {
    const validation = await engine.vv.validate('import os\nprint(undefined_name)');
    expect(validation.ok).toBe(false);
    expect(validation.undefinedNames.map((entry) => entry.name)).toEqual(['undefined_name']);
    const report = await engine.vv.batch([{ code: 'a = 1' }, { code: 'a + 1' }], { mode: 'sequential' });
    expect(report.counts.ok).toBe(2);
    const run = await engine.vv.runNotebook({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [
        { cell_type: 'code', id: 'c1', source: '6 * 7', metadata: {}, outputs: [], execution_count: null },
      ],
    });
    expect(run.notebook.cells[0]).toMatchObject({ execution_count: 1 });
  });
});
