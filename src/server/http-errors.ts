import type { FastifyError } from 'fastify';
import { isResponseSerializationError } from 'fastify-type-provider-zod';
import { isVivariumError, VivariumError, type ErrorCode } from '../errors/index.js';

/** The one error body of the service: `{error: {code, message, details}}`. */
export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

/**
 * HTTP status of each `VivariumError` code. Codes missing here (added later by other layers)
 * answer 500 until they are mapped; `docs/http.md` lists the table.
 */
export const HTTP_STATUS_BY_CODE: Readonly<Partial<Record<ErrorCode, number>>> = {
  INVALID_ARGUMENT: 400,
  CONFIG_INVALID: 400,
  PATH_INVALID: 400,
  UNAUTHENTICATED: 401,
  SESSION_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  SESSION_DEAD: 409,
  KERNEL_DIED: 409,
  ABORTED: 409,
  SESSION_CLOSED: 410,
  FILE_TOO_LARGE: 413,
  PAYLOAD_TOO_LARGE: 413,
  FILE_TYPE_NOT_ALLOWED: 415,
  FILE_REFUSED: 422,
  TOOL_FAILED: 422,
  TASK_NOT_FOUND: 404,
  APPROVAL_NOT_FOUND: 404,
  APPROVAL_CONFLICT: 409,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  PROTOCOL_VIOLATION: 500,
  GENERATION_FAILED: 502,
  INTERNAL: 500,
  SANDBOX_UNAVAILABLE: 503,
  INTERPRETER_UNAVAILABLE: 503,
  KERNEL_START_FAILED: 503,
  ENGINE_STOPPED: 503,
};

/** The HTTP status a `VivariumError` code answers with. */
export function httpStatusForCode(code: ErrorCode): number {
  return HTTP_STATUS_BY_CODE[code] ?? 500;
}

/** An error turned into what the service answers. */
export interface HttpErrorResponse {
  statusCode: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** True for 5xx: logged at error level with the cause. */
  serverFault: boolean;
}

/** Fastify / plugin error codes that are the caller's fault, and what they become. */
const FRAMEWORK_ERRORS: Readonly<Record<string, { code: ErrorCode; status: number; message?: string }>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', status: 413 },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'INVALID_ARGUMENT', status: 415 },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'INVALID_ARGUMENT', status: 400 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'INVALID_ARGUMENT', status: 400 },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'INVALID_ARGUMENT', status: 400 },
  FST_REQ_FILE_TOO_LARGE: { code: 'FILE_TOO_LARGE', status: 413 },
  FST_PARTS_LIMIT: { code: 'PAYLOAD_TOO_LARGE', status: 413 },
  FST_FILES_LIMIT: { code: 'PAYLOAD_TOO_LARGE', status: 413 },
  FST_FIELDS_LIMIT: { code: 'PAYLOAD_TOO_LARGE', status: 413 },
  FST_PROTO_VIOLATION: { code: 'INVALID_ARGUMENT', status: 400 },
  FST_INVALID_MULTIPART_CONTENT_TYPE: {
    code: 'INVALID_ARGUMENT',
    status: 415,
    message: 'Expected a `multipart/form-data` request body',
  },
  FST_ERR_VALIDATION: { code: 'INVALID_ARGUMENT', status: 400 },
};

function frameworkCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/**
 * Maps any error to the service's answer. `VivariumError` codes map through
 * {@link HTTP_STATUS_BY_CODE}; framework errors that are the caller's fault (malformed JSON, body
 * too large, wrong media type) become 4xx with a stable code; everything else is a 500 `INTERNAL`
 * whose message names the request id and never leaks internals.
 */
export function toHttpError(error: unknown, requestId: string): HttpErrorResponse {
  const headers: Record<string, string> = {};
  if (isVivariumError(error)) {
    const statusCode = httpStatusForCode(error.code);
    const retryAfter = error.details.retryAfterSec;
    if (typeof retryAfter === 'number') headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfter)));
    if (error.code === 'UNAUTHENTICATED') headers['www-authenticate'] = 'Bearer realm="vivarium"';
    return {
      statusCode,
      body: { error: { code: error.code, message: error.message, details: error.details } },
      headers,
      serverFault: statusCode >= 500,
    };
  }
  if (isResponseSerializationError(error)) {
    return internal(requestId, headers);
  }
  const code = frameworkCode(error);
  const mapped = code === undefined ? undefined : FRAMEWORK_ERRORS[code];
  const fastifyError = error as Partial<FastifyError>;
  if (mapped) {
    return {
      statusCode: mapped.status,
      body: {
        error: {
          code: mapped.code,
          message: mapped.message ?? fastifyError.message ?? 'Bad request',
          details: {},
        },
      },
      headers,
      serverFault: false,
    };
  }
  // A JSON syntax error from the body parser carries statusCode 400 and no code.
  const statusCode = typeof fastifyError.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (statusCode >= 400 && statusCode < 500) {
    return {
      statusCode,
      body: {
        error: {
          code: statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : 'INVALID_ARGUMENT',
          message: fastifyError.message ?? 'Bad request',
          details: {},
        },
      },
      headers,
      serverFault: false,
    };
  }
  return internal(requestId, headers);
}

function internal(requestId: string, headers: Record<string, string>): HttpErrorResponse {
  return {
    statusCode: 500,
    body: {
      error: {
        code: 'INTERNAL',
        message: `Internal error; the service log has the details under request id ${requestId}`,
        details: { requestId },
      },
    },
    headers,
    serverFault: true,
  };
}

/** `SESSION_NOT_FOUND` in the one form used for unknown ids and other keys' sessions alike. */
export function sessionNotFound(id: string): VivariumError {
  return new VivariumError('SESSION_NOT_FOUND', `No session with id \`${id}\``, {
    details: { sessionId: id },
  });
}
