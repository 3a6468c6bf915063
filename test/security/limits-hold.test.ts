import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { startEngine, useEngine } from '../helpers/engine.js';

const asRoot = process.getuid?.() === 0;

describe('limits that hold: cgroups and workspace volumes', () => {
  const engine = useEngine({
    pool: { size: 0 },
    workspace: { maxBytes: 64 * 1024 * 1024, maxFiles: 1000 },
    limits: { memoryLimitMb: 256, maxProcesses: 48 },
  });

  it('uses cgroups and workspace volumes where the engine is root', () => {
    expect(engine.vv.sandbox.cgroups.enabled).toBe(asRoot);
    expect(engine.vv.workspaceQuota).toBe(asRoot ? 'loop' : 'none');
  });

  it('reports a memory bomb that the cgroup OOM-kills as memory_exceeded, and only that session dies', async () => {
    const bystander = await engine.vv.createSession();
    const victim = await engine.vv.createSession();
    const bomb = await victim.execute('chunks = []\nwhile True: chunks.append(b"x" * (16 * 1024 * 1024))', {
      timeoutMs: 30_000,
    });
    expect(bomb.status).toBe('memory_exceeded');
    expect(bomb.reason).toMatch(/memory/);
    expect((await bystander.execute('1+1')).result).toEqual({ 'text/plain': '2' });
    await victim.restart();
    expect((await victim.execute('"back"')).status).toBe('ok');
  });

  it('stops a fork bomb at the process limit while another session keeps working', async () => {
    const bystander = await engine.vv.createSession();
    const bomber = await engine.vv.createSession();
    const code = [
      'import os, time',
      'children = []',
      'try:',
      '    while True:',
      '        pid = os.fork()',
      '        if pid == 0:',
      '            time.sleep(60)',
      '            os._exit(0)',
      '        children.append(pid)',
      'except OSError as error:',
      '    print("stopped", len(children), error.errno)',
      'for pid in children: os.kill(pid, 9)',
    ].join('\n');
    const [bomb, other] = await Promise.all([
      bomber.execute(code, { timeoutMs: 30_000 }),
      bystander.execute('sum(range(1000))'),
    ]);
    expect(bomb.status).toBe('ok');
    const stopped = /stopped (\d+) 11/.exec(bomb.stdout);
    expect(stopped).not.toBeNull();
    expect(Number(stopped![1])).toBeLessThan(48);
    expect(other.result).toEqual({ 'text/plain': '499500' });
  });

  it('bounds the workspace in bytes and files: ENOSPC in Python, usable again once space is freed', async () => {
    const session = await engine.vv.createSession();
    const neighbour = await engine.vv.createSession();
    const fill = await session.execute(
      [
        'import errno, os',
        'try:',
        '    with open("big.bin", "wb") as f:',
        '        for _ in range(128): f.write(b"x" * (1024 * 1024))',
        'except OSError as error:',
        '    print("bytes", errno.errorcode[error.errno])',
        'os.remove("big.bin")',
        'n = 0',
        'try:',
        '    while n < 5000:',
        '        open(f"f{n}", "w").close(); n += 1',
        'except OSError as error:',
        '    print("files", errno.errorcode[error.errno], n)',
        'for i in range(n): os.remove(f"f{i}")',
        'open("after.bin", "wb").write(b"y" * (8 * 1024 * 1024))',
        'print("after", os.path.getsize("after.bin"))',
      ].join('\n'),
      { timeoutMs: 60_000 },
    );
    expect(fill.status).toBe('ok');
    expect(fill.stdout).toContain('bytes ENOSPC');
    expect(fill.stdout).toMatch(/files ENOSPC (\d+)/);
    expect(Number(/files ENOSPC (\d+)/.exec(fill.stdout)![1])).toBeLessThanOrEqual(1100);
    expect(fill.stdout).toContain('after 8388608');
    // The neighbour's workspace is its own volume: still empty and writable.
    const other = await neighbour.execute(
      'open("n.txt", "w").write("ok"); import os; sorted(os.listdir("."))',
    );
    expect(other.result).toEqual({ 'text/plain': "['n.txt']" });
    // Distinct host uids own the two workspaces.
    if (asRoot)
      expect((await stat(session.workspaceDir)).uid).not.toBe((await stat(neighbour.workspaceDir)).uid);
  });

  it('measures CPU time and peak memory of the whole kernel tree', async () => {
    const session = await engine.vv.createSession();
    const heavy = await session.execute(
      'import subprocess\nsubprocess.run(["python3", "-c", "sum(range(20_000_000))"])\nb = bytearray(100 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1',
    );
    expect(heavy.status).toBe('ok');
    expect(heavy.cpuMs).toBeGreaterThan(100);
    expect(heavy.peakMemoryBytes).toBeGreaterThan(100 * 1024 * 1024);
  });
});

describe('no stray cgroups', () => {
  it('removes each kernel group when its kernel ends and the engine group at stop', async () => {
    const fixture = await startEngine({ pool: { size: 1 } });
    const dirs = fixture.vv.sandbox.cgroups.engineDirs;
    try {
      expect(dirs.length > 0).toBe(asRoot);
      const session = await fixture.vv.createSession();
      await session.execute('1');
      for (const dir of dirs)
        expect(
          (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).length,
        ).toBeGreaterThan(0);
      await session.close();
    } finally {
      await fixture.stop();
    }
    for (const dir of dirs) expect(existsSync(dir), `${dir} left behind`).toBe(false);
  });
});
