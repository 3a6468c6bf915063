import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { profile, type FunctionProfile, type ProfileResult } from '../../tools/index.js';
import { existingDirectory, type CliIo } from '../cli-io.js';
import { withToolSession } from '../tool-session.js';
import { parseMemoryMb, parseTimeoutSeconds, type EngineFlags } from '../engine-flags.js';
import { EXIT_OK, EXIT_PYTHON_ERROR } from '../exit-codes.js';
import { neutralizeControls, renderTable, tracebackText } from '../render.js';
import { CliUsageError, flagExpectation } from '../usage-error.js';

/** Flags of `vivarium profile` (raw commander values). */
export interface ProfileFlags extends Omit<EngineFlags, 'preload'> {
  top?: string;
  save?: string;
  lines?: boolean;
  json?: boolean;
  workspace?: string;
  timeout?: string;
  memory?: string;
}

/** Rows per table unless `--top` says otherwise. */
export const DEFAULT_CLI_PROFILE_TOP = 15;

/** `--top 10` → 10. */
export function parseTop(raw: string): number {
  const top = /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(top) || top < 1 || top > 500)
    throw flagExpectation('--top', 'a whole number from 1 to 500', raw);
  return top;
}

/** A host path (relative to `base`) as a workspace-relative one; a usage error outside it. */
function insideWorkspace(flag: string, raw: string, workspaceDir: string, base: string): string {
  const inside = relative(workspaceDir, resolve(base, raw));
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
    throw new CliUsageError(
      `Expected \`${flag}\` to be a file inside the workspace ${workspaceDir}, got \`${raw}\` (pass --workspace to choose another)`,
    );
  }
  return inside.split(sep).join('/');
}

/** `52428800` → `50.0 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 * 1024) return `${(bytes / (1024 * 1024 * 1024)).toFixed(2)} GB`;
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}

function ms(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 1 ? value.toFixed(1) : value.toFixed(3);
}

function location(file: string | null, line: number): string {
  return file === null ? '(built-in)' : `${file}:${line}`;
}

function functionTable(rows: readonly FunctionProfile[]): string {
  return renderTable(
    ['CUMUL ms', 'OWN ms', '%', 'CALLS', 'FUNCTION', 'WHERE'],
    rows.map((row) => [
      ms(row.cumulativeMs),
      ms(row.totalMs),
      row.percent.toFixed(1),
      row.calls === row.primitiveCalls ? String(row.calls) : `${row.calls}/${row.primitiveCalls}`,
      row.function,
      location(row.file, row.line),
    ]),
  );
}

/** The readable report of a profile: the figures, both rankings, memory sites, hot lines. */
export function renderProfile(result: ProfileResult, target: string): string {
  const out: string[] = [
    `Profiled ${neutralizeControls(target)}: wall ${ms(result.wallMs)} ms, CPU ${ms(result.cpuMs)} ms, ` +
      `peak memory ${formatBytes(result.peakMemoryBytes)} (Python allocations peaked at ${formatBytes(result.memory.peakBytes)})`,
    '',
    'Top functions by cumulative time',
    functionTable(result.cumulative),
    '',
    'Top functions by own time',
    functionTable(result.own),
    '',
    'Memory still held at the end, by allocation site (tracemalloc)',
    result.memory.top.length === 0
      ? '  (none)'
      : renderTable(
          ['SIZE', 'BLOCKS', 'WHERE'],
          result.memory.top.map((site) => [
            formatBytes(site.sizeBytes),
            String(site.count),
            location(site.file, site.line),
          ]),
        ),
  ];
  if (result.lines) {
    out.push(
      '',
      'Hot lines (line_profiler)',
      renderTable(
        ['ms', '%', 'HITS', 'WHERE', 'SOURCE'],
        result.lines.map((line) => [
          ms(line.totalMs),
          line.percent.toFixed(1),
          String(line.hits),
          location(line.file, line.line),
          line.source,
        ]),
      ),
    );
  }
  if (result.profilePath) {
    out.push(
      '',
      `Raw profile saved to ${neutralizeControls(result.profilePath)} (python3 -m pstats ${neutralizeControls(result.profilePath)})`,
    );
  }
  return `${out.join('\n')}\n`;
}

/**
 * `vivarium profile FILE.py`: runs the file under cProfile and tracemalloc in a fresh sandbox on
 * its workspace (`--workspace`, else the current directory when the file is inside it, else the
 * file's directory); `--save` is a path in the workspace. Exit 0 when the file ran without an exception, 1 otherwise (the profile up to
 * the exception is printed either way).
 */
export async function profileCommand(file: string, flags: ProfileFlags, io: CliIo): Promise<number> {
  const info = await stat(resolve(file)).catch(() => null);
  if (info === null || !info.isFile()) throw new CliUsageError(`Cannot read \`${file}\`: no such file`);
  let workspaceDir: string;
  if (flags.workspace !== undefined) workspaceDir = await existingDirectory('--workspace', flags.workspace);
  else {
    const cwd = process.cwd();
    const fromCwd = relative(cwd, resolve(file));
    workspaceDir = fromCwd.startsWith('..') || isAbsolute(fromCwd) ? dirname(resolve(file)) : cwd;
  }
  const workspaceFile = insideWorkspace('FILE', file, workspaceDir, process.cwd());
  const saveProfile =
    flags.save === undefined ? undefined : insideWorkspace('--save', flags.save, workspaceDir, workspaceDir);
  const top = flags.top === undefined ? DEFAULT_CLI_PROFILE_TOP : parseTop(flags.top);
  const timeoutMs = flags.timeout === undefined ? undefined : parseTimeoutSeconds(flags.timeout);
  const memoryLimitMb = flags.memory === undefined ? undefined : parseMemoryMb(flags.memory);

  const result: ProfileResult = await withToolSession(
    { flags, io, workspaceDir, memoryLimitMb },
    (session, signal) =>
      profile(session, {
        file: workspaceFile,
        top,
        ...(flags.lines ? { lineProfile: true } : {}),
        ...(saveProfile === undefined ? {} : { saveProfile }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        signal,
      }),
  );
  if (flags.json) io.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    if (result.stdout !== '')
      io.stdout.write(
        neutralizeControls(result.stdout.endsWith('\n') ? result.stdout : `${result.stdout}\n`),
      );
    if (result.stderr !== '') io.stderr.write(neutralizeControls(result.stderr));
    for (const warning of result.warnings) io.stderr.write(`vivarium: warning: ${warning}\n`);
    if (result.stdout !== '') io.stdout.write('\n');
    io.stdout.write(renderProfile(result, workspaceFile));
    if (result.error) io.stderr.write(`${neutralizeControls(tracebackText(result.error))}\n`);
  }
  return result.error === null ? EXIT_OK : EXIT_PYTHON_ERROR;
}
