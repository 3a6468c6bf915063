import type { ErrorChainEntry } from '../llm/generator-types.js';
import type { AttemptError } from './task-types.js';

/** Traceback lines kept from the head and from the tail of a long traceback. */
export const TRACEBACK_HEAD_LINES = 6;
export const TRACEBACK_TAIL_LINES = 14;
/** Longest `evalue` kept, characters. */
export const MAX_EVALUE_CHARS = 2_000;
/** Longest traceback line kept, characters. */
const MAX_LINE_CHARS = 500;

/**
 * A traceback fit for a prompt: ANSI colours removed, each entry split into lines and capped, and
 * past {@link TRACEBACK_HEAD_LINES} + {@link TRACEBACK_TAIL_LINES} lines the middle replaced by a
 * marker saying how many lines were left out (the head shows where it started, the tail where it
 * failed).
 */
export function trimTraceback(traceback: readonly string[]): string[] {
  const lines = traceback
    .join('\n')
    // eslint-disable-next-line no-control-regex -- ANSI escape sequences
    .replace(/\u001b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => (line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS - 1)}…` : line));
  if (lines.length <= TRACEBACK_HEAD_LINES + TRACEBACK_TAIL_LINES) return lines;
  const omitted = lines.length - TRACEBACK_HEAD_LINES - TRACEBACK_TAIL_LINES;
  return [
    ...lines.slice(0, TRACEBACK_HEAD_LINES),
    `… ${omitted} lines omitted …`,
    ...lines.slice(lines.length - TRACEBACK_TAIL_LINES),
  ];
}

/** An attempt error with its value capped and its traceback trimmed. */
export function attemptError(
  stage: AttemptError['stage'],
  ename: string,
  evalue: string,
  traceback: readonly string[] = [],
): AttemptError {
  return {
    stage,
    ename,
    evalue: evalue.length > MAX_EVALUE_CHARS ? `${evalue.slice(0, MAX_EVALUE_CHARS - 1)}…` : evalue,
    traceback: trimTraceback(traceback),
  };
}

/**
 * The typed error chain: one entry per failed attempt, oldest first. `repeats` counts the earlier
 * entries with the same stage, ename and evalue, so a generator can escalate its guidance when
 * the same error comes back ("take a different approach").
 */
export class ErrorChain {
  private readonly entries: ErrorChainEntry[] = [];

  /** Rebuilds a chain from stored attempts (a task resumed after a restart). */
  static from(
    attempts: ReadonlyArray<{ attempt: number; code: string; error: AttemptError | null }>,
  ): ErrorChain {
    const chain = new ErrorChain();
    for (const attempt of attempts)
      if (attempt.error) chain.add(attempt.attempt, attempt.code, attempt.error);
    return chain;
  }

  add(attempt: number, code: string, error: AttemptError): ErrorChainEntry {
    const repeats = this.entries.filter(
      (entry) =>
        entry.stage === error.stage &&
        entry.error.ename === error.ename &&
        entry.error.evalue === error.evalue,
    ).length;
    const entry: ErrorChainEntry = {
      attempt,
      stage: error.stage,
      code,
      error: { ename: error.ename, evalue: error.evalue, traceback: [...error.traceback] },
      repeats,
    };
    this.entries.push(entry);
    return entry;
  }

  get length(): number {
    return this.entries.length;
  }

  /** A copy of the entries, oldest first. */
  list(): ErrorChainEntry[] {
    return this.entries.map((entry) => ({
      ...entry,
      error: { ...entry.error, traceback: [...entry.error.traceback] },
    }));
  }
}
