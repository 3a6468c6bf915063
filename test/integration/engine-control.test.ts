import { describe, expect, it } from 'vitest';
import type { Execution, ExecutionEvent, Session } from '../../src/index.js';
import { kernelProcesses, startEngine, useEngine, waitFor, expectOk } from '../helpers/engine.js';

/** Interrupts, limits (wall clock, memory), idle expiry, one-shot runs, and engine shutdown. */

const engine = useEngine();

let shared: Session | null = null;
async function session(): Promise<Session> {
  shared ??= await engine.vv.createSession();
  return shared;
}

/** Starts `code` and calls `interrupt()` once the cell has printed `started`. */
async function executeAndInterrupt(s: Session, code: string, afterMs = 300): Promise<Execution> {
  let timer: NodeJS.Timeout | undefined;
  const onEvent = (event: ExecutionEvent): void => {
    if (event.type === 'stream-delta' && event.text.includes('started'))
      timer = setTimeout(() => s.interrupt(), afterMs);
  };
  try {
    return await s.execute(`print('started', flush=True)\n${code}`, { onEvent, timeoutMs: 20_000 });
  } finally {
    clearTimeout(timer);
  }
}

describe('interrupt', () => {
  it('stops a sleeping cell with KeyboardInterrupt and keeps the namespace', async () => {
    const s = await session();
    expectOk(await s.execute('survivor = [1, 2, 3]'));
    const started = performance.now();
    const execution = await executeAndInterrupt(
      s,
      'import time\nbefore = True\ntime.sleep(100)\nafter = True',
    );
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(execution.status).toBe('interrupted');
    expect(execution.error?.ename).toBe('KeyboardInterrupt');
    expect(execution.error!.traceback.join('\n')).toContain('<cell-');
    expect(s.state).toBe('idle');
    const after = await s.execute("survivor, before, 'after' in globals()");
    expectOk(after);
    expect(after.result).toEqual({ 'text/plain': '([1, 2, 3], True, False)' });
  });

  it('stops a pure-Python busy loop', async () => {
    const s = await session();
    const execution = await executeAndInterrupt(s, 'n = 0\nwhile True:\n    n += 1');
    expect(execution.status).toBe('interrupted');
    expect(execution.error?.ename).toBe('KeyboardInterrupt');
    const after = await s.execute('n > 0');
    expect(after.result).toEqual({ 'text/plain': 'True' });
  });

  it('never cuts a rich output frame in half', async () => {
    // Frames of 1 MB take several pipe writes; an interrupt landing between two of them used to
    // leave half a frame on the channel, and the execution hung until its timeout.
    const s = await session();
    for (const afterMs of [150, 220, 290, 360]) {
      const execution = await executeAndInterrupt(
        s,
        "big = 'x' * 1_000_000\nwhile True:\n    display({'text/plain': big}, raw=True)",
        afterMs,
      );
      expect(execution.status, execution.reason ?? '').toBe('interrupted');
      expect(s.state).toBe('idle');
    }
    expectOk(await s.execute('del big'));
  });

  it('is a no-op between cells: the next cell is not hit by a stale interrupt', async () => {
    const s = await session();
    s.interrupt();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const execution = await s.execute('import time\ntime.sleep(0.3)\n"fine"');
    expectOk(execution);
    expect(execution.result).toEqual({ 'text/plain': "'fine'" });
  });

  it('an aborted signal interrupts the running cell', async () => {
    const s = await session();
    const controller = new AbortController();
    const pending = s.execute('import time\ntime.sleep(100)', { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const execution = await pending;
    expect(execution.status).toBe('interrupted');
    expect(s.state).toBe('idle');
    expectOk(await s.execute('1'));
  });
});

describe('limits', () => {
  it('a cell past its timeout is killed, and the session is dead with the reason', async () => {
    const s = await engine.vv.createSession();
    try {
      const started = performance.now();
      const execution = await s.execute('while True:\n    pass', { timeoutMs: 1_000 });
      const elapsedMs = performance.now() - started;
      expect(execution.status).toBe('timeout');
      // Numbered like any cell, though the kernel never replied.
      expect(execution.executionCount).toBe(1);
      expect(elapsedMs).toBeGreaterThanOrEqual(900);
      expect(elapsedMs).toBeLessThan(5_000);
      expect(execution.reason).toMatch(/timeout of 1000 ms/);
      expect(execution.error?.ename).toBe('TimeoutError');
      expect(s.state).toBe('dead');
      expect(s.deathReason).toMatch(/timeout/);
      await expect(s.execute('1')).rejects.toMatchObject({ code: 'SESSION_DEAD' });
      await s.restart();
      expectOk(await s.execute('1'));
    } finally {
      await s.close();
    }
  });

  it('a cell over its memory limit ends memory_exceeded', async () => {
    const s = await session();
    const execution = await s.execute('buffer = bytearray(8 * 1024**3)', { memoryLimitMb: 512 });
    expect(execution.status).toBe('memory_exceeded');
    expect(execution.reason).toMatch(/memory/);
    expect(execution.reason).toMatch(/512/);
    // The same session with a session-level limit of 512 MiB.
    const small = await engine.vv.createSession({ limits: { memoryLimitMb: 512 } });
    try {
      const again = await small.execute('buffer = bytearray(8 * 1024**3)');
      expect(again.status).toBe('memory_exceeded');
    } finally {
      await small.close();
    }
    // After the per-call limit the session's own limit is back: 600 MB fits in the default 2 GiB.
    if (s.state === 'idle') {
      const fits = await s.execute('buffer = bytearray(600 * 1024**2)\nlen(buffer) // 1024**2\n');
      expectOk(fits);
      expect(fits.result).toEqual({ 'text/plain': '600' });
      await s.execute('del buffer');
    }
  });
});

describe('lifecycle', () => {
  it('closes an idle session by itself', async () => {
    const s = await engine.vv.createSession({ idleTimeoutMs: 300 });
    const { workspaceDir } = s;
    expectOk(await s.execute('1'));
    expect((await kernelProcesses(workspaceDir)).length).toBeGreaterThan(0);
    // The sweeper runs every 5 s; the session leaves the list once its workspace is removed.
    await waitFor(
      () => s.state === 'closed' && !engine.vv.listSessions().includes(s),
      'the idle session to be closed',
      12_000,
    );
    expect(() => engine.vv.getSession(s.id)).toThrow(/No session/);
    await expect(s.execute('1')).rejects.toMatchObject({ code: 'SESSION_CLOSED' });
    expect(await kernelProcesses(workspaceDir)).toEqual([]);
  });

  it('run() executes one cell in a fresh sandbox and leaves no process behind', async () => {
    let workspaceDir: string | null = null;
    const execution = await engine.vv.run('import os\nprint(os.getcwd())\n6 * 7', {
      onEvent: (event) => {
        if (event.type === 'execution-start')
          workspaceDir = engine.vv.getSession(event.sessionId).workspaceDir;
      },
    });
    expectOk(execution);
    expect(execution.stdout).toBe('/workspace\n');
    expect(execution.result).toEqual({ 'text/plain': '42' });
    expect(workspaceDir).not.toBeNull();
    expect(engine.vv.listSessions().map((listed) => listed.id)).not.toContain(execution.sessionId);
    expect(await kernelProcesses(workspaceDir!)).toEqual([]);
  });

  it('stop() ends every kernel, busy ones included, and no process is left', async () => {
    const fixture = await startEngine();
    try {
      const idle = await fixture.vv.createSession();
      const busy = await fixture.vv.createSession();
      expectOk(await idle.execute('x = 1'));
      // A busy cell that also left a detached child behind.
      let running: Promise<Execution> | null = null;
      await new Promise<void>((resolve) => {
        running = busy.execute(
          "import subprocess, time\nsubprocess.Popen(['sleep', '1000'], start_new_session=True)\nprint('go', flush=True)\ntime.sleep(100)",
          {
            onEvent: (event) => {
              if (event.type === 'stream-delta') resolve();
            },
          },
        );
      });
      expect((await kernelProcesses(fixture.dataDir)).length).toBeGreaterThanOrEqual(4);
      await fixture.vv.stop();
      const execution = await running!;
      expect(execution.status).toBe('killed');
      expect(idle.state).toBe('closed');
      expect(busy.state).toBe('closed');
      await waitFor(
        async () => (await kernelProcesses(fixture.dataDir)).length === 0,
        'every kernel process to exit',
        5_000,
      );
      await expect(fixture.vv.createSession()).rejects.toMatchObject({ code: 'ENGINE_STOPPED' });
    } finally {
      await fixture.stop();
    }
    expect(await kernelProcesses(fixture.dataDir)).toEqual([]);
  });
});
