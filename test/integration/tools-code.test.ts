import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVivariumError } from '../../src/index.js';
import {
  closeMatches,
  dependencies,
  explainError,
  validate,
  type ErrorNarrator,
} from '../../src/tools/index.js';
import { assertCliBuilt, runCli, temporaryDirectory } from '../helpers/cli-helpers.js';
import { useEngine } from '../helpers/engine.js';
import { api, useService } from '../helpers/server.js';

/** Validation, error help and dependency analysis, in the real sandbox. */

describe('validate', () => {
  const engine = useEngine({ pool: { size: 0 } });

  it('reports a syntax error with line, column and caret', async () => {
    const result = await validate(engine.vv, 'total = 1\nvalues = (1, 2\nprint(values)\n');
    expect(result.ok).toBe(false);
    expect(result.syntaxError).toMatchObject({ kind: 'SyntaxError', line: 2, column: 10 });
    expect(result.syntaxError?.message).toContain("'(' was never closed");
    expect(result.syntaxError?.caret).toBe('values = (1, 2\n         ^');
    expect(result.undefinedNames).toEqual([]);
  });

  it('finds undefined names and unused imports with pyflakes; no policy findings for plain code', async () => {
    const result = await validate(
      engine.vv,
      'import os\nimport numpy as np\nimport json\n\nprint(json.dumps({"a": 1}))\nprint(undefined_thing)\n',
    );
    expect(result.ok).toBe(false);
    expect(result.syntaxError).toBeNull();
    expect(result.undefinedNames).toEqual([{ name: 'undefined_thing', line: 6, column: 7 }]);
    expect(result.unusedImports).toEqual([
      { name: 'os', line: 1, statement: 'os' },
      { name: 'np', line: 2, statement: 'numpy as np' },
    ]);
    expect(result.missingModules).toEqual([]);
    expect(result.findings).toEqual([]);
  });

  it('finds a missing module with its distribution and Debian package', async () => {
    const result = await validate(
      engine.vv,
      'import cv2\nimport bs4\nimage = cv2.imread("a.png")\nprint(bs4, image)\n',
    );
    expect(result.missingModules).toEqual([
      { module: 'cv2', line: 1, distribution: 'opencv-python', debianPackage: 'python3-opencv' },
    ]);
    expect(result.ok).toBe(false);
  });

  it('reports the policy findings of the analysis with their severities', async () => {
    const result = await validate(
      engine.vv,
      'import os as o\nimport cv2\no.system("ls")\nopen("/etc/passwd", "a")\nprint(cv2)\n',
    );
    expect(result.findings.map((f) => [f.ruleId, f.severity, f.line, f.symbol])).toEqual([
      ['import.missing', 'info', 2, 'cv2'],
      ['process.system', 'warning', 3, 'os.system'],
      ['file.write_outside', 'warning', 4, 'open'],
    ]);
    expect(result.findings[2]).toMatchObject({ category: 'file', path: '/etc/passwd' });
  });

  it("counts a session's variables as defined, and leaves its namespace alone", async () => {
    const session = await engine.vv.createSession();
    await session.execute('threshold = 3');
    const result = await validate(session, 'print(threshold + 1)\nprint(missing_name)\n');
    expect(result.undefinedNames.map((entry) => entry.name)).toEqual(['missing_name']);
    expect((await session.variables()).map((variable) => variable.name)).toEqual(['threshold']);
    const clean = await validate(session, 'import math\nprint(math.sqrt(threshold))\n');
    expect(clean.ok).toBe(true);
  });

  it('refuses a non-string code with the house message', async () => {
    const error = await validate(engine.vv, 42 as unknown as string).catch((caught: unknown) => caught);
    expect(isVivariumError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toContain('Expected `code` to be a string');
  });
});

describe('explainError', () => {
  const engine = useEngine({ pool: { size: 0 }, preload: ['pandas'] });

  it('NameError: the builtin close to a typo', async () => {
    const session = await engine.vv.createSession();
    const execution = await session.execute('pritn("hello")');
    const explanation = await explainError(execution, { session, code: 'pritn("hello")' });
    expect(explanation.category).toBe('name');
    expect(explanation.suggestions.closeMatches).toEqual(['print']);
    expect(explanation.hints[0]).toBe('did you mean `print`?');
    expect(explanation.error).toMatchObject({ ename: 'NameError', line: 1 });
    expect(explanation.narrative).toBeNull();
  });

  it("NameError: the user's own variable close to a typo, and a usual alias's import", async () => {
    const session = await engine.vv.createSession();
    await session.execute('total_count = 10\ntotal_cost = 2.5');
    const typo = await explainError(await session.execute('print(totl_count)'), { session });
    expect(typo.suggestions.closeMatches?.[0]).toBe('total_count');
    const alias = await explainError(await session.execute('np.zeros(3)'), { session });
    expect(alias.suggestions.importStatement).toBe('import numpy as np');
  });

  it('AttributeError: close attributes from dir() of the type or module', async () => {
    const session = await engine.vv.createSession();
    const onType = await explainError(await session.execute('"abc".uper()'), { session });
    expect(onType.category).toBe('name');
    expect(onType.suggestions.closeMatches?.[0]).toBe('upper');
    const onModule = await explainError(await session.execute('import json\njson.dump_s({})'), { session });
    expect(onModule.suggestions.closeMatches).toContain('dumps');
  });

  it('FileNotFoundError: the files present, the close one first', async () => {
    const session = await engine.vv.createSession();
    await session.files.write('sales_2024.csv', 'region,revenue\nnorth,10\n');
    await session.files.write('notes.txt', 'hello');
    const execution = await session.execute('open("sales_2023.csv").read()');
    const explanation = await explainError(execution, { session });
    expect(explanation.category).toBe('file_not_found');
    expect(explanation.suggestions.subject).toBe('sales_2023.csv');
    expect(explanation.suggestions.closeMatches?.[0]).toBe('sales_2024.csv');
    expect([...(explanation.suggestions.files ?? [])].sort()).toEqual(['notes.txt', 'sales_2024.csv']);
    expect(explanation.hints.join('\n')).toContain('files in the workspace');
  });

  it('ModuleNotFoundError: the distribution and Debian package, installable per config', async () => {
    const session = await engine.vv.createSession();
    const execution = await session.execute('import cv2');
    const plain = await explainError(execution, { session });
    expect(plain.category).toBe('import');
    expect(plain.suggestions).toMatchObject({
      module: 'cv2',
      distribution: 'opencv-python',
      debianPackage: 'python3-opencv',
      installable: false,
    });
    expect(plain.hints.join('\n')).toContain('apt-get install python3-opencv');
    const allowed = await explainError(execution, {
      packages: { allow: ['opencv-python'], deny: [] },
    });
    expect(allowed.suggestions.installable).toBe(true);
  });

  it('pandas KeyError: the columns present, the close one first', async () => {
    const session = await engine.vv.createSession();
    const execution = await session.execute(
      'import pandas as pd\nsales = pd.DataFrame({"Revenue": [1, 2], "region": ["n", "s"]})\nsales["revenue"]',
    );
    expect(execution.error?.ename).toBe('KeyError');
    const explanation = await explainError(execution, { session });
    expect(explanation.category).toBe('key_index');
    expect(explanation.suggestions.columns).toEqual({ sales: ['Revenue', 'region'] });
    expect(explanation.suggestions.closeMatches?.[0]).toBe('Revenue');
    expect(explanation.hints[0]).toBe('did you mean `Revenue`?');
  });

  it('timeout and memory statuses get their own categories and hints', async () => {
    const session = await engine.vv.createSession({ limits: { memoryLimitMb: 512 } });
    const timedOut = await session.execute('while True:\n    pass', { timeoutMs: 1_000 });
    expect(timedOut.status).toBe('timeout');
    const timeout = await explainError(timedOut, { session });
    expect(timeout.category).toBe('timeout');
    expect(timeout.summary).toContain('time limit');
    expect(timeout.hints.join('\n')).toContain('restart the session');

    await session.restart();
    const bomb = await session.execute('buffer = bytearray(8 * 1024**3)');
    expect(bomb.status).toBe('memory_exceeded');
    const memory = await explainError(bomb, { session });
    expect(memory.category).toBe('memory');
    expect(memory.summary).toContain('512 MB');
  });

  it('categorizes the rest without a session, and refuses an execution that did not fail', async () => {
    const session = await engine.vv.createSession();
    const cases: Array<[string, string]> = [
      ['x = (1,', 'syntax'],
      ['len(5)', 'type'],
      ['int("abc")', 'value'],
      ['[1][3]', 'key_index'],
      ['def f(n):\n    return f(n + 1)\nf(0)', 'recursion'],
      ['b"\\xff".decode("utf-8")', 'encoding'],
      ['assert 1 == 2, "numbers differ"', 'assertion'],
      ['open("/etc/forbidden", "w")', 'permission'],
      ['raise KeyboardInterrupt', 'keyboard_interrupt'],
      ['raise RuntimeError("boom")', 'other'],
    ];
    for (const [code, category] of cases) {
      const execution = await session.execute(code);
      const explanation = await explainError(execution, { code });
      expect(explanation.category, code).toBe(category);
      expect(explanation.hints.length, code).toBeGreaterThan(0);
    }
    const ok = await session.execute('1 + 1');
    const error = await explainError(ok).catch((caught: unknown) => caught);
    expect(isVivariumError(error, 'INVALID_ARGUMENT')).toBe(true);
  });

  it('hands the deterministic explanation to a narrator (the pipeline extension point)', async () => {
    const session = await engine.vv.createSession();
    const execution = await session.execute('1 / 0');
    const narrator: ErrorNarrator = {
      name: 'scripted',
      narrate: ({ explanation }) => Promise.resolve(`category was ${explanation.category}`),
    };
    const explained = await explainError(execution, { narrator });
    expect(explained.narrative).toEqual({ source: 'scripted', text: 'category was value' });
    const failing: ErrorNarrator = { name: 'broken', narrate: () => Promise.reject(new Error('down')) };
    expect((await explainError(execution, { narrator: failing })).narrative).toBeNull();
  });

  it("closeMatches behaves like difflib's get_close_matches", () => {
    expect(closeMatches('appel', ['ape', 'apple', 'peach', 'puppy'])).toEqual(['apple', 'ape']);
    expect(closeMatches('wheel', ['while', 'if', 'with'])).toEqual(['while']);
    expect(closeMatches('xyz', ['abc'])).toEqual([]);
  });
});

describe('dependencies', () => {
  const engine = useEngine({ pool: { size: 0 } });

  it('classifies imports by the kernel interpreter, alias-aware, relative imports left out', async () => {
    const session = await engine.vv.createSession();
    const result = await dependencies(
      session,
      'import numpy as np; from os import path; import sklearn; import nonexistent_mod; from . import x\nimport cv2\n',
    );
    expect(result.syntaxError).toBeNull();
    expect(result.imports.map((entry) => [entry.module, entry.kind])).toEqual([
      ['numpy', 'installed'],
      ['os', 'stdlib'],
      ['sklearn', 'installed'],
      ['nonexistent_mod', 'missing'],
      ['cv2', 'missing'],
    ]);
    const [numpy, os, sklearn, nonexistent, cv2] = result.imports;
    expect(numpy).toMatchObject({ alias: 'np', distribution: 'numpy', location: 'system', line: 1 });
    expect(numpy?.version).toMatch(/^\d+\.\d+/);
    expect(os).toMatchObject({ names: ['path'] });
    expect(sklearn).toMatchObject({ distribution: 'scikit-learn', debianPackage: 'python3-sklearn' });
    expect(sklearn?.version).toMatch(/^\d+\.\d+/);
    expect(nonexistent?.distribution).toBeUndefined();
    expect(cv2).toMatchObject({ line: 2, distribution: 'opencv-python', debianPackage: 'python3-opencv' });
  });

  it('counts workspace modules as installed there, and reports code that does not parse', async () => {
    const session = await engine.vv.createSession();
    await session.execute(
      'with open("helpers.py", "w") as file:\n    file.write("def f():\\n    return 1\\n")',
    );
    const result = await dependencies(
      session,
      'import helpers\nimport importlib\nimportlib.import_module("bs4")',
    );
    expect(result.imports).toEqual([
      expect.objectContaining({ module: 'helpers', kind: 'installed', location: 'workspace' }),
      expect.objectContaining({ module: 'importlib', kind: 'stdlib' }),
      expect.objectContaining({
        module: 'bs4',
        kind: 'installed',
        dynamic: true,
        distribution: 'beautifulsoup4',
      }),
    ]);
    const broken = await dependencies(session, 'import (');
    expect(broken.imports).toEqual([]);
    expect(broken.syntaxError?.line).toBe(1);
  });
});

describe('vivarium deps', () => {
  let scratch: { path: string; remove: () => Promise<void> };
  let data: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    assertCliBuilt();
    scratch = await temporaryDirectory('vivarium-deps-');
    data = await temporaryDirectory('vivarium-deps-data-');
  });
  afterAll(async () => {
    await scratch?.remove();
    await data?.remove();
  });

  it('prints the import table with kinds and install hints; exit 1 when one is missing', async () => {
    const file = join(scratch.path, 'analysis.py');
    await writeFile(file, 'import numpy as np\nimport json\nimport cv2\n');
    const table = await runCli(['deps', file, '--data', data.path]);
    expect(table.code, table.stderr).toBe(1);
    expect(table.stdout).toMatch(/LINE\s+MODULE\s+KIND\s+DISTRIBUTION\s+VERSION\s+WHERE/);
    expect(table.stdout).toMatch(/1\s+numpy as np\s+installed\s+numpy\s+\d/);
    expect(table.stdout).toMatch(/2\s+json\s+stdlib/);
    expect(table.stdout).toMatch(/3\s+cv2\s+missing\s+opencv-python/);
    expect(table.stdout).toContain('cv2 is missing:');
    expect(table.stdout).toContain('apt-get install python3-opencv');

    const json = await runCli(['deps', file, '--json', '--data', data.path]);
    const parsed = JSON.parse(json.stdout) as { imports: Array<{ module: string; kind: string }> };
    expect(parsed.imports.map((entry) => entry.kind)).toEqual(['installed', 'stdlib', 'missing']);

    await writeFile(file, 'import json\n');
    expect((await runCli(['deps', file, '--data', data.path])).code).toBe(0);
    const missingFile = await runCli(['deps', join(scratch.path, 'nope.py'), '--data', data.path]);
    expect(missingFile.code).toBe(2);
    expect(missingFile.stderr).toContain('no such file');
  });
});

describe('HTTP: validate, dependencies, explain', () => {
  const service = useService();

  it('POST /v1/validate answers the validation, with or without a session', async () => {
    const key = service.keys.a;
    const alone = await api(service.url, 'POST', '/v1/validate', { key, json: { code: 'x = (1,' } });
    expect(alone.status, alone.text).toBe(200);
    expect(alone.body.syntaxError).toMatchObject({ line: 1, column: 5 });
    const created = await api(service.url, 'POST', '/v1/sessions', { key, json: {} });
    const id = created.body.id as string;
    await api(service.url, 'POST', `/v1/sessions/${id}/executions`, { key, json: { code: 'known = 1' } });
    const inSession = await api(service.url, 'POST', '/v1/validate', {
      key,
      json: { code: 'print(known, unknown)', sessionId: id },
    });
    expect(inSession.body.undefinedNames).toEqual([{ name: 'unknown', line: 1, column: 14 }]);
    const otherTenant = await api(service.url, 'POST', '/v1/validate', {
      key: service.keys.b,
      json: { code: '1', sessionId: id },
    });
    expect(otherTenant.status).toBe(404);
    const invalid = await api(service.url, 'POST', '/v1/validate', { key, json: { code: 5 } });
    expect(invalid.status).toBe(400);
  });

  it('POST /v1/sessions/:id/dependencies answers the import table', async () => {
    const key = service.keys.a;
    const created = await api(service.url, 'POST', '/v1/sessions', { key, json: {} });
    const answer = await api(service.url, 'POST', `/v1/sessions/${created.body.id}/dependencies`, {
      key,
      json: { code: 'import json\nimport nonexistent_mod' },
    });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body.imports).toEqual([
      { module: 'json', line: 1, kind: 'stdlib' },
      { module: 'nonexistent_mod', line: 2, kind: 'missing' },
    ]);
  });

  it('POST /v1/sessions/:id/executions/:executionId/explain explains a stored failed execution', async () => {
    const key = service.keys.a;
    const created = await api(service.url, 'POST', '/v1/sessions', { key, json: {} });
    const id = created.body.id as string;
    await api(service.url, 'POST', `/v1/sessions/${id}/executions`, { key, json: { code: 'revenue = 10' } });
    const failed = await api(service.url, 'POST', `/v1/sessions/${id}/executions`, {
      key,
      json: { code: 'print(revenu)' },
    });
    expect(failed.body.status).toBe('error');
    const explained = await api(
      service.url,
      'POST',
      `/v1/sessions/${id}/executions/${failed.body.id}/explain`,
      {
        key,
      },
    );
    expect(explained.status, explained.text).toBe(200);
    expect(explained.body).toMatchObject({ category: 'name', suggestions: { closeMatches: ['revenue'] } });
    expect(explained.body.summary).toContain('line 1: `print(revenu)`');

    const wrong = await api(service.url, 'POST', `/v1/sessions/${id}/executions/exe_unknown/explain`, {
      key,
    });
    expect(wrong.status).toBe(400);
    const ok = await api(service.url, 'POST', `/v1/sessions/${id}/executions`, { key, json: { code: '1' } });
    const notFailed = await api(service.url, 'POST', `/v1/sessions/${id}/executions/${ok.body.id}/explain`, {
      key,
    });
    expect(notFailed.status).toBe(400);
    expect(notFailed.body.error.message).toContain('did not fail');
  });
});
