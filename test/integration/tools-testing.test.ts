import { cp, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVivariumError, type Session } from '../../src/index.js';
import { runTests, type TestRunResult } from '../../src/tools/index.js';
import { assertCliBuilt, runCli, temporaryDirectory } from '../helpers/cli-helpers.js';
import { useEngine } from '../helpers/engine.js';
import { api, useService } from '../helpers/server.js';

const CALC_PROJECT = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'projects', 'calc');
/** `.py` is not among the file API's default extensions: the tests allow it to copy the project in. */
const FILES_CONFIG = { allowedExtensions: ['py', 'md', 'xml', 'json'] };

/** Every file of a fixture project, as workspace-relative paths. */
async function projectFiles(root: string, dir = root): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await projectFiles(root, full)));
    else found.push(relative(root, full));
  }
  return found;
}

/** Copies the calc project into a session's workspace through the host file API. */
async function copyCalcProject(session: Session): Promise<void> {
  for (const path of await projectFiles(CALC_PROJECT)) {
    await session.files.write(path, await readFile(join(CALC_PROJECT, path)));
  }
}

function test(result: TestRunResult, nodeid: string): TestRunResult['tests'][number] {
  const found = result.tests.find((entry) => entry.nodeid === nodeid);
  if (!found) throw new Error(`no test ${nodeid} in ${result.tests.map((entry) => entry.nodeid).join(', ')}`);
  return found;
}

describe('runTests (pytest, coverage) in the sandbox', () => {
  const engine = useEngine({ pool: { size: 0 }, files: FILES_CONFIG });
  let session: Session;

  beforeAll(async () => {
    session = await engine.vv.createSession();
    await copyCalcProject(session);
  });

  it('runs the calc project: totals, the failing diff, coverage per file, without touching the namespace', async () => {
    await session.execute('marker = 41');
    const before = await session.variables();

    const result = await runTests(session, { paths: ['tests'] });

    expect(result).toMatchObject({
      runner: 'pytest',
      passed: 4,
      failed: 1,
      errors: 0,
      skipped: 1,
      xfailed: 1,
      xpassed: 0,
      success: false,
      timedOut: false,
      exitCode: 1,
      reason: '1 test failed',
    });
    expect(result.tests).toHaveLength(7);
    expect(result.durationMs).toBeGreaterThan(0);
    expect(test(result, 'tests/test_calc.py::TestDivide::test_divide').outcome).toBe('passed');
    expect(test(result, 'tests/test_calc.py::test_power')).toMatchObject({
      outcome: 'skipped',
      message: 'power is not implemented yet',
    });
    expect(test(result, 'tests/test_calc.py::test_mean_exact')).toMatchObject({
      outcome: 'xfailed',
      message: 'floating point is not exact',
    });

    const failing = test(result, 'tests/test_calc.py::test_histogram');
    expect(failing.outcome).toBe('failed');
    expect(failing.message).toBe("AssertionError: assert {'a': 2, 'b': 1} == {'a': 2, 'b': 2}");
    expect(failing.diff).toContain("{'b': 1} != {'b': 2}");
    expect(failing.diff).toContain('Full diff:');
    expect(failing.traceback).toContain('tests/test_calc.py:20: AssertionError');

    expect(result.coverage).not.toBeNull();
    const files = result.coverage!.files;
    expect(files.map((file) => file.path)).toEqual(['calc.py', 'report.py']);
    const calc = files[0]!;
    // `mean`'s empty-list branch and all of `sign` never run.
    expect(calc.missingLines).toEqual([20, 32, 33, 34, 35, 36]);
    expect(calc).toMatchObject({ statements: 23, missing: 6 });
    expect(calc.percent).toBeCloseTo(73.91, 1);
    expect(files[1]).toMatchObject({
      path: 'report.py',
      percent: 0,
      missing: 5,
      missingLines: [4, 5, 6, 7, 8],
    });
    expect(result.coverage!.percent).toBeCloseTo((100 * 17) / 28, 1);

    // Reports in the reserved folder; nothing else new in the user's folders.
    expect(result.reports).toEqual({
      junitXml: '.vivarium/reports/junit.xml',
      coverageJson: '.vivarium/reports/coverage.json',
    });
    expect((await session.files.read('.vivarium/reports/junit.xml')).toString()).toContain('<testsuite');
    const listing = await session.files.list('', { recursive: true });
    const paths = listing.entries.map((entry) => entry.path);
    expect(paths.filter((path) => path.includes('__pycache__') || /(^|\/)\.coverage/.test(path))).toEqual([]);

    expect(await session.variables()).toEqual(before);
    expect((await session.execute('marker + 1')).result).toEqual({ 'text/plain': '42' });
  });

  it('fails a run below the coverage threshold, with the reason', async () => {
    const result = await runTests(session, { paths: ['tests'], k: 'divide', coverageThreshold: 80 });
    expect(result.passed).toBe(2);
    expect(result.failed).toBe(0);
    expect(result.success).toBe(false);
    expect(result.reason).toMatch(/^coverage \d+\.\d+% is below the threshold of 80%$/);
    const passing = await runTests(session, { paths: ['tests'], k: 'divide', coverageThreshold: 10 });
    expect(passing).toMatchObject({ success: true, passed: 2 });
    expect(passing.reason).toBeUndefined();
  });

  it('selects with -k and node ids', async () => {
    const selected = await runTests(session, { paths: ['tests'], k: 'add or subtract', coverage: false });
    expect(selected.tests.map((entry) => entry.nodeid).sort()).toEqual([
      'tests/test_calc.py::test_add',
      'tests/test_calc.py::test_subtract',
    ]);
    expect(selected).toMatchObject({ success: true, coverage: null });
    const byNodeId = await runTests(session, {
      paths: ['tests/test_calc.py::test_histogram'],
      coverage: false,
    });
    expect(byNodeId).toMatchObject({ failed: 1, passed: 0 });
    const none = await runTests(session, { paths: ['tests'], k: 'no_such_test', coverage: false });
    expect(none).toMatchObject({ success: false, reason: 'no tests were collected', exitCode: 5 });
  });

  it('runs inline test code from the reserved folder, importing the workspace', async () => {
    const result = await runTests(session, {
      code: [
        'import pytest',
        'from calc import sign',
        '',
        'def test_sign():',
        '    assert [sign(-2), sign(0), sign(3)] == ["negative", "zero", "positive"]',
        '',
        '@pytest.mark.xfail(reason="it passes")',
        'def test_lucky():',
        '    assert True',
        '',
        'def test_broken_fixture(missing_fixture):',
        '    pass',
      ].join('\n'),
    });
    expect(result).toMatchObject({ passed: 1, xpassed: 1, errors: 1, success: false, reason: '1 error' });
    expect(test(result, '.vivarium/tests/test_inline.py::test_sign').outcome).toBe('passed');
    expect(test(result, '.vivarium/tests/test_inline.py::test_lucky').outcome).toBe('xpassed');
    const broken = test(result, '.vivarium/tests/test_inline.py::test_broken_fixture');
    expect(broken.outcome).toBe('error');
    expect(broken.traceback).toContain("fixture 'missing_fixture' not found");
    // The inline module is not counted as code under test; calc's `sign` is now covered.
    expect(result.coverage!.files.map((file) => file.path)).toEqual(['calc.py', 'report.py']);
    expect(result.coverage!.files[0]!.missingLines).not.toContain(32);
  });

  it('runs unittest discovery with structured results and coverage', async () => {
    const result = await runTests(session, { runner: 'unittest', paths: ['unittests'] });
    expect(result).toMatchObject({
      runner: 'unittest',
      passed: 1,
      failed: 2,
      errors: 1,
      skipped: 1,
      xfailed: 1,
      success: false,
      reason: '2 tests failed; 1 error',
    });
    const lists = test(result, 'unittests/test_calc_unittest.py::CalcTest::test_lists');
    expect(lists.message).toBe('AssertionError: Lists differ: [2, 3] != [2, 4]');
    expect(lists.diff).toContain('First differing element 1:');
    expect(test(result, 'unittests/test_calc_unittest.py::CalcTest::test_error')).toMatchObject({
      outcome: 'error',
      message: 'RuntimeError: boom',
    });
    expect(test(result, 'unittests/test_calc_unittest.py::CalcTest::test_later').message).toBe('later');
    expect(result.coverage!.files.find((file) => file.path === 'calc.py')!.missingLines).toContain(9);

    const selected = await runTests(session, { runner: 'unittest', paths: ['unittests'], k: 'add' });
    expect(selected).toMatchObject({ passed: 1, failed: 0, success: true });
  });

  it('kills a hanging suite at its timeout and reports it', async () => {
    const result = await runTests(session, {
      code: 'import time\n\ndef test_hangs():\n    time.sleep(60)\n',
      timeoutMs: 2_000,
      coverage: false,
    });
    expect(result).toMatchObject({ timedOut: true, exitCode: null, success: false });
    expect(result.reason).toBe('the test run timed out after 2000 ms');
  });

  it('survives a suite that kills its interpreter', async () => {
    const result = await runTests(session, {
      code: 'import os\n\ndef test_crash():\n    os._exit(3)\n',
      coverage: false,
    });
    expect(result.success).toBe(false);
    expect(result.reason).toContain('without writing its report');
    // The session is fine.
    expect((await session.execute('1 + 1')).result).toEqual({ 'text/plain': '2' });
  });

  it('refuses bad options and paths outside the workspace', async () => {
    const refused = async (options: Parameters<typeof runTests>[1]): Promise<unknown> =>
      runTests(session, options).then(
        () => null,
        (error: unknown) => error,
      );
    for (const paths of [['../etc'], ['/etc/passwd'], ['tests/../../x']]) {
      const error = await refused({ paths });
      expect(isVivariumError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toContain('paths.0');
    }
    expect(isVivariumError(await refused({ paths: ['nope'] }), 'FILE_NOT_FOUND')).toBe(true);
    expect(isVivariumError(await refused({ args: ['--junitxml=x.xml'] }), 'INVALID_ARGUMENT')).toBe(true);
    expect(
      isVivariumError(await refused({ coverage: false, coverageThreshold: 50 }), 'INVALID_ARGUMENT'),
    ).toBe(true);
    expect(isVivariumError(await refused({ coverageThreshold: 120 }), 'INVALID_ARGUMENT')).toBe(true);
    expect(
      isVivariumError(
        await refused({ runner: 'unittest', paths: ['unittests'], args: ['-x'] }),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
  });
});

describe('vivarium test (CLI)', () => {
  let project: { path: string; remove: () => Promise<void> };
  let dataDir: { path: string; remove: () => Promise<void> };

  beforeAll(async () => {
    assertCliBuilt();
    project = await temporaryDirectory('vivarium-cli-test-project-');
    dataDir = await temporaryDirectory('vivarium-cli-test-data-');
    await cp(CALC_PROJECT, project.path, { recursive: true });
  });
  afterAll(async () => {
    await project?.remove();
    await dataDir?.remove();
  });

  const cli = (args: string[], cwd = project.path): ReturnType<typeof runCli> =>
    runCli(['test', ...args, '--data', dataDir.path], { cwd, timeoutMs: 120_000 });

  it('prints the summary with the failure and its diff, and exits 1', async () => {
    const run = await cli(['tests']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('FAILED  tests/test_calc.py::test_histogram');
    expect(run.stdout).toContain("AssertionError: assert {'a': 2, 'b': 1} == {'a': 2, 'b': 2}");
    expect(run.stdout).toContain("{'b': 1} != {'b': 2}");
    expect(run.stdout).toMatch(/calc\.py\s+23\s+6\s+73\.91%\s+20, 32-36/);
    expect(run.stdout).toContain('4 passed, 1 failed, 1 skipped, 1 xfailed');
    // The reports stay in the reserved folder of the adopted workspace.
    expect((await stat(join(project.path, '.vivarium', 'reports', 'junit.xml'))).isFile()).toBe(true);
  });

  it('exits 0 when the selection passes, and prints JSON with --json', async () => {
    const passing = await cli(['tests', '-k', 'add or divide']);
    expect(passing.code).toBe(0);
    expect(passing.stdout).toContain('3 passed');
    const json = await cli(['tests/test_calc.py', '-k', 'add', '--json', '--cov-threshold', '95']);
    expect(json.code).toBe(1);
    const parsed = JSON.parse(json.stdout) as TestRunResult;
    expect(parsed).toMatchObject({ passed: 1, success: false });
    expect(parsed.reason).toContain('below the threshold of 95%');
  });

  it('runs unittest with --unittest, from another directory with --workspace', async () => {
    const run = await cli(['unittests', '--unittest', '--workspace', project.path], dataDir.path);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('ERROR   unittests/test_calc_unittest.py::CalcTest::test_error');
    expect(run.stdout).toContain('1 passed, 2 failed, 1 error, 1 skipped, 1 xfailed');
  });

  it('exits 2 on a path outside the workspace or a bad threshold', async () => {
    const outside = await cli(['../elsewhere']);
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain('inside the workspace');
    const threshold = await cli(['tests', '--cov-threshold', 'lots']);
    expect(threshold.code).toBe(2);
    expect(threshold.stderr).toContain('--cov-threshold');
  });
});

describe('POST /v1/sessions/:id/tests', () => {
  const service = useService({ config: { files: FILES_CONFIG } });

  it("runs the tests of the caller's session and refuses another key's", async () => {
    const created = await api(service.url, 'POST', '/v1/sessions', { key: service.keys.a, json: {} });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    for (const path of ['calc.py', 'tests/test_calc.py']) {
      const written = await api(service.url, 'PUT', `/v1/sessions/${id}/files/${path}`, {
        key: service.keys.a,
        body: await readFile(join(CALC_PROJECT, path)),
      });
      expect(written.status).toBe(200);
    }
    const run = await api(service.url, 'POST', `/v1/sessions/${id}/tests`, {
      key: service.keys.a,
      json: { paths: ['tests'], k: 'not histogram', coverageThreshold: 50 },
    });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ passed: 4, failed: 0, skipped: 1, xfailed: 1, success: true });
    expect(run.body.coverage.files[0]).toMatchObject({ path: 'calc.py' });

    const other = await api(service.url, 'POST', `/v1/sessions/${id}/tests`, {
      key: service.keys.b,
      json: {},
    });
    expect(other.status).toBe(404);
    const invalid = await api(service.url, 'POST', `/v1/sessions/${id}/tests`, {
      key: service.keys.a,
      json: { paths: ['../x'] },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('INVALID_ARGUMENT');
  });
});
