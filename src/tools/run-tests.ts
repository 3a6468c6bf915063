import { z } from 'zod';
import { MAX_TIMER_MS } from '../config/index.js';
import { validate, VivariumError } from '../errors/index.js';
import type { Session } from '../session/index.js';
import { runSandboxTool } from './sandbox-tool.js';

/** Wall clock of the test run itself (pytest or unittest), unless the caller says otherwise. */
export const DEFAULT_TEST_TIMEOUT_MS = 120_000;
/**
 * Time the tool gets beyond `timeoutMs`: the side kernel's start, the coverage report, parsing.
 * Past `timeoutMs` the suite is killed and the result says `timedOut`; past this too, the tool fails.
 */
export const TEST_TOOL_GRACE_MS = 60_000;
/** Longest `timeoutMs` accepted: the grace must still fit in a Node timer. */
export const MAX_TEST_TIMEOUT_MS = MAX_TIMER_MS - TEST_TOOL_GRACE_MS;
/** The workspace folder the tools keep their files in (inline tests, reports). */
export const RESERVED_WORKSPACE_DIR = '.vivarium';
/** Where inline test code (`code`) is written in the workspace. */
export const INLINE_TEST_PATH = '.vivarium/tests/test_inline.py';
/** Where the last run's JUnit XML and coverage JSON are kept in the workspace. */
export const TEST_REPORTS_DIR = '.vivarium/reports';
/** Most `paths` and `args` entries. */
export const MAX_TEST_PATHS = 1_000;
export const MAX_TEST_ARGS = 200;
/** Longest inline test code, characters. */
export const MAX_INLINE_TEST_CHARS = 1_000_000;
/** pytest options the tool sets itself: passing them in `args` would break the report it parses. */
export const RESERVED_PYTEST_OPTIONS = ['--junitxml', '--junit-xml', '--rootdir', '--cov-report'] as const;

/** Which runner runs the tests. */
export type TestRunner = 'pytest' | 'unittest';
/** The one outcome of a test. `error`: failed outside the test body (setup, teardown, import). */
export type TestOutcome = 'passed' | 'failed' | 'error' | 'skipped' | 'xfailed' | 'xpassed';

/** Options of {@link runTests}. */
export interface RunTestsOptions {
  /**
   * Workspace paths to run: files, directories, or pytest node ids (`tests/test_a.py::test_x`);
   * relative, inside the workspace, no `..`. @default [] (pytest: the workspace; unittest: `.`)
   */
  paths?: string[];
  /** Test code to run too, written to {@link INLINE_TEST_PATH} first. @default undefined */
  code?: string;
  /** @default 'pytest' */
  runner?: TestRunner;
  /**
   * Extra arguments. pytest: any option but {@link RESERVED_PYTEST_OPTIONS}; unittest:
   * `-p/--pattern PATTERN`, `-f/--failfast`. @default []
   */
  args?: string[];
  /** Selects tests by keyword expression (pytest `-k`; unittest: a name pattern). @default undefined */
  k?: string;
  /** Wall clock of the test run; past it the suite is killed and `timedOut` set. @default DEFAULT_TEST_TIMEOUT_MS */
  timeoutMs?: number;
  /** Measure line coverage of the workspace's code (test modules left out). @default true */
  coverage?: boolean;
  /** Total coverage percent (0–100) below which the run is a failure, with the reason. @default undefined */
  coverageThreshold?: number;
  signal?: AbortSignal;
}

const relativePathSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (path) =>
      !path.startsWith('/') &&
      !path.includes('\\') &&
      !path.includes('\0') &&
      !path
        .split('::')[0]!
        .split('/')
        .some((part) => part === '..'),
    { message: 'a relative path inside the workspace, without `..`' },
  );

const runTestsOptionsSchema = z
  .object({
    paths: z.array(relativePathSchema).max(MAX_TEST_PATHS).optional(),
    code: z.string().max(MAX_INLINE_TEST_CHARS).optional(),
    runner: z.enum(['pytest', 'unittest']).optional(),
    args: z
      .array(
        z
          .string()
          .max(4096)
          .refine(
            (arg) =>
              !RESERVED_PYTEST_OPTIONS.some((option) => arg === option || arg.startsWith(`${option}=`)),
            { message: `an option other than ${RESERVED_PYTEST_OPTIONS.join(', ')} (the tool sets those)` },
          ),
      )
      .max(MAX_TEST_ARGS)
      .optional(),
    k: z.string().min(1).max(4096).optional(),
    timeoutMs: z.number().int().positive().max(MAX_TEST_TIMEOUT_MS).optional(),
    coverage: z.boolean().optional(),
    coverageThreshold: z.number().min(0).max(100).optional(),
    signal: z.instanceof(AbortSignal).optional(),
  })
  .strict();

/** One test's result. */
export const testCaseResultSchema = z.object({
  /** pytest node id (`tests/test_a.py::TestX::test_y[param]`); unittest: the same form when the file is known. */
  nodeid: z.string(),
  outcome: z.enum(['passed', 'failed', 'error', 'skipped', 'xfailed', 'xpassed']),
  durationMs: z.number(),
  /** Failure/error: the first line of the message; skipped/xfailed: the reason. */
  message: z.string().optional(),
  /** A failed assertion: the comparison pytest (or unittest) explained, dedented. */
  diff: z.string().optional(),
  /** Failure/error: the traceback, head and tail when long. */
  traceback: z.string().optional(),
});
export type TestCaseResult = z.infer<typeof testCaseResultSchema>;

/** Coverage of one file of the workspace. */
export const fileCoverageSchema = z.object({
  path: z.string(),
  percent: z.number(),
  statements: z.number().int(),
  missing: z.number().int(),
  missingLines: z.array(z.number().int()),
});
export type FileCoverage = z.infer<typeof fileCoverageSchema>;

/** Coverage of the run: total and per file, test modules and the reserved folder left out. */
export const coverageReportSchema = z.object({
  percent: z.number(),
  files: z.array(fileCoverageSchema),
  /** More files than the result lists. */
  filesTruncated: z.boolean(),
});
export type CoverageReport = z.infer<typeof coverageReportSchema>;

/** What {@link runTests} returns. */
export const testRunResultSchema = z.object({
  runner: z.enum(['pytest', 'unittest']),
  passed: z.number().int(),
  failed: z.number().int(),
  errors: z.number().int(),
  skipped: z.number().int(),
  xfailed: z.number().int(),
  xpassed: z.number().int(),
  /** The test session's time as the runner measured it (wall clock of the run when it has none). */
  durationMs: z.number(),
  /** No failures, no errors, tests were collected, coverage at least `coverageThreshold`. */
  success: z.boolean(),
  /** Why `success` is false, one clause per cause. */
  reason: z.string().optional(),
  tests: z.array(testCaseResultSchema),
  coverage: coverageReportSchema.nullable(),
  /** More tests ran than `tests` lists (failures are listed first when cut). */
  testsTruncated: z.boolean(),
  /** The run was killed at `timeoutMs`. */
  timedOut: z.boolean(),
  /** The runner's exit code; null when it was killed at the timeout. */
  exitCode: z.number().int().nullable(),
  /** Things that did not stop the run (coverage unavailable, …). */
  warnings: z.array(z.string()),
  /** The tail of the runner's console text, for people: nothing is parsed from it. */
  output: z.string(),
  /** The last run's machine-readable reports, workspace-relative. */
  reports: z.object({ junitXml: z.string().optional(), coverageJson: z.string().optional() }),
});
export type TestRunResult = z.infer<typeof testRunResultSchema>;

/**
 * A bad input the tool found inside the sandbox (a path that is not there): it answers
 * `{inputError: {code, message}}` instead of a result. Shared with the profiling tool.
 */
export const toolInputErrorSchema = z.object({
  inputError: z.object({
    code: z.enum(['INVALID_ARGUMENT', 'FILE_NOT_FOUND', 'PATH_INVALID', 'TOOL_FAILED']),
    message: z.string(),
  }),
});

/** Throws the `VivariumError` a tool's `{inputError}` answer stands for. */
export function throwToolInputError(
  tool: string,
  error: z.infer<typeof toolInputErrorSchema>['inputError'],
): never {
  throw new VivariumError(error.code, error.message, { details: { tool } });
}

const toolAnswerSchema = z.union([toolInputErrorSchema, testRunResultSchema]);

/**
 * Runs a test suite of the session's workspace — pytest with coverage (pytest-cov), or unittest
 * discovery — in a side kernel (same sandbox and limits; the session's namespace untouched), the
 * suite itself in a subprocess of it so a crashing suite cannot take the tool down. Results come
 * from the JUnit XML and coverage JSON written under `.vivarium/reports/`, never from console text.
 * Failing tests are data (`success: false` with a `reason`); bad options throw `INVALID_ARGUMENT`,
 * a missing path `FILE_NOT_FOUND`.
 */
export async function runTests(session: Session, options: RunTestsOptions = {}): Promise<TestRunResult> {
  const parsed = validate(runTestsOptionsSchema, options, 'options');
  if (parsed.coverage === false && parsed.coverageThreshold !== undefined) {
    throw new VivariumError(
      'INVALID_ARGUMENT',
      'Expected `coverage` to be on when `coverageThreshold` is set, got `false` (boolean)',
    );
  }
  if (session.mode === 'read_only') {
    // The run writes its JUnit XML and coverage data (and inline `code`) under `.vivarium/`.
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Session ${session.id} is read_only: a test run writes its reports into the workspace (.vivarium/reports/). Run the tests in a session of mode \`workspace_write\``,
      { details: { tool: 'testing', sessionId: session.id, mode: session.mode } },
    );
  }
  const timeoutMs = parsed.timeoutMs ?? DEFAULT_TEST_TIMEOUT_MS;
  const { signal, ...args } = parsed;
  const { result } = await runSandboxTool(
    {
      session,
      tool: 'testing',
      args: { ...args, timeoutMs },
      timeoutMs: timeoutMs + TEST_TOOL_GRACE_MS,
      ...(signal ? { signal } : {}),
    },
    toolAnswerSchema,
  );
  if ('inputError' in result) throwToolInputError('testing', result.inputError);
  return result;
}
