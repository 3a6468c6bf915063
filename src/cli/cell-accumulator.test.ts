import { describe, expect, it } from 'vitest';
import { CellAccumulator } from './cell-accumulator.js';

/** Feeds lines, then end of input; returns every cell in order. */
function cells(lines: string[]): string[] {
  const accumulator = new CellAccumulator();
  const out = lines.flatMap((line) => accumulator.push(line));
  const last = accumulator.flush();
  return last === null ? out : [...out, last];
}

describe('CellAccumulator', () => {
  it('makes each simple line a cell and skips empty lines', () => {
    expect(cells(['x = 1', '', 'x + 1'])).toEqual(['x = 1', 'x + 1']);
  });

  it('collects a block until an empty line', () => {
    const accumulator = new CellAccumulator();
    expect(accumulator.push('def f(x):')).toEqual([]);
    expect(accumulator.pending).toBe(true);
    expect(accumulator.push('    return x * 2')).toEqual([]);
    expect(accumulator.push('')).toEqual(['def f(x):\n    return x * 2']);
    expect(accumulator.pending).toBe(false);
  });

  it('keeps else/elif/except/finally in the block', () => {
    expect(cells(['if x:', '    a = 1', 'else:', '    a = 2', '', 'a'])).toEqual([
      'if x:\n    a = 1\nelse:\n    a = 2',
      'a',
    ]);
    expect(
      cells(['try:', '  1/0', 'except ZeroDivisionError:', '  pass', 'finally:', '  y = 2', '']),
    ).toHaveLength(1);
  });

  it('ends a block at a new unindented statement', () => {
    expect(cells(['def f():', '    return 1', 'f()'])).toEqual(['def f():\n    return 1', 'f()']);
  });

  it('waits for open brackets, triple-quoted strings and backslashes, empty lines included', () => {
    expect(cells(['x = [1,', '', '  2]', 'y = 3'])).toEqual(['x = [1,\n\n  2]', 'y = 3']);
    expect(cells(['s = """a', '', 'b"""', 's'])).toEqual(['s = """a\n\nb"""', 's']);
    expect(cells(['total = 1 + \\', '  2'])).toEqual(['total = 1 + \\\n  2']);
  });

  it('ignores brackets and colons in strings and comments', () => {
    expect(cells(['s = "(:"', 't = 1  # ends with :'])).toEqual(['s = "(:"', 't = 1  # ends with :']);
    expect(cells(["d = {'a': 1}", 'x = d["a"]'])).toEqual(["d = {'a': 1}", 'x = d["a"]']);
  });

  it('keeps a one-line compound statement open for else/elif, as Python does', () => {
    expect(cells(['if x: a = 1', 'else: a = 2', '', 'a'])).toEqual(['if x: a = 1\nelse: a = 2', 'a']);
    expect(cells(['for i in range(3): print(i)', ''])).toEqual(['for i in range(3): print(i)']);
    expect(cells(['for i in range(3): print(i)', 'done = True'])).toEqual([
      'for i in range(3): print(i)',
      'done = True',
    ]);
    expect(cells(['iffy = 1', 'format = 2'])).toEqual(['iffy = 1', 'format = 2']);
  });

  it('treats a decorator as the start of a block', () => {
    expect(cells(['@staticmethod', 'def f():', '    pass', '', 'f'])).toEqual([
      '@staticmethod\ndef f():\n    pass',
      'f',
    ]);
  });

  it('does not split a header from an unindented (wrong) body: Python reports it', () => {
    expect(cells(['for i in range(3):', 'print(i)', ''])).toEqual(['for i in range(3):\nprint(i)']);
  });

  it('opens a block when brackets close on a line ending with a colon', () => {
    expect(cells(['if (a and', '    b):', '    c = 1', ''])).toEqual(['if (a and\n    b):\n    c = 1']);
  });

  it('flushes an unfinished block at end of input and strips CR', () => {
    expect(cells(['class A:\r', '    x = 1\r'])).toEqual(['class A:\n    x = 1']);
  });

  it('says whether a line would end the block (REPL commands after a block)', () => {
    const accumulator = new CellAccumulator();
    accumulator.push('for i in range(3): total = i');
    expect(accumulator.wouldEndBlockBefore('%vars')).toBe(true);
    expect(accumulator.wouldEndBlockBefore('    %vars')).toBe(false);
    const header = new CellAccumulator();
    header.push('def f():');
    expect(header.wouldEndBlockBefore('%vars')).toBe(false);
  });

  it('clears on request', () => {
    const accumulator = new CellAccumulator();
    accumulator.push('def f():');
    accumulator.clear();
    expect(accumulator.pending).toBe(false);
    expect(accumulator.push('1')).toEqual(['1']);
  });
});
