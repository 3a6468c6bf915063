import { z } from 'zod';
import { MAX_TIMER_MS } from '../config/index.js';
import { isVivariumError, validate, VivariumError } from '../errors/index.js';
import type { Session } from '../session/index.js';
import { throwToolInputError, toolInputErrorSchema } from './run-tests.js';
import { runSandboxTool } from './sandbox-tool.js';

/** Wall clock of a profiled run, unless the caller says otherwise. */
export const DEFAULT_PROFILE_TIMEOUT_MS = 120_000;
/** Rows of each ranking unless the caller says otherwise. */
export const DEFAULT_PROFILE_TOP = 20;
/** Most rows of a ranking. */
export const MAX_PROFILE_TOP = 500;
/** Longest profiled code, characters. */
export const MAX_PROFILE_CODE_CHARS = 1_000_000;

/** Options of {@link profile}: exactly one of `code` or `file`. */
export interface ProfileOptions {
  /** Python code to profile (shown as `<code>` in frames). @default undefined */
  code?: string;
  /** A workspace Python file to profile, run as `__main__` (relative, no `..`). @default undefined */
  file?: string;
  /** Rows of each ranking (functions, memory sites, lines). @default DEFAULT_PROFILE_TOP */
  top?: number;
  /**
   * Line-level timings of the profiled source's own functions, when `line_profiler` is installed
   * for the sandbox interpreter (Debian `python3-line-profiler`); without it a warning says so.
   * Line tracing slows the run, and every figure with it. @default false
   */
  lineProfile?: boolean;
  /** Workspace path to write the raw cProfile data to (readable by `pstats`). @default undefined */
  saveProfile?: string;
  /** Wall clock of the profiled run; past it the tool fails (`TOOL_FAILED`, `timedOut`). @default DEFAULT_PROFILE_TIMEOUT_MS */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const workspacePathSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (path) =>
      !path.startsWith('/') &&
      !path.includes('\\') &&
      !path.includes('\0') &&
      !path.split('/').some((part) => part === '..'),
    { message: 'a relative path inside the workspace, without `..`' },
  );

const profileOptionsSchema = z
  .object({
    code: z.string().max(MAX_PROFILE_CODE_CHARS).optional(),
    file: workspacePathSchema.optional(),
    top: z.number().int().positive().max(MAX_PROFILE_TOP).optional(),
    lineProfile: z.boolean().optional(),
    saveProfile: workspacePathSchema.optional(),
    timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
    signal: z.instanceof(AbortSignal).optional(),
  })
  .strict();

/** One function of a ranking. `file` is workspace-relative, absolute elsewhere, null for built-ins. */
export const functionProfileSchema = z.object({
  function: z.string(),
  file: z.string().nullable(),
  line: z.number().int(),
  /** Calls, recursive ones included. */
  calls: z.number().int(),
  /** Calls that were not recursive. */
  primitiveCalls: z.number().int(),
  /** Own time: in the function's body, not in what it called. */
  totalMs: z.number(),
  /** Time in the function and everything it called. */
  cumulativeMs: z.number(),
  /** The ranking's time (cumulative or own) as a share of the profiled time. */
  percent: z.number(),
});
export type FunctionProfile = z.infer<typeof functionProfileSchema>;

/** Where memory still held at the end of the run was allocated (tracemalloc). */
export const allocationSiteSchema = z.object({
  file: z.string().nullable(),
  line: z.number().int(),
  sizeBytes: z.number().int(),
  count: z.number().int(),
});
export type AllocationSite = z.infer<typeof allocationSiteSchema>;

/** One line's time (line_profiler). */
export const lineProfileSchema = z.object({
  file: z.string().nullable(),
  line: z.number().int(),
  function: z.string(),
  hits: z.number().int(),
  totalMs: z.number(),
  perHitMs: z.number(),
  /** Share of the run's wall clock. */
  percent: z.number(),
  source: z.string(),
});
export type LineProfile = z.infer<typeof lineProfileSchema>;

const errorInfoSchema = z.object({ ename: z.string(), evalue: z.string(), traceback: z.array(z.string()) });

const profileToolResultSchema = z.object({
  wallMs: z.number(),
  cpuMs: z.number(),
  peakMemoryBytes: z.number().int(),
  profiledMs: z.number(),
  cumulative: z.array(functionProfileSchema),
  own: z.array(functionProfileSchema),
  memory: z.object({ peakBytes: z.number().int(), top: z.array(allocationSiteSchema) }),
  lines: z.array(lineProfileSchema).optional(),
  profilePath: z.string().optional(),
  error: errorInfoSchema.nullable(),
  warnings: z.array(z.string()),
});

/** What {@link profile} returns. */
export const profileResultSchema = profileToolResultSchema.extend({
  /** What the profiled code printed (capped as an execution's streams are). */
  stdout: z.string(),
  stderr: z.string(),
});
export type ProfileResult = z.infer<typeof profileResultSchema>;

const toolAnswerSchema = z.union([toolInputErrorSchema, profileToolResultSchema]);

/**
 * Profiles code or a workspace file in a side kernel of the session (same sandbox and limits; the
 * session's namespace untouched): cProfile rankings by cumulative and own time, tracemalloc's peak
 * and top allocation sites, wall/CPU time and the process's peak memory, line timings on request.
 * An exception in the profiled code is data (`error`, with the profile up to it); bad options
 * throw `INVALID_ARGUMENT`, a missing file `FILE_NOT_FOUND`.
 *
 * `cumulative` leaves out the profiled `<module>` frame (it is always the whole run); `own` keeps
 * it. Frames of the runtime itself are dropped everywhere.
 */
export async function profile(session: Session, options: ProfileOptions): Promise<ProfileResult> {
  const parsed = validate(profileOptionsSchema, options, 'options');
  if ((parsed.code === undefined) === (parsed.file === undefined)) {
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Expected exactly one of \`code\` or \`file\`, got ${parsed.code === undefined ? 'neither' : 'both'}`,
    );
  }
  if (parsed.saveProfile !== undefined && session.mode === 'read_only') {
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Session ${session.id} is read_only: \`saveProfile\` cannot write into its workspace. Leave it out, or profile in a session of mode \`workspace_write\``,
      { details: { tool: 'profiling', sessionId: session.id, mode: session.mode } },
    );
  }
  const { signal, timeoutMs = DEFAULT_PROFILE_TIMEOUT_MS, ...args } = parsed;
  let answer: Awaited<ReturnType<typeof runSandboxTool<typeof toolAnswerSchema>>>;
  try {
    answer = await runSandboxTool(
      { session, tool: 'profiling', args, timeoutMs, ...(signal ? { signal } : {}) },
      toolAnswerSchema,
    );
  } catch (error) {
    if (isVivariumError(error, 'TOOL_FAILED') && error.details.status === 'timeout') {
      throw new VivariumError(
        'TOOL_FAILED',
        `The profiled code ran past its timeout of ${timeoutMs} ms; profile a smaller input or raise \`timeoutMs\``,
        { details: { tool: 'profiling', timedOut: true, timeoutMs }, cause: error },
      );
    }
    throw error;
  }
  const { result, execution } = answer;
  if ('inputError' in result) throwToolInputError('profiling', result.inputError);
  return { ...result, stdout: execution.stdout, stderr: execution.stderr };
}
