export { ERROR_CODES } from './error-codes.js';
export type { ErrorCode } from './error-codes.js';
export { VivariumError, isVivariumError } from './vivarium-error.js';
export type { VivariumErrorOptions } from './vivarium-error.js';
export { describeValue, expectationMessage } from './describe-value.js';
export { validate } from './validate.js';
