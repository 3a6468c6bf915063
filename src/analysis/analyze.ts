import { z } from 'zod';
import {
  APPROVAL_MODES,
  DEFAULT_APPROVAL_MODE,
  EXECUTION_MODES,
  MAX_TIMER_MS,
  RULE_SEVERITIES,
  type ApprovalMode,
  type Config,
  type ExecutionMode,
  type RuleSeverity,
} from '../config/index.js';
import { Vivarium } from '../engine/index.js';
import { describeValue, validate, VivariumError } from '../errors/index.js';
import { Session } from '../session/index.js';
import { codeSchema, MODULE_SOURCES } from '../tools/dependencies.js';
import { runSandboxTool } from '../tools/sandbox-tool.js';
import type { AnalysisResult } from './analysis-types.js';
import { judge } from './judge.js';
import { DEFAULT_ANALYSIS_POLICY, mergePolicy, type AnalysisPolicy } from './policy.js';
import { rawAnalysisSchema } from './raw-analysis.js';
import { isRuleId, RULE_IDS, type RuleId } from './rules.js';

/** Options of {@link analyze}. */
export interface AnalyzeOptions {
  /**
   * The execution mode the code will run in (what the sandbox lets it do); the findings say what
   * the sandbox will block. @default the session's mode with a Session, else config `policy.mode`
   */
  mode?: ExecutionMode;
  /** When the decision asks a human. @default config `policy.approvalMode` */
  approvalMode?: ApprovalMode;
  /**
   * Over config `policy` for this analysis: `imports.allow` / `imports.deny` replace the
   * configured lists, `rules` severities merge over the configured ones. @default {}
   */
  policy?: {
    imports?: { allow?: readonly string[]; deny?: readonly string[] };
    rules?: Readonly<Partial<Record<RuleId, RuleSeverity>>>;
  };
  /** Wall clock of the analysis in the sandbox. @default DEFAULT_TOOL_TIMEOUT_MS */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const moduleName = z
  .string()
  .max(256)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'must be a dotted module name');

const optionsSchema = z
  .object({
    mode: z.enum(EXECUTION_MODES).optional(),
    approvalMode: z.enum(APPROVAL_MODES).optional(),
    policy: z
      .object({
        imports: z
          .object({
            allow: z.array(moduleName).max(10_000).optional(),
            deny: z.array(moduleName).max(10_000).optional(),
          })
          .strict()
          .optional(),
        rules: z.record(z.string(), z.enum(RULE_SEVERITIES)).optional(),
      })
      .strict()
      .optional(),
    timeoutMs: z.number().int().positive().max(MAX_TIMER_MS).optional(),
    signal: z.instanceof(AbortSignal).optional(),
  })
  .strict();

type ParsedOptions = z.infer<typeof optionsSchema>;

/** The policy part of a config `policy` section. */
export function analysisPolicyOf(policy: Config['policy']): AnalysisPolicy {
  return { imports: policy.imports, rules: policy.rules };
}

/**
 * Static analysis of `code` and the policy's decision on it, in the sandbox: the code is parsed
 * with Python's `ast` in a side kernel (never run), its imports classified by the kernel's
 * interpreter (stdlib / installed / missing), its dangerous calls found alias-aware (dynamic code,
 * processes, network, native code, file writes and deletes, unpickling), then config `policy`
 * (and `options.policy`) gives each finding its severity and decides `allow`, `needs_approval` or
 * `deny` for the mode and approval mode. Guidance, not a boundary: docs/analysis.md.
 *
 * With a `Session`, in a side kernel on its workspace (its installs count as present; its
 * namespace is untouched). With the engine, in a short-lived session (no preload, closed after).
 */
export async function analyze(
  target: Vivarium | Session,
  code: string,
  options: AnalyzeOptions = {},
): Promise<AnalysisResult> {
  const checkedCode = validate(codeSchema, code, 'code');
  const parsed = validate(optionsSchema, options, 'options');
  const unknownRules = Object.keys(parsed.policy?.rules ?? {}).filter((ruleId) => !isRuleId(ruleId));
  if (unknownRules.length > 0) {
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Expected \`options.policy.rules\` to name rules of the analysis (${RULE_IDS.join(', ')}), got ${unknownRules.map((id) => `\`${id}\``).join(', ')}`,
      { details: { unknownRules, rules: RULE_IDS } },
    );
  }
  if (target instanceof Vivarium) {
    const base = target.config.policy;
    const session = await target.createSession({
      preload: [],
      idleTimeoutMs: 0,
      ...(parsed.signal ? { signal: parsed.signal } : {}),
    });
    try {
      return await analyzeIn(session, checkedCode, parsed, base, parsed.mode ?? base.mode);
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
  const base = target.policy;
  return analyzeIn(target, checkedCode, parsed, base, parsed.mode ?? target.mode);
}

async function analyzeIn(
  session: Session,
  code: string,
  options: ParsedOptions,
  base: Config['policy'] | undefined,
  mode: ExecutionMode,
): Promise<AnalysisResult> {
  const { result } = await runSandboxTool(
    {
      session,
      tool: 'analysis',
      args: { code, aliases: MODULE_SOURCES },
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.signal ? { signal: options.signal } : {}),
    },
    rawAnalysisSchema,
  );
  return judge(code, result, {
    policy: mergePolicy(base ? analysisPolicyOf(base) : DEFAULT_ANALYSIS_POLICY, options.policy ?? {}),
    mode,
    approvalMode: options.approvalMode ?? base?.approvalMode ?? DEFAULT_APPROVAL_MODE,
  });
}
