import type { TaskEvent, TaskStep } from '../pipeline/index.js';
import {
  bundleText,
  imageFromBundle,
  imagePlaceholder,
  neutralizeControls,
  tracebackText,
  type TextSink,
} from './render.js';
import {
  approvalDecisionLine,
  attemptErrorLine,
  codeListing,
  findingLines,
  formatDuration,
  shortHash,
} from './task-render.js';

/** Frames of the spinner drawn on a terminal, one per {@link TaskView.tick}. */
export const SPINNER_FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'] as const;

/** How often `vivarium task` advances the spinner, in ms. */
export const SPINNER_INTERVAL_MS = 100;

/** What each step is doing, for the progress line. */
const STEP_LABELS: Record<TaskStep, string> = {
  generate: 'generating code',
  repair: 'repairing the code',
  analyze: 'analyzing the code',
  approve: 'waiting for approval',
  execute: 'running',
  verify: 'verifying',
};

/** Options of {@link TaskView}. */
export interface TaskViewOptions {
  /** Where the view goes (stderr). */
  sink: TextSink;
  /**
   * A terminal: the step in progress is one spinner line redrawn in place; otherwise each step is
   * a plain line (a log, a CI job). @default false
   */
  tty?: boolean;
}

/**
 * The live view of a task on stderr: steps as they start, the generated code, the analysis, the
 * run's output as it streams, the verification, failed attempts with their error. Everything from
 * the model or the kernel is neutralised. `vivarium task` feeds it every event.
 */
export class TaskView {
  private readonly sink: TextSink;
  private readonly tty: boolean;
  private maxAttempts: number | null = null;
  /** The progress line (terminal only), or null when no step is in progress. */
  private progress: { attempt: number; step: TaskStep; startedAt: number; chars: number } | null = null;
  private frame = 0;
  private drawn = false;
  private paused = false;
  /** False while a run's output left a line open: the spinner waits for it to end. */
  private atLineStart = true;

  constructor(options: TaskViewOptions) {
    this.sink = options.sink;
    this.tty = options.tty === true;
  }

  /** Takes one task event (pass it as `onEvent`). */
  handle(event: TaskEvent): void {
    switch (event.type) {
      case 'task-start':
        this.maxAttempts = event.spec.maxAttempts;
        this.line(
          `task ${neutralizeControls(event.taskId)}: session ${neutralizeControls(event.sessionId)}, generator ${neutralizeControls(event.spec.generator)}, mode ${event.spec.mode}, approval ${event.spec.approvalMode}, up to ${event.spec.maxAttempts} attempt${event.spec.maxAttempts === 1 ? '' : 's'}`,
        );
        return;
      case 'task-step-start':
        this.endOutput();
        if (this.tty) {
          this.progress = { attempt: event.attempt, step: event.step, startedAt: Date.now(), chars: 0 };
          this.draw();
        } else {
          this.line(`${this.prefix(event.attempt)} ${event.step}`);
        }
        return;
      case 'generation-delta':
        if (this.progress !== null) {
          this.progress.chars += event.text.length;
          this.draw();
        }
        return;
      case 'code-generated': {
        const notes = event.notes?.trim();
        this.line(
          `${this.prefix(event.attempt)} code (sha256 ${shortHash(event.codeHash)}):\n${codeListing(event.code)}${notes ? `\n${this.prefix(event.attempt)} notes: ${neutralizeControls(notes)}` : ''}`,
        );
        return;
      }
      case 'analysis-end': {
        const { decision, findings, syntaxError } = event.analysis;
        const lines = [
          `${this.prefix(event.attempt)} analysis: ${decision.outcome}${decision.reasons.length > 0 ? ` (${decision.reasons.map((reason) => neutralizeControls(reason)).join('; ')})` : ''}`,
        ];
        if (syntaxError !== null)
          lines.push(
            `  syntax error at line ${syntaxError.line}:${syntaxError.column}: ${neutralizeControls(syntaxError.message)}`,
          );
        lines.push(...findingLines(findings));
        this.line(lines.join('\n'));
        return;
      }
      case 'approval-request':
        this.line(
          `${this.prefix(event.attempt)} approval needed: ${neutralizeControls(event.approval.id)} (code ${shortHash(event.approval.codeHash)}, expires ${event.approval.expiresAt})`,
        );
        return;
      case 'approval-decided':
        this.line(`${this.prefix(event.attempt)} ${approvalDecisionLine(event.approval)}`);
        return;
      case 'execution-end': {
        this.endOutput();
        const execution = event.execution;
        const error = execution.error
          ? `: ${neutralizeControls(`${execution.error.ename}: ${execution.error.evalue}`.replace(/\s*\n\s*/g, ' '))}`
          : '';
        this.line(
          `${this.prefix(event.attempt)} run: ${execution.status} in ${formatDuration(execution.durationMs)}${error}`,
        );
        return;
      }
      case 'verification-end': {
        const verification = event.verification;
        const problems: string[] = [];
        if (verification.missing.length > 0)
          problems.push(
            `missing results: ${verification.missing.map((name) => neutralizeControls(name)).join(', ')}`,
          );
        if (verification.unserializable.length > 0)
          problems.push(
            `not JSON-serializable: ${verification.unserializable.map((entry) => neutralizeControls(entry.key ?? entry.type)).join(', ')}`,
          );
        if (verification.truncated) problems.push('results truncated');
        if (verification.model !== null)
          problems.push(
            `model check: ${verification.model.adequate ? 'adequate' : 'not adequate'} (${neutralizeControls(verification.model.reason.replace(/\s*\n\s*/g, ' '))})`,
          );
        this.line(
          `${this.prefix(event.attempt)} verification: ${verification.ok ? 'ok' : 'failed'}${problems.length > 0 ? `; ${problems.join('; ')}` : ''}`,
        );
        return;
      }
      case 'attempt-failed':
        this.endOutput();
        this.line(
          `${this.prefix(event.attempt)} failed (${event.error.stage}): ${attemptErrorLine(event.error)}${event.willRetry ? '; repairing' : '; no attempts left'}`,
        );
        return;
      case 'task-end':
        this.endOutput();
        this.progress = null;
        this.clear();
        return;
      // The run's own events: its stdout and stderr both go to the view's sink (stdout is kept
      // for the results), rich outputs as their text, errors as tracebacks.
      case 'stream-delta':
        this.writeOutput(neutralizeControls(event.text));
        return;
      case 'display-data':
      case 'execute-result': {
        const image = imageFromBundle(event.data);
        this.endOutput();
        this.line(image ? imagePlaceholder(image) : bundleText(event.data));
        return;
      }
      case 'execution-error':
        this.endOutput();
        this.line(tracebackText(event));
        return;
      case 'execution-start':
      case 'clear-output':
      case 'input-request':
        return;
    }
  }

  /** Advances the spinner (call every {@link SPINNER_INTERVAL_MS} on a terminal). */
  tick(): void {
    this.frame = (this.frame + 1) % SPINNER_FRAMES.length;
    this.draw();
  }

  /** Clears the progress line and draws nothing until {@link resume}: a prompt takes the terminal. */
  pause(): void {
    this.endOutput();
    this.clear();
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.draw();
  }

  /** A line of the command's own (a notice), printed above the progress line. */
  note(text: string): void {
    this.endOutput();
    this.line(text);
  }

  /** Clears the progress line for good (before the summary). */
  end(): void {
    this.endOutput();
    this.progress = null;
    this.clear();
  }

  private prefix(attempt: number): string {
    return `[attempt ${attempt}${this.maxAttempts === null ? '' : `/${this.maxAttempts}`}]`;
  }

  /** Whole lines (text without the final newline), above the progress line. */
  private line(text: string): void {
    this.clear();
    this.sink.write(`${text}\n`);
    this.draw();
  }

  private writeOutput(text: string): void {
    if (text === '') return;
    this.clear();
    this.sink.write(text);
    this.atLineStart = text.endsWith('\n');
    this.draw();
  }

  /** Ends a run's output line left open, so what follows starts on a fresh line. */
  private endOutput(): void {
    if (!this.atLineStart) this.writeOutput('\n');
  }

  private draw(): void {
    if (!this.tty || this.paused || this.progress === null || !this.atLineStart) return;
    const { attempt, step, startedAt, chars } = this.progress;
    const elapsed = formatDuration(Date.now() - startedAt);
    const detail = step === 'generate' || step === 'repair' ? (chars > 0 ? `, ${chars} chars` : '') : '';
    // \r and "erase line": the progress line redraws over itself.
    this.sink.write(
      `\r\x1b[2K${SPINNER_FRAMES[this.frame] ?? ''} ${this.prefix(attempt)} ${STEP_LABELS[step]} (${elapsed}${detail})`,
    );
    this.drawn = true;
  }

  private clear(): void {
    if (this.drawn) this.sink.write('\r\x1b[2K');
    this.drawn = false;
  }
}
