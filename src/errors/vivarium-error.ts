import type { ErrorCode } from './error-codes.js';

/** Options of {@link VivariumError}. */
export interface VivariumErrorOptions {
  /** Structured facts about the failure (field names, limits, the offending value). @default {} */
  details?: Record<string, unknown>;
  /** The underlying error, when one exists. @default undefined */
  cause?: unknown;
}

/**
 * An engine fault: sandbox unavailable, session closed, invalid argument. A Python exception is
 * never one of these — it is data in an Execution with status `error`.
 */
export class VivariumError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: VivariumErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VivariumError';
    this.code = code;
    this.details = options.details ?? {};
  }

  /** A plain object for JSON surfaces: `{code, message, details}`. */
  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** True when `error` is a {@link VivariumError}, optionally with the given code. */
export function isVivariumError(error: unknown, code?: ErrorCode): error is VivariumError {
  return error instanceof VivariumError && (code === undefined || error.code === code);
}
