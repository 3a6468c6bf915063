import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface, type Interface as ReadlineInterface } from 'node:readline';
import { Vivarium } from '../../engine/index.js';
import { isVivariumError } from '../../errors/index.js';
import type { Execution, ExecutionEvent, InputRequest } from '../../kernel/index.js';
import type { Session } from '../../session/index.js';
import { CellAccumulator } from '../cell-accumulator.js';
import { existingDirectory, type CliIo } from '../cli-io.js';
import {
  engineOptionsFromFlags,
  limitsFromFlags,
  modeFromFlags,
  type EngineFlags,
  type LimitFlags,
  type ModeFlags,
} from '../engine-flags.js';
import { EXIT_OK, EXIT_SIGINT } from '../exit-codes.js';
import { ImageSaver, savedImageLine } from '../image-saver.js';
import { LineQueue } from '../line-queue.js';
import { OutputPrinter, neutralizeControls, renderTable, type ImageOutput } from '../render.js';
import { packageVersion } from '../version.js';

/** Flags of `vivarium repl` (raw commander values). */
export interface ReplFlags extends EngineFlags, LimitFlags, ModeFlags {
  workspace?: string;
}

export const PRIMARY_PROMPT = '>>> ';
export const CONTINUATION_PROMPT = '... ';
/** History lines kept, in memory and in `<dataDir>/repl-history`. */
export const REPL_HISTORY_SIZE = 1000;
const HISTORY_FILE_NAME = 'repl-history';
/** Ctrl-C presses during one cell after which the kernel is restarted instead of interrupted again. */
const INTERRUPTS_BEFORE_RESTART = 3;

const REPL_COMMANDS_HELP = [
  '%vars     the variables of the session: name, type, summary',
  '%files    the files in the workspace',
  '%restart  a fresh kernel: variables cleared, workspace files kept',
  '%exit     close the session and leave (also Ctrl-D, exit(), quit())',
  '%help     this list',
].join('\n');

const EXIT_WORDS = new Set(['%exit', '%quit', 'exit', 'exit()', 'quit', 'quit()']);

/** Statuses after which the kernel is gone and the REPL starts a new one. */
const KERNEL_LOST_STATUSES = new Set<Execution['status']>(['timeout', 'memory_exceeded', 'killed']);

async function readHistory(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  // Stored oldest first, one entry a line; readline wants newest first.
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-REPL_HISTORY_SIZE)
    .reverse();
}

async function writeHistory(path: string, newestFirst: readonly string[]): Promise<void> {
  const lines = [...newestFirst].slice(0, REPL_HISTORY_SIZE).reverse();
  await writeFile(path, lines.length > 0 ? `${lines.join('\n')}\n` : '', { mode: 0o600 }).catch(
    () => undefined,
  );
}

/** One interactive (or piped) session: reads cells, runs them, prints their outputs. */
class Repl {
  private readonly io: CliIo;
  private readonly session: Session;
  private readonly readline: ReadlineInterface;
  private readonly queue: LineQueue;
  private readonly interactive: boolean;
  private readonly cells = new CellAccumulator();
  private busy = false;
  private interruptsThisCell = 0;
  private restarting: Promise<unknown> | null = null;
  private quitBySignal = false;
  /** Cells run so far; names the images of each (`output-<n>.png`). */
  private cellNumber = 0;

  constructor(options: { io: CliIo; session: Session; readline: ReadlineInterface; interactive: boolean }) {
    this.io = options.io;
    this.session = options.session;
    this.readline = options.readline;
    this.interactive = options.interactive;
    this.queue = new LineQueue(options.readline);
  }

  /** Ctrl-C: interrupts a running cell; at the prompt, drops what was typed. */
  readonly onInterrupt = (): void => {
    if (this.busy) {
      this.interruptsThisCell += 1;
      if (this.interruptsThisCell >= INTERRUPTS_BEFORE_RESTART && this.restarting === null) {
        this.io.stderr.write(
          '\nvivarium: the cell does not stop; restarting the kernel (variables lost, files kept)\n',
        );
        this.restarting = this.session.restart().catch((error: unknown) => this.reportError(error));
      } else {
        this.session.interrupt();
      }
      return;
    }
    if (!this.interactive) {
      // A signal while waiting on piped input: leave, as Python does.
      this.quitBySignal = true;
      this.readline.close();
      return;
    }
    this.readline.write(null, { ctrl: true, name: 'e' });
    this.readline.write(null, { ctrl: true, name: 'u' });
    this.cells.clear();
    this.queue.clear();
    this.io.stdout.write('\nKeyboardInterrupt\n');
    this.prompt();
  };

  private prompt(): void {
    if (!this.interactive) return;
    this.readline.setPrompt(this.cells.pending ? CONTINUATION_PROMPT : PRIMARY_PROMPT);
    this.readline.prompt();
  }

  private reportError(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.io.stderr.write(`vivarium: ${neutralizeControls(message)}\n`);
  }

  /** Reads and runs until end of input or `%exit`; returns the exit code. */
  async loop(): Promise<number> {
    for (;;) {
      this.prompt();
      const line = await this.queue.next();
      if (line === null) break;
      const command = line.trim();
      const isCommand = (command.startsWith('%') || EXIT_WORDS.has(command)) && !/^\s/.test(line);
      if (isCommand && this.cells.pending && this.cells.wouldEndBlockBefore(line)) {
        const finished = this.cells.flush();
        if (finished !== null) await this.runCell(finished);
      }
      if (isCommand && !this.cells.pending) {
        if (EXIT_WORDS.has(command)) break;
        await this.command(command);
        continue;
      }
      for (const cell of this.cells.push(line)) await this.runCell(cell);
      if (this.session.state === 'closed') break;
    }
    const last = this.quitBySignal ? null : this.cells.flush();
    if (last !== null && this.session.state !== 'closed') await this.runCell(last);
    return this.quitBySignal ? EXIT_SIGINT : EXIT_OK;
  }

  private async command(command: string): Promise<void> {
    const [name] = command.split(/\s+/);
    try {
      switch (name) {
        case '%vars': {
          const variables = await this.session.variables();
          this.io.stdout.write(
            variables.length === 0
              ? '(no variables)\n'
              : `${renderTable(
                  ['name', 'type', 'summary'],
                  variables.map((v) => [v.name, v.type, v.summary]),
                )}\n`,
          );
          return;
        }
        case '%files': {
          const listing = await this.session.files.list(undefined, { recursive: true });
          this.io.stdout.write(`workspace: ${this.session.workspaceDir}\n`);
          const rows = listing.entries.map((entry) => [
            entry.path + (entry.type === 'directory' ? '/' : ''),
            entry.type,
            String(entry.sizeBytes),
            entry.modifiedAt,
          ]);
          this.io.stdout.write(
            rows.length === 0 ? '(empty)\n' : `${renderTable(['path', 'type', 'bytes', 'modified'], rows)}\n`,
          );
          if (listing.truncated) this.io.stdout.write('(more entries not shown)\n');
          return;
        }
        case '%restart':
          await this.session.restart();
          this.io.stdout.write('Kernel restarted: variables cleared, workspace files kept.\n');
          return;
        case '%help':
          this.io.stdout.write(`${REPL_COMMANDS_HELP}\n`);
          return;
        default:
          this.io.stderr.write(
            `Unknown command \`${neutralizeControls(name ?? command)}\`; commands: %vars, %files, %restart, %exit, %help\n`,
          );
      }
    } catch (error) {
      this.reportError(error);
    }
  }

  private async answerInput(printer: OutputPrinter, request: InputRequest): Promise<string> {
    if (request.password && this.interactive)
      throw new Error('getpass() is not supported in the vivarium REPL (the answer would be echoed)');
    const line = await this.queue.next();
    if (line === null) throw new Error('input has ended');
    if (this.interactive) printer.inputEchoed();
    return line;
  }

  private async runCell(code: string): Promise<void> {
    const saver = new ImageSaver({
      files: this.session.files,
      hostDir: this.session.workspaceDir,
      stderr: this.io.stderr,
    });
    // Numbered by the CLI, not by the kernel: a restart starts the kernel's count again at 1, and
    // a name must not be reused for another image.
    this.cellNumber += 1;
    const cellNumber = this.cellNumber;
    let imagesThisCell = 0;
    const printer = new OutputPrinter({
      stdout: this.io.stdout,
      stderr: this.io.stderr,
      // A read_only session's workspace stays as it was: images are shown as a line, not saved.
      ...(this.session.mode === 'read_only'
        ? {}
        : {
            onImage: (image: ImageOutput) => {
              imagesThisCell += 1;
              const name = `output-${cellNumber}${imagesThisCell === 1 ? '' : `-${imagesThisCell}`}.${image.extension}`;
              return savedImageLine(image, saver.save(name, image));
            },
          }),
    });
    const onEvent = (event: ExecutionEvent): void => printer.handle(event);
    this.busy = true;
    this.interruptsThisCell = 0;
    try {
      const execution = await this.session.execute(code, {
        onEvent,
        onInput: (request) => this.answerInput(printer, request),
      });
      await saver.flush();
      printer.endLines();
      if (
        KERNEL_LOST_STATUSES.has(execution.status) &&
        execution.reason !== null &&
        printer.printedError?.evalue !== execution.reason
      ) {
        this.io.stderr.write(`vivarium: ${execution.status}: ${neutralizeControls(execution.reason)}\n`);
      }
      if (execution.truncated.output)
        this.io.stderr.write('vivarium: output truncated: the rest of stdout/stderr was dropped\n');
    } catch (error) {
      await saver.flush();
      printer.endLines();
      this.reportError(error);
      if (isVivariumError(error, 'SESSION_CLOSED')) return;
    } finally {
      this.busy = false;
    }
    if (this.restarting) {
      await this.restarting;
      this.restarting = null;
    } else if (this.session.state === 'dead') {
      try {
        await this.session.restart();
        this.io.stderr.write('vivarium: the kernel was restarted: variables lost, workspace files kept\n');
      } catch (error) {
        this.reportError(error);
      }
    }
  }
}

/** `vivarium repl`: an interactive session (or cells piped on stdin). Returns the exit code. */
export async function replCommand(flags: ReplFlags, io: CliIo): Promise<number> {
  const engineOptions = engineOptionsFromFlags(flags);
  const limits = limitsFromFlags(flags);
  const mode = modeFromFlags(flags);
  const workspaceDir =
    flags.workspace === undefined ? undefined : await existingDirectory('--workspace', flags.workspace);
  const interactive = io.stdin.isTTY === true;

  if (interactive) io.stderr.write('Starting a sandboxed Python kernel...\n');
  // One session per CLI process: a warm pool would only start kernels nobody takes.
  const vv = await Vivarium.start({ ...engineOptions, pool: { size: 0 } });
  try {
    const session = await vv.createSession({
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
      ...(mode === undefined ? {} : { mode }),
      ...(workspaceDir === undefined ? {} : { workspaceDir }),
      // The REPL owns the session's lifetime: a user thinking for an hour keeps their variables.
      idleTimeoutMs: 0,
    });
    const historyPath = join(vv.config.dataDir, HISTORY_FILE_NAME);
    const readline = createInterface({
      input: io.stdin,
      ...(interactive
        ? {
            output: io.stdout,
            terminal: true,
            history: await readHistory(historyPath),
            historySize: REPL_HISTORY_SIZE,
            removeHistoryDuplicates: true,
          }
        : { terminal: false }),
    });
    let history: string[] = [];
    readline.on('history', (lines: string[]) => {
      history = lines;
    });
    const repl = new Repl({ io, session, readline, interactive });
    readline.on('SIGINT', repl.onInterrupt);
    // Outside raw mode (piped stdin, or after Ctrl-D closed readline) Ctrl-C arrives as a signal.
    process.on('SIGINT', repl.onInterrupt);
    if (interactive) {
      const python = vv.sandbox.interpreterInfo?.version ?? 'unknown';
      io.stdout.write(
        `Vivarium ${packageVersion()} · Python ${python} · isolation ${vv.config.isolation} · mode ${session.mode}\n` +
          `workspace ${session.workspaceDir}${workspaceDir === undefined ? ' (removed on exit)' : ''}\n` +
          'Type %help for commands. Ctrl-C interrupts, Ctrl-D exits.\n',
      );
    }
    try {
      return await repl.loop();
    } finally {
      process.off('SIGINT', repl.onInterrupt);
      if (interactive) {
        await writeHistory(historyPath, history);
        io.stdout.write('\n');
      }
      readline.close();
      await session.close();
    }
  } finally {
    await vv.stop();
  }
}
