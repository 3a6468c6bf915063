import { createHash } from 'node:crypto';
import type { ApprovalMode, ExecutionMode } from '../config/index.js';
import type { AnalysisResult, ImportInfo } from './analysis-types.js';
import { evaluatePolicy, type AnalysisPolicy } from './policy.js';
import type { RawAnalysis } from './raw-analysis.js';

/** sha256 of the UTF-8 code, hex: what an approval is bound to. */
export function codeHashOf(code: string): string {
  return createHash('sha256').update(code, 'utf8').digest('hex');
}

/** The `AnalysisResult` of a raw analysis under a policy: pure (the pipeline and tests use it too). */
export function judge(
  code: string,
  raw: RawAnalysis,
  options: { policy: AnalysisPolicy; mode: ExecutionMode; approvalMode: ApprovalMode },
): AnalysisResult {
  const evaluation = evaluatePolicy(raw, options);
  const imports: ImportInfo[] = raw.imports.map((entry) => ({
    module: entry.module,
    alias: entry.alias,
    line: entry.line,
    kind: entry.kind,
  }));
  return {
    codeHash: codeHashOf(code),
    syntaxError:
      raw.syntaxError === null
        ? null
        : {
            message: raw.syntaxError.message,
            line: raw.syntaxError.line,
            column: raw.syntaxError.column,
            text: raw.syntaxError.caret,
          },
    imports,
    findings: evaluation.findings,
    decision: evaluation.decision,
    notes: [...raw.notes, ...evaluation.notes],
  };
}
