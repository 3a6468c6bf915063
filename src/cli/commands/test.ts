import { isAbsolute, relative, resolve, sep } from 'node:path';
import { runTests, type TestRunResult } from '../../tools/index.js';
import { existingDirectory, type CliIo } from '../cli-io.js';
import { withToolSession } from '../tool-session.js';
import { parseMemoryMb, parseTimeoutSeconds, type EngineFlags } from '../engine-flags.js';
import { EXIT_OK, EXIT_PYTHON_ERROR } from '../exit-codes.js';
import { neutralizeControls, renderTable } from '../render.js';
import { CliUsageError, flagExpectation } from '../usage-error.js';

/** Flags of `vivarium test` (raw commander values). */
export interface TestFlags extends Omit<EngineFlags, 'preload'> {
  /** `-k EXPR`. */
  k?: string;
  unittest?: boolean;
  covThreshold?: string;
  /** False after `--no-cov`. */
  cov?: boolean;
  json?: boolean;
  workspace?: string;
  timeout?: string;
  memory?: string;
}

/** Above this many tests, passing ones are not listed one per line (`--json` has them all). */
export const MAX_LISTED_PASSING_TESTS = 100;
/** Lines of a traceback shown for a failure without an assertion diff. */
export const FAILURE_TRACEBACK_LINES = 15;

const OUTCOME_LABELS: Record<TestRunResult['tests'][number]['outcome'], string> = {
  passed: 'PASSED',
  failed: 'FAILED',
  error: 'ERROR',
  skipped: 'SKIPPED',
  xfailed: 'XFAILED',
  xpassed: 'XPASSED',
};

/** `--cov-threshold 80` → 80. */
export function parseCoverageThreshold(raw: string): number {
  const percent = /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(percent >= 0 && percent <= 100))
    throw flagExpectation('--cov-threshold', 'a percent from 0 to 100', raw);
  return percent;
}

/**
 * A PATH of the command line (relative to the workspace — the current directory unless
 * `--workspace` — or absolute; a pytest node id suffix `::name` kept) as a workspace-relative
 * path; a usage error when it leads outside.
 */
export function workspacePath(raw: string, workspaceDir: string): string {
  const separator = raw.indexOf('::');
  const filePart = separator === -1 ? raw : raw.slice(0, separator);
  const suffix = separator === -1 ? '' : raw.slice(separator);
  const absolute = resolve(workspaceDir, filePart);
  const inside = relative(workspaceDir, absolute);
  if (inside.startsWith('..') || isAbsolute(inside)) {
    throw new CliUsageError(
      `Expected PATH \`${raw}\` to be inside the workspace ${workspaceDir} (pass --workspace to choose another)`,
    );
  }
  const path = inside.split(sep).join('/');
  return path === '' ? (suffix === '' ? '' : `.${suffix}`) : `${path}${suffix}`;
}

/** `[20, 32, 33, 34]` → `20, 32-34`. */
export function lineRanges(lines: readonly number[]): string {
  const ranges: string[] = [];
  let start: number | undefined;
  let previous: number | undefined;
  for (const line of lines) {
    if (start !== undefined && previous !== undefined && line === previous + 1) {
      previous = line;
      continue;
    }
    if (start !== undefined) ranges.push(start === previous ? `${start}` : `${start}-${previous}`);
    start = line;
    previous = line;
  }
  if (start !== undefined) ranges.push(start === previous ? `${start}` : `${start}-${previous}`);
  return ranges.join(', ');
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function indent(text: string, prefix = '    '): string {
  return text
    .split('\n')
    .map((line) => (line === '' ? '' : `${prefix}${line}`))
    .join('\n');
}

/** `4 passed, 1 failed, 1 error, 1 skipped, 1 xfailed` (zero counts left out). */
export function testCounts(result: TestRunResult): string {
  const parts: string[] = [];
  if (result.passed) parts.push(`${result.passed} passed`);
  if (result.failed) parts.push(`${result.failed} failed`);
  if (result.errors) parts.push(`${result.errors} error${result.errors === 1 ? '' : 's'}`);
  if (result.skipped) parts.push(`${result.skipped} skipped`);
  if (result.xfailed) parts.push(`${result.xfailed} xfailed`);
  if (result.xpassed) parts.push(`${result.xpassed} xpassed`);
  return parts.length === 0 ? 'no tests ran' : parts.join(', ');
}

/** The readable report of a test run: one line per test, the failures, coverage, the verdict. */
export function renderTestRun(result: TestRunResult): string {
  const out: string[] = [];
  const showPassing = result.tests.length <= MAX_LISTED_PASSING_TESTS;
  let hiddenPassing = 0;
  for (const test of result.tests) {
    if (test.outcome === 'passed' && !showPassing) {
      hiddenPassing += 1;
      continue;
    }
    const label = OUTCOME_LABELS[test.outcome].padEnd(8);
    const why =
      (test.outcome === 'skipped' || test.outcome === 'xfailed') && test.message ? `  (${test.message})` : '';
    out.push(neutralizeControls(`${label}${test.nodeid}  ${formatMs(test.durationMs)}${why}`));
  }
  if (hiddenPassing > 0) out.push(`(${hiddenPassing} passing tests not listed; --json has every test)`);
  if (result.testsTruncated) out.push('(more tests ran than the result lists)');

  const problems = result.tests.filter((test) => test.outcome === 'failed' || test.outcome === 'error');
  if (problems.length > 0) {
    out.push('', 'Failures', '--------');
    for (const test of problems) {
      out.push(neutralizeControls(`${OUTCOME_LABELS[test.outcome]} ${test.nodeid}`));
      if (test.message) out.push(indent(neutralizeControls(test.message)));
      if (test.diff) out.push(indent(neutralizeControls(test.diff), '      '));
      else if (test.traceback) {
        const lines = test.traceback.split('\n');
        out.push(indent(neutralizeControls(lines.slice(-FAILURE_TRACEBACK_LINES).join('\n')), '      '));
      }
      const where = test.traceback?.split('\n').findLast((line) => /^\S+:\d+: /.test(line));
      if (test.diff && where) out.push(indent(`at ${neutralizeControls(where)}`));
      out.push('');
    }
  }

  if (result.coverage) {
    const rows = result.coverage.files.map((file) => [
      file.path,
      String(file.statements),
      String(file.missing),
      `${file.percent.toFixed(2)}%`,
      lineRanges(file.missingLines),
    ]);
    const statements = result.coverage.files.reduce((sum, file) => sum + file.statements, 0);
    const missing = result.coverage.files.reduce((sum, file) => sum + file.missing, 0);
    rows.push(['TOTAL', String(statements), String(missing), `${result.coverage.percent.toFixed(2)}%`, '']);
    if (out.at(-1) !== '') out.push('');
    out.push('Coverage', renderTable(['FILE', 'STMTS', 'MISS', 'COVER', 'MISSING'], rows));
  }

  if (out.length > 0 && out.at(-1) !== '') out.push('');
  out.push(`${testCounts(result)} in ${formatMs(result.durationMs)}`);
  out.push(result.success ? 'OK' : `FAILED: ${neutralizeControls(result.reason ?? 'the run failed')}`);
  return `${out.join('\n')}\n`;
}

/**
 * `vivarium test PATH…`: the tests of a directory (the workspace, adopted as is) in a fresh
 * sandbox. Exit 0 when the run succeeds, 1 when a test fails or errs, nothing was collected, the
 * run timed out or coverage is below `--cov-threshold`.
 */
export async function testCommand(paths: readonly string[], flags: TestFlags, io: CliIo): Promise<number> {
  const workspaceDir = await existingDirectory('--workspace', flags.workspace ?? process.cwd());
  const workspacePaths = paths.map((path) => workspacePath(path, workspaceDir)).filter((path) => path !== '');
  const coverageThreshold =
    flags.covThreshold === undefined ? undefined : parseCoverageThreshold(flags.covThreshold);
  const timeoutMs = flags.timeout === undefined ? undefined : parseTimeoutSeconds(flags.timeout);
  const memoryLimitMb = flags.memory === undefined ? undefined : parseMemoryMb(flags.memory);
  if (flags.cov === false && coverageThreshold !== undefined)
    throw new CliUsageError('Pass either `--cov-threshold` or `--no-cov`, not both');

  const result: TestRunResult = await withToolSession(
    { flags, io, workspaceDir, memoryLimitMb },
    (session, signal) =>
      runTests(session, {
        paths: workspacePaths,
        ...(flags.unittest ? { runner: 'unittest' as const } : {}),
        ...(flags.k === undefined ? {} : { k: flags.k }),
        ...(flags.cov === false ? { coverage: false } : {}),
        ...(coverageThreshold === undefined ? {} : { coverageThreshold }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        signal,
      }),
  );
  if (flags.json) io.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    for (const warning of result.warnings) io.stderr.write(`vivarium: warning: ${warning}\n`);
    io.stdout.write(renderTestRun(result));
  }
  return result.success ? EXIT_OK : EXIT_PYTHON_ERROR;
}
