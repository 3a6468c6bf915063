import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Vivarium } from '../../engine/index.js';
import type { Execution, InputRequest } from '../../kernel/index.js';
import { WorkspaceFiles } from '../../session/index.js';
import { listenForInterrupts, existingDirectory, type CliIo } from '../cli-io.js';
import {
  engineOptionsFromFlags,
  limitsFromFlags,
  modeFromFlags,
  type EngineFlags,
  type LimitFlags,
  type ModeFlags,
} from '../engine-flags.js';
import { EXIT_SIGINT, exitCodeForStatus } from '../exit-codes.js';
import { ImageSaver, savedImageLine } from '../image-saver.js';
import { LineQueue } from '../line-queue.js';
import { OutputPrinter, type ImageHandler } from '../render.js';
import { CliUsageError, readLocalText } from '../usage-error.js';

/** Flags of `vivarium run` (raw commander values). */
export interface RunFlags extends EngineFlags, LimitFlags, ModeFlags {
  /** `-c CODE`. */
  code?: string;
  workspace?: string;
  json?: boolean;
}

/** Extensions an image is saved under by `run --workspace`. */
const IMAGE_EXTENSIONS = ['png', 'jpg', 'gif', 'webp', 'svg'];

/** Statuses whose host-side reason is worth a line of its own. */
const KILLED_STATUSES = new Set<Execution['status']>(['timeout', 'memory_exceeded', 'killed']);

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** The code to run: `-c CODE`, FILE, or `-` for stdin. */
async function readSource(file: string | undefined, code: string | undefined, io: CliIo): Promise<string> {
  if (code !== undefined && file !== undefined)
    throw new CliUsageError('Pass either FILE or `-c CODE`, not both');
  if (code !== undefined) return code;
  if (file === undefined)
    throw new CliUsageError(
      'Expected a FILE to run, `-` for stdin, or `-c CODE` (see `vivarium run --help`)',
    );
  if (file === '-') return readStream(io.stdin);
  return readLocalText(file);
}

/** Answers `input()` from stdin, one line each; EOF makes `input()` raise EOFError in the cell. */
class StdinAnswers {
  private queue: LineQueue | null = null;
  private close: (() => void) | null = null;

  constructor(private readonly io: CliIo) {}

  readonly answer = async (_request: InputRequest): Promise<string> => {
    if (this.queue === null) {
      const readline = createInterface({ input: this.io.stdin, terminal: false });
      this.queue = new LineQueue(readline);
      this.close = () => readline.close();
    }
    const line = await this.queue.next();
    if (line === null) throw new Error('stdin has ended');
    return line;
  };

  dispose(): void {
    this.close?.();
  }
}

/** `vivarium run FILE | -c CODE`: one execution in a fresh sandbox. Returns the exit code. */
export async function runCommand(file: string | undefined, flags: RunFlags, io: CliIo): Promise<number> {
  const code = await readSource(file, flags.code, io);
  const engineOptions = engineOptionsFromFlags(flags);
  const limits = limitsFromFlags(flags);
  const mode = modeFromFlags(flags);
  const workspaceDir =
    flags.workspace === undefined ? undefined : await existingDirectory('--workspace', flags.workspace);
  const json = flags.json === true;

  // One session per CLI process: a warm pool would only start kernels nobody takes.
  const vv = await Vivarium.start({ ...engineOptions, pool: { size: 0 } });
  const abort = new AbortController();
  const interrupts = listenForInterrupts({
    onInterrupt: () => abort.abort(),
    stderr: io.stderr,
    exitCode: EXIT_SIGINT,
  });
  const answers = new StdinAnswers(io);
  try {
    let saver: ImageSaver | null = null;
    let onImage: ImageHandler | undefined;
    // A read_only session's workspace stays as it was: images are shown as a line, not saved.
    if (workspaceDir !== undefined && !json && (mode ?? vv.config.policy.mode) !== 'read_only') {
      const owner = (await stat(workspaceDir)).uid;
      const files = new WorkspaceFiles({
        root: workspaceDir,
        allowedExtensions: IMAGE_EXTENSIONS,
        maxTransferBytes: vv.config.files.maxTransferBytes,
        // As the engine does for the kernel: a root engine writes as the directory's owner.
        ...(vv.sandbox.runningAsRoot && owner !== 0 ? { ownerUid: owner, ownerGid: owner } : {}),
      });
      const imageSaver = new ImageSaver({ files, hostDir: workspaceDir, stderr: io.stderr });
      saver = imageSaver;
      let imageCount = 0;
      onImage = (image) => {
        imageCount += 1;
        return savedImageLine(image, imageSaver.save(`output-${imageCount}.${image.extension}`, image));
      };
    }
    const printer = new OutputPrinter({
      stdout: io.stdout,
      stderr: io.stderr,
      ...(onImage ? { onImage } : {}),
    });

    const execution = await vv.run(code, {
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
      ...(mode === undefined ? {} : { mode }),
      ...(workspaceDir === undefined ? {} : { workspaceDir }),
      signal: abort.signal,
      ...(json
        ? {}
        : {
            onEvent: (event) => printer.handle(event),
            onInput: async (request) => {
              const answer = await answers.answer(request);
              if (io.stdin.isTTY === true) printer.inputEchoed();
              return answer;
            },
          }),
    });
    await saver?.flush();

    if (json) {
      io.stdout.write(`${JSON.stringify(execution)}\n`);
    } else {
      if (
        KILLED_STATUSES.has(execution.status) &&
        execution.reason !== null &&
        printer.printedError?.evalue !== execution.reason
      ) {
        printer.endLines();
        io.stderr.write(`vivarium: ${execution.status}: ${execution.reason}\n`);
      }
      if (execution.truncated.output) {
        printer.endLines();
        io.stderr.write(
          `vivarium: output truncated: stdout and stderr past ${vv.config.limits.maxOutputBytes} bytes were dropped\n`,
        );
      }
      if (execution.truncated.display) {
        printer.endLines();
        io.stderr.write(
          `vivarium: rich output truncated: display data past ${vv.config.limits.maxDisplayBytes} bytes was dropped\n`,
        );
      }
    }
    return exitCodeForStatus(execution.status);
  } finally {
    answers.dispose();
    interrupts.dispose();
    await vv.stop();
  }
}
