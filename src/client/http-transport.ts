import type { z } from 'zod';
import { VivariumClientError } from './client-error.js';
import { errorBodySchema } from './response-schemas.js';
import { SseEventTooLargeError, SseParser, type ServerSentEvent } from './sse-parser.js';

/** Largest error body read to find the server's `{error: {…}}`, in bytes. */
const MAX_ERROR_BODY_BYTES = 1024 * 1024;
/** How much of a non-Vivarium answer an error message quotes, in characters. */
const QUOTED_BODY_CHARS = 200;

/** How the transport reaches the service (resolved client options). */
export interface TransportOptions {
  /** Base URL, without trailing slash. */
  baseUrl: string;
  apiKey: string | undefined;
  fetch: typeof fetch;
  /** Default deadline of a call, in ms; 0 = none. */
  timeoutMs: number;
  maxResponseBytes: number;
}

/** One call to the service. */
export interface CallOptions {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path under the base URL, already encoded, starting with `/`. */
  path: string;
  query?: Record<string, string | undefined>;
  /** Sent as `application/json`. */
  json?: unknown;
  /** Sent as is (raw upload), as `application/octet-stream`. */
  body?: Uint8Array | ArrayBuffer | Blob | string;
  accept?: string;
  signal?: AbortSignal | undefined;
  /** Deadline of this call in ms (0 = none). @default the client's `timeoutMs` */
  timeoutMs?: number;
}

/** A call in flight: the answer, and the facts an error message needs. */
interface CallContext {
  url: string;
  method: string;
  response: Response;
  /** The signal that ends the call (caller's abort, deadline). */
  signal: AbortSignal;
}

/** Why a call's own signal fired. */
type AbortCause = 'timeout' | 'caller';

/**
 * fetch, with what every call needs: the bearer key, one deadline, the caller's signal, bounded
 * bodies, and every failure turned into a {@link VivariumClientError}.
 */
export class HttpTransport {
  readonly #options: TransportOptions;

  constructor(options: TransportOptions) {
    this.#options = options;
  }

  get baseUrl(): string {
    return this.#options.baseUrl;
  }

  url(path: string, query?: Record<string, string | undefined>): string {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined) search.set(name, value);
    const text = search.toString();
    return `${this.#options.baseUrl}${path}${text === '' ? '' : `?${text}`}`;
  }

  /** A call whose answer is JSON checked against `schema`. */
  json<S extends z.ZodType>(options: CallOptions, schema: S): Promise<z.infer<S>> {
    return this.#call({ accept: 'application/json', ...options }, async (context) => {
      const bytes = await this.#readBody(context, this.#options.maxResponseBytes);
      return parseJsonAnswer(context, bytes, schema);
    });
  }

  /** A call whose answer body does not matter (beyond its status). */
  empty(options: CallOptions): Promise<void> {
    return this.#call({ accept: 'application/json', ...options }, async (context) => {
      await this.#readBody(context, this.#options.maxResponseBytes);
    });
  }

  /** A call whose answer is raw bytes (a file download). */
  bytes(options: CallOptions): Promise<Uint8Array> {
    return this.#call({ accept: '*/*', ...options }, (context) =>
      this.#readBody(context, this.#options.maxResponseBytes),
    );
  }

  /**
   * A call answered with Server-Sent Events: `onEvent` gets each event as it arrives; the result is
   * what `finish` makes of the stream (or of a plain JSON answer, when the service sent one instead).
   */
  stream<T>(
    options: CallOptions,
    handlers: {
      onEvent: (event: ServerSentEvent) => void;
      /** Called once the stream ended; returns the call's result or throws. */
      finish: (ended: { incomplete: boolean }) => T;
      /** The service answered JSON instead of a stream. */
      fromJson: (bytes: Uint8Array, context: { url: string; status: number }) => T;
    },
  ): Promise<T> {
    return this.#call({ ...options, accept: 'text/event-stream' }, async (context) => {
      const contentType = context.response.headers.get('content-type') ?? '';
      if (!contentType.toLowerCase().startsWith('text/event-stream')) {
        const bytes = await this.#readBody(context, this.#options.maxResponseBytes);
        return handlers.fromJson(bytes, { url: context.url, status: context.response.status });
      }
      const parser = new SseParser({ maxEventChars: this.#options.maxResponseBytes });
      const decoder = new TextDecoder('utf-8');
      const body = context.response.body;
      if (body !== null) {
        const reader = body.getReader();
        try {
          for (;;) {
            const { done, value } = await this.#readChunk(context, reader);
            const text = done ? decoder.decode() : decoder.decode(value, { stream: true });
            let events: ServerSentEvent[];
            try {
              events = parser.push(text);
            } catch (error) {
              if (error instanceof SseEventTooLargeError)
                throw tooLarge(context, this.#options.maxResponseBytes);
              throw error;
            }
            for (const event of events) handlers.onEvent(event);
            if (done) break;
          }
        } finally {
          await reader.cancel().catch(() => undefined);
        }
      }
      return handlers.finish(parser.end());
    });
  }

  async #call<T>(options: CallOptions, consume: (context: CallContext) => Promise<T>): Promise<T> {
    const url = this.url(options.path, options.query);
    const controller = new AbortController();
    let cause: AbortCause | null = null;
    const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            cause ??= 'timeout';
            controller.abort();
          }, timeoutMs)
        : null;
    const onCallerAbort = (): void => {
      cause ??= 'caller';
      controller.abort();
    };
    const callerSignal = options.signal;
    if (callerSignal?.aborted) onCallerAbort();
    else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    const abortError = (): VivariumClientError =>
      cause === 'timeout'
        ? new VivariumClientError(
            'TIMEOUT',
            `No answer from ${options.method} ${url} within ${timeoutMs} ms (the client's \`timeoutMs\`)`,
            { details: { url, timeoutMs } },
          )
        : new VivariumClientError('ABORTED', `${options.method} ${url} was aborted by the caller`, {
            details: { url },
          });
    try {
      if (controller.signal.aborted) throw abortError();
      const headers: Record<string, string> = {};
      if (options.accept !== undefined) headers.accept = options.accept;
      if (this.#options.apiKey !== undefined) headers.authorization = `Bearer ${this.#options.apiKey}`;
      let body: RequestInit['body'];
      if (options.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(options.json);
      } else if (options.body !== undefined) {
        headers['content-type'] = 'application/octet-stream';
        body = options.body as RequestInit['body'];
      }
      let response: Response;
      try {
        response = await this.#options.fetch(url, {
          method: options.method,
          headers,
          ...(body === undefined ? {} : { body }),
          signal: controller.signal,
        });
      } catch (error) {
        if (cause !== null) throw abortError();
        throw new VivariumClientError(
          'NETWORK_ERROR',
          `Cannot reach the Vivarium service at ${this.#options.baseUrl} (${options.method} ${url}): ${describeCause(error)}`,
          { details: { url }, cause: error },
        );
      }
      const context: CallContext = { url, method: options.method, response, signal: controller.signal };
      try {
        if (!response.ok) throw await this.#errorFromAnswer(context);
        return await consume(context);
      } catch (error) {
        if (cause !== null && !(error instanceof VivariumClientError && error.status !== null))
          throw abortError();
        throw error;
      }
    } finally {
      if (timer !== null) clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    }
  }

  /** The service's error body as a {@link VivariumClientError}; a clear one when there is none. */
  async #errorFromAnswer(context: CallContext): Promise<VivariumClientError> {
    const { response, url, method } = context;
    const status = response.status;
    const retryAfter = response.headers.get('retry-after');
    const extra = retryAfter === null ? {} : { retryAfter };
    let bytes: Uint8Array;
    try {
      bytes = await this.#readBody(context, MAX_ERROR_BODY_BYTES);
    } catch (error) {
      if (error instanceof VivariumClientError && error.code === 'RESPONSE_TOO_LARGE')
        bytes = new Uint8Array();
      else throw error;
    }
    const text = new TextDecoder().decode(bytes);
    const parsed = errorBodySchema.safeParse(parseJsonText(text));
    if (parsed.success) {
      const { code, message, details } = parsed.data.error;
      return new VivariumClientError(code, message, { status, details: { ...extra, ...(details ?? {}) } });
    }
    const contentType = response.headers.get('content-type') ?? 'no content type';
    const quoted = text.trim().slice(0, QUOTED_BODY_CHARS).replace(/\s+/g, ' ');
    return new VivariumClientError(
      'HTTP_ERROR',
      `${method} ${url} answered ${status}${response.statusText ? ` ${response.statusText}` : ''} without a Vivarium error body (${contentType})${quoted === '' ? '' : `: ${quoted}`}`,
      { status, details: { url, contentType, ...extra } },
    );
  }

  /** The whole body, refused past `maxBytes`. */
  async #readBody(context: CallContext, maxBytes: number): Promise<Uint8Array> {
    const { response } = context;
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw tooLarge(context, maxBytes);
    }
    const body = response.body;
    if (body === null) return new Uint8Array();
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for (;;) {
        const { done, value } = await this.#readChunk(context, reader);
        if (done) break;
        total += value.byteLength;
        if (total > maxBytes) throw tooLarge(context, maxBytes);
        chunks.push(value);
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
    if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
    const all = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      all.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return all;
  }

  /** One read of the body; a broken connection becomes a clear error (abort is mapped by the caller). */
  async #readChunk(
    context: CallContext,
    reader: ReadableStreamDefaultReader<Uint8Array>,
  ): Promise<Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>> {
    try {
      return await reader.read();
    } catch (error) {
      if (context.signal.aborted) throw error;
      throw new VivariumClientError(
        'NETWORK_ERROR',
        `The connection to ${this.#options.baseUrl} broke while reading the answer of ${context.method} ${context.url}: ${describeCause(error)}`,
        { status: context.response.status, details: { url: context.url }, cause: error },
      );
    }
  }
}

function tooLarge(context: CallContext, maxBytes: number): VivariumClientError {
  return new VivariumClientError(
    'RESPONSE_TOO_LARGE',
    `The answer of ${context.method} ${context.url} is larger than ${maxBytes} bytes (the client's \`maxResponseBytes\`)`,
    { status: context.response.status, details: { url: context.url, maxResponseBytes: maxBytes } },
  );
}

/** `JSON.parse` that answers `undefined` instead of throwing; callers validate with a schema. */
export function parseJsonText(text: string): unknown {
  try {
    // The one bare parse of the client: every caller validates the value with a zod schema.
    // eslint-disable-next-line no-restricted-syntax
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Decodes and validates a JSON answer; `INVALID_RESPONSE` naming what was wrong otherwise. */
export function parseJsonAnswer<S extends z.ZodType>(
  context: { url: string; response?: Response; status?: number },
  bytes: Uint8Array,
  schema: S,
): z.infer<S> {
  const status = context.response?.status ?? context.status ?? null;
  const text = new TextDecoder().decode(bytes);
  const value = parseJsonText(text);
  if (value === undefined) {
    const contentType = context.response?.headers.get('content-type') ?? 'unknown content type';
    const quoted = text.trim().slice(0, QUOTED_BODY_CHARS).replace(/\s+/g, ' ');
    throw new VivariumClientError(
      'INVALID_RESPONSE',
      `${context.url} answered ${status ?? ''} with a body that is not JSON (${contentType})${quoted === '' ? ': empty body' : `: ${quoted}`}`,
      { status, details: { url: context.url, contentType } },
    );
  }
  return validateAnswer(context.url, status, value, schema);
}

/**
 * One streamed event of a service stream, decoded: an `error` event becomes the service's
 * `VivariumClientError`; data that is not JSON or not of `schema` is `INVALID_RESPONSE`; the
 * event's `type` defaults to the SSE event name.
 */
export function decodeStreamedEvent<S extends z.ZodType<Record<string, unknown>>>(
  url: string,
  message: ServerSentEvent,
  schema: S,
): z.infer<S> & { type: string } {
  const value = parseJsonText(message.data);
  if (message.event === 'error') {
    const parsed = errorBodySchema.safeParse(value);
    if (parsed.success) {
      const { code, message: text, details } = parsed.data.error;
      throw new VivariumClientError(code, text, { status: 200, details: details ?? {} });
    }
  }
  if (value === undefined)
    throw new VivariumClientError(
      'INVALID_RESPONSE',
      `${url} streamed a \`${message.event}\` event whose data is not JSON`,
      { status: 200, details: { url, event: message.event } },
    );
  const fields = validateAnswer(url, 200, value, schema);
  return { ...fields, type: typeof fields.type === 'string' ? fields.type : message.event };
}

/** Checks a parsed value against `schema`; `INVALID_RESPONSE` naming the first problem otherwise. */
export function validateAnswer<S extends z.ZodType>(
  url: string,
  status: number | null,
  value: unknown,
  schema: S,
): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? ` at \`${issue.path.map(String).join('.')}\`` : '';
  throw new VivariumClientError(
    'INVALID_RESPONSE',
    `${url} answered a body that is not what a Vivarium service sends${where}: ${issue?.message ?? 'invalid'}`,
    { status, details: { url } },
  );
}

function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const inner =
    cause instanceof Error
      ? `${(cause as { code?: string }).code ?? cause.name}: ${cause.message}`
      : typeof cause === 'string'
        ? cause
        : '';
  return inner === '' ? error.message : `${error.message} (${inner})`;
}
