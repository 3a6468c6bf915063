import { z } from 'zod';
import { syntaxErrorSchema } from '../tools/dependencies.js';
import { RULE_IDS, type RuleId } from './rules.js';

/** Longest symbol, path or message the kernel side may report (it caps them shorter). */
const MAX_TEXT_CHARS = 4_096;

/**
 * One finding as `python/vivarium_runtime/tools/analysis.py` reports it: before the policy (no
 * category, no severity). A rule id outside the catalog is a tool failure, not a silent drop.
 */
export const rawFindingSchema = z.object({
  ruleId: z.enum(RULE_IDS as [RuleId, ...RuleId[]]),
  line: z.number().int(),
  column: z.number().int(),
  symbol: z.string().max(MAX_TEXT_CHARS).nullable(),
  path: z.string().max(MAX_TEXT_CHARS).nullable(),
  message: z.string().max(MAX_TEXT_CHARS),
});
export type RawFinding = z.infer<typeof rawFindingSchema>;

/** One import as the kernel side reports it. */
export const rawImportSchema = z.object({
  module: z.string().max(MAX_TEXT_CHARS),
  /** The name it binds, or null (`from x import *`, a dynamic import not assigned to a name). */
  alias: z.string().max(MAX_TEXT_CHARS).nullable(),
  line: z.number().int(),
  /** 1-based column of the import statement (or the dynamic import's call). */
  column: z.number().int().optional(),
  kind: z.enum(['stdlib', 'installed', 'missing']),
  /** `from os import path` → `os.path`: what the import list checks besides `module`. */
  imported: z.string().max(MAX_TEXT_CHARS).optional(),
  /** `__import__("x")`, `importlib.import_module("x")` with a literal name. */
  dynamic: z.boolean().optional(),
});
export type RawImport = z.infer<typeof rawImportSchema>;

/** What the analysis tool returns. */
export const rawAnalysisSchema = z.object({
  syntaxError: syntaxErrorSchema.nullable(),
  imports: z.array(rawImportSchema).max(10_000),
  findings: z.array(rawFindingSchema).max(10_000),
  notes: z.array(z.string().max(MAX_TEXT_CHARS)).max(100),
});
export type RawAnalysis = z.infer<typeof rawAnalysisSchema>;
