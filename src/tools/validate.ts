import { z } from 'zod';
import { findingSchema } from '../analysis/analysis-types.js';
import { DEFAULT_ANALYSIS_POLICY, evaluatePolicy } from '../analysis/policy.js';
import { rawAnalysisSchema } from '../analysis/raw-analysis.js';
import { DEFAULT_APPROVAL_MODE, type Config } from '../config/index.js';
import { Vivarium } from '../engine/index.js';
import { describeValue, validate as validateInput, VivariumError } from '../errors/index.js';
import { Session } from '../session/index.js';
import { codeSchema, MODULE_SOURCES, syntaxErrorSchema } from './dependencies.js';
import { runSandboxTool } from './sandbox-tool.js';

/** Result of {@link validate}. */
export const validateResultSchema = z.object({
  /** True when the code should run: it parses, every name resolves, every import exists (unused imports and warnings do not count). */
  ok: z.boolean(),
  /** Where the code does not parse (1-based line and column, the line with a caret), or null. */
  syntaxError: syntaxErrorSchema.nullable(),
  /** Names used but never bound (pyflakes), minus the session's variables when a session is given. */
  undefinedNames: z.array(z.object({ name: z.string(), line: z.number().int(), column: z.number().int() })),
  /** Imports never used (pyflakes): `name` as the code would use it, `statement` as pyflakes says it. */
  unusedImports: z.array(z.object({ name: z.string(), line: z.number().int(), statement: z.string() })),
  /** Imports the interpreter cannot resolve, with the distribution to install where known. */
  missingModules: z.array(
    z.object({
      module: z.string(),
      line: z.number().int(),
      distribution: z.string().optional(),
      debianPackage: z.string().optional(),
    }),
  ),
  /** pyflakes' other messages (redefinitions, f-strings without placeholders, …): informative only. */
  warnings: z.array(z.object({ kind: z.string(), message: z.string(), line: z.number().int() })),
  /**
   * Policy findings (imports, calls, file and network use; docs/analysis.md) with their severities
   * under config `policy` and its default mode. They do not change `ok`: `analyze` decides.
   */
  findings: z.array(findingSchema),
  /** What the checks could not do (pyflakes missing, names the session's listing hides). */
  notes: z.array(z.string()),
});
export type ValidateResult = z.infer<typeof validateResultSchema>;

const toolResultSchema = validateResultSchema
  .omit({ ok: true, findings: true })
  .extend({ analysis: rawAnalysisSchema.omit({ syntaxError: true }) });

/** Options of {@link validate}. */
export interface ValidateOptions {
  /** Names to treat as defined (besides builtins and, with a session, its variables). @default [] */
  knownNames?: readonly string[];
  /** Wall clock of the checks. @default DEFAULT_TOOL_TIMEOUT_MS */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const optionsSchema = z
  .object({
    knownNames: z.array(z.string().max(256)).max(10_000).optional(),
    timeoutMs: z.number().int().positive().max(2_147_483_647).optional(),
    signal: z.instanceof(AbortSignal).optional(),
  })
  .strict();

/** Said in `notes` when validating against a session. */
export const SESSION_NAMES_NOTE =
  "names bound to modules or imported functions in earlier cells are not in the session's variable listing: pass them in `knownNames`, or import in the same code";

/**
 * Checks code without running it, in the sandbox: syntax (`ast`: line, column, caret), undefined
 * names and unused imports (Debian's pyflakes; skipped with a note when it is missing), imports
 * the interpreter cannot resolve (`importlib.util.find_spec`, counting the session's own
 * installs), and the policy findings of `analyze` (docs/analysis.md) under config `policy`.
 *
 * With a `Session`, the checks run in a side kernel on its workspace and the session's variables
 * count as defined. With the engine (`Vivarium`), a short-lived session (no preload, closed
 * afterwards) is created for it.
 */
export async function validate(
  target: Vivarium | Session,
  code: string,
  options: ValidateOptions = {},
): Promise<ValidateResult> {
  const checkedCode = validateInput(codeSchema, code, 'code');
  const parsed = validateInput(optionsSchema, options, 'options');
  if (target instanceof Vivarium) {
    const session = await target.createSession({
      preload: [],
      idleTimeoutMs: 0,
      ...(parsed.signal ? { signal: parsed.signal } : {}),
    });
    try {
      return await validateIn(session, checkedCode, parsed, false, target.config.policy);
    } finally {
      await session.close();
    }
  }
  if (!(target instanceof Session)) {
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Expected \`target\` to be a Vivarium engine or a Session, got ${describeValue(target)}`,
    );
  }
  return validateIn(target, checkedCode, parsed, true, target.policy);
}

async function validateIn(
  session: Session,
  code: string,
  options: {
    knownNames?: string[] | undefined;
    timeoutMs?: number | undefined;
    signal?: AbortSignal | undefined;
  },
  useSessionNames: boolean,
  policy: Config['policy'] | undefined,
): Promise<ValidateResult> {
  const sessionNames = useSessionNames
    ? (await session.variables(options.signal ? { signal: options.signal } : {})).map(
        (variable) => variable.name,
      )
    : [];
  const { result } = await runSandboxTool(
    {
      session,
      tool: 'validation',
      args: {
        mode: 'validate',
        code,
        knownNames: [...sessionNames, ...(options.knownNames ?? [])],
        aliases: MODULE_SOURCES,
      },
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.signal ? { signal: options.signal } : {}),
    },
    toolResultSchema,
  );
  const { analysis, ...checks } = result;
  const evaluation = evaluatePolicy(
    { syntaxError: checks.syntaxError, imports: analysis.imports, findings: analysis.findings },
    {
      policy: policy ? { imports: policy.imports, rules: policy.rules } : DEFAULT_ANALYSIS_POLICY,
      // The decision is analyze's; validate reports the findings as the session's mode sees them.
      mode: session.mode,
      approvalMode: policy?.approvalMode ?? DEFAULT_APPROVAL_MODE,
    },
  );
  const notes = [
    ...checks.notes,
    ...analysis.notes,
    ...evaluation.notes,
    ...(useSessionNames ? [SESSION_NAMES_NOTE] : []),
  ];
  return {
    ok:
      checks.syntaxError === null && checks.undefinedNames.length === 0 && checks.missingModules.length === 0,
    ...checks,
    findings: evaluation.findings,
    notes,
  };
}
