import { z } from 'zod';
import { APPROVAL_MODES, EXECUTION_MODES, RULE_SEVERITIES } from '../config/index.js';

/** What a finding is about; the first part of its rule id (`process.subprocess` → `process`). */
export const FINDING_CATEGORIES = [
  'syntax',
  'import',
  'dynamic',
  'process',
  'network',
  'native',
  'file',
  'serialization',
] as const;
export type FindingCategory = (typeof FINDING_CATEGORIES)[number];

/** One thing the analysis saw, with the rule that saw it and how serious the policy says it is. */
export const findingSchema = z.object({
  /** Stable rule id, `<category>.<name>`: `process.subprocess`, `dynamic.getattr`, `file.write`, … */
  ruleId: z.string(),
  category: z.enum(FINDING_CATEGORIES),
  /** From the policy (`policy.rules` over the built-in defaults); never `off` (those are dropped). */
  severity: z.enum(RULE_SEVERITIES).exclude(['off']),
  /** 1-based line and column in the code. */
  line: z.number().int(),
  column: z.number().int(),
  /** The resolved dotted name, aliases followed: `import os as o; o.system(…)` → `os.system`. */
  symbol: z.string().nullable(),
  /** The file path when the call names a literal one (file writes and deletes, opens). */
  path: z.string().nullable(),
  /** One sentence for people and models: what the code does and why it matters. */
  message: z.string(),
});
export type Finding = z.infer<typeof findingSchema>;

/** One imported module, classified against the kernel's interpreter. */
export const importInfoSchema = z.object({
  /** The full dotted module (`os.path`, `matplotlib.pyplot`). */
  module: z.string(),
  /**
   * The name it is bound to in the code (`np` for `import numpy as np`; `from os import path as p`
   * is one entry per name, module `os`, alias `p`), or null for `from x import *` and a dynamic
   * import (`importlib.import_module("x")`) not assigned to a name.
   */
  alias: z.string().nullable(),
  line: z.number().int(),
  /** `stdlib`, `installed` (found by the interpreter, session installs included) or `missing`. */
  kind: z.enum(['stdlib', 'installed', 'missing']),
});
export type ImportInfo = z.infer<typeof importInfoSchema>;

/** What the policy decides for one version of the code. */
export const policyDecisionSchema = z.object({
  outcome: z.enum(['allow', 'needs_approval', 'deny']),
  /** Why, one line each (empty for a plain `allow`). */
  reasons: z.array(z.string()),
  /** The execution mode the decision was made for (and the sandbox enforces). */
  mode: z.enum(EXECUTION_MODES),
  approvalMode: z.enum(APPROVAL_MODES),
});
export type PolicyDecision = z.infer<typeof policyDecisionSchema>;

/** Result of `analyze(code)`: the parse, the imports, the findings and the decision. */
export const analysisResultSchema = z.object({
  /** sha256 of the UTF-8 code, hex: what an approval is bound to. */
  codeHash: z.string(),
  /** Where the code does not parse (1-based line and column, the line, a caret), or null. */
  syntaxError: z
    .object({ message: z.string(), line: z.number().int(), column: z.number().int(), text: z.string() })
    .nullable(),
  imports: z.array(importInfoSchema),
  findings: z.array(findingSchema),
  decision: policyDecisionSchema,
  /** Limits the analysis hit (findings capped, deep nesting), or empty. */
  notes: z.array(z.string()),
});
export type AnalysisResult = z.infer<typeof analysisResultSchema>;
