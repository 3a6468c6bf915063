import type { z } from 'zod';
import { validate, VivariumError } from '../errors/index.js';

/**
 * Parses an untrusted JSON text (a WebSocket message) and validates it with `schema`. Throws
 * `INVALID_ARGUMENT` in the house form; the text's size is bounded by the caller (`maxPayload`).
 */
export function parseJsonMessage<S extends z.ZodType>(schema: S, text: string, what: string): z.infer<S> {
  let value: unknown;
  try {
    // eslint-disable-next-line no-restricted-syntax -- validated by `schema` on the next line; size bounded by the socket
    value = JSON.parse(text);
  } catch (error) {
    throw new VivariumError(
      'INVALID_ARGUMENT',
      `Expected \`${what}\` to be JSON: ${(error as Error).message}`,
    );
  }
  return validate(schema, value, what);
}
