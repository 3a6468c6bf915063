import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Execution } from '../../src/index.js';
import type { DoctorReport } from '../../src/cli/commands/doctor.js';
import { assertCliBuilt, runCli, temporaryDirectory, type CliResult } from '../helpers/cli-helpers.js';

/**
 * The built `vivarium` binary, end to end: real processes, the real sandbox, a temporary data
 * directory. `npm run build` must have run (the test scripts do it first).
 */

let data: { path: string; remove: () => Promise<void> };
let scratch: { path: string; remove: () => Promise<void> };

/** `vivarium run ... --data <tmp>`, no preload unless asked: most cells need no numpy. */
function run(
  args: readonly string[],
  options: { input?: string; preload?: boolean } = {},
): Promise<CliResult> {
  return runCli(
    ['run', ...args, '--data', data.path, ...(options.preload ? [] : ['--no-preload'])],
    options.input === undefined ? {} : { input: options.input },
  );
}

beforeAll(async () => {
  assertCliBuilt();
  data = await temporaryDirectory('vivarium-cli-data-');
  scratch = await temporaryDirectory('vivarium-cli-scratch-');
});

afterAll(async () => {
  await data?.remove();
  await scratch?.remove();
});

describe('vivarium run', () => {
  it('runs -c code: stdout streamed, the result as text/plain, exit 0', async () => {
    const result = await run(['-c', 'print("hello from the sandbox")\n6 * 7']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('hello from the sandbox\n42\n');
    expect(result.code, result.stderr).toBe(0);
  });

  it('exits 1 on a Python error with the traceback on stderr', async () => {
    const result = await run(['-c', 'print("before")\n1 / 0']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toBe('before\n');
    expect(result.stderr).toContain('Traceback (most recent call last):');
    expect(result.stderr).toContain('ZeroDivisionError: division by zero');
  });

  it('exits 2 on bad flags, a missing file or conflicting arguments, with the house message form', async () => {
    const badTimeout = await run(['-c', '1', '--timeout', 'abc']);
    expect(badTimeout.code, badTimeout.stderr).toBe(2);
    expect(badTimeout.stderr).toContain('Expected `--timeout` to be a positive number of seconds');
    expect(badTimeout.stderr).toContain('got `abc`');

    const badMemory = await run(['-c', '1', '--memory', '12']);
    expect(badMemory.code, badMemory.stderr).toBe(2);
    expect(badMemory.stderr).toContain('Expected `--memory` to be a whole number of MB >= 64, got `12`');

    const badIsolation = await run(['-c', '1', '--isolation', 'loose']);
    expect(badIsolation.code, badIsolation.stderr).toBe(2);
    expect(badIsolation.stderr).toContain(
      'Expected `--isolation` to be one of `strict`, `none`, got `loose`',
    );

    const missing = await run([join(scratch.path, 'nope.py')]);
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toContain('no such file');

    const both = await run([join(scratch.path, 'nope.py'), '-c', '1']);
    expect(both.code, both.stderr).toBe(2);

    const unknownFlag = await run(['-c', '1', '--frobnicate']);
    expect(unknownFlag.code, unknownFlag.stderr).toBe(2);
    expect(unknownFlag.stderr).toContain('--frobnicate');
  });

  it('exits 2 on an invalid configuration file (CONFIG_INVALID), listing the problems', async () => {
    const configFile = join(scratch.path, 'bad.config.json');
    await writeFile(configFile, JSON.stringify({ limits: { timeoutMs: -5 }, isolation: 'sometimes' }));
    const result = await run(['-c', '1', '--config', configFile]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('limits.timeoutMs');
    expect(result.stderr).toContain('isolation');
  });

  it('exits 124 when the execution times out', async () => {
    const result = await run(['-c', 'while True: pass', '--timeout', '1']);
    expect(result.code, result.stderr).toBe(124);
    expect(result.stderr).toContain('timeout');
  });

  it('exits 137 when the memory limit is exceeded', async () => {
    const result = await run(['-c', 'x = bytearray(2 * 1024**3)', '--memory', '256']);
    expect(result.code, result.stderr).toBe(137);
    expect(result.stderr).toMatch(/memory/i);
  });

  it('--json prints exactly one Execution object and nothing else', async () => {
    const result = await run([
      '-c',
      'print("out")\nimport sys; print("err", file=sys.stderr)\n1 + 1',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const execution = JSON.parse(result.stdout) as Execution;
    expect(execution).toMatchObject({
      status: 'ok',
      stdout: 'out\n',
      stderr: 'err\n',
      result: { 'text/plain': '2' },
      error: null,
    });
    // How streams are chunked into outputs is the engine's business; their kinds and order are not.
    const kinds = execution.outputs.map((output) => output.output_type);
    expect(new Set(kinds.slice(0, -1))).toEqual(new Set(['stream']));
    expect(kinds.at(-1)).toBe('execute_result');
    expect(typeof execution.id).toBe('string');
    expect(typeof execution.durationMs).toBe('number');
  });

  it('--json keeps the exit code of the status', async () => {
    const result = await run(['-c', 'raise ValueError("bad")', '--json']);
    expect(result.code, result.stderr).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({
      status: 'error',
      error: { ename: 'ValueError', evalue: 'bad' },
    });
  });

  it('runs a FILE, and code from stdin with `-`', async () => {
    const file = join(scratch.path, 'script.py');
    await writeFile(file, 'import sys\ntotal = sum(range(10))\nprint("total", total)\n');
    const fromFile = await run([file]);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toBe('total 45\n');

    const fromStdin = await run(['-'], { input: 'print("piped", 3 * 3)\n' });
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    expect(fromStdin.stdout).toBe('piped 9\n');
  });

  it('answers input() from stdin', async () => {
    const result = await run(['-c', 'name = input("name? ")\nprint("hi", name)'], { input: 'Ada\n' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('name? hi Ada\n');
  });

  it('--workspace runs in an existing directory, keeps created files and saves images there', async () => {
    const workspace = await temporaryDirectory('vivarium-cli-workspace-');
    try {
      const code = [
        'open("result.csv", "w").write("a,b\\n1,2\\n")',
        'import matplotlib',
        'matplotlib.use("Agg")',
        'import matplotlib.pyplot as plt',
        'plt.plot([1, 2, 3])',
        'plt.show()',
        'print("done")',
      ].join('\n');
      const result = await run(['-c', code, '--workspace', workspace.path]);
      expect(result.stderr).toBe('');
      expect(result.code, result.stderr).toBe(0);
      expect(await readFile(join(workspace.path, 'result.csv'), 'utf8')).toBe('a,b\n1,2\n');
      const image = join(workspace.path, 'output-1.png');
      expect(result.stdout).toContain(`saved to ${image}`);
      expect(result.stdout).toMatch(/\[image\/png output: \d+ bytes/);
      const png = await readFile(image);
      expect(png.subarray(0, 8).toString('latin1')).toBe('\x89PNG\r\n\x1a\n');
      expect((await stat(workspace.path)).isDirectory()).toBe(true);

      const notADirectory = await run(['-c', '1', '--workspace', join(workspace.path, 'result.csv')]);
      expect(notADirectory.code, notADirectory.stderr).toBe(2);
      expect(notADirectory.stderr).toContain('Expected `--workspace` to be an existing directory');
    } finally {
      await workspace.remove();
    }
  });

  it('without --workspace an image is described, not saved', async () => {
    const code =
      'import matplotlib\nmatplotlib.use("Agg")\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()';
    const result = await run(['-c', code]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^\[image\/png output: \d+ bytes\]$/m);
  });

  it('streams output live: the first line arrives well before the process exits', async () => {
    const code = 'import time\nprint("first", flush=True)\ntime.sleep(1.5)\nprint("second")';
    const result = await run(['-c', code]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('first\nsecond\n');
    const first = result.stdoutChunks.find((chunk) => chunk.text.includes('first'));
    expect(first).toBeDefined();
    expect(first!.text).not.toContain('second');
    expect(result.exitAtMs - first!.atMs).toBeGreaterThan(1000);
  });

  it('neutralises terminal escapes and control characters when rendering; --json keeps them raw', async () => {
    const code = 'print("\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 nul\\x00 back\\x08 c1\\x9b tab\\tend")';
    const raw = await run(['-c', code, '--json']);
    const execution = JSON.parse(raw.stdout) as Execution;
    expect(execution.stdout).toBe('\x1b[31mred\x1b[0m \x1b]0;title\x07 nul\x00 back\x08 c1\x9b tab\tend\n');

    const rendered = await run(['-c', code]);
    expect(rendered.code, rendered.stderr).toBe(0);
    expect(rendered.stdout).toBe(
      '\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 nul\\x00 back\\x08 c1\\x9b tab\tend\n',
    );
    // eslint-disable-next-line no-control-regex -- asserting no control character got through
    expect(rendered.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });

  it('neutralises escapes in tracebacks too', async () => {
    const result = await run(['-c', 'raise RuntimeError("\\x1b[2J wiped")']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain('RuntimeError: \\x1b[2J wiped');
    expect(result.stderr).not.toContain('\x1b');
  });
});

describe('vivarium repl (piped)', () => {
  it('runs multi-line cells, prints results, %vars, errors, and keeps going', async () => {
    const input = [
      'def double(x):',
      '    return x * 2',
      '',
      'double(21)',
      'items = [1,',
      '         2, 3]',
      'len(items)',
      '%vars',
      '1 / 0',
      'print("still alive")',
      '',
    ].join('\n');
    const result = await runCli(['repl', '--no-preload', '--data', data.path], { input });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('>>>');
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe('42');
    expect(lines[1]).toBe('3');
    expect(result.stdout).toMatch(/^name\s+type\s+summary$/m);
    expect(result.stdout).toMatch(/^double\s+function\s+/m);
    expect(result.stdout).toMatch(/^items\s+list\s+/m);
    expect(result.stderr).toContain('ZeroDivisionError: division by zero');
    expect(result.stdout.trimEnd().endsWith('still alive')).toBe(true);
  });

  it('saves images into the workspace, lists files, restarts, and exits on %exit', async () => {
    const workspace = await temporaryDirectory('vivarium-cli-repl-ws-');
    try {
      const input = [
        'import matplotlib',
        'matplotlib.use("Agg")',
        'import matplotlib.pyplot as plt',
        'plt.plot([3, 1, 2]); plt.show()',
        '%files',
        'kept = 1',
        '%restart',
        'kept',
        '%exit',
        'print("never runs")',
      ].join('\n');
      const result = await runCli(
        ['repl', '--no-preload', '--data', data.path, '--workspace', workspace.path],
        { input },
      );
      expect(result.code, result.stderr).toBe(0);
      const image = join(workspace.path, 'output-4.png');
      expect(result.stdout).toContain(`saved to ${image}`);
      expect((await readFile(image)).subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(result.stdout).toMatch(/^output-4\.png\s+file\s+\d+/m);
      expect(result.stdout).toContain('Kernel restarted');
      expect(result.stderr).toContain("NameError: name 'kept' is not defined");
      expect(result.stdout).not.toContain('never runs');
    } finally {
      await workspace.remove();
    }
  });
});

describe('vivarium doctor, --version, --help', () => {
  it('doctor exits 0 here and lists bubblewrap', async () => {
    const result = await runCli(['doctor', '--data', data.path]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^ok\s+bubblewrap\s+bubblewrap \d/m);
    expect(result.stdout).toMatch(/^ok\s+strict sandbox/m);
    expect(result.stdout).toMatch(/^\w+\s+numpy\s+/m);
    expect(result.stdout).toContain('limits mechanism');
  });

  it('doctor --json is one JSON report', async () => {
    const result = await runCli(['doctor', '--json', '--data', data.path]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as DoctorReport;
    expect(report.strictIsolationWorks).toBe(true);
    expect(report.checks.find((check) => check.id === 'bubblewrap')).toMatchObject({ status: 'ok' });
    expect(report.checks.some((check) => check.id === 'package:numpy')).toBe(true);
  });

  it('--version and --help', async () => {
    const packageJson = JSON.parse(
      await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    const version = await runCli(['--version']);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(packageJson.version);

    const help = await runCli(['--help']);
    expect(help.code, help.stderr).toBe(0);
    for (const command of ['run', 'repl', 'doctor']) expect(help.stdout).toContain(command);

    const runHelp = await runCli(['run', '--help']);
    expect(runHelp.code, runHelp.stderr).toBe(0);
    for (const flag of [
      '--timeout',
      '--memory',
      '--workspace',
      '--json',
      '--isolation',
      '--data',
      '--config',
      '--no-preload',
    ]) {
      expect(runHelp.stdout).toContain(flag);
    }

    const noCommand = await runCli([]);
    expect(noCommand.code, noCommand.stderr).toBe(2);
  });
});

describe('a reader that goes away', () => {
  it('`vivarium run … | head -1` ends quietly with exit 0, no EPIPE crash', async () => {
    const { spawn } = await import('node:child_process');
    const { CLI_BIN } = await import('../helpers/cli-helpers.js');
    const dataDir = await temporaryDirectory('vivarium-cli-epipe-');
    const code =
      'import sys, time\nfor i in range(200):\n    print("line", i, flush=True)\n    time.sleep(0.005)';
    const child = spawn(
      process.execPath,
      [CLI_BIN, 'run', '--no-preload', '--data', dataDir.path, '-c', code],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const exitCode = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    await dataDir.remove();
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(exitCode).toBe(0);
  });
});
