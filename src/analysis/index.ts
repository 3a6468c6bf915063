export {
  findingSchema,
  importInfoSchema,
  policyDecisionSchema,
  analysisResultSchema,
  FINDING_CATEGORIES,
} from './analysis-types.js';
export type {
  Finding,
  FindingCategory,
  ImportInfo,
  PolicyDecision,
  AnalysisResult,
} from './analysis-types.js';
export { ANALYSIS_RULES, RULE_IDS, isRuleId, ruleInfo } from './rules.js';
export type { RuleId, RuleInfo, FindingSeverity } from './rules.js';
export {
  evaluatePolicy,
  decide,
  mergePolicy,
  matchingModulePrefix,
  formatReason,
  DEFAULT_ANALYSIS_POLICY,
  MAX_DECISION_REASONS,
  ALWAYS_APPROVAL_REASON,
} from './policy.js';
export type {
  AnalysisPolicy,
  PolicyOverrides,
  PolicyInput,
  PolicyOptions,
  PolicyEvaluation,
  DecideOptions,
} from './policy.js';
export { rawAnalysisSchema, rawFindingSchema, rawImportSchema } from './raw-analysis.js';
export type { RawAnalysis, RawFinding, RawImport } from './raw-analysis.js';
export { judge, codeHashOf } from './judge.js';
export { analyze, analysisPolicyOf } from './analyze.js';
export type { AnalyzeOptions } from './analyze.js';
