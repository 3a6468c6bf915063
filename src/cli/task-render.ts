import type { Approval, AttemptError, TaskResult } from '../pipeline/index.js';
import { neutralizeControls, renderTable } from './render.js';

/*
 * Text forms of tasks and approvals for `vivarium task` and `vivarium approvals`. Pure: strings in,
 * strings out. Everything that came from a model, a kernel or a service is neutralised (terminal
 * controls become visible escapes) before it is returned.
 */

/** Characters of a code hash shown where the full 64 would not fit. */
export const SHORT_HASH_CHARS = 12;

/** `1a2b3c4d5e6f`: the first {@link SHORT_HASH_CHARS} characters of a sha256. */
export function shortHash(hash: string): string {
  return neutralizeControls(hash.slice(0, SHORT_HASH_CHARS));
}

/** `0.42s`, `12.3s`, `2m05s`. */
export function formatDuration(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)}s`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}

/** `512 B`, `1.2 KB`, `3.4 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** Code with a line-number gutter (`  12 | x = 1`), neutralised. */
export function codeListing(code: string): string {
  const lines = code.replace(/\n$/, '').split('\n');
  const width = String(lines.length).length;
  return lines
    .map((line, index) => `  ${String(index + 1).padStart(width)} | ${neutralizeControls(line)}`.trimEnd())
    .join('\n');
}

/** One finding per line: `  high  process.subprocess  line 3:5  runs a process …`. */
export function findingLines(findings: Approval['findings']): string[] {
  return findings.map(
    (finding) =>
      `  ${finding.severity.padEnd(8)} ${neutralizeControls(finding.ruleId)}  line ${finding.line}:${finding.column}  ${neutralizeControls(finding.message)}`,
  );
}

/** `ZeroDivisionError: division by zero`, on one line. */
export function attemptErrorLine(error: AttemptError): string {
  const text = error.evalue === '' ? error.ename : `${error.ename}: ${error.evalue}`;
  return neutralizeControls(text.replace(/\s*\n\s*/g, ' '));
}

/**
 * An approval as a person reviews it: where it comes from, why it is needed, the findings, the
 * code with its hash. Ends without a newline.
 */
export function approvalText(approval: Approval): string {
  const lines = [
    `approval ${neutralizeControls(approval.id)}: task ${neutralizeControls(approval.taskId)}, attempt ${approval.attempt}, mode ${approval.mode}`,
    `objective: ${neutralizeControls(approval.objective.replace(/\s*\n\s*/g, ' '))}`,
  ];
  if (approval.reasons.length > 0) {
    lines.push('why approval is needed:');
    for (const reason of approval.reasons) lines.push(`  - ${neutralizeControls(reason)}`);
  }
  if (approval.findings.length > 0) {
    lines.push('findings:');
    lines.push(...findingLines(approval.findings));
  }
  lines.push(`code (sha256 ${neutralizeControls(approval.codeHash)}):`);
  lines.push(codeListing(approval.code));
  return lines.join('\n');
}

/** Columns of `vivarium approvals list`. */
const APPROVAL_COLUMNS = ['ID', 'TASK', 'ATTEMPT', 'STATE', 'REQUESTED', 'EXPIRES', 'REASONS', 'CODE HASH'];

/** The approvals as an aligned table (reasons joined with `; `, hashes short). */
export function approvalsTable(approvals: readonly Approval[]): string {
  return renderTable(
    APPROVAL_COLUMNS,
    approvals.map((approval) => [
      approval.id,
      approval.taskId,
      String(approval.attempt),
      approval.state,
      approval.requestedAt,
      approval.expiresAt,
      approval.reasons.join('; ') || '-',
      shortHash(approval.codeHash),
    ]),
  );
}

/** One line on a decided approval: `approved apr_… (task tsk_…, attempt 1) by key_… at …: comment`. */
export function approvalDecisionLine(approval: Approval): string {
  const decision = approval.decision;
  const head = `${approval.state} ${neutralizeControls(approval.id)} (task ${neutralizeControls(approval.taskId)}, attempt ${approval.attempt}, code ${shortHash(approval.codeHash)})`;
  if (decision === null) return head;
  // No key without auth (and in the library): then nobody is named.
  const by = decision.timedOut
    ? ' (nobody decided in time)'
    : decision.decidedBy === null
      ? ''
      : ` by ${neutralizeControls(decision.decidedBy)}`;
  const comment = decision.comment
    ? `: ${neutralizeControls(decision.comment.replace(/\s*\n\s*/g, ' '))}`
    : '';
  return `${head}${by} at ${decision.decidedAt}${comment}`;
}

/** A JSON value as text: strings as they are, everything else as indented JSON. */
function valueText(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value, null, 2) ?? String(value);
}

/**
 * The task's `results` for stdout: `name: value` per entry, in the order the code set them;
 * multi-line values start on their own line, indented. Empty when there are none.
 */
export function taskResultsText(result: TaskResult): string {
  const entries = Object.entries(result.results);
  if (entries.length === 0) return '';
  return entries
    .map(([name, value]) => {
      const text = neutralizeControls(valueText(value));
      const key = neutralizeControls(name);
      if (!text.includes('\n')) return `${key}: ${text}\n`;
      return `${key}:\n${text
        .split('\n')
        .map((line) => `  ${line}`.trimEnd())
        .join('\n')}\n`;
    })
    .join('');
}

/**
 * The summary after a task: its outcome, attempts, duration, tokens, results, files, and why it
 * did not succeed. Lines end with newlines.
 */
export function taskSummaryText(result: TaskResult): string {
  const outcome = result.status ?? result.state;
  const attempts = result.attempts.length;
  const { inputTokens, outputTokens, totalTokens } = result.usage;
  const lines = [
    `task ${neutralizeControls(result.id)} ${outcome.replace('_', ' ')}: ${attempts} attempt${attempts === 1 ? '' : 's'} of ${result.spec.maxAttempts}, ${formatDuration(result.durationMs)}, ${totalTokens} tokens (${inputTokens} in, ${outputTokens} out)`,
  ];
  const names = Object.keys(result.results);
  lines.push(
    `results: ${names.length === 0 ? 'none' : names.map((name) => neutralizeControls(name)).join(', ')}`,
  );
  if (result.files.length > 0) {
    lines.push(
      `files: ${result.files
        .map(
          (file) =>
            `${neutralizeControls(file.path)} (${file.change}${file.change === 'deleted' ? '' : `, ${formatBytes(file.sizeBytes)}`})`,
        )
        .join(', ')}`,
    );
  }
  const verification = result.attempts.at(-1)?.verification;
  if (verification && verification.missing.length > 0)
    lines.push(`missing results: ${verification.missing.map((name) => neutralizeControls(name)).join(', ')}`);
  if (result.error !== null)
    lines.push(`${result.error.kind.replace(/_/g, ' ')}: ${neutralizeControls(result.error.message)}`);
  return `${lines.join('\n')}\n`;
}
