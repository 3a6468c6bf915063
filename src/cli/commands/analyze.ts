import type { AnalysisResult } from '../../analysis/index.js';
import { APPROVAL_MODES, type ApprovalMode } from '../../config/index.js';
import { Vivarium } from '../../engine/index.js';
import type { CliIo } from '../cli-io.js';
import { engineOptionsFromFlags, parseMode, type EngineFlags } from '../engine-flags.js';
import { EXIT_NEEDS_APPROVAL, EXIT_OK, EXIT_POLICY_DENIED } from '../exit-codes.js';
import { neutralizeControls, renderTable } from '../render.js';
import { flagExpectation, readLocalText } from '../usage-error.js';

/** Flags of `vivarium analyze` (raw commander values). */
export interface AnalyzeFlags extends Omit<EngineFlags, 'preload'> {
  mode?: string;
  approvalMode?: string;
  json?: boolean;
}

/** `--approval-mode never|on_risk|always`. */
export function parseApprovalMode(raw: string): ApprovalMode {
  const mode = APPROVAL_MODES.find((candidate) => candidate === raw);
  if (mode === undefined)
    throw flagExpectation(
      '--approval-mode',
      `one of ${APPROVAL_MODES.map((m) => `\`${m}\``).join(', ')}`,
      raw,
    );
  return mode;
}

/** The exit code of a decision: 0 allow, 1 deny, 3 needs approval. */
export function exitCodeForDecision(result: AnalysisResult): number {
  switch (result.decision.outcome) {
    case 'allow':
      return EXIT_OK;
    case 'deny':
      return EXIT_POLICY_DENIED;
    case 'needs_approval':
      return EXIT_NEEDS_APPROVAL;
  }
}

/** The decision and its reasons, the findings table, the imports, the notes — for people. */
export function renderAnalysis(result: AnalysisResult, file: string): string {
  const shownFile = neutralizeControls(file);
  const out: string[] = [];
  const { decision } = result;
  out.push(
    `${shownFile}: ${decision.outcome} (mode ${decision.mode}, approval mode ${decision.approvalMode})`,
  );
  for (const reason of decision.reasons) out.push(`  - ${neutralizeControls(reason)}`);
  if (result.syntaxError) {
    const { line, column, message, text } = result.syntaxError;
    out.push('', `${shownFile}:${line}:${column}: ${neutralizeControls(message)}`, neutralizeControls(text));
  }
  out.push('');
  if (result.findings.length === 0) out.push('findings: none');
  else
    out.push(
      renderTable(
        ['LINE', 'COL', 'RULE', 'SEVERITY', 'SYMBOL', 'PATH'],
        result.findings.map((finding) => [
          String(finding.line),
          String(finding.column),
          finding.ruleId,
          finding.severity,
          finding.symbol ?? '',
          finding.path ?? '',
        ]),
      ),
    );
  out.push('');
  if (result.imports.length === 0) out.push('imports: none');
  else
    out.push(
      renderTable(
        ['LINE', 'IMPORT', 'KIND'],
        result.imports.map((entry) => [
          String(entry.line),
          entry.alias !== null && entry.alias !== entry.module.split('.')[0]
            ? `${entry.module} as ${entry.alias}`
            : entry.module,
          entry.kind,
        ]),
      ),
    );
  for (const note of result.notes) out.push(`note: ${neutralizeControls(note)}`);
  return `${out.join('\n')}\n`;
}

/**
 * `vivarium analyze FILE`: static analysis of a Python file in the sandbox (it is not run) and the
 * policy's decision for `--mode` and `--approval-mode`. Exit 0 allow, 1 deny, 3 needs approval,
 * 2 on bad flags or config.
 */
export async function analyzeCommand(file: string, flags: AnalyzeFlags, io: CliIo): Promise<number> {
  const mode = flags.mode === undefined ? undefined : parseMode(flags.mode);
  const approvalMode = flags.approvalMode === undefined ? undefined : parseApprovalMode(flags.approvalMode);
  const code = await readLocalText(file);
  const vv = await Vivarium.start({ ...engineOptionsFromFlags(flags), preload: [], pool: { size: 0 } });
  try {
    const result = await vv.analyze(code, {
      ...(mode === undefined ? {} : { mode }),
      ...(approvalMode === undefined ? {} : { approvalMode }),
    });
    if (flags.json === true) io.stdout.write(`${JSON.stringify(result)}\n`);
    else io.stdout.write(renderAnalysis(result, file));
    return exitCodeForDecision(result);
  } finally {
    await vv.stop();
  }
}
