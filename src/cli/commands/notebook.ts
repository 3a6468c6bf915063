import { rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, basename, resolve } from 'node:path';
import { Vivarium } from '../../engine/index.js';
import type { Limits } from '../../config/index.js';
import {
  importNotebook,
  notebookFromScript,
  runNotebook,
  type Notebook,
  type NotebookRunResult,
} from '../../tools/index.js';
import { existingDirectory, listenForInterrupts, type CliIo } from '../cli-io.js';
import {
  engineOptionsFromFlags,
  limitsFromFlags,
  type EngineFlags,
  type LimitFlags,
} from '../engine-flags.js';
import { EXIT_OK, EXIT_PYTHON_ERROR, EXIT_SIGINT, exitCodeForStatus } from '../exit-codes.js';
import { neutralizeControls } from '../render.js';
import { CliUsageError, flagExpectation, readLocalText } from '../usage-error.js';

/** Flags of `vivarium notebook run` and `notebook export` (raw commander values). */
export interface NotebookFlags extends EngineFlags, LimitFlags {
  /** `-o FILE`: where the executed notebook goes; stdout when absent. */
  output?: string;
  continueOnError?: boolean;
  json?: boolean;
  workspace?: string;
}

/** Flags of `vivarium notebook export`. */
export interface NotebookExportFlags extends NotebookFlags {
  /** `--from FILE.py`: a script split into cells at `# %%` lines. */
  from?: string;
}

/** What `notebook run|export --json` prints. */
export interface NotebookCommandReport {
  summary: NotebookRunResult['summary'];
  /** The file written, or null when the notebook is in `notebook`. */
  outputPath: string | null;
  /** The executed notebook, only when no `-o` was given. */
  notebook?: Notebook;
}

function readInput(path: string, what: string): Promise<string> {
  return readLocalText(path, what);
}

/** As Jupyter writes notebooks: one-space indent, a final newline. */
export function notebookText(notebook: Notebook): string {
  return `${JSON.stringify(notebook, null, 1)}\n`;
}

/** Writes next to the target then renames, so a reader never sees half a notebook. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await writeFile(temporary, text, 'utf8');
  await rename(temporary, path);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

/** Runs `notebook` and writes the result as the flags say. Returns the exit code. */
async function runAndWrite(notebook: Notebook, flags: NotebookFlags, io: CliIo): Promise<number> {
  const engineOptions = engineOptionsFromFlags(flags);
  const limits: Partial<Limits> = limitsFromFlags(flags);
  const workspaceDir =
    flags.workspace === undefined ? undefined : await existingDirectory('--workspace', flags.workspace);
  if (flags.output !== undefined && flags.output.trim() === '')
    throw new CliUsageError('Expected `-o` to be a file path, got ``');
  const outputPath = flags.output === undefined ? null : resolve(flags.output);
  if (outputPath !== null) {
    const parent = await stat(dirname(outputPath)).catch(() => null);
    if (parent === null || !parent.isDirectory())
      throw flagExpectation('-o', 'a file in an existing directory', flags.output ?? '');
  }
  const json = flags.json === true;

  const vv = await Vivarium.start({ ...engineOptions, pool: { size: 0 } });
  const abort = new AbortController();
  const interrupts = listenForInterrupts({
    onInterrupt: () => abort.abort(),
    stderr: io.stderr,
    exitCode: EXIT_SIGINT,
  });
  let result: NotebookRunResult;
  try {
    result = await runNotebook(vv, notebook, {
      continueOnError: flags.continueOnError === true,
      signal: abort.signal,
      session: {
        ...(Object.keys(limits).length > 0 ? { limits } : {}),
        ...(workspaceDir === undefined ? {} : { workspaceDir }),
      },
      onCell: (event) => {
        if (event.type !== 'cell-end') return;
        const { execution } = event;
        const detail = execution.error
          ? `: ${execution.error.ename}: ${execution.error.evalue}`
          : execution.reason
            ? `: ${execution.reason}`
            : '';
        io.stderr.write(
          `[${event.codeCellNumber}/${event.codeCellCount}] cell ${event.cellIndex + 1} ${execution.status} ${seconds(execution.durationMs)}${neutralizeControls(detail.split('\n')[0] ?? '')}\n`,
        );
      },
    });
  } finally {
    interrupts.dispose();
    await vv.stop();
  }

  const { summary } = result;
  if (outputPath !== null) await writeAtomically(outputPath, notebookText(result.notebook));
  if (json) {
    const report: NotebookCommandReport = {
      summary,
      outputPath,
      ...(outputPath === null ? { notebook: result.notebook } : {}),
    };
    io.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    if (outputPath === null) io.stdout.write(notebookText(result.notebook));
    const failure = summary.firstFailure;
    const line = [
      `ran ${summary.executed} of ${summary.codeCells} code cells: ${summary.ok} ok, ${summary.failed} failed`,
      failure
        ? ` (first: cell ${failure.cellIndex + 1}, ${failure.status}${failure.ename ? `, ${failure.ename}: ${failure.evalue ?? ''}` : ''})`
        : '',
      summary.aborted ? ', interrupted' : '',
      ` in ${seconds(summary.durationMs)}`,
      outputPath === null ? '' : `; wrote ${outputPath}`,
    ].join('');
    // With the notebook on stdout, the summary goes to stderr so stdout stays a valid .ipynb.
    (outputPath === null ? io.stderr : io.stdout).write(`${neutralizeControls(line.split('\n')[0] ?? '')}\n`);
  }
  if (summary.status === 'ok') return EXIT_OK;
  if (summary.firstFailure) return exitCodeForStatus(summary.firstFailure.status);
  return EXIT_PYTHON_ERROR;
}

/** `vivarium notebook run IN.ipynb`: runs its code cells in a fresh sandbox, writes the executed notebook. */
export async function notebookRunCommand(file: string, flags: NotebookFlags, io: CliIo): Promise<number> {
  const text = await readInput(file, 'the notebook');
  // Checked before the engine starts: a bad file costs no sandbox.
  const { notebook } = importNotebook(text);
  return runAndWrite(notebook, flags, io);
}

/**
 * `vivarium notebook export --from FILE.py`: splits a script into cells at `# %%` lines, runs them
 * and writes the executed notebook.
 */
export async function notebookExportCommand(flags: NotebookExportFlags, io: CliIo): Promise<number> {
  if (flags.from === undefined)
    throw new CliUsageError(
      'Expected `--from FILE.py` (a script with `# %%` cell markers); the CLI keeps no session history to export',
    );
  const script = await readInput(flags.from, 'the script');
  return runAndWrite(notebookFromScript(script), flags, io);
}
