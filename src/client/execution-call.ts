import type { Execution, ExecutionEvent } from '../index.js';
import { VivariumClientError } from './client-error.js';
import {
  decodeStreamedEvent,
  parseJsonAnswer,
  validateAnswer,
  type HttpTransport,
} from './http-transport.js';
import { executionEventSchema, executionSchema } from './response-schemas.js';

/**
 * After the caller aborts a running execution, how long the client waits for the service to answer
 * (with status `interrupted`, once the interrupt it sent lands) before it gives up with `ABORTED`.
 */
export const ABORT_GRACE_MS = 15_000;
/**
 * After an abort, the interrupt is sent again this often until the answer comes: an interrupt that
 * lands just before the kernel enters the cell is a no-op there (as in the library).
 */
export const INTERRUPT_RETRY_MS = 500;

/** One execution request (`POST …/executions` or `POST /v1/run`). */
export interface ExecutionCall {
  path: string;
  /** The JSON body: `code` and the execution's options. */
  body: Record<string, unknown>;
  onEvent: ((event: ExecutionEvent) => void) | undefined;
  signal: AbortSignal | undefined;
  /** The session the cell runs on, when known before it starts (not for `run`). */
  sessionId: string | null;
  /** Interrupts the running cell of a session (`POST /v1/sessions/:id/interrupt`). */
  interrupt: (sessionId: string) => Promise<void>;
}

/**
 * Runs one execution over HTTP: a JSON call, or with `onEvent` a Server-Sent Events call whose
 * events reach `onEvent` as they arrive and whose `execution-end` carries the result.
 *
 * Aborting mirrors the library where HTTP allows: the client asks the service to interrupt the cell
 * and resolves with the Execution the service answers (status `interrupted`). A streamed cell still
 * queued is interrupted as soon as it starts; a JSON call cannot tell, so its interrupt goes out at
 * once (and lands on whatever cell of the session runs then). Without an answer within
 * {@link ABORT_GRACE_MS} the request is dropped with `ABORTED`. A JSON `run` has no session id to
 * interrupt: aborting it drops the request at once (a streamed `run` learns it from `execution-start`).
 */
export async function callExecution(transport: HttpTransport, call: ExecutionCall): Promise<Execution> {
  const callerSignal = call.signal;
  if (callerSignal?.aborted)
    throw new VivariumClientError('ABORTED', 'The execution was aborted before it was sent', {
      details: { path: call.path },
    });
  const requestAbort = new AbortController();
  /** True once the cell is known to run (JSON calls: assumed from the start; SSE: `execution-start`). */
  let started = call.onEvent === undefined;
  let sessionId = call.sessionId;
  let abortRequested = false;
  let interruptSent = false;
  let graceTimer: ReturnType<typeof setTimeout> | null = null;
  let retryTimer: ReturnType<typeof setInterval> | null = null;
  const sendInterrupt = (): void => {
    if (interruptSent || sessionId === null) return;
    interruptSent = true;
    const target = sessionId;
    const send = (): void => void call.interrupt(target).catch(() => undefined);
    send();
    retryTimer = setInterval(send, INTERRUPT_RETRY_MS);
  };
  const onCallerAbort = (): void => {
    abortRequested = true;
    // Nothing to interrupt, and nothing will tell which session: drop the request.
    if (sessionId === null && call.onEvent === undefined) {
      requestAbort.abort();
      return;
    }
    // A streamed cell still queued is interrupted when its `execution-start` arrives.
    if (started) sendInterrupt();
    graceTimer = setTimeout(() => requestAbort.abort(), ABORT_GRACE_MS);
  };
  callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    if (call.onEvent === undefined) {
      return (await transport.json(
        { method: 'POST', path: call.path, json: call.body, signal: requestAbort.signal, timeoutMs: 0 },
        executionSchema,
      )) as unknown as Execution;
    }
    const onEvent = call.onEvent;
    let final: Execution | null = null;
    return await transport.stream<Execution>(
      { method: 'POST', path: call.path, json: call.body, signal: requestAbort.signal, timeoutMs: 0 },
      {
        onEvent: (message) => {
          const url = transport.url(call.path);
          const event = decodeStreamedEvent(
            url,
            message,
            executionEventSchema.partial({ type: true }),
          ) as ExecutionEvent;
          if (event.type === 'execution-start') {
            started = true;
            sessionId = event.sessionId;
            if (abortRequested) sendInterrupt();
          }
          if (event.type === 'execution-end') {
            // Our cell is over: a repeated interrupt now could only hit the session's next one.
            if (retryTimer !== null) clearInterval(retryTimer);
            final = validateAnswer(
              url,
              200,
              (event as { execution?: unknown }).execution,
              executionSchema,
            ) as unknown as Execution;
          }
          try {
            onEvent(event);
          } catch {
            // A failing listener must not break the execution (as in the library).
          }
        },
        finish: () => {
          if (final === null)
            throw new VivariumClientError(
              'INVALID_RESPONSE',
              `The event stream of ${transport.url(call.path)} ended before its \`execution-end\` event (the connection was cut, or the service stopped)`,
              { status: 200, details: { url: transport.url(call.path) } },
            );
          return final;
        },
        fromJson: (bytes, context) =>
          parseJsonAnswer(context, bytes, executionSchema) as unknown as Execution,
      },
    );
  } catch (error) {
    if (error instanceof VivariumClientError && error.code === 'ABORTED')
      throw new VivariumClientError(
        'ABORTED',
        interruptSent
          ? `The execution was aborted by the caller, and the service did not answer with the interrupted execution within ${ABORT_GRACE_MS} ms`
          : 'The execution was aborted by the caller (the request was dropped)',
        { details: { path: call.path } },
      );
    throw error;
  } finally {
    callerSignal?.removeEventListener('abort', onCallerAbort);
    if (graceTimer !== null) clearTimeout(graceTimer);
    if (retryTimer !== null) clearInterval(retryTimer);
  }
}
