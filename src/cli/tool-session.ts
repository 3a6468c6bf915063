import { Vivarium } from '../engine/index.js';
import type { Session } from '../session/index.js';
import { listenForInterrupts, type CliIo } from './cli-io.js';
import { engineOptionsFromFlags, type EngineFlags } from './engine-flags.js';
import { EXIT_SIGINT } from './exit-codes.js';

/** Options of {@link withToolSession}. */
export interface ToolSessionOptions {
  flags: EngineFlags;
  io: CliIo;
  /** The existing directory used as the workspace. */
  workspaceDir: string;
  /** `--memory`. @default the configured limit */
  memoryLimitMb?: number | undefined;
}

/**
 * The frame of a one-tool CLI command (`test`, `profile`): an engine without a pool, Ctrl-C as an
 * abort signal, a session on the given workspace without preload, and everything closed after
 * `run`, whatever it does.
 */
export async function withToolSession<T>(
  options: ToolSessionOptions,
  run: (session: Session, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const vv = await Vivarium.start({ ...engineOptionsFromFlags(options.flags), pool: { size: 0 } });
  const abort = new AbortController();
  const interrupts = listenForInterrupts({
    onInterrupt: () => abort.abort(),
    stderr: options.io.stderr,
    exitCode: EXIT_SIGINT,
  });
  try {
    const session = await vv.createSession({
      workspaceDir: options.workspaceDir,
      preload: [],
      ...(options.memoryLimitMb === undefined ? {} : { limits: { memoryLimitMb: options.memoryLimitMb } }),
      signal: abort.signal,
    });
    try {
      return await run(session, abort.signal);
    } finally {
      await session.close();
    }
  } finally {
    interrupts.dispose();
    await vv.stop();
  }
}
