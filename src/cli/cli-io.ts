import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { flagExpectation } from './usage-error.js';

/** The streams a command reads and writes: the process's own in the binary. */
export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** The process's streams. */
export function processIo(): CliIo {
  // A reader that goes away (`vivarium … | head`) is not an error: later output is dropped and
  // the command finishes normally — never a crash, and never an exit that skips the engine's
  // cleanup (kernels, workspace volumes).
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
      throw error;
    });
  }
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}

/** Resolves a flag naming a directory that must exist (`--workspace`); usage error otherwise. */
export async function existingDirectory(flag: string, raw: string): Promise<string> {
  const path = resolve(raw);
  const info = await stat(path).catch(() => null);
  if (info === null || !info.isDirectory()) throw flagExpectation(flag, 'an existing directory', raw);
  return path;
}

/** Listens for Ctrl-C / SIGTERM while a command runs; `dispose()` removes the listeners. */
export interface InterruptListener {
  dispose(): void;
}

/**
 * The first SIGINT or SIGTERM calls `onInterrupt` (the command interrupts its cell and ends
 * normally); a second SIGINT gives up at once with `exitCode` — the kernels die with the process
 * (bubblewrap `--die-with-parent`).
 */
export function listenForInterrupts(options: {
  onInterrupt: () => void;
  stderr: NodeJS.WritableStream;
  exitCode: number;
}): InterruptListener {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted && signal === 'SIGINT') {
      options.stderr.write('vivarium: interrupted twice, quitting\n');
      process.exit(options.exitCode);
    }
    if (!interrupted) {
      interrupted = true;
      options.stderr.write(
        `vivarium: interrupting${signal === 'SIGINT' ? ' (Ctrl-C again to quit at once)' : ''}\n`,
      );
      options.onInterrupt();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
