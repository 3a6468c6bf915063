import { z } from 'zod';
import type { ExecutionMode } from '../config/index.js';
import { VivariumError } from '../errors/index.js';
import type { Session } from '../session/index.js';
import { runSandboxTool } from '../tools/sandbox-tool.js';
import type { PackageProbe, TaskAnalyzer, TaskHost } from './task-run.js';

/** What the engine host needs of the engine (structural: the pipeline does not import the engine). */
export interface TaskSessionProvider {
  createSession(options: { mode: ExecutionMode; signal?: AbortSignal }): Promise<Session>;
  getSession(id: string): Session;
}

/** `INVALID_ARGUMENT` unless a task's mode is the existing session's. */
export function assertSessionMode(sessionId: string, sessionMode: ExecutionMode, mode: ExecutionMode): void {
  if (sessionMode !== mode) {
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Session ${sessionId} runs in mode \`${sessionMode}\`, the task asks for \`${mode}\`: leave \`mode\` out to use the session's, or start the task in a new session`,
      { details: { sessionId, sessionMode, mode } },
    );
  }
}

/** Tasks of the library: sessions of the engine, executions straight on them (nothing stored). */
export function engineTaskHost(engine: TaskSessionProvider): TaskHost {
  return {
    sessionMode(sessionId) {
      return Promise.resolve(engine.getSession(sessionId).mode);
    },
    async openSession({ sessionId, mode, signal }) {
      if (sessionId === null) return engine.createSession({ mode, ...(signal ? { signal } : {}) });
      const session = engine.getSession(sessionId);
      assertSessionMode(session.id, session.mode, mode);
      return session;
    },
    execute(session, code, { onEvent, signal, timeoutMs }) {
      return session.execute(code, { onEvent, signal, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    },
  };
}

const environmentSchema = z.object({ packages: z.array(z.string()), python: z.string() });

/**
 * The packages a session's kernel can import (the data stack and the session's installs), found
 * in a side kernel without importing them; cached per session for `cacheMs`.
 */
export function sandboxPackageProbe(cacheMs = 60_000): PackageProbe {
  const cache = new Map<string, { at: number; packages: string[] }>();
  return async (session, signal) => {
    const hit = cache.get(session.id);
    if (hit && Date.now() - hit.at < cacheMs) return hit.packages;
    const { result } = await runSandboxTool(
      { session, tool: 'environment', args: {}, timeoutMs: 30_000, signal },
      environmentSchema,
    );
    cache.set(session.id, { at: Date.now(), packages: result.packages });
    if (cache.size > 1_000) cache.delete(cache.keys().next().value!);
    return result.packages;
  };
}

/** The analysis module's `analyze`, loaded when first used (it imports the engine facade). */
export const sandboxAnalyzer: TaskAnalyzer = async (session, code, options) =>
  (await import('../analysis/index.js')).analyze(session, code, options);
