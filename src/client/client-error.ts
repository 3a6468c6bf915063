/**
 * Codes the client itself gives, for failures that have no server error body. Every other code is
 * the server's (`SESSION_NOT_FOUND`, `UNAUTHORIZED`, `FILE_TOO_LARGE`, …; see docs/errors.md).
 */
export const CLIENT_ERROR_CODES = [
  /** The service could not be reached (DNS, refused connection, reset, TLS). `status` is null. */
  'NETWORK_ERROR',
  /** The service answered something that is not a Vivarium answer (not JSON, wrong shape, cut short). */
  'INVALID_RESPONSE',
  /** An answer was larger than `maxResponseBytes`. */
  'RESPONSE_TOO_LARGE',
  /** No answer within the client's `timeoutMs`. `status` is null. */
  'TIMEOUT',
  /** The caller's `AbortSignal` fired before an answer came. `status` is null. */
  'ABORTED',
  /** An error answer without a Vivarium error body (a proxy's 502 page, say). */
  'HTTP_ERROR',
] as const;

/** A code the client gives itself (see {@link CLIENT_ERROR_CODES}). */
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/** Options of {@link VivariumClientError}. */
export interface VivariumClientErrorOptions {
  /** HTTP status of the answer; null when there was none. @default null */
  status?: number | null;
  /** The server's `error.details`, or what the client knows. @default {} */
  details?: Record<string, unknown>;
  /** The underlying failure. @default undefined */
  cause?: unknown;
}

/**
 * Every failure of a {@link VivariumClient} call: the server's error body
 * `{error: {code, message, details}}` as `code`, `message`, `details`, with the HTTP `status`; or a
 * client-side failure with one of {@link CLIENT_ERROR_CODES}. A Python exception is never this: it
 * is an Execution with status `error`.
 */
export class VivariumClientError extends Error {
  /** HTTP status, or null when no answer came (network error, timeout, abort). */
  readonly status: number | null;
  /** Stable code: the server's `error.code`, or one of {@link CLIENT_ERROR_CODES}. */
  readonly code: string;
  /** The server's `error.details` (or the client's own facts: `url`, `contentType`, …). */
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, options: VivariumClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VivariumClientError';
    this.code = code;
    this.status = options.status ?? null;
    this.details = options.details ?? {};
  }
}

/** True for a {@link VivariumClientError} (also across bundles: checks the name and fields). */
export function isVivariumClientError(error: unknown): error is VivariumClientError {
  return (
    error instanceof VivariumClientError ||
    (error instanceof Error &&
      error.name === 'VivariumClientError' &&
      typeof (error as { code?: unknown }).code === 'string')
  );
}
