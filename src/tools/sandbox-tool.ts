import type { z } from 'zod';
import { VivariumError } from '../errors/index.js';
import type { Execution } from '../kernel/index.js';
import { newId, type Session } from '../session/index.js';

/** Time a tool may run unless its caller says otherwise. */
export const DEFAULT_TOOL_TIMEOUT_MS = 120_000;

/** Options of {@link runSandboxTool}. */
export interface SandboxToolOptions {
  /** The session whose workspace, limits and sandbox the tool runs with. */
  session: Session;
  /** Module under `python/vivarium_runtime/tools/` (`testing`, `profiling`, …). */
  tool: string;
  /** JSON arguments passed to the module's `main(args)`. */
  args: unknown;
  /** Wall clock of the tool run. @default DEFAULT_TOOL_TIMEOUT_MS */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Modules the side kernel imports first. @default [] */
  preload?: readonly string[];
}

/** What a tool run gives back: its JSON result and the Execution of the side kernel (stdout etc.). */
export interface SandboxToolResult<T> {
  result: T;
  execution: Execution;
}

/**
 * Runs `vivarium_runtime.tools.<tool>.main(args)` in a fresh side kernel on the session's
 * workspace — same uid, limits, cgroup and seccomp as the session, its namespace untouched — and
 * validates the JSON it returns. A tool that raises or dies is `TOOL_FAILED` with the traceback.
 */
export async function runSandboxTool<S extends z.ZodType>(
  options: SandboxToolOptions,
  schema: S,
): Promise<SandboxToolResult<z.infer<S>>> {
  if (!/^[a-z_]+$/.test(options.tool)) {
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Expected \`tool\` to be a tool module name, got \`${options.tool}\``,
    );
  }
  const kernel = await options.session.startSideKernel({
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.preload ? { preload: options.preload } : {}),
  });
  try {
    // The arguments travel as a JSON string literal: never interpolated as code.
    const code = [
      'import json as _vv_json',
      `from vivarium_runtime.tools.${options.tool} import main as _vv_main`,
      `_vv_result = _vv_main(_vv_json.loads(${JSON.stringify(JSON.stringify(options.args ?? {}))}))`,
      'class _VVJson:',
      '    def _repr_json_(self):',
      '        return _vv_result',
      '_VVJson()',
    ].join('\n');
    const execution = await kernel.execute({
      executionId: newId('exe'),
      sessionId: options.session.id,
      code,
      timeoutMs: options.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS,
      maxOutputBytes: options.session.limits.maxOutputBytes,
      maxDisplayBytes: options.session.limits.maxDisplayBytes,
      signal: options.signal,
    });
    const payload = execution.result?.['application/json'];
    if (execution.status !== 'ok' || payload === undefined) {
      const detail = execution.error
        ? `${execution.error.ename}: ${execution.error.evalue}`
        : (execution.reason ?? execution.status);
      throw new VivariumError('TOOL_FAILED', `The ${options.tool} tool failed: ${detail}`, {
        details: {
          tool: options.tool,
          status: execution.status,
          error: execution.error,
          stderr: execution.stderr.slice(-4000),
        },
      });
    }
    const parsed = schema.safeParse(payload);
    if (!parsed.success) {
      throw new VivariumError(
        'TOOL_FAILED',
        `The ${options.tool} tool returned an unexpected result: ${parsed.error.issues[0]?.message ?? ''}`,
        {
          details: { tool: options.tool },
        },
      );
    }
    return { result: parsed.data, execution };
  } finally {
    await kernel.close();
  }
}
