import { execFile } from 'node:child_process';
import { cp, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVivariumError, type Session } from '../../src/index.js';
import { profile, type ProfileResult } from '../../src/tools/index.js';
import { assertCliBuilt, runCli, temporaryDirectory } from '../helpers/cli-helpers.js';
import { useEngine } from '../helpers/engine.js';
import { api, useService } from '../helpers/server.js';

const HOTSPOT_PROJECT = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'fixtures',
  'projects',
  'hotspot',
);
/** `.py` is not among the file API's default extensions: the tests allow it to copy the fixture in. */
const FILES_CONFIG = { allowedExtensions: ['py', 'prof'] };
/** Debian's interpreter, which has line_profiler when `python3-line-profiler` is installed. */
const SYSTEM_PYTHON = '/usr/bin/python3';

const run = promisify(execFile);

async function lineProfilerInstalled(): Promise<boolean> {
  try {
    await run(SYSTEM_PYTHON, ['-c', 'import line_profiler']);
    return true;
  } catch {
    return false;
  }
}

/** Reads a .prof with pstats on the host: the functions it names. */
async function pstatsFunctions(path: string): Promise<string[]> {
  const { stdout } = await run(SYSTEM_PYTHON, [
    '-c',
    'import json, pstats, sys; print(json.dumps(sorted({f[2] for f in pstats.Stats(sys.argv[1]).stats})))',
    path,
  ]);
  return JSON.parse(stdout) as string[];
}

function names(rows: ProfileResult['cumulative']): string[] {
  return rows.map((row) => row.function);
}

describe('profile() in the sandbox', () => {
  const engine = useEngine({ pool: { size: 0 }, files: FILES_CONFIG });
  let session: Session;

  beforeAll(async () => {
    session = await engine.vv.createSession();
    await session.files.write('hotspot.py', await readFile(join(HOTSPOT_PROJECT, 'hotspot.py')));
  });

  it('puts the CPU-heavy function on top, sees the 50 MB peak, leaves the namespace alone', async () => {
    await session.execute('marker = "kept"');
    const before = await session.variables();

    const result = await profile(session, {
      file: 'hotspot.py',
      top: 10,
      saveProfile: 'profiles/hotspot.prof',
    });

    expect(result.error).toBeNull();
    expect(result.stdout).toBe('burned 1999998\n');
    expect(result.cumulative[0]).toMatchObject({ function: 'burn', file: 'hotspot.py', line: 4, calls: 1 });
    expect(result.own[0]).toMatchObject({ function: 'burn', file: 'hotspot.py' });
    expect(result.cumulative[0]!.percent).toBeGreaterThan(50);
    expect(result.cumulative.length).toBeLessThanOrEqual(10);
    // The profiled <module> is the whole run: out of the cumulative ranking, in the own one.
    expect(names(result.cumulative)).not.toContain('<module>');
    expect(names(result.cumulative)).toEqual(expect.arrayContaining(['allocate', 'light']));
    // No frame of the tool or the runtime.
    const files = [...result.cumulative, ...result.own].map((row) => row.file ?? '');
    expect(files.filter((file) => file.includes('vivarium_runtime'))).toEqual([]);
    expect(names(result.own)).not.toContain("<method 'disable' of '_lsprof.Profiler' objects>");

    expect(result.memory.peakBytes).toBeGreaterThanOrEqual(40 * 1024 * 1024);
    expect(result.peakMemoryBytes).toBeGreaterThanOrEqual(result.memory.peakBytes);
    expect(result.wallMs).toBeGreaterThan(0);
    expect(result.cpuMs).toBeGreaterThan(0);
    expect(result.wallMs).toBeGreaterThanOrEqual(result.cumulative[0]!.cumulativeMs);

    expect(result.profilePath).toBe('profiles/hotspot.prof');
    const saved = join(session.workspaceDir, 'profiles', 'hotspot.prof');
    expect((await stat(saved)).size).toBeGreaterThan(0);
    expect(await pstatsFunctions(saved)).toEqual(expect.arrayContaining(['burn', 'allocate', 'light']));

    expect(await session.variables()).toEqual(before);
    expect((await session.execute('marker')).result).toEqual({ 'text/plain': "'kept'" });
  });

  it('profiles inline code, reports where memory is still held, and an exception as data', async () => {
    const result = await profile(session, {
      code: [
        'def build():',
        '    return [bytes(1024) for _ in range(2000)]',
        '',
        'kept = build()',
        '1 / 0',
      ].join('\n'),
      top: 5,
    });
    expect(result.error).toMatchObject({ ename: 'ZeroDivisionError', evalue: 'division by zero' });
    expect(result.error!.traceback.join('\n')).toContain('File "<code>", line 5');
    expect(result.error!.traceback.join('\n')).not.toContain('vivarium_runtime');
    expect(result.cumulative[0]).toMatchObject({ function: 'build', file: '<code>', line: 1 });
    const site = result.memory.top[0]!;
    expect(site).toMatchObject({ file: '<code>', line: 2 });
    expect(site.sizeBytes).toBeGreaterThanOrEqual(2000 * 1024);
    expect(site.count).toBeGreaterThanOrEqual(2000);
  });

  it('gives line-level hot spots when line_profiler is installed, a warning otherwise', async () => {
    const result = await profile(session, { file: 'hotspot.py', lineProfile: true, top: 5 });
    if (await lineProfilerInstalled()) {
      expect(result.lines).toBeDefined();
      const lines = result.lines!;
      expect(lines.length).toBeGreaterThan(0);
      const inBurn = lines.filter((line) => line.function === 'burn');
      expect(inBurn.map((line) => line.source)).toContain('total += i * i % 7');
      expect(inBurn.find((line) => line.source === 'total += i * i % 7')!.hits).toBe(1_000_000);
    } else {
      expect(result.lines).toBeUndefined();
      expect(result.warnings.join('\n')).toContain('python3-line-profiler');
    }
    expect(result.cumulative[0]!.function).toBe('burn');
  });

  it('reports a syntax error as data and refuses bad options', async () => {
    const broken = await profile(session, { code: 'def f(:\n    pass' });
    expect(broken.error).toMatchObject({ ename: 'SyntaxError' });
    expect(broken.cumulative).toEqual([]);

    const refused = async (options: Parameters<typeof profile>[1]): Promise<unknown> =>
      profile(session, options).then(
        () => null,
        (error: unknown) => error,
      );
    expect(isVivariumError(await refused({}), 'INVALID_ARGUMENT')).toBe(true);
    expect(isVivariumError(await refused({ code: 'x = 1', file: 'hotspot.py' }), 'INVALID_ARGUMENT')).toBe(
      true,
    );
    expect(isVivariumError(await refused({ file: '../hotspot.py' }), 'INVALID_ARGUMENT')).toBe(true);
    expect(
      isVivariumError(await refused({ code: 'x = 1', saveProfile: '/tmp/x.prof' }), 'INVALID_ARGUMENT'),
    ).toBe(true);
    expect(isVivariumError(await refused({ file: 'missing.py' }), 'FILE_NOT_FOUND')).toBe(true);
    expect(isVivariumError(await refused({ code: 'x = 1', top: 0 }), 'INVALID_ARGUMENT')).toBe(true);
    const timedOut = await refused({ code: 'while True:\n    pass', timeoutMs: 1_500 });
    expect(isVivariumError(timedOut, 'TOOL_FAILED')).toBe(true);
    expect((timedOut as Error).message).toContain('timeout of 1500 ms');
    // The session is unharmed.
    expect((await session.execute('2 + 2')).result).toEqual({ 'text/plain': '4' });
  });
});

describe('vivarium profile (CLI)', () => {
  let project: { path: string; remove: () => Promise<void> };
  let dataDir: { path: string; remove: () => Promise<void> };

  beforeAll(async () => {
    assertCliBuilt();
    project = await temporaryDirectory('vivarium-cli-profile-project-');
    dataDir = await temporaryDirectory('vivarium-cli-profile-data-');
    await cp(HOTSPOT_PROJECT, project.path, { recursive: true });
  });
  afterAll(async () => {
    await project?.remove();
    await dataDir?.remove();
  });

  it('prints the tables and saves the raw profile', async () => {
    const result = await runCli(
      ['profile', 'hotspot.py', '--top', '5', '--save', 'hot.prof', '--data', dataDir.path],
      {
        cwd: project.path,
        timeoutMs: 120_000,
      },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('burned 1999998');
    expect(result.stdout).toContain('Top functions by cumulative time');
    expect(result.stdout).toContain('Top functions by own time');
    expect(result.stdout).toContain('Memory still held at the end');
    const cumulative = result.stdout.split('Top functions by cumulative time\n')[1]!.split('\n');
    // Header, then the hottest function.
    expect(cumulative[1]).toMatch(/\bburn\s+hotspot\.py:4$/);
    expect(result.stdout).toMatch(/Python allocations peaked at (4\d|5\d)\.\d MB/);
    expect(await pstatsFunctions(join(project.path, 'hot.prof'))).toContain('burn');
  });

  it('prints JSON with --json, exits 1 when the file raises, 2 on bad flags', async () => {
    const json = await runCli(['profile', 'hotspot.py', '--json', '--data', dataDir.path], {
      cwd: project.path,
      timeoutMs: 120_000,
    });
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as ProfileResult).cumulative[0]!.function).toBe('burn');

    const failing = await temporaryDirectory('vivarium-cli-profile-failing-');
    try {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(join(failing.path, 'fails.py'), 'def f():\n    raise ValueError("nope")\n\nf()\n');
      const raised = await runCli(['profile', 'fails.py', '--data', dataDir.path], {
        cwd: failing.path,
        timeoutMs: 120_000,
      });
      expect(raised.code).toBe(1);
      expect(raised.stderr).toContain('ValueError: nope');
      expect(raised.stdout).toContain('Top functions by cumulative time');
    } finally {
      await failing.remove();
    }

    const badTop = await runCli(['profile', 'hotspot.py', '--top', 'many', '--data', dataDir.path], {
      cwd: project.path,
    });
    expect(badTop.code).toBe(2);
    expect(badTop.stderr).toContain('--top');
    const missing = await runCli(['profile', 'nope.py', '--data', dataDir.path], { cwd: project.path });
    expect(missing.code).toBe(2);
  });
});

describe('POST /v1/sessions/:id/profile', () => {
  const service = useService({ config: { files: FILES_CONFIG } });

  it("profiles code in the caller's session and refuses another key's", async () => {
    const created = await api(service.url, 'POST', '/v1/sessions', { key: service.keys.a, json: {} });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const written = await api(service.url, 'PUT', `/v1/sessions/${id}/files/hotspot.py`, {
      key: service.keys.a,
      body: await readFile(join(HOTSPOT_PROJECT, 'hotspot.py')),
    });
    expect(written.status).toBe(200);

    const answer = await api(service.url, 'POST', `/v1/sessions/${id}/profile`, {
      key: service.keys.a,
      json: { file: 'hotspot.py', top: 3, saveProfile: 'hotspot.prof' },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.cumulative[0]).toMatchObject({ function: 'burn', file: 'hotspot.py' });
    expect(answer.body.cumulative).toHaveLength(3);
    expect(answer.body.memory.peakBytes).toBeGreaterThanOrEqual(40 * 1024 * 1024);
    expect(answer.body.profilePath).toBe('hotspot.prof');
    const download = await api(service.url, 'GET', `/v1/sessions/${id}/files/hotspot.prof`, {
      key: service.keys.a,
    });
    expect(download.status).toBe(200);

    const other = await api(service.url, 'POST', `/v1/sessions/${id}/profile`, {
      key: service.keys.b,
      json: { code: 'x = 1' },
    });
    expect(other.status).toBe(404);
    const neither = await api(service.url, 'POST', `/v1/sessions/${id}/profile`, {
      key: service.keys.a,
      json: {},
    });
    expect(neither.status).toBe(400);
  });
});
