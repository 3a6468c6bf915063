import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built binary the tests run (`npm run build` first; the test scripts do). */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_BIN = join(REPO_ROOT, 'bin', 'vivarium.js');
const CLI_ENTRY = join(REPO_ROOT, 'dist', 'cli', 'main.js');

/** Throws a clear message when the CLI was not built. */
export function assertCliBuilt(): void {
  if (!existsSync(CLI_ENTRY))
    throw new Error(`${CLI_ENTRY} is missing: run \`npm run build\` before the CLI tests`);
}

/** One finished CLI process. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout chunks with the ms (since spawn) each arrived at. */
  stdoutChunks: Array<{ atMs: number; text: string }>;
  /** ms from spawn to exit. */
  exitAtMs: number;
}

/** Options of {@link runCli}. */
export interface RunCliOptions {
  /** Written to stdin, which is then closed. @default '' (closed at once) */
  input?: string;
  /** Killed (SIGKILL) past this. @default 60_000 */
  timeoutMs?: number;
  /** Working directory. @default process.cwd() */
  cwd?: string;
  /** Environment. @default process.env without VIVARIUM_* */
  env?: NodeJS.ProcessEnv;
}

/** Runs `node bin/vivarium.js ...args` and collects everything, with arrival times of stdout chunks. */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  const env =
    options.env ??
    Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('VIVARIUM_')));
  return new Promise((resolvePromise, reject) => {
    const startedAt = performance.now();
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd: options.cwd ?? process.cwd(),
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdoutChunks: CliResult['stdoutChunks'] = [];
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text: string) =>
      stdoutChunks.push({ atMs: performance.now() - startedAt, text }),
    );
    child.stderr.on('data', (text: string) => {
      stderr += text;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        code,
        signal,
        stdout: stdoutChunks.map((chunk) => chunk.text).join(''),
        stderr,
        stdoutChunks,
        exitAtMs: performance.now() - startedAt,
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** A temporary directory, removed by the returned `remove()`. */
export async function temporaryDirectory(
  prefix: string,
): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true, maxRetries: 3 }) };
}
