import { describe, expect, it } from 'vitest';
import { isVivariumError, type Execution, type InputRequest, type Session } from '../../src/index.js';
import { useEngine, expectOk } from '../helpers/engine.js';

/** Python errors as data, kernel death, restart, and `input()`. */

const engine = useEngine();

let shared: Session | null = null;
async function session(): Promise<Session> {
  shared ??= await engine.vv.createSession();
  return shared;
}

function tracebackText(execution: Execution): string {
  return (execution.error?.traceback ?? []).join('\n');
}

describe('Python exceptions', () => {
  it('reports a ZeroDivisionError with a traceback of the cell only', async () => {
    const s = await session();
    expectOk(await s.execute('def divide(a, b):\n    return a / b'));
    const execution = await s.execute('x = 1\n\nresult = divide(x, 0)\n');
    expect(execution.status).toBe('error');
    expect(execution.error).toMatchObject({ ename: 'ZeroDivisionError', evalue: 'division by zero' });
    const defining = execution.executionCount - 1;
    const text = tracebackText(execution);
    expect(text).toContain(`File "<cell-${execution.executionCount}>", line 3, in <module>`);
    expect(text).toContain('result = divide(x, 0)');
    expect(text).toContain(`File "<cell-${defining}>", line 2, in divide`);
    expect(text).toContain('return a / b');
    expect(execution.error!.traceback.at(-1)).toBe('ZeroDivisionError: division by zero');
    expect(text).not.toContain('vivarium_runtime');
    expect(text).not.toContain('/opt/vivarium');
    // The error is an output too, in order, and the event stream carried it.
    expect(execution.outputs.at(-1)).toMatchObject({ output_type: 'error', ename: 'ZeroDivisionError' });
  });

  it('keeps traceback frames of library code the cell called, but none of the runtime', async () => {
    const s = await session();
    const execution = await s.execute('import json\njson.loads("{")');
    expect(execution.error?.ename).toBe('JSONDecodeError');
    const text = tracebackText(execution);
    expect(text).toMatch(/json\/decoder\.py/);
    expect(text).not.toContain('vivarium_runtime');
  });

  it('reports a SyntaxError with its line and column, and runs nothing of the cell', async () => {
    const s = await session();
    const execution = await s.execute('ran = True\nx = (1,\ny = 2 +* 3\n');
    expect(execution.status).toBe('error');
    expect(execution.error?.ename).toBe('SyntaxError');
    expect(execution.error?.line).toBeGreaterThanOrEqual(2);
    expect(execution.error?.column).toBeGreaterThan(0);
    const simple = await s.execute('a = 1\nb = = 2');
    expect(simple.error).toMatchObject({ ename: 'SyntaxError', line: 2, column: 5 });
    expect(tracebackText(simple)).toContain('<cell-');
    expect(tracebackText(simple)).toContain('b = = 2');
    expect(tracebackText(simple)).not.toContain('vivarium_runtime');
    // Found when compiling rather than parsing: the source line is shown all the same.
    const compiled = await s.execute('x = 1\nreturn x');
    expect(compiled.error).toMatchObject({
      ename: 'SyntaxError',
      evalue: "'return' outside function",
      line: 2,
    });
    expect(tracebackText(compiled)).toContain('return x');
    const ran = await s.execute("'ran' in globals()");
    expect(ran.result).toEqual({ 'text/plain': 'False' });
  });

  it('treats sys.exit() as an error the kernel survives, with state kept', async () => {
    const s = await session();
    expectOk(await s.execute('kept = "yes"'));
    const exited = await s.execute('import sys\nsys.exit(3)');
    expect(exited.status).toBe('error');
    expect(exited.error).toMatchObject({ ename: 'SystemExit', evalue: '3' });
    for (const code of ['exit()', 'quit(0)', 'raise SystemExit("bye")']) {
      expect((await s.execute(code)).error?.ename, code).toBe('SystemExit');
    }
    const next = await s.execute('kept');
    expectOk(next);
    expect(next.result).toEqual({ 'text/plain': "'yes'" });
    expect(s.state).toBe('idle');
  });

  it('survives a KeyboardInterrupt raised by the cell itself', async () => {
    const s = await session();
    const raised = await s.execute('raise KeyboardInterrupt');
    expect(raised.error?.ename).toBe('KeyboardInterrupt');
    expectOk(await s.execute('1'));
  });
});

describe('kernel death', () => {
  it('os._exit() kills the session with the exit code; restart() brings it back with files kept', async () => {
    const s = await engine.vv.createSession();
    try {
      expectOk(await s.execute("value = 41\nopen('kept.txt', 'w').write('data')"));
      const died = await s.execute("import os\nprint('last words', flush=True)\nos._exit(5)");
      expect(died.status).toBe('killed');
      expect(died.stdout).toBe('last words\n');
      expect(died.reason).toMatch(/code 5/);
      expect(s.state).toBe('dead');
      expect(s.deathReason).toMatch(/code 5/);
      const refused = await s.execute('1').then(
        () => null,
        (error: unknown) => error,
      );
      expect(isVivariumError(refused, 'SESSION_DEAD')).toBe(true);
      expect((refused as Error).message).toMatch(/restart\(\)/);
      await expect(s.variables()).rejects.toMatchObject({ code: 'SESSION_DEAD' });

      await expect(s.restart()).resolves.toEqual({ namespaceReset: true });
      expect(s.state).toBe('idle');
      expect(s.deathReason).toBeNull();
      const after = await s.execute("'value' in globals(), open('kept.txt').read()");
      expectOk(after);
      expect(after.result).toEqual({ 'text/plain': "(False, 'data')" });
    } finally {
      await s.close();
    }
  });

  it('a kernel killed by a signal from inside names the signal', async () => {
    const s = await engine.vv.createSession();
    try {
      const died = await s.execute('import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)');
      expect(died.status).toBe('killed');
      expect(s.state).toBe('dead');
      expect(s.deathReason).toMatch(/SIGSEGV|signal 11|code 139/);
    } finally {
      await s.close();
    }
  });
});

describe('input()', () => {
  it('without a handler raises StdinNotImplementedError at once', async () => {
    const s = await session();
    const started = performance.now();
    const execution = await s.execute("name = input('Name? ')");
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(execution.status).toBe('error');
    expect(execution.error?.ename).toBe('StdinNotImplementedError');
    expect(execution.error?.evalue).toMatch(/no input handler/);
    expect(execution.error?.evalue).toMatch(/onInput/);
    // sys.stdin and getpass go the same way.
    expect((await s.execute('import sys\nsys.stdin.readline()')).error?.ename).toBe(
      'StdinNotImplementedError',
    );
    expect((await s.execute('import getpass\ngetpass.getpass()')).error?.ename).toBe(
      'StdinNotImplementedError',
    );
  });

  it('relays the prompt to the handler and uses its answer', async () => {
    const s = await session();
    const requests: InputRequest[] = [];
    const answers = ['Ada', 'secret'];
    const execution = await s.execute(
      "import getpass\nprint('hello')\nname = input('Name? ')\npw = getpass.getpass('Password: ')\nf'{name}:{len(pw)}'",
      {
        onInput: async (request) => {
          requests.push(request);
          await new Promise((resolve) => setTimeout(resolve, 20));
          return answers.shift()!;
        },
      },
    );
    expectOk(execution);
    expect(requests).toEqual([
      { prompt: 'Name? ', password: false },
      { prompt: 'Password: ', password: true },
    ]);
    expect(execution.result).toEqual({ 'text/plain': "'Ada:6'" });
    expect(execution.stdout).toBe('hello\n');
  });

  it('turns a throwing handler into EOFError in the cell', async () => {
    const s = await session();
    const execution = await s.execute(
      "try:\n    input('? ')\nexcept EOFError as e:\n    caught = str(e)\ncaught",
      {
        onInput: () => {
          throw new Error('user went away');
        },
      },
    );
    expectOk(execution);
    expect(execution.result).toEqual({ 'text/plain': "'user went away'" });
    const uncaught = await s.execute("input('? ')", { onInput: () => Promise.reject(new Error('nope')) });
    expect(uncaught.error).toMatchObject({ ename: 'EOFError', evalue: 'nope' });
    // The next cell without a handler is refused again: the permission was for that call only.
    expect((await s.execute('input()')).error?.ename).toBe('StdinNotImplementedError');
  });
});
