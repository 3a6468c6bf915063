/**
 * Stable error codes of `VivariumError`. Each surface maps them in one place (HTTP status, MCP
 * `isError`, CLI exit code); the table is documented in `docs/errors.md`.
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'CONFIG_INVALID',
  'SANDBOX_UNAVAILABLE',
  'INTERPRETER_UNAVAILABLE',
  'KERNEL_START_FAILED',
  'KERNEL_DIED',
  'PROTOCOL_VIOLATION',
  'SESSION_NOT_FOUND',
  'SESSION_CLOSED',
  'SESSION_DEAD',
  'ENGINE_STOPPED',
  'ABORTED',
  'FILE_NOT_FOUND',
  'FILE_REFUSED',
  'FILE_TOO_LARGE',
  'FILE_TYPE_NOT_ALLOWED',
  'PATH_INVALID',
  'UNAUTHENTICATED',
  'RATE_LIMITED',
  'QUOTA_EXCEEDED',
  'PAYLOAD_TOO_LARGE',
  'ROUTE_NOT_FOUND',
  'TOOL_FAILED',
  'GENERATION_FAILED',
  'TASK_NOT_FOUND',
  'APPROVAL_NOT_FOUND',
  'APPROVAL_CONFLICT',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];
