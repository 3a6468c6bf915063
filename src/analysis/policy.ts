import { posix } from 'node:path';
import type { ApprovalMode, ExecutionMode, RuleSeverity } from '../config/index.js';
import type { Finding, PolicyDecision } from './analysis-types.js';
import type { RawFinding, RawImport } from './raw-analysis.js';
import { ANALYSIS_RULES, isRuleId, type FindingSeverity, type RuleId } from './rules.js';

/** The part of config `policy` the findings depend on. */
export interface AnalysisPolicy {
  imports: {
    /** Modules code may import, prefix match (`os` covers `os.path`); empty = any not denied. */
    allow: readonly string[];
    /** Modules code may never import, prefix match. */
    deny: readonly string[];
  };
  /** Severity per rule id over the built-in ones; `off` drops the rule's findings. */
  rules: Readonly<Record<string, RuleSeverity>>;
}

/** The policy of an empty config: no import lists, built-in severities. */
export const DEFAULT_ANALYSIS_POLICY: AnalysisPolicy = Object.freeze({
  imports: Object.freeze({ allow: [], deny: [] }),
  rules: Object.freeze({}),
});

/** Changes over a policy for one analysis: import lists replace, rule severities merge. */
export interface PolicyOverrides {
  imports?: { allow?: readonly string[]; deny?: readonly string[] };
  rules?: Readonly<Record<string, RuleSeverity>>;
}

/** At most this many reasons in a decision; the rest is counted in a last line. */
export const MAX_DECISION_REASONS = 20;

/** The reason an `always` decision gives before the warnings. */
export const ALWAYS_APPROVAL_REASON =
  'approval mode `always`: every version of the code waits for a human decision';

/** Writable scratch places of the sandbox besides the workspace (not read-only in `read_only` mode). */
const SCRATCH_DIRS = ['/tmp', '/var/tmp', '/dev/shm'];

/** `base` with `overrides` applied: a given import list replaces the base's, rule severities merge. */
export function mergePolicy(base: AnalysisPolicy, overrides: PolicyOverrides = {}): AnalysisPolicy {
  return {
    imports: {
      allow: overrides.imports?.allow ?? base.imports.allow,
      deny: overrides.imports?.deny ?? base.imports.deny,
    },
    rules: { ...base.rules, ...overrides.rules },
  };
}

/** The first of `prefixes` that `module` is or is inside (`os` matches `os` and `os.path`, not `osmosis`). */
export function matchingModulePrefix(module: string, prefixes: readonly string[]): string | undefined {
  return prefixes.find((prefix) => module === prefix || module.startsWith(`${prefix}.`));
}

/** What {@link evaluatePolicy} judges: the analysis tool's output. */
export interface PolicyInput {
  syntaxError: { message: string; kind?: string; line: number; column: number } | null;
  imports: readonly RawImport[];
  findings: readonly RawFinding[];
}

/** How {@link evaluatePolicy} judges. */
export interface PolicyOptions {
  /** @default DEFAULT_ANALYSIS_POLICY */
  policy?: AnalysisPolicy;
  /** The execution mode the code will run in: what the sandbox will let it do. */
  mode: ExecutionMode;
  approvalMode: ApprovalMode;
}

/** The findings with their severities, the decision, and what the policy itself has to say. */
export interface PolicyEvaluation {
  findings: Finding[];
  decision: PolicyDecision;
  notes: string[];
}

function isScratchPath(path: string | null): boolean {
  if (path === null || !path.startsWith('/')) return false;
  const normalized = posix.normalize(path);
  return SCRATCH_DIRS.some((dir) => normalized === dir || normalized.startsWith(`${dir}/`));
}

/**
 * What the execution mode changes: a sentence on what the sandbox will do, and for writes in
 * `read_only` mode a raised severity (the code's main effect will fail). Mode never lowers a
 * severity: asking for the network or a host file is worth a look whatever the sandbox does.
 */
function modeEffect(
  ruleId: RuleId,
  path: string | null,
  mode: ExecutionMode,
): { severity?: FindingSeverity; note: string } {
  if (ANALYSIS_RULES[ruleId].category === 'network') {
    return mode === 'network'
      ? { note: "; `network` mode shares the host's network, so this reaches it" }
      : { note: `; the sandbox has no network in \`${mode}\` mode, so this will fail` };
  }
  if (ruleId === 'file.write_outside')
    return {
      note: '; the sandbox mounts everything but the workspace and /tmp read-only, so this will fail',
    };
  if (ruleId === 'file.read_outside')
    return {
      note: '; host files are not in the sandbox (only read-only system directories are bound), so this fails or reads the sandbox’s own copy',
    };
  if (mode === 'read_only' && (ruleId === 'file.write' || ruleId === 'file.delete') && !isScratchPath(path))
    return {
      severity: 'warning',
      note: '; the workspace is read-only in `read_only` mode, so this will fail (only /tmp is writable)',
    };
  return { note: '' };
}

/** One reason line: rule id, line, symbol, message. */
export function formatReason(finding: Finding): string {
  const symbol = finding.symbol === null ? '' : ` (\`${finding.symbol}\`)`;
  return `${finding.ruleId} at line ${finding.line}${symbol}: ${finding.message}`;
}

function capReasons(reasons: string[]): string[] {
  if (reasons.length <= MAX_DECISION_REASONS) return reasons;
  const kept = reasons.slice(0, MAX_DECISION_REASONS - 1);
  kept.push(`… and ${reasons.length - kept.length} more`);
  return kept;
}

/** Options of {@link decide}. */
export interface DecideOptions {
  mode: ExecutionMode;
  approvalMode: ApprovalMode;
  /** A parse failure denies even when `syntax.error` is `off`. @default null */
  syntaxError?: { message: string; line: number; column: number } | null;
}

/**
 * The decision on findings that carry their severities: a syntax error or any `critical` finding
 * → `deny` (the reasons are those); else approval mode `always` → `needs_approval`; `on_risk` with
 * any `warning` → `needs_approval` (the reasons are the warnings); else `allow`. `info` never
 * decides anything.
 */
export function decide(findings: readonly Finding[], options: DecideOptions): PolicyDecision {
  const { mode, approvalMode } = options;
  const syntaxError = options.syntaxError ?? null;
  const critical = findings.filter((finding) => finding.severity === 'critical').map(formatReason);
  if (syntaxError !== null || critical.length > 0) {
    if (syntaxError !== null && !findings.some((finding) => finding.ruleId === 'syntax.error'))
      critical.unshift(
        `syntax.error at line ${syntaxError.line}, column ${syntaxError.column}: the code does not parse: ${syntaxError.message}`,
      );
    return { outcome: 'deny', reasons: capReasons(critical), mode, approvalMode };
  }
  const warnings = findings.filter((finding) => finding.severity === 'warning').map(formatReason);
  if (approvalMode === 'always')
    return {
      outcome: 'needs_approval',
      reasons: capReasons([ALWAYS_APPROVAL_REASON, ...warnings]),
      mode,
      approvalMode,
    };
  if (approvalMode === 'on_risk' && warnings.length > 0)
    return { outcome: 'needs_approval', reasons: capReasons(warnings), mode, approvalMode };
  return { outcome: 'allow', reasons: [], mode, approvalMode };
}

/**
 * Applies the policy to what the analysis found: the import lists (`import.denied`,
 * `import.not_allowed`) and missing modules (`import.missing`) become findings, a parse failure
 * becomes `syntax.error`, every finding gets its category and severity (config `policy.rules`
 * over what the mode makes of the built-in one; `off` drops it) and a word on what the sandbox
 * will do in this mode, and the decision is made ({@link decide}). Pure.
 */
export function evaluatePolicy(input: PolicyInput, options: PolicyOptions): PolicyEvaluation {
  const policy = options.policy ?? DEFAULT_ANALYSIS_POLICY;
  const notes: string[] = [];
  const unknown = Object.keys(policy.rules).filter((ruleId) => !isRuleId(ruleId));
  if (unknown.length > 0)
    notes.push(
      `\`policy.rules\` names rules the analysis does not have (${unknown.map((id) => `\`${id}\``).join(', ')}): they have no effect; the rules are listed in docs/analysis.md`,
    );
  const findings: Finding[] = [];
  const seen = new Set<string>();
  const add = (raw: RawFinding): void => {
    const key = `${raw.ruleId}\0${raw.line}\0${raw.column}\0${raw.symbol ?? ''}\0${raw.message}`;
    // `from x import a, b` is one import per name; its import findings are one per statement.
    if (seen.has(key)) return;
    seen.add(key);
    const rule = ANALYSIS_RULES[raw.ruleId];
    const effect = modeEffect(raw.ruleId, raw.path, options.mode);
    const configured = Object.hasOwn(policy.rules, raw.ruleId) ? policy.rules[raw.ruleId] : undefined;
    const severity = configured ?? effect.severity ?? rule.defaultSeverity;
    if (severity === 'off') return;
    findings.push({
      ruleId: raw.ruleId,
      category: rule.category,
      severity,
      line: raw.line,
      column: raw.column,
      symbol: raw.symbol,
      path: raw.path,
      message: `${raw.message}${effect.note}`,
    });
  };

  if (input.syntaxError !== null) {
    const { message, kind, line, column } = input.syntaxError;
    add({
      ruleId: 'syntax.error',
      line,
      column,
      symbol: null,
      path: null,
      message: `the code does not parse: ${kind ?? 'SyntaxError'}: ${message}`,
    });
  }
  const { allow, deny } = policy.imports;
  for (const entry of input.imports) {
    const names = entry.imported === undefined ? [entry.module] : [entry.module, entry.imported];
    const how = entry.dynamic === true ? ' (dynamically)' : '';
    const position = { line: entry.line, column: entry.column ?? 1, path: null };
    const deniedName = names.find((name) => matchingModulePrefix(name, deny) !== undefined);
    if (deniedName !== undefined) {
      add({
        ruleId: 'import.denied',
        ...position,
        symbol: deniedName,
        message: `imports \`${deniedName}\`${how}, which config \`policy.imports.deny\` lists (\`${matchingModulePrefix(deniedName, deny) ?? ''}\`)`,
      });
    } else if (allow.length > 0 && !names.some((name) => matchingModulePrefix(name, allow) !== undefined)) {
      add({
        ruleId: 'import.not_allowed',
        ...position,
        symbol: entry.module,
        message: `imports \`${entry.module}\`${how}, which config \`policy.imports.allow\` does not list (${allow.map((name) => `\`${name}\``).join(', ')})`,
      });
    }
    if (entry.kind === 'missing') {
      add({
        ruleId: 'import.missing',
        ...position,
        symbol: entry.module,
        message: `imports \`${entry.module}\`${how}, which the sandbox's interpreter cannot find: it will raise ModuleNotFoundError`,
      });
    }
  }
  for (const raw of input.findings) add(raw);
  findings.sort(
    (a, b) =>
      a.line - b.line || a.column - b.column || (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0),
  );
  const decision = decide(findings, {
    mode: options.mode,
    approvalMode: options.approvalMode,
    syntaxError: input.syntaxError,
  });
  return { findings, decision, notes };
}
